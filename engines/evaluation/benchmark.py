"""Measuring the model: its conv FLOPs per frame, timed calls, the process's peak memory, and the machine and
library versions a number needs beside it to be compared."""
from __future__ import annotations

import argparse
import os
import platform
import resource
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from engines.backends import BackendError, choose_backend
from engines.backends.machine import cpu_has_bf16
from engines.io.sizes import MIN_SIDE
from engines.model.network import AdaINModel, StyleStats, padded_size
from engines.options import load_model, model_choice

SIZES = {"256": (256, 256), "512": (512, 512), "480p": (640, 480), "720p": (1280, 720), "1080p": (1920, 1080)}


def bench_size(name: str) -> tuple[int, int]:
    """(width, height) of a named size (480p, 720p, ...), or of an N x N square; a ValueError otherwise."""
    if name in SIZES:
        return SIZES[name]
    if name.isdigit() and int(name) >= MIN_SIDE:
        return int(name), int(name)
    raise ValueError(f"needs {', '.join(SIZES)} or a side of at least {MIN_SIDE} pixels, got {name!r}")


@dataclass
class Result:
    model: str
    backend: str
    size: str
    model_fps: float
    p50_ms: float
    p99_ms: float
    e2e_fps: float | None
    overhead_pct: float | None
    peak_mem_mb: float
    gflop_per_frame: float
    gflops: float
    build_s: float
    rec_fps: float | None = None  # end-to-end from a video file, recording the output
    stages: dict[str, float] | None = None  # end-to-end (camera-like): ms per output frame by stage
    rec_stages: dict[str, float] | None = None  # the same, from a file and recording


def conv_gflop(model: AdaINModel, height: int, width: int) -> float:
    """Multiply-adds x 2 of every conv for one frame (content path; the style is precomputed)."""
    total = 0

    def hook(m: nn.Conv2d, inp, out) -> None:
        nonlocal total
        k = m.kernel_size[0] * m.kernel_size[1] * m.in_channels // m.groups
        total += 2 * k * out.numel() // out.shape[0]

    handles = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, nn.Conv2d)]
    h, w = padded_size(height, width)
    with torch.no_grad():
        model.decode(model.encode(torch.zeros(1, 3, h, w)))
    for hd in handles:
        hd.remove()
    return total / 1e9


def reset_peak_rss() -> None:
    """Linux resets the process's peak resident size (VmHWM) when 5 is written to clear_refs, so each row
    reports its own peak rather than the largest of the sweep so far."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        pass


def peak_rss_mb() -> float:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # elsewhere: the peak since start


def time_model(stylizer, style: StyleStats, frames: np.ndarray, seconds: float, min_runs: int) -> list[float]:
    times: list[float] = []
    start = time.perf_counter()
    while len(times) < min_runs or (time.perf_counter() - start < seconds and len(times) < 1000):
        t0 = time.perf_counter()
        stylizer(frames, style)
        if stylizer.spec.device.startswith("cuda"):
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t0)
    return times


def model_only(stylizer, model: AdaINModel, size: str, seconds: float, min_runs: int) -> list[float]:
    """Seconds per call of the frame graph alone, on a random frame with a random style."""
    w, h = bench_size(size)
    c = model.style_width
    style = StyleStats(torch.randn(c).abs() * 3, torch.rand(c) * 3 + 0.5)
    frames = np.random.default_rng(0).integers(0, 256, (h, w, 3), dtype=np.uint8)
    return time_model(stylizer, style, frames, seconds, min_runs)


def summarise(name: str, backend: str, size: str, times: list[float], e2e: float | None, mem: float, gflop: float,
              build: float) -> Result:
    p50 = statistics.median(times)
    overhead = (1.0 / e2e - p50) / (1.0 / e2e) * 100 if e2e else None
    return Result(name, backend, size, 1.0 / p50, p50 * 1e3, float(np.percentile(times, 99)) * 1e3, e2e, overhead,
                  mem, gflop, gflop / p50, build)


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), cpu)
    except OSError:
        pass
    # the vector unit decides the CPU numbers (and auto's choice): 3x apart between AVX2 and AVX-512 bf16 here
    cpu += f" ({torch.backends.cpu.get_cpu_capability()}{', native bf16' if cpu_has_bf16() else ''})"
    if torch.cuda.is_available():
        cpu += f", GPU {torch.cuda.get_device_name(0)}"
    return f"{cpu}, {os.cpu_count()} logical CPUs, torch threads {torch.get_num_threads()}"


def versions() -> str:
    parts = [f"Python {platform.python_version()}", f"torch {torch.__version__}"]
    for lib in ("onnxruntime", "cv2", "av", "torch_tensorrt"):
        try:
            parts.append(f"{lib} {__import__(lib).__version__}")
        except ImportError:
            pass
    return ", ".join(parts)


def table(results: list[Result]) -> str:
    rows = ["| model | backend | size | model fps | p50 ms | p99 ms | end-to-end fps | overhead | recording fps | "
            "peak mem MB | GFLOP/frame | GFLOP/s | build s |", "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        e2e = f"{r.e2e_fps:.2f}" if r.e2e_fps else "-"
        ov = f"{r.overhead_pct:.1f}%" if r.overhead_pct is not None else "-"
        rec = f"{r.rec_fps:.2f}" if r.rec_fps else "-"
        rows.append(f"| {r.model} | {r.backend} | {r.size} | {r.model_fps:.2f} | {r.p50_ms:.1f} | {r.p99_ms:.1f} | {e2e} | {ov} | "
                    f"{rec} | {r.peak_mem_mb:.0f} | {r.gflop_per_frame:.1f} | {r.gflops:.0f} | {r.build_s:.1f} |")
    return "\n".join(rows)


def median_rounds(runs: dict, key: Callable) -> list:
    """Of each configuration's rounds, the median one by `key` (a whole row, so its columns agree)."""
    return [sorted(rs, key=key)[len(rs) // 2] for rs in runs.values()]


def append_table(path: Path, command: str, device: str, text: str, note: str = "", rounds: int = 1) -> None:
    """Add a table to a Markdown file with what it needs to be compared: date, machine, versions, command."""
    with open(path, "a") as f:
        f.write(f"\n## {time.strftime('%Y-%m-%d')} - {device}\n\n")
        f.write(f"- machine: {machine()}\n- versions: {versions()}\n- command: `{command}`\n")
        if note:
            f.write(f"- note: {note}\n")
        f.write(f"- rounds: {rounds} (median shown)\n\n{text}\n")


def runnable_pairs(backends: list[str], precisions: list[str], dev: str) -> list[tuple[str, str]]:
    """(backend, precision) pairs that run here; a backend none of whose precisions can run is a BackendError."""
    found = []
    for b in backends:
        refusals = []
        for prec in precisions:
            try:
                found.append((b, choose_backend(b, dev, prec)[1]))
            except BackendError as e:
                refusals.append(str(e))  # e.g. bf16 is eager-only: other precisions may still run
        if len(refusals) == len(precisions):
            raise BackendError(refusals[0])
    return list(dict.fromkeys(found))


def load_models(names: list[str], dev: str) -> dict[str, AdaINModel]:
    """The models by --model name as the tools load them (auto resolved for `dev`)."""
    found = {}
    for m in names:
        ns = argparse.Namespace(model=m, model_weights="default", vgg=None, decoder=None)
        found[model_choice(ns, dev)[0]] = load_model(ns, dev)[0]
    return found
