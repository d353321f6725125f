"""Requests to stop from outside (Ctrl-C, `kill`, systemd stopping a kiosk, a closed terminal), as a flag.

Python's own answer to SIGTERM and SIGHUP is to die on the spot: an MP4 being recorded then has no index
and does not play. Loops check the flag between frames instead and close their files properly.
"""
from __future__ import annotations

import os
import signal
import sys
import threading
from types import FrameType


class StopSignals:
    """`with StopSignals() as stop:` ... `if stop.hit:` (the signal's name); previous handlers come back on exit.

    Handlers can only be set from the main thread; elsewhere (a loop run by a test thread) nothing is changed.
    """

    SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)

    def __init__(self) -> None:
        self.hit: str | None = None
        self._old: dict[int, object] = {}

    def __enter__(self) -> "StopSignals":
        if threading.current_thread() is threading.main_thread():
            for sig in self.SIGNALS:
                self._old[sig] = signal.signal(sig, self._handle)
        return self

    def _handle(self, signum: int, frame: object) -> None:
        self.hit = signal.Signals(signum).name

    def __exit__(self, *exc: object) -> None:
        for sig, old in self._old.items():
            signal.signal(sig, old)
        self._old.clear()


def quit_quietly_on_signals() -> None:
    """Until a loop takes over with StopSignals: a stop request ends the program at once with one line and
    128 + the signal's number (130 for Ctrl-C), instead of a KeyboardInterrupt traceback from inside an import
    (torch takes a second or two to load) or a silent 143. Nothing has been written by then: files are written
    atomically or by the loops, which take over the signals. Call it first thing, from the main thread."""
    def stop(signum: int, frame: FrameType | None) -> None:
        print(f"interrupted ({signal.Signals(signum).name})", file=sys.stderr)
        if _importing(frame):  # unwinding through a C extension's start-up (numpy's) leaves it half made, and
            sys.stderr.flush()  # the interpreter's shutdown then prints an ImportError traceback (seen in CI)
            os._exit(128 + signum)
        raise SystemExit(128 + signum)

    for sig in StopSignals.SIGNALS:
        signal.signal(sig, stop)


def _importing(frame: FrameType | None) -> bool:
    """Whether the interrupted code is inside an import (nothing of the program's has been written yet)."""
    while frame is not None:
        if frame.f_code.co_filename.startswith("<frozen importlib"):
            return True
        frame = frame.f_back
    return False
