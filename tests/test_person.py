"""The person segmenter: the PyTorch port of MediaPipe's graph against MediaPipe's own output, the shipped
conversion against a fresh one, and the masks the live app and the video tool paint with."""
import importlib.util

import cv2
import numpy as np
import pytest
import torch
from safetensors import safe_open

from conftest import ROOT
from engines.person_segmenter import LANDSCAPE, SQUARE, PersonSegmenter, for_frame

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
    from engines.weights import WeightsError

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
