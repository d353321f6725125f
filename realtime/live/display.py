"""Presenting frames: an OpenCV window, or nothing at all (--no-display)."""
from __future__ import annotations

import os
import sys

import cv2
import numpy as np

WINDOW = "realtime style transfer"


class NoDisplayError(RuntimeError):
    """No screen to open a window on."""


def has_screen() -> bool:
    """Qt aborts the whole process without one, so look before opening a window."""
    if sys.platform.startswith("linux"):
        return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
    return True


def check_screen() -> None:
    """A NoDisplayError where no window can open: asked before the engine is built too, so that a missing screen
    is said at once, not after a compile of up to a minute."""
    if not has_screen():
        raise NoDisplayError("no display to open a window on (DISPLAY is not set); use --no-display")


class Display:
    """`show(frame)` then `poll_key()`; a headless display shows nothing and never has keys."""

    def __init__(self, enabled: bool = True, fullscreen: bool = False,
                 window_size: tuple[int, int] | None = None) -> None:
        """window_size (width, height): the window's first size, when frames come smaller than they should
        look (live --fps shrinks the processing size, not the picture); the frames are scaled to it."""
        self.enabled = enabled
        self.fullscreen = False
        if enabled:
            check_screen()
            cv2.namedWindow(WINDOW, cv2.WINDOW_NORMAL)
            if window_size is not None:
                cv2.resizeWindow(WINDOW, *window_size)
            self.set_fullscreen(fullscreen)

    def set_fullscreen(self, on: bool) -> None:
        self.fullscreen = on
        if self.enabled:
            mode = cv2.WINDOW_FULLSCREEN if on else cv2.WINDOW_NORMAL
            cv2.setWindowProperty(WINDOW, cv2.WND_PROP_FULLSCREEN, mode)

    def show(self, frame: np.ndarray) -> None:
        if self.enabled:
            cv2.imshow(WINDOW, frame)

    def poll_key(self) -> int:
        return cv2.waitKey(1) if self.enabled else -1

    def closed(self) -> bool:
        """The user closed the window with the mouse."""
        return self.enabled and cv2.getWindowProperty(WINDOW, cv2.WND_PROP_VISIBLE) < 1

    def close(self) -> None:
        if self.enabled:
            cv2.destroyWindow(WINDOW)
