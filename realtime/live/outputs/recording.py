"""Recording the live stream to a video file: `--record PATH` at start, key r at any time.

Timestamps are the real elapsed time (playback speed = reality, whatever rate the loop kept). The file is
fragmented MP4 (or WebM, GIF) written on its own thread (realtime/video/writer.py), so a crash or a full
disk leaves what was written playable; a failure stops the recording, never the live view.
"""
from __future__ import annotations

import argparse
import logging
import time
from fractions import Fraction
from pathlib import Path

import numpy as np

from realtime.live.outputs.base import Engine, OutFrame, Output, OutputKind
from realtime.video.writer import RecorderError, VideoWriter, check_writable

log = logging.getLogger("realtime")


def free_path(path: Path) -> Path:
    """`path`, or `name-2.ext`, `name-3.ext`... if taken: a second recording never overwrites the first."""
    n = 2
    candidate = path
    while candidate.exists():
        candidate = path.with_name(f"{path.stem}-{n}{path.suffix}")
        n += 1
    return candidate


class LiveRecorder:
    """One file of a live stream, timestamped by the wall clock from `start`."""

    def __init__(self, path: Path, width: int, height: int, start: float) -> None:
        self.writer = VideoWriter(path, width, height, time_base=Fraction(1, 1000), fragmented=True)
        self.path = self.writer.path
        self.start = start

    def write(self, frame: np.ndarray, now: float) -> None:
        self.writer.write(frame, int(round((now - self.start) * 1000)))

    def close(self) -> int | None:
        """Frames in the file; None where a write failed (said here): the file then plays up to the failure,
        or was removed when nothing of it could play."""
        self.writer.close()
        if not self.writer.kept:
            log.error("recording %s failed (%s): nothing playable could be kept; removed", self.path, self.writer.error)
        elif self.writer.error is not None:
            log.error("recording %s failed (%s): cut short; what was written before it plays", self.path,
                      self.writer.error)
        return None if self.writer.error is not None else self.writer.frames


class Recording(Output):
    """The recording output: idle until toggled; each toggle on starts a new file (never over an old one)."""

    stage = "record"

    def __init__(self, path: Path | None, width: int, height: int) -> None:
        self.path, self.width, self.height = path, width, height
        self.recorder: LiveRecorder | None = None

    @property
    def active(self) -> bool:
        return self.recorder is not None

    def toggle(self) -> None:
        if self.recorder is not None:
            self._end("stopped")
            return
        path = free_path(self.path or Path(time.strftime("recording-%Y%m%d-%H%M%S.mp4")))
        try:
            self.recorder = LiveRecorder(path, self.width, self.height, time.monotonic())
        except RecorderError as e:  # the live view matters more than the recording: say so and go on
            log.error("%s; not recording", e)
            return
        log.info("recording to %s (%dx%d)", path, self.width, self.height)

    def send(self, frame: OutFrame) -> None:
        if self.recorder is None:
            return
        try:
            self.recorder.write(frame.stylized, frame.time)
        except RecorderError as e:  # disk full, say: keep the live view, keep what was written
            log.error("%s; recording stopped", e)
            self.recorder.close()
            self.recorder = None

    def encode_ms(self) -> float | None:
        """ms the encoder spent since the last call (--stats), None when not recording."""
        return self.recorder.writer.encode_cost.since_last() if self.recorder else None

    def _end(self, how: str) -> None:
        frames = self.recorder.close()
        if frames is not None:  # otherwise the recorder has said what went wrong
            log.info("recording %s: %d frames in %s", how, frames, self.recorder.path)
        self.recorder = None

    def close(self) -> None:
        if self.recorder is not None:
            self._end("saved")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--record", type=Path,
                   help="record the stylized stream to this video file (key r toggles; H.264, VP8 for .webm, "
                        "GIF for .gif)")


def check(a: argparse.Namespace) -> None:
    if a.record is not None:
        check_writable(a.record)


def open_recording(a: argparse.Namespace, engine: Engine | None) -> Recording:
    """Always there (key r records without --record, to a timestamped file); --record starts it at once."""
    recording = Recording(a.record, engine.width, engine.height)
    if a.record is not None:
        recording.toggle()
    return recording


KIND = OutputKind("recording", add_arguments, open_recording, check, errors=(RecorderError,))
