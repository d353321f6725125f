"""Benchmarks of the live loop as users run it: the model inside the real app (capture thread on a real video
file, resize, stylize, HUD, recorder thread), and the video file writers alone."""
from __future__ import annotations

import asyncio
import itertools
import os
import statistics
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np
import torch

from engines.backends import make_stylizer
from engines.io.sizes import inner_size
from engines.evaluation.benchmark import (
    Result, bench_size, conv_gflop, median_rounds, model_only, peak_rss_mb, reset_peak_rss, summarise,
)
from engines.model.network import AdaINModel
from realtime.live.app import AppConfig, LiveApp
from realtime.live.capture import CaptureThread
from realtime.live.display import Display
from realtime.live.outputs.web_view import WebView
from realtime.live.style_bank import StyleBank
from realtime.person_mask import MaskSettings
from realtime.stage_times import BESIDE, STAGES
from realtime.video.pattern_clip import make_video
from realtime.video.writer import VideoWriter


def time_end_to_end(stylizer, model: AdaINModel, style_path: Path, height: int, width: int, frames: int,
                    camera_fps: float, stabilize: bool = False, record: bool = True, mask_mode: str = "whole",
                    mask_every: int = 1, viewers: int = 0) -> tuple[float, dict[str, float]]:
    """Frames per second of the real live loop on a real video file read like a camera at `camera_fps` (and
    recording the output, with `record`; painting one part with `mask_mode`; served to `viewers` browser
    viewers that connect at the start and drop at once halfway), and the ms per output frame of each stage
    (the loop's, and decoding and encoding on their threads)."""
    with tempfile.TemporaryDirectory() as tmp:
        src = make_video(Path(tmp) / "src.mp4", frames=frames + 10, width=width, height=height)
        capture = CaptureThread(str(src), loop=True, pace=True, fps=camera_fps)
        bank = StyleBank(model, [style_path])
        cfg = AppConfig(display=False, max_frames=frames, stabilize=stabilize, mask_mode=mask_mode,
                        mask=MaskSettings(every=mask_every))
        web = WebView("127.0.0.1", 0) if viewers else None
        app = LiveApp(cfg, capture, stylizer, bank, Display(enabled=False), [web] if web else [],
                      record=Path(tmp) / "rec.mp4")
        if record:
            app.toggle_recording()
        encode = app.recording.recorder.writer.encode_cost if record else None
        crowd = Crowd(web.port, web.token, viewers, lambda: app.frames_out >= frames // 2) if web else None
        t0 = time.perf_counter()
        n = app.run()
        fps = n / (time.perf_counter() - t0)
        beside = {"decode": capture.decode.mean_ms(), "encode": encode.mean_ms() if encode else None}
        if crowd is not None:
            crowd.join()
            beside["viewer_frames"] = crowd.frames / max(viewers, 1)
        return fps, app.stages.mean_ms() | {k: v for k, v in beside.items() if v is not None}


class Crowd(threading.Thread):
    """`n` browser viewers of the MJPEG stream that connect at once and drop at once (no goodbye) when
    `leave()` turns true: a crowd at a kiosk, a class of phones."""

    def __init__(self, port: int, token: str | None, n: int, leave) -> None:
        super().__init__(daemon=True)
        self.port, self.n, self.leave = port, n, leave
        self.query = f"?token={token}" if token else ""
        self.frames = 0
        self.start()

    def run(self) -> None:
        asyncio.run(self._all())

    async def _all(self) -> None:
        await asyncio.gather(*(self._one() for _ in range(self.n)))

    async def _one(self) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
        writer.write(f"GET /stream.mjpg{self.query} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
        await writer.drain()
        deadline = time.monotonic() + 120
        while not self.leave() and time.monotonic() < deadline:
            try:
                chunk = await asyncio.wait_for(reader.read(1 << 16), 0.2)
            except asyncio.TimeoutError:
                continue
            if not chunk:
                break
            self.frames += chunk.count(b"--frame\r\n")
        writer.transport.abort()


def open_files() -> int:
    """This process's open file descriptors (Linux), -1 where /proc is not there."""
    try:
        return len(os.listdir("/proc/self/fd"))
    except OSError:
        return -1


def outputs_sweep(stylizer, model: AdaINModel, style_path: Path, frames: int, camera_fps: float, rounds: int,
                  viewers: int) -> str:
    """The live loop plain, with person masks (every frame, every 2nd), and with `viewers` browser viewers
    connecting and dropping at once, rounds interleaved; a Markdown table of medians."""
    h, w = stylizer.spec.height, stylizer.spec.width
    cases = {"plain": {}, "background mask, every frame": {"mask_mode": "background", "mask_every": 1},
             "background mask, every 2nd frame": {"mask_mode": "background", "mask_every": 2},
             f"{viewers} browser viewers": {"viewers": viewers}}
    runs: dict[str, list[tuple[float, dict]]] = {k: [] for k in cases}
    resources = []
    for _ in range(rounds):
        for name, kw in cases.items():
            before = (threading.active_count(), open_files())
            runs[name].append(time_end_to_end(stylizer, model, style_path, h, w, frames, camera_fps, record=False, **kw))
            if kw.get("viewers"):
                time.sleep(1.0)  # the server's threads end with its close(): counted after
                resources.append((before, (threading.active_count(), open_files())))
    plain = statistics.median(f for f, _ in runs["plain"])
    lines = ["| loop | fps | vs plain | mask ms | send ms | model ms | frames per viewer |", "|---|---|---|---|---|---|---|"]
    for name, rs in runs.items():
        fps = statistics.median(f for f, _ in rs)
        st = {k: statistics.median(s.get(k, 0.0) for _, s in rs) for k in ("mask", "send", "model", "viewer_frames")}
        lines.append(f"| {name} | {fps:.1f} | {100 * (fps / plain - 1):+.1f} % | {st['mask']:.2f} | {st['send']:.2f} | "
                     f"{st['model']:.2f} | {st['viewer_frames']:.0f} |")
    grown = [(a, b) for a, b in resources if b[0] > a[0] or b[1] > a[1]]
    lines.append("")
    lines.append(f"{w}x{h}, {frames} frames a run, camera at {camera_fps:.0f} fps, medians of {rounds} round(s). "
                 f"Threads and open files before and after each viewer run: "
                 + "; ".join(f"{a[0]}/{a[1]} -> {b[0]}/{b[1]}" for a, b in resources)
                 + (" (grew)" if grown else " (no growth)"))
    return "\n".join(lines)


def stage_table(results: list[Result]) -> str:
    """Where the end-to-end rows' time went: ms per output frame by stage."""
    cols = [*STAGES, "other", "total", *BESIDE]
    lines = ["| model | backend | size | loop | " + " | ".join(f"{c} ms" for c in cols) + " |",
             "|---|---|---|---|" + "---|" * len(cols)]
    for r in results:
        for loop, stages in (("camera-like", r.stages), ("recording", r.rec_stages)):
            if stages:
                cells = [f"{stages[c]:.1f}" if c in stages else "-" for c in cols]
                lines.append(f"| {r.model} | {r.backend} | {r.size} | {loop} | " + " | ".join(cells) + " |")
    return "\n".join(lines) if len(lines) > 2 else ""


def bench(model: AdaINModel, name: str, backend: str, size: str, device: str, precision: str, seconds: float,
          min_runs: int, e2e_frames: int, style_path: Path, stabilize: bool = False,
          model_scale: float | None = None) -> Result:
    """One row: the engine built, timed alone, then (e2e_frames > 0) inside the live loop."""
    w, h = bench_size(size)
    inner = inner_size(h, w, model_scale)
    reset_peak_rss()
    t0 = time.perf_counter()
    stylizer = make_stylizer(model, backend, h, w, device=device, precision=precision, inner=inner)
    build = time.perf_counter() - t0
    if device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats()
    times = model_only(stylizer, model, size, seconds, min_runs)
    # the camera delivers twice as fast as the model: a new frame is always waiting, as with a real camera
    p50 = statistics.median(times)
    e2e = rec = stages = rec_stages = None
    if e2e_frames:  # as a camera is used (nothing recorded), then a file with its output recorded
        e2e, stages = time_end_to_end(stylizer, model, style_path, h, w, e2e_frames, 2.0 / p50, stabilize, False)
        rec, rec_stages = time_end_to_end(stylizer, model, style_path, h, w, e2e_frames, 2.0 / p50, stabilize, True)
    mem = torch.cuda.max_memory_allocated() / 2**20 if device.startswith("cuda") else peak_rss_mb()
    gflop = conv_gflop(model.cpu(), *(inner or (h, w)))
    model.to(device)
    label = f"{stylizer.spec.backend} {stylizer.spec.precision}" + (f" @{model_scale:g}" if inner else "")
    result = summarise(name, label, size, times, e2e, mem, gflop, build)
    result.stages, result.rec_fps, result.rec_stages = stages, rec, rec_stages
    return result


WRITER_SUFFIX = {"h264": ".mp4", "vp8": ".webm", "mpeg4": ".mp4", "gif": ".gif"}


@dataclass
class WriterResult:
    codec: str
    size: str
    ms_per_frame: float
    kb_per_frame: float


def time_writer(codec: str, size: str, frames: int, style_path: Path) -> WriterResult:
    """The file writer alone (its thread, encoder and muxer, flushed and closed) on a pan across a painting:
    what a stylized video looks like to an encoder, unlike random pixels."""
    w, h = bench_size(size)
    painting = cv2.resize(cv2.imread(str(style_path)), (w + 4 * frames, h), interpolation=cv2.INTER_AREA)
    pan = [np.ascontiguousarray(painting[:, 4 * i : 4 * i + w]) for i in range(frames)]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"bench{WRITER_SUFFIX[codec]}"
        t0 = time.perf_counter()
        writer = VideoWriter(path, w, h, time_base=Fraction(1, 30), rate=30, codec=codec)
        for i, frame in enumerate(pan):
            writer.write(frame, i)
        writer.close()
        seconds = time.perf_counter() - t0
        return WriterResult(codec, size, seconds / frames * 1e3, path.stat().st_size / frames / 1024)


def writer_table(results: list[WriterResult]) -> str:
    rows = ["| writer | size | ms/frame | fps | KiB/frame |", "|---|---|---|---|---|"]
    rows += [f"| {r.codec} | {r.size} | {r.ms_per_frame:.1f} | {1e3 / r.ms_per_frame:.1f} | {r.kb_per_frame:.1f} |"
             for r in results]
    return "\n".join(rows)


def writer_sweep(codecs: list[str], sizes: list[str], rounds: int, frames: int, style_path: Path) -> list[WriterResult]:
    """Each codec at each size, rounds interleaved; of each, the median round by time."""
    runs: dict[tuple[str, str], list[WriterResult]] = {}
    for _ in range(rounds):
        for size, codec in itertools.product(sizes, codecs):
            r = time_writer(codec, size, frames, style_path)
            runs.setdefault((codec, size), []).append(r)
            print(f"{codec:6s} {size:6s} {r.ms_per_frame:8.1f} ms/frame", file=sys.stderr)
    return median_rounds(runs, lambda r: r.ms_per_frame)
