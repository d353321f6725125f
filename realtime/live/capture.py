"""Frames from a camera, file or stream, read on their own thread, newest only.

A live view must never lag behind reality: when the model is slower than the
camera, older frames are dropped (and counted), never queued. Read failures
(an unplugged camera, a stream that stalls) are retried with backoff while the
app shows a "reconnecting" picture instead of exiting. A damaged file is read on
past the damage where a seek lands beyond it, and otherwise ends there.
"""
from __future__ import annotations

import logging
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from realtime.stage_times import ThreadCost

log = logging.getLogger("realtime")

STREAM_OPEN_S = 10.0   # a stream URL that has not answered by then counts as down
STREAM_STALL_S = 5.0   # ... and one that sends nothing for this long, as dropped


class SourceError(RuntimeError):
    """The source cannot be opened at all; the message is one line for the user."""


@dataclass
class Frame:
    image: np.ndarray  # uint8 HxWx3 BGR
    seq: int           # 1, 2, 3 ... in capture order
    time: float        # time.monotonic() when read


def parse_source(text: str) -> int | str:
    """'0' -> camera 0; anything else is a file path or URL."""
    return int(text) if text.isdigit() else text


def open_capture(source: int | str) -> cv2.VideoCapture:
    cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)  # our own one-line errors instead
    # FFmpeg's own lines ("[tcp @ 0x...] Connection refused", a broken stream's decode errors) too: the app
    # reports failures and reconnects itself. Read when a capture opens; a user's own setting wins.
    os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")
    if isinstance(source, str) and "://" not in source and not Path(source).is_file():
        raise SourceError(f"video source not found: {source}")
    if isinstance(source, str) and "://" in source:
        # a stream that stalls (the connection open, nothing coming) would hold a read for FFmpeg's default 30 s
        # with the picture frozen; past STREAM_STALL_S it fails like a dropped connection and is reconnected
        cap = cv2.VideoCapture(source, cv2.CAP_FFMPEG, [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, int(STREAM_OPEN_S * 1000),
                                                        cv2.CAP_PROP_READ_TIMEOUT_MSEC, int(STREAM_STALL_S * 1000)])
    else:
        cap = cv2.VideoCapture(source)
    if not cap.isOpened():
        kind = f"camera {source}" if isinstance(source, int) else f"video source {source}"
        raise SourceError(f"cannot open {kind}")
    return cap


class CaptureThread:
    """`latest()` returns the newest frame (or None before the first); `dropped` counts frames never used."""

    def __init__(self, source: int | str, loop: bool = False, pace: bool | None = None,
                 max_backoff: float = 2.0, fps: float | None = None) -> None:
        """pace: read a file at `fps` (default: its own rate) like a camera would deliver it."""
        self.source = source
        self.loop = loop
        self.is_file = isinstance(source, str) and "://" not in source
        # A file is read at its own frame rate so it behaves like a camera.
        self.pace = self.is_file if pace is None else pace
        self.max_backoff = max_backoff
        self.cap = open_capture(source)
        ok, first = self.cap.read()
        if not ok or first is None:
            self.cap.release()  # a kiosk retries this: each try would otherwise keep a device or socket open
            raise SourceError(f"cannot read a frame from {source}")
        native = self.cap.get(cv2.CAP_PROP_FPS)
        self.fps = fps if fps else (native if 1 <= native <= 240 else 30.0)
        self.size = (first.shape[0], first.shape[1])
        self._lock = threading.Lock()
        self._latest: Frame | None = None
        self._consumed_seq = 0
        self.seq = 0
        self.dropped = 0
        self.reconnects = 0
        self.reconnecting = False
        self.finished = False  # a file source without --loop reached its end
        self.skipped = 0  # frames of a damaged file stepped over
        self.decode = ThreadCost()  # time per frame read (decoded), on this thread
        self._damage_told: set[int] = set()  # where a looping file's damage was already logged
        self.frame_count = int(self.cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0) if self.is_file else 0
        # a photo as the source: like a camera held still in front of it, the same frame at the frame rate,
        # so the window stays and style keys keep working (FFmpeg reads it as a one-frame video)
        self._still = first if self.is_file and self.frame_count == 1 else None
        self._pos = 1  # frames read from a file so far: where to resume after a failure
        self._stop = threading.Event()
        self._publish(first)
        self._thread = threading.Thread(target=self._run, name="capture", daemon=True)

    def start(self) -> "CaptureThread":
        """Begin reading; separate from opening so a slow engine build does not eat a file source."""
        if not self._thread.is_alive():
            self._thread.start()
        return self

    def _publish(self, image: np.ndarray) -> None:
        with self._lock:
            if self._latest is not None and self._latest.seq > self._consumed_seq:
                self.dropped += 1  # overwritten before anyone used it
            self.seq += 1
            self._latest = Frame(image, self.seq, time.monotonic())

    def latest(self) -> Frame | None:
        with self._lock:
            if self._latest is not None:
                self._consumed_seq = self._latest.seq
            return self._latest

    def newest_seq(self) -> int:
        with self._lock:
            return self.seq

    def _reopen(self) -> bool:
        try:
            self.cap.release()
            self.cap = open_capture(self.source)
            return True
        except SourceError:
            return False

    def _read(self) -> np.ndarray | None:
        t0 = time.perf_counter()
        try:
            ok, image = self.cap.read()
        except cv2.error:
            return None
        if ok:
            self.decode.add(time.perf_counter() - t0)
        return image if ok else None

    def _run(self) -> None:
        try:
            self._read_loop()
        finally:
            if self._stop.is_set():
                self.cap.release()

    def _read_loop(self) -> None:
        period = 1.0 / self.fps
        next_time = time.monotonic() + period
        backoff = 0.1
        while not self._stop.is_set():
            if self.pace:
                delay = next_time - time.monotonic()
                if delay > 0:
                    self._stop.wait(delay)
                next_time = max(next_time + period, time.monotonic() - period)
            image = self._read()
            if image is not None:
                self.reconnecting = False
                backoff = 0.1
                self._pos += 1
                self._publish(image)
                continue
            if self._still is not None:
                self._publish(self._still)
                continue
            if self.is_file:
                state = "end" if self._at_end() else self._resume_file()
                if state == "resumed":
                    self.reconnecting = False
                    backoff = 0.1
                    continue
                if state != "gone":  # its end, or damage nothing after which decodes: the end as far as we can read
                    if not self.loop:
                        self.finished = True
                        return
                    if self._reopen():
                        self._pos = 0
                        continue
            # camera unplugged / stream stalled / file gone: retry with backoff
            self.reconnecting = True
            self._stop.wait(backoff)
            backoff = min(backoff * 2, self.max_backoff)
            if not self.is_file and self._reopen():  # a file reopens in _resume_file on the next failed read
                self.reconnects += 1

    def _at_end(self) -> bool:
        # one frame of slack: some containers only estimate their frame count
        return self.frame_count <= 0 or self._pos >= self.frame_count - 1

    def _resume_file(self) -> str:
        """After a file read failed before its end: reopen and read on from the failed frame, stepping
        1, 2, 4 ... frames further while it fails. 'resumed' (a frame was read and published), 'damaged'
        (it opens but nothing after the failure decodes: OpenCV decodes a seek from a keyframe some way
        back, so damage near the end, or in a file with one keyframe, ends the readable part) or 'gone'
        (it does not open)."""
        step = 0
        while self._pos + step < self.frame_count and not self._stop.is_set():
            if not self._reopen():  # afresh each try: a decoder that met damage is not trusted again
                return "gone"
            self.cap.set(cv2.CAP_PROP_POS_FRAMES, self._pos + step)
            image = self._read()
            if image is not None:
                if step:
                    self._tell_damage(f"{step} damaged frame(s) skipped at frame {self._pos}")
                if self.reconnecting:
                    self.reconnects += 1
                self.skipped += step
                self._pos += step + 1
                self._publish(image)
                return "resumed"
            step = max(1, 2 * step)
        self._tell_damage(f"unreadable from frame {self._pos} on (damaged); treated as its end")
        return "damaged"

    def _tell_damage(self, what: str) -> None:
        if self._pos not in self._damage_told:  # once per place: a looping kiosk meets it every pass
            self._damage_told.add(self._pos)
            log.warning("%s: %s", self.source, what)

    def wait_closed(self, timeout: float = STREAM_OPEN_S + STREAM_STALL_S) -> None:
        """Before the program ends: a thread still held by a stalled stream's read (or open) gives up within the
        stream timeouts, then releases the capture. Ending the interpreter under it tears OpenCV down beneath a
        running read and aborts the process ('terminate called without an active exception', exit -6)."""
        self._thread.join(timeout)

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=0.5)  # a read ends within a frame; a stalled one does not, and q must not wait
        if self._thread.is_alive():  # held in a read by a stalled stream: releasing under it crashes OpenCV;
            return                   # the thread releases the capture itself once the read gives up
        self.cap.release()
