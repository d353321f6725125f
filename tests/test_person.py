"""The person segmenter: the PyTorch port of MediaPipe's graph against MediaPipe's own output, the shipped
conversion against a fresh one, and the masks the live app and the video tool paint with."""
import importlib.util

import cv2
import numpy as np
import pytest
import torch
from safetensors import safe_open

from engines.person.segmenter import LANDSCAPE, SQUARE, PersonSegmenter, for_frame

from conftest import ROOT, webcam

DATA = ROOT / "tests" / "data"


def test_port_reproduces_mediapipe():
    """tests/data/make_person_reference.py ran MediaPipe 0.10.14 itself on this picture at the model's input
    size; the same graph on PyTorch must give the same mask (fp32 against TFLite's fp32 kernels)."""
    ref = np.load(DATA / "person_reference.npz")
    mask = PersonSegmenter(LANDSCAPE).numpy(ref["input"])
    assert mask.shape == ref["mask"].shape == (144, 256)
    assert np.abs(mask - ref["mask"]).max() < 1e-3
    assert 0.3 < ref["mask"].mean() < 0.8  # a person fills much of it: the reference is not a blank mask


def test_the_astronaut_is_found_at_any_size():
    photo = cv2.imread(str(DATA / "astronaut.jpg"))
    for w, h in ((256, 256), (320, 240), (640, 360)):
        frame = cv2.resize(photo, (w, h), interpolation=cv2.INTER_AREA)
        p = PersonSegmenter(for_frame(h, w)).numpy(frame)
        assert p.shape == (h, w) and p.dtype == np.float32
        assert p[int(0.3 * h), int(0.45 * w)] > 0.9  # her face
        assert p[int(0.1 * h), int(0.95 * w)] < 0.1  # the wall behind her
        assert p[int(0.5 * h), int(0.02 * w)] < 0.5  # the flag


def test_model_choice_follows_the_frame_shape():
    assert for_frame(480, 640) is LANDSCAPE and for_frame(720, 1280) is LANDSCAPE
    assert for_frame(512, 512) is SQUARE and for_frame(640, 480) is SQUARE


def test_a_broken_weights_file_is_one_clear_error(tmp_path):
    from engines.zoo.files import WeightsError

    bad = tmp_path / "person.safetensors"
    bad.write_bytes(b"not a safetensors file")
    with pytest.raises(WeightsError, match="person segmenter"):
        PersonSegmenter(path=bad)


@pytest.mark.skipif(importlib.util.find_spec("mediapipe") is None or importlib.util.find_spec("tflite") is None,
                    reason="needs 'pip install --no-deps mediapipe==0.10.14 tflite==2.18.0 flatbuffers'")
def test_shipped_files_are_the_wheels_models_converted(tmp_path):
    import subprocess
    import sys

    r = subprocess.run([sys.executable, str(ROOT / "tools" / "person_model.py"), "--out-dir", str(tmp_path)],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    for which in (SQUARE, LANDSCAPE):
        with safe_open(str(tmp_path / which.converted), "pt") as new, \
                safe_open(str(ROOT / "engines" / "weights" / which.converted), "pt") as shipped:
            assert new.metadata() == shipped.metadata()
            assert sorted(new.keys()) == sorted(shipped.keys())
            for k in new.keys():
                assert torch.equal(new.get_tensor(k), shipped.get_tensor(k)), k


@pytest.fixture(scope="module")
def person_clip(tmp_path_factory):
    from media import make_video

    photo = cv2.resize(cv2.imread(str(DATA / "astronaut.jpg")), (320, 240), interpolation=cv2.INTER_AREA)
    return make_video(tmp_path_factory.mktemp("person") / "astronaut.mp4", frames=12, width=320, height=240,
                      picture=photo)


@pytest.mark.parametrize("mode", ["background", "person"])
def test_live_mask_modes_paint_one_part_and_keep_the_other(person_clip, tmp_path, mode):
    """The live app on a clip of the astronaut: with --mask-mode background she stays as filmed (within a few
    grey levels) while the room is painted; with person, the other way round. Key m moves on to the next mode."""
    import json

    from media import decode_frames

    stats = tmp_path / "stats.jsonl"
    r = webcam("--style", str(DATA / "painting.jpg"), "--source", str(person_clip), "--loop", "--no-display",
               "--model", "lite", "--max-frames", "8", "--mask-mode", mode, "--keys", "5:s,6:m", "--snapshot-dir", str(tmp_path),
               "--stats", str(stats))
    assert r.returncode == 0, r.stderr
    (snap,) = tmp_path.glob("snapshot-*.png")
    out = cv2.imread(str(snap)).astype(int)
    src = decode_frames(person_clip)[0]
    assert out.shape == src.shape == (240, 320, 3)
    p = PersonSegmenter(LANDSCAPE).numpy(src)
    # where the segmenter is sure, away from the outline (the feathered edge is both)
    inside = cv2.erode((p > 0.9).astype(np.uint8), np.ones((15, 15), np.uint8)) > 0
    outside = cv2.erode((p < 0.1).astype(np.uint8), np.ones((15, 15), np.uint8)) > 0
    assert inside.mean() > 0.15 and outside.mean() > 0.15
    diff = np.abs(out - src).mean(axis=2)
    kept, painted = (inside, outside) if mode == "background" else (outside, inside)
    assert diff[kept].mean() < 2 and np.percentile(diff[kept], 99) < 6, (diff[kept].mean(), np.percentile(diff[kept], 99))
    assert diff[painted].mean() > 20, diff[painted].mean()
    s = [json.loads(line) for line in open(stats)]
    after = {"background": "person", "person": "whole"}[mode]
    assert [x["mask"] for x in s] == [mode] * 6 + [after] * 2
    assert all(x["ms"]["mask"] > 0 for x in s[:6] if x["mask"] != "whole")


def test_video_tool_paints_the_person_only(person_clip, tmp_path):
    """tools/video.py --mask-mode person: the room stays as filmed (within the 2 grey levels that YUV 4:2:0
    costs a frame on the way back in, even at --crf 0), she is painted; every frame written."""
    import subprocess
    import sys

    from media import decode_frames

    out = tmp_path / "out.mp4"
    r = subprocess.run([sys.executable, str(ROOT / "tools" / "video.py"), str(person_clip), "-o", str(out),
                        "--style", str(DATA / "painting.jpg"), "--model", "lite", "--mask-mode", "person",
                        "--crf", "0", "--quiet"], capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert r.returncode == 0, r.stderr
    frames, src = decode_frames(out), decode_frames(person_clip)
    assert len(frames) == len(src) == 12
    p = PersonSegmenter(LANDSCAPE).numpy(src[0])
    inside = cv2.erode((p > 0.9).astype(np.uint8), np.ones((15, 15), np.uint8)) > 0
    outside = cv2.erode((p < 0.1).astype(np.uint8), np.ones((15, 15), np.uint8)) > 0
    for k in (0, 11):
        diff = np.abs(frames[k].astype(int) - src[k]).mean(axis=2)
        assert diff[outside].mean() < 3 and diff[inside].mean() > 20, (diff[outside].mean(), diff[inside].mean())


def test_video_tool_refuses_a_mask_video_with_a_mask_mode(person_clip, tmp_path):
    import subprocess
    import sys

    r = subprocess.run([sys.executable, str(ROOT / "tools" / "video.py"), str(person_clip), "-o", str(tmp_path / "o.mp4"),
                        "--style", str(DATA / "painting.jpg"), "--mask-video", str(person_clip), "--mask-mode", "person"],
                       capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert r.returncode == 2 and r.stderr.strip().splitlines()[-1] == "error: give --mask-video or --mask-mode, not both"


def test_masks_are_steadied_over_time_and_feathered():
    """Camera noise makes the raw mask's edge shimmer from frame to frame; averaging over time calms it, and
    the feather turns the steep outline into a gentle ramp."""
    from realtime.person_mask import MaskSettings, PersonMasker

    photo = cv2.resize(cv2.imread(str(DATA / "astronaut.jpg")), (320, 240), interpolation=cv2.INTER_AREA)
    rng = np.random.default_rng(0)
    frames = [np.clip(photo + rng.normal(0, 12, photo.shape), 0, 255).astype(np.uint8) for _ in range(12)]

    def shimmer(keep: float) -> float:
        masker = PersonMasker(240, 320, MaskSettings(every=1, keep=keep, feather=0.0))
        regions = [masker.region(f, "person").astype(float) for f in frames]
        return float(np.mean([np.abs(a - b).mean() for a, b in zip(regions[4:], regions[5:])]))

    assert shimmer(0.5) < 0.7 * shimmer(0.0)
    def steepest(region: np.ndarray) -> int:  # the largest step between neighbouring pixels, in grey levels
        r = region.astype(int)
        return int(max(np.abs(np.diff(r, axis=0)).max(), np.abs(np.diff(r, axis=1)).max()))

    sharp = steepest(PersonMasker(240, 320, MaskSettings(feather=0.0)).region(photo, "person"))
    soft = steepest(PersonMasker(240, 320, MaskSettings(feather=0.02)).region(photo, "person"))
    assert sharp > 80 and soft < sharp / 3  # no more cut-out edge: the painting fades in over pixels
    both = PersonMasker(240, 320)
    background, person = both.region(photo, "background").astype(int), both.region(photo, "person").astype(int)
    assert np.abs(background + person - 255).max() <= 1  # the two modes paint complementary parts
    assert both.region(photo, "whole") is None


def test_the_segmenter_runs_every_nth_frame_and_the_mask_is_reused_between():
    from realtime.person_mask import MaskSettings, PersonMasker

    photo = cv2.resize(cv2.imread(str(DATA / "astronaut.jpg")), (320, 240), interpolation=cv2.INTER_AREA)
    masker = PersonMasker(240, 320, MaskSettings(every=3))
    for _ in range(9):
        masker.region(photo, "background")
    assert masker.updates == 3
    masker.reset()
    masker.region(photo, "person")
    assert masker.updates == 4  # a cut starts afresh at once
