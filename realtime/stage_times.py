"""Where a live frame's time goes, stage by stage: what --stats writes per frame and the benchmark averages.

The loop's own stages are timed on its thread. Decoding (the capture thread) and encoding (the recorder's
thread) run beside it and are reported as their own per-frame cost: on a CPU with two cores they take time
from the model even though the loop never waits for them.
"""
from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager

STAGES = ("wait", "resize", "mask", "model", "steady", "record", "send", "show")  # the loop's, in order
BESIDE = ("decode", "encode")  # the other threads'


class ThreadCost:
    """Seconds a worker thread spent per item (a frame decoded, a frame encoded), read as deltas."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self.items = 0
        self._seen = (0.0, 0)

    def add(self, seconds: float) -> None:
        self.seconds += seconds  # one writer thread: a torn read costs one frame's figure, never a crash
        self.items += 1

    def since_last(self) -> float | None:
        """Mean ms per item since the previous call; None when none were done."""
        seconds, items = self.seconds - self._seen[0], self.items - self._seen[1]
        self._seen = (self.seconds, self.items)
        return seconds / items * 1e3 if items else None

    def mean_ms(self) -> float | None:
        return self.seconds / self.items * 1e3 if self.items else None


class StageTimes:
    """Milliseconds per stage of the current output frame, and the sums over all of them."""

    def __init__(self) -> None:
        self.frame: dict[str, float] = defaultdict(float)
        self.totals: dict[str, float] = defaultdict(float)
        self.frames = 0
        self._frame_start = time.perf_counter()

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self.frame[name] += (time.perf_counter() - t0) * 1e3

    def end_frame(self) -> dict[str, float]:
        """This frame's stages (ms, rounded) with 'other' (the loop's time outside them) and 'total' (since the
        previous output frame); the sums move on to the next frame."""
        now = time.perf_counter()
        total = (now - self._frame_start) * 1e3
        self._frame_start = now
        frame = {k: self.frame.get(k, 0.0) for k in STAGES}
        frame["other"] = max(0.0, total - sum(frame.values()))
        frame["total"] = total
        for k, v in frame.items():
            self.totals[k] += v
        self.frames += 1
        self.frame = defaultdict(float)
        return {k: round(v, 2) for k, v in frame.items()}

    def mean_ms(self) -> dict[str, float]:
        return {k: v / self.frames for k, v in self.totals.items()} if self.frames else {}
