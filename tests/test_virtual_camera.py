"""--virtual-cam: the stylized stream through pyvirtualcam, to a real device where one exists."""
import glob
import logging
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from conftest import ROOT

pyvirtualcam = pytest.importorskip("pyvirtualcam", reason="--virtual-cam needs pyvirtualcam: "
                                                         "pip install -r requirements-extra.txt")
DATA = ROOT / "tests" / "data"


def loopback_devices() -> list[str]:
    """v4l2loopback's devices (their driver names them so in sysfs); none in containers and CI."""
    found = []
    for name in glob.glob("/sys/class/video4linux/video*/name"):
        text = Path(name).read_text().lower()
        if "loopback" in text or "dummy" in text or "style transfer" in text:
            found.append("/dev/" + Path(name).parent.name)
    return found


class FrameSink:
    """A pyvirtualcam backend that keeps what it is sent: the device's end of the path, in-process."""

    frames: list[np.ndarray] = []
    opened: list[tuple[int, int, float]] = []

    def __init__(self, *, width, height, fps, fourcc, device, **kw):
        self.width, self.height = width, height
        FrameSink.opened.append((width, height, fps))
        assert fourcc == pyvirtualcam.util.encode_fourcc(pyvirtualcam.PixelFormat.BGR.value)

    def send(self, frame):
        FrameSink.frames.append(frame.reshape(self.height, self.width, 3).copy())

    def close(self):
        pass

    def device(self):
        return "sink"

    def native_fourcc(self):
        return None


def test_the_live_app_sends_every_stylized_frame_to_the_camera(tmp_path, monkeypatch):
    """Real capture from a clip, the real model, pyvirtualcam's own Camera (size and format checks) down to its
    backend, which here keeps the frames: one per output frame, BGR at the processing size, the picture shown."""
    from realtime import webcam

    from media import make_video

    monkeypatch.setattr(pyvirtualcam.camera, "BACKENDS", {"v4l2loopback": FrameSink})
    FrameSink.frames, FrameSink.opened = [], []
    clip = make_video(tmp_path / "clip.mp4", frames=20, width=160, height=120)
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level  # main() sets up the app's logging: the suite's is put back
    try:
        assert webcam.main(["--style", str(DATA / "painting.jpg"), "--source", str(clip), "--no-display", "--model",
                            "lite", "--virtual-cam", "--max-frames", "10", "--keys", "4:s", "--snapshot-dir",
                            str(tmp_path)]) == 0
    finally:
        root.handlers[:], root.level = handlers, level
    (width, height, fps), = FrameSink.opened
    assert (width, height) == (160, 120) and 1 <= fps <= 30  # the source's 30 fps, or what the engine keeps up with
    assert len(FrameSink.frames) == 10
    (snap,) = tmp_path.glob("snapshot-*.png")
    assert np.array_equal(FrameSink.frames[4], cv2.imread(str(snap)))  # the stylized frame itself, in BGR order


@pytest.mark.skipif(bool(loopback_devices()), reason="this machine has a v4l2loopback device")
def test_without_a_device_one_line_says_what_to_install():
    r = subprocess.run([sys.executable, "-m", "realtime.webcam", "--style", str(DATA / "painting.jpg"), "--source",
                        str(DATA / "windmill.jpg"), "--no-display", "--model", "lite", "--size", "64", "--virtual-cam",
                        "--backend", "eager"], capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert r.returncode == 2
    last = r.stderr.strip().splitlines()[-1]
    assert last.startswith("error: no virtual camera") and "modprobe v4l2loopback" in last
    assert "Traceback" not in r.stderr


@pytest.mark.skipif(not loopback_devices(), reason="no v4l2loopback device here (sudo modprobe v4l2loopback "
                                                   "exclusive_caps=1 makes one)")
def test_a_real_loopback_device_shows_the_stylized_stream(tmp_path):
    device = loopback_devices()[0]
    app = subprocess.Popen([sys.executable, "-m", "realtime.webcam", "--style", str(DATA / "painting.jpg"), "--source",
                            str(DATA / "windmill.jpg"), "--no-display", "--model", "lite", "--size", "120",
                            "--virtual-cam", "--max-frames", "300"], cwd=ROOT, stderr=subprocess.PIPE, text=True)
    try:
        cap = cv2.VideoCapture(device, cv2.CAP_V4L2)
        frame = None
        for _ in range(100):
            ok, frame = cap.read()
            if ok and frame is not None and frame.std() > 5:
                break
        cap.release()
        assert frame is not None and frame.std() > 5
    finally:
        app.terminate()
        app.wait(timeout=30)
