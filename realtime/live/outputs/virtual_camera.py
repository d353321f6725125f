"""The stylized stream as a camera that Zoom, Meet, Teams or OBS can pick: `--virtual-cam`.

pyvirtualcam (an optional dependency, requirements-extra.txt) drives v4l2loopback on Linux and OBS's
Virtual Camera on Windows and macOS. Frames go out at the processing size; the rate announced is the rate the
app can keep (the source's, or the engine's measured rate if slower). Sending never waits: the live loop
paces itself, and a consumer that reads slower just sees the newest frame.
"""
from __future__ import annotations

import argparse
import importlib.util
import logging
import sys

import numpy as np

from engines.io.sizes import resize_to
from realtime.live.outputs.base import Engine, OutFrame, Output, OutputKind

log = logging.getLogger("realtime")


class VirtualCameraError(RuntimeError):
    pass


def install_hint() -> str:
    if sys.platform.startswith("linux"):
        return ("load the v4l2loopback kernel module: sudo apt install v4l2loopback-dkms && "
                "sudo modprobe v4l2loopback exclusive_caps=1 card_label='Style transfer'")
    return "install OBS Studio and start its Virtual Camera once"


class VirtualCamera(Output):
    """A virtual camera device of a fixed size, sent the stylized picture of each frame."""

    def __init__(self, width: int, height: int, fps: float, backend: str | None = None,
                 device: str | None = None) -> None:
        try:
            import pyvirtualcam
        except ImportError:
            raise VirtualCameraError("--virtual-cam needs pyvirtualcam: pip install -r requirements-extra.txt") \
                from None
        kw = {"backend": backend} if backend else {}
        if device:
            kw["device"] = device
        try:
            self.cam = pyvirtualcam.Camera(width, height, fps, fmt=pyvirtualcam.PixelFormat.BGR,
                                           print_fps=False, **kw)
        except (RuntimeError, ValueError) as e:
            first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            raise VirtualCameraError(f"no virtual camera ({first}); {install_hint()}") from None
        self.width, self.height = width, height
        self.sent = 0
        log.info("virtual camera %s (%s) at %dx%d, %.0f fps", self.cam.device, self.cam.backend, width, height, fps)

    def send(self, frame: OutFrame) -> None:
        self.send_picture(frame.stylized)

    def send_picture(self, picture: np.ndarray) -> None:
        """One BGR picture; a different size than the camera's is scaled to fit."""
        self.cam.send(np.ascontiguousarray(resize_to(picture, self.height, self.width)))
        self.sent += 1

    def close(self) -> None:
        self.cam.close()


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--virtual-cam", action="store_true",
                   help="send the stylized picture to a virtual camera for Zoom, Meet, Teams or OBS (v4l2loopback "
                        "on Linux, OBS Virtual Camera elsewhere; needs requirements-extra.txt)")


def check(a: argparse.Namespace) -> None:
    if a.virtual_cam and importlib.util.find_spec("pyvirtualcam") is None:  # said now, not after the engine build
        raise VirtualCameraError("--virtual-cam needs pyvirtualcam: pip install -r requirements-extra.txt")


def open_camera(a: argparse.Namespace, engine: Engine | None) -> VirtualCamera | None:
    return VirtualCamera(engine.width, engine.height, engine.fps) if a.virtual_cam else None


KIND = OutputKind("virtual camera", add_arguments, open_camera, check, errors=(VirtualCameraError,))
