"""Bad inputs and faults a hostile user found, kept in the suite so that they stay fixed.

Each case runs a real entry point as a user would and holds it to the contract: one line on stderr, a non-zero
exit, no traceback, no input or earlier output changed, and any file left behind playable or absent.
"""
import hashlib
import json
import os
import signal
import struct
import subprocess
import sys
import time
import zlib
from pathlib import Path

import av
import cv2
import numpy as np
import pytest
import torch

from conftest import ROOT, make_photo
from media import make_video

STYLE = str(ROOT / "tests/data/painting.jpg")
CONTENT = str(ROOT / "tests/data/windmill.jpg")
VIDEO, STYLIZE, WEBCAM = ["tools/video.py"], ["tools/stylize.py"], ["-m", "realtime.webcam"]


def run(entry, *args, env=None, timeout=300):
    return subprocess.run([sys.executable, *entry, *map(str, args)], capture_output=True, text=True, cwd=ROOT,
                          timeout=timeout, env=env)


def refused(r, words):
    """One line, non-zero, no traceback, and the line says what is wrong."""
    lines = r.stderr.strip().splitlines()
    assert r.returncode != 0, r.stderr
    assert "Traceback" not in r.stderr, r.stderr
    assert len(lines) == 1, r.stderr
    assert words in lines[0], lines[0]


def digest(path):
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def playable_or_absent(path):
    path = Path(path)
    if path.exists():
        with av.open(str(path)) as c:
            assert next(c.decode(video=0), None) is not None, f"{path} is left but does not play"


def huge_png(path, width, height):
    """A few kilobytes that declare width x height pixels (rows of zeros, cut short)."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = zlib.compress(b"\0" * ((3 * width + 1) * 4))
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
                     + chunk(b"IDAT", rows) + chunk(b"IEND", b""))
    return path


@pytest.fixture
def small_disk(tmp_path):
    """A 300 KB file system: a disk that fills up part-way (tmpfs; needs root, else the tests skip)."""
    where = tmp_path / "full"
    where.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=300k", "tmpfs", str(where)], capture_output=True)
    if r.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here (needs root): {r.stderr.decode().strip()}")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], capture_output=True)


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    return make_video(tmp_path_factory.mktemp("clip") / "clip.mp4", frames=30, width=96, height=64)


# --- 1, 2: outputs that would destroy an input or an earlier result -----------------------------------------
def test_a_video_named_like_its_own_temporary_file_is_not_destroyed(tmp_path, clip):
    src = tmp_path / "clip.partial.mp4"
    src.write_bytes(clip.read_bytes())
    before = digest(src)
    refused(run(VIDEO, src, "-o", tmp_path / "clip.mp4", "--style", STYLE), "would overwrite the input")
    assert digest(src) == before and not (tmp_path / "clip.mp4").exists()


def test_an_earlier_partial_output_is_kept_unless_overwrite(tmp_path, clip):
    partial = tmp_path / "out.partial.mp4"
    partial.write_bytes(clip.read_bytes())
    before = digest(partial)
    refused(run(VIDEO, clip, "-o", tmp_path / "out.mp4", "--style", STYLE), "--overwrite")
    assert digest(partial) == before


@pytest.mark.parametrize("which", ["content", "style", "mask"])
def test_stylize_never_writes_over_its_own_input(tmp_path, which):
    files = {k: tmp_path / f"{k}.png" for k in ("content", "style", "mask")}
    for i, f in enumerate(files.values()):
        cv2.imwrite(str(f), make_photo(40, 48, seed=i))
    before = {k: digest(f) for k, f in files.items()}
    refused(run(STYLIZE, "--content", files["content"], "--style", files["style"], "--mask", files["mask"],
                "-o", files[which], "--size", "32", "--model", "lite"), "would overwrite the input")
    assert {k: digest(f) for k, f in files.items()} == before


def test_a_folder_of_contents_is_not_written_over_itself(tmp_path):
    folder = tmp_path / "photos"
    folder.mkdir()
    cv2.imwrite(str(folder / "a.png"), make_photo(40, 48))
    before = digest(folder / "a.png")
    refused(run(STYLIZE, "--content", folder, "--style", STYLE, "-o", folder, "--size", "32", "--model", "lite"),
            "would overwrite the input")
    assert digest(folder / "a.png") == before


# --- 3, 4: pictures that claim to be enormous, sizes that cannot fit ------------------------------------------
@pytest.mark.parametrize("tool, side", [("stylize-content", 60000), ("stylize-content", 30000),  # over, under
                                        ("stylize-style", 60000), ("video", 60000), ("webcam", 60000)])  # OpenCV's limit
def test_a_png_declaring_huge_dimensions_is_refused_before_decoding(tmp_path, clip, tool, side):
    big = huge_png(tmp_path / "big.png", side, side)
    args = {
        "stylize-content": (STYLIZE, "--content", big, "--style", STYLE, "-o", tmp_path / "o.png", "--model", "lite"),
        "stylize-style": (STYLIZE, "--content", CONTENT, "--style", big, "-o", tmp_path / "o.png", "--model", "lite"),
        "video": (VIDEO, clip, "-o", tmp_path / "o.mp4", "--style", big, "--model", "lite"),
        "webcam": (WEBCAM, "--style", big, "--source", clip, "--no-display", "--model", "lite"),
    }[tool]
    r = run(*args)
    refused(r, f"{side}x{side}")
    assert not list(tmp_path.glob("o.*"))


def test_a_huge_png_in_a_style_folder_is_skipped_at_start_and_on_rescan(tmp_path, clip):
    styles = tmp_path / "styles"
    styles.mkdir()
    huge_png(styles / "a_big.png", 60000, 60000)
    cv2.imwrite(str(styles / "b.png"), make_photo(64, 64))
    stats = tmp_path / "s.jsonl"
    for kiosk in ([], ["--kiosk", "--log-file", tmp_path / "kiosk.log"]):
        r = run(WEBCAM, "--style-dir", styles, "--source", clip, "--no-display", "--size", "32", "--max-frames", "6",
                "--keys", "3:d", "--stats", stats, "--backend", "onnx", "--model", "lite", *kiosk)
        assert r.returncode == 0, r.stderr
        assert "Traceback" not in r.stderr
    log = r.stderr + (tmp_path / "kiosk.log").read_text()
    assert "60000x60000" in log


def test_a_huge_png_in_a_folder_of_contents_is_skipped_and_the_rest_done(tmp_path):
    folder = tmp_path / "photos"
    folder.mkdir()
    huge_png(folder / "a.png", 60000, 60000)
    cv2.imwrite(str(folder / "b.png"), make_photo(40, 48))
    r = run(STYLIZE, "--content", folder, "--style", STYLE, "-o", tmp_path / "out", "--size", "32", "--model", "lite")
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
    assert "60000x60000" in r.stderr
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["b.png"]


def test_a_large_jpeg_style_is_decoded_no_larger_than_needed(tmp_path):
    from engines.io.images import read_bgr, read_short

    photo = cv2.resize(make_photo(300, 400), (4000, 3000), interpolation=cv2.INTER_LINEAR)
    cv2.imwrite(str(tmp_path / "big.jpg"), photo)
    assert read_bgr(tmp_path / "big.jpg", 512).shape == (750, 1000, 3)  # decoded at 1/4, still >= 512
    assert read_short(tmp_path / "big.jpg", 512).shape == (512, 683, 3)
    assert read_bgr(tmp_path / "big.jpg").shape == (3000, 4000, 3)


def test_a_content_size_that_cannot_fit_is_refused_before_resizing(tmp_path):
    refused(run(STYLIZE, "--content", CONTENT, "--style", STYLE, "-o", tmp_path / "o.png", "--size", "100000",
                "--model", "lite"), "GB")
    assert not (tmp_path / "o.png").exists()


# --- 5: a full disk -----------------------------------------------------------------------------------------------
def test_a_full_disk_leaves_videos_and_pictures_playable_or_absent(tmp_path, small_disk):
    src = make_video(tmp_path / "grainy.mp4", frames=90, width=320, height=240, noise=20)  # more than 300 KB out
    r = run(VIDEO, src, "-o", small_disk / "o.mp4", "--style", STYLE, "--model", "lite", "--quiet")
    refused(r, "writing failed")
    playable_or_absent(small_disk / "o.partial.mp4")
    assert not (small_disk / "o.mp4").exists()
    for f in small_disk.iterdir():
        f.unlink()

    (small_disk / "filler").write_bytes(b"\0" * (300 - 48) * 1024)  # a few frames fit, however many are dropped
    r = run(WEBCAM, "--style", STYLE, "--source", src, "--no-display", "--record", small_disk / "rec.mp4",
            "--backend", "onnx", "--model", "lite")
    assert r.returncode == 0 and "Traceback" not in r.stderr, r.stderr  # the live view goes on
    assert "cut short" in r.stderr or "nothing playable could be kept" in r.stderr, r.stderr
    playable_or_absent(small_disk / "rec.mp4")
    (small_disk / "rec.mp4").unlink(missing_ok=True)

    (small_disk / "filler").write_bytes(b"\0" * (300 * 1024 - 8192))
    refused(run(STYLIZE, "--content", CONTENT, "--style", STYLE, "-o", small_disk / "o.png", "--model", "lite",
                "--size", "256"), "cannot write")
    assert sorted(p.name for p in small_disk.iterdir()) == ["filler"]  # no truncated picture


def test_a_cache_on_a_full_disk_only_costs_time(tmp_path, small_disk, clip):
    env = dict(os.environ, REALTIME_ADAIN_CACHE=str(small_disk / "cache"))
    r = run(STYLIZE, "--content", CONTENT, "--style", STYLE, "-o", tmp_path / "o.png", "--model", "full",
            "--size", "64", env=env)
    assert r.returncode == 0 and "Traceback" not in r.stderr, r.stderr
    assert "not cached" in r.stderr and cv2.imread(str(tmp_path / "o.png")) is not None
    r = run(WEBCAM, "--style", STYLE, "--source", clip, "--no-display", "--backend", "onnx", "--model", "lite",
            "--max-frames", "3", env=env)
    assert r.returncode == 0 and "Traceback" not in r.stderr, r.stderr


# --- 6, 7: logs and caches in the way -----------------------------------------------------------------------------
def test_stats_file_in_a_folder_or_a_read_only_place_is_refused_and_an_old_one_kept(tmp_path, clip):
    refused(run(WEBCAM, "--style", STYLE, "--source", clip, "--no-display", "--stats", tmp_path), "is a folder")
    if os.geteuid() != 0:  # root writes anywhere
        ro = tmp_path / "ro"
        ro.mkdir(mode=0o500)
        refused(run(WEBCAM, "--style", STYLE, "--source", clip, "--no-display", "--stats", ro / "s.jsonl"),
                "Permission denied")
    stats = tmp_path / "s.jsonl"
    stats.write_text('{"earlier": 1}\n')
    r = run(WEBCAM, "--style", STYLE, "--source", clip, "--no-display", "--stats", stats, "--size", "32",
            "--max-frames", "3", "--backend", "onnx", "--model", "lite")
    assert r.returncode == 0, r.stderr
    lines = [json.loads(x) for x in stats.read_text().splitlines()]
    assert lines[0] == {"earlier": 1} and len(lines) == 4


def test_an_engine_cache_path_that_is_a_folder_builds_uncached(tmp_path, monkeypatch, random_model, caplog):
    from engines.backends import make_stylizer

    monkeypatch.setenv("REALTIME_ADAIN_CACHE", str(tmp_path))
    first = make_stylizer(random_model, "onnx", 32, 32)
    first.cache_file.unlink()
    first.cache_file.mkdir()  # something else took the engine's name
    again = make_stylizer(random_model, "onnx", 32, 32)
    frame = make_photo(32, 32)[None]
    from engines.model.network import StyleStats

    style = StyleStats(torch.ones(512), torch.ones(512))
    assert np.array_equal(first(frame, style), again(frame, style))
    assert "not cached in" in caplog.text


def test_the_temp_cache_folder_is_private_and_one_someone_else_can_write_is_not_used(tmp_path, monkeypatch):
    import engines.zoo.cache as W

    monkeypatch.setattr(W.tempfile, "tempdir", str(tmp_path))
    monkeypatch.setattr(W, "_OWN_TEMP", [])
    mine = W._private_temp_folder()
    assert mine == tmp_path / f"realtime-adain-{os.getuid()}" and mine.stat().st_mode & 0o777 == 0o700
    mine.chmod(0o777)  # as if another user had made it, open to all
    other = W._private_temp_folder()
    assert other != mine and other.stat().st_mode & 0o777 == 0o700


# --- 8: stop requests while starting ------------------------------------------------------------------------------
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
@pytest.mark.parametrize("tool", ["webcam", "video", "stylize"])
def test_a_stop_request_while_starting_ends_with_one_line(tmp_path, clip, tool, sig):
    entry, args = {"webcam": (WEBCAM, ["--style", STYLE, "--source", clip, "--no-display"]),
                   "video": (VIDEO, [clip, "-o", tmp_path / "o.mp4", "--style", STYLE]),
                   "stylize": (STYLIZE, ["--content", CONTENT, "--style", STYLE, "-o", tmp_path / "o.png"])}[tool]
    p = subprocess.Popen([sys.executable, *entry, *map(str, args)], cwd=ROOT, stderr=subprocess.PIPE, text=True)
    time.sleep(0.3)  # torch is still loading
    p.send_signal(sig)
    err = p.communicate(timeout=60)[1]
    assert p.returncode == 128 + sig, err
    assert err.strip() == f"interrupted ({sig.name})"
    assert not list(tmp_path.glob("o*"))


# --- 9: weights that would paint black ----------------------------------------------------------------------------
def test_a_decoder_of_nan_weights_is_refused(tmp_path):
    from safetensors.torch import load_file, save_file

    from engines.zoo.files import LITE_DECODER

    sd = {k: torch.full_like(v, float("nan")) for k, v in load_file(str(LITE_DECODER)).items()}
    save_file(sd, str(tmp_path / "nan.safetensors"))
    refused(run(STYLIZE, "--content", CONTENT, "--style", STYLE, "-o", tmp_path / "o.png", "--model", "lite",
                "--decoder", tmp_path / "nan.safetensors"), "NaN")
    assert not (tmp_path / "o.png").exists()


def test_a_recording_stopped_before_any_frame_leaves_nothing_and_no_error(tmp_path):
    from realtime.live.outputs.recording import LiveRecorder

    rec = LiveRecorder(tmp_path / "r.mp4", 64, 48, start=0.0)
    assert rec.close() == 0 and not (tmp_path / "r.mp4").exists()
