"""The live app's processing size: never enlarged by default, fitted to --fps by measuring."""

import pytest

from conftest import webcam
from live import STYLE_A
from media import decode_frames, make_video


def test_live_processing_size_never_enlarges_by_default():
    from realtime.live.startup import processing_size

    assert processing_size(None, (480, 640)) == (480, 640)
    assert processing_size(None, (1080, 1920)) == (512, 912)
    assert processing_size(256, (480, 640)) == (256, 344)
    assert processing_size((320, 240), (480, 640)) == (240, 320)


def test_fps_fit_shrinks_by_the_pixel_cost_and_keeps_the_aspect():
    """The sizing arithmetic of --fps on an engine whose cost is its pixel count (the real one: next test)."""
    from types import SimpleNamespace

    from realtime.live.startup import FIT_MIN_SIDE, fit_to_rate

    built = []

    def build(h, w):
        built.append((h, w))
        return SimpleNamespace(spec=SimpleNamespace(height=h, width=w), rate=lambda: 3e6 / (h * w))

    stylizer, note = fit_to_rate(build, 480, 640, 30.0)  # 9.8 fps at 640x480: a third of the pixels
    h, w = stylizer.spec.height, stylizer.spec.width
    assert 30.0 <= stylizer.rate() < 40.0, (h, w)  # fast enough, not shrunk for nothing
    assert abs(w / h - 4 / 3) < 0.05 and h % 8 == 0 and w % 8 == 0
    assert len(built) <= 3 and "processing at" in note
    built.clear()
    assert fit_to_rate(build, 480, 640, 5.0)[0].spec.height == 480 and len(built) == 1  # fast enough: kept
    stylizer, note = fit_to_rate(build, 480, 640, 1e6)
    assert min(stylizer.spec.height, stylizer.spec.width) == FIT_MIN_SIDE and "as small as --fps goes" in note


@pytest.mark.parametrize("fps,says,size", [("1", "size kept", "320x240"), ("100000", "as small as", "168x128")])
def test_fps_option_sets_the_processing_size_from_a_measurement(tmp_path, fps, says, size):
    src = make_video(tmp_path / "in.mp4", frames=10, width=320, height=240)
    r = webcam("--style", STYLE_A, "--source", str(src), "--no-display", "--backend", "onnx", "--fps", fps,
               "--max-frames", "3", "--record", str(tmp_path / "out.mp4"))
    assert r.returncode == 0, r.stderr
    assert says in r.stderr and f"on cpu, {size}," in r.stderr
    w, h = map(int, size.split("x"))
    assert decode_frames(tmp_path / "out.mp4")[0].shape[:2] == (h, w)
