"""Benchmark the backends side by side: model-only and end-to-end speed, latency, memory, GFLOP/s.

Model-only: the compiled frame graph (uint8 frame in, uint8 frame out) called
back to back. End-to-end: the real live loop (capture thread on a real video
file read as fast as it decodes, resize, stylize, HUD, recorder thread) run
headless. --writers times the video file writers instead (H.264 ... GIF). Results
print as a table (or --json) and can be appended to BENCHMARKS.md with the machine,
date, versions and command.

    python tools/bench.py --sizes 256,512 --backends eager,torchscript,onnx --append BENCHMARKS.md
    python tools/bench.py --writers h264,gif --sizes 256,480p --rounds 3 --e2e-frames 30
"""
from __future__ import annotations

import argparse
import itertools
import json
import platform
import resource
import shlex
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from fractions import Fraction
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
import torch  # noqa: E402
from torch import nn  # noqa: E402

from engines.backends import (  # noqa: E402
    BACKENDS, PRECISIONS, BackendError, available_backends, choose_backend, cpu_has_bf16, make_stylizer,
)
from engines.graph import padded_size  # noqa: E402
from engines.model import AdaINModel, StyleStats  # noqa: E402
from engines.options import (  # noqa: E402
    MIN_SIDE, MODELS, check_folder_of, count, device, listed, load_model, model_choice, one_of, positive,
    resolve_device, whole,
)
from engines.weights import WeightsError  # noqa: E402

SIZES = {"256": (256, 256), "512": (512, 512), "480p": (480, 640), "720p": (720, 1280), "1080p": (1080, 1920)}


def frame_size(name: str) -> tuple[int, int]:
    """(height, width) of a named size, or of an N x N square."""
    if name in SIZES:
        return SIZES[name]
    if name.isdigit() and int(name) >= MIN_SIDE:
        return int(name), int(name)
    raise argparse.ArgumentTypeError(f"needs {', '.join(SIZES)} or a side of at least {MIN_SIDE} pixels, got {name!r}")


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
        model.decoder(model.encoder(torch.zeros(1, 3, h, w)))
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


def time_end_to_end(stylizer, model: AdaINModel, style_path: Path, height: int, width: int, frames: int,
                    camera_fps: float, stabilize: bool = False) -> float:
    """Frames per second of the real live loop on a real video file read like a camera at `camera_fps`."""
    from realtime.app import AppConfig, LiveApp
    from realtime.capture import CaptureThread
    from realtime.display import Display
    from realtime.style_bank import StyleBank
    from tests.media import make_video

    with tempfile.TemporaryDirectory() as tmp:
        src = make_video(Path(tmp) / "src.mp4", frames=frames + 10, width=width, height=height)
        capture = CaptureThread(str(src), loop=True, pace=True, fps=camera_fps)
        bank = StyleBank(model, [style_path])
        cfg = AppConfig(display=False, max_frames=frames, record=Path(tmp) / "rec.mp4", stabilize=stabilize)
        app = LiveApp(cfg, capture, stylizer, bank, Display(enabled=False))
        app.toggle_recording()
        t0 = time.perf_counter()
        n = app.run()
        return n / (time.perf_counter() - t0)


def bench(model: AdaINModel, name: str, backend: str, size: str, device: str, precision: str, seconds: float, min_runs: int,
          e2e_frames: int, style_path: Path, stabilize: bool = False) -> Result:
    h, w = frame_size(size)
    reset_peak_rss()
    t0 = time.perf_counter()
    stylizer = make_stylizer(model, backend, h, w, device=device, precision=precision)
    build = time.perf_counter() - t0
    if device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats()
    c = model.encoder.channels[-1]
    style = StyleStats(torch.randn(c).abs() * 3, torch.rand(c) * 3 + 0.5)
    frames = np.random.default_rng(0).integers(0, 256, (h, w, 3), dtype=np.uint8)
    times = time_model(stylizer, style, frames, seconds, min_runs)
    p50 = statistics.median(times)
    p99 = float(np.percentile(times, 99))
    # the camera delivers twice as fast as the model: a new frame is always waiting, as with a real camera
    e2e = (time_end_to_end(stylizer, model, style_path, h, w, e2e_frames, 2.0 / p50, stabilize)
           if e2e_frames else None)
    mem = torch.cuda.max_memory_allocated() / 2**20 if device.startswith("cuda") else peak_rss_mb()
    gflop = conv_gflop(model.cpu(), h, w)
    model.to(device)
    overhead = (1.0 / e2e - p50) / (1.0 / e2e) * 100 if e2e else None
    return Result(name, f"{backend} {stylizer.spec.precision}", size, 1.0 / p50, p50 * 1e3, p99 * 1e3, e2e, overhead, mem, gflop, gflop / p50, build)


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
    import cv2

    from realtime.recorder import VideoWriter

    h, w = frame_size(size)
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
    import os

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
    rows = ["| model | backend | size | model fps | p50 ms | p99 ms | end-to-end fps | overhead | peak mem MB | GFLOP/frame | GFLOP/s | build s |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        e2e = f"{r.e2e_fps:.2f}" if r.e2e_fps else "-"
        ov = f"{r.overhead_pct:.1f}%" if r.overhead_pct is not None else "-"
        rows.append(f"| {r.model} | {r.backend} | {r.size} | {r.model_fps:.2f} | {r.p50_ms:.1f} | {r.p99_ms:.1f} | {e2e} | {ov} | "
                    f"{r.peak_mem_mb:.0f} | {r.gflop_per_frame:.1f} | {r.gflops:.0f} | {r.build_s:.1f} |")
    return "\n".join(rows)


@torch.no_grad()  # scoped to the call: a caller in the same process keeps autograd
def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="Benchmark stylization backends side by side (model-only and end-to-end).",
                                formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__.split("\n\n", 1)[1])
    p.add_argument("--backends", default=["all"], type=listed(one_of(("all",) + BACKENDS)),
                   help="comma list, or 'all' available here (default)")
    p.add_argument("--sizes", default=["256", "512"], type=listed(frame_size),
                   help="comma list of 256, 512, 480p (640x480), 720p, 1080p or N (default 256,512)")
    p.add_argument("--model", default=["auto"], type=listed(one_of(MODELS)),
                   help="comma list of full, lite, or auto (lite without a CUDA GPU, full with one; default)")
    p.add_argument("--device", type=device, default="auto", help="auto, cpu or cuda[:N]")
    p.add_argument("--precisions", default=["auto"], type=listed(one_of(("auto",) + PRECISIONS)),
                   help="comma list of auto, fp32, fp16, bf16 tried for each backend where it applies (default auto)")
    p.add_argument("--seconds", type=positive, default=5.0, help="time per model-only measurement (default 5)")
    p.add_argument("--min-runs", type=count, default=5, help="at least this many timed calls (default 5)")
    p.add_argument("--e2e-frames", type=whole, default=20,
                   help="frames of the end-to-end loop (default 20; 0 skips it)")
    p.add_argument("--stabilize", action="store_true",
                   help="run the end-to-end loop with the live app's --stabilize (optical flow per frame)")
    p.add_argument("--rounds", type=count, default=1, help="repeat the whole sweep, interleaved, and keep medians")
    p.add_argument("--writers", type=listed(one_of(tuple(WRITER_SUFFIX))),
                   help="time the video file writers instead of the model: comma list of h264, vp8, mpeg4, gif "
                        "(writing --e2e-frames frames of a painted pan at each size)")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.add_argument("--append", type=Path, help="append the table to this Markdown file (e.g. BENCHMARKS.md)")
    p.add_argument("--note", default="", help="a line of context stored with the appended table")
    a = p.parse_args(argv)
    try:
        check_folder_of(a.append, "benchmark table")
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    style_path = Path(__file__).resolve().parents[1] / "tests" / "data" / "painting.jpg"
    if a.writers:
        return bench_writers(a, argv, style_path)
    dev = resolve_device(a.device)
    backends = available_backends(dev) if "all" in a.backends else a.backends
    combos = []
    for b in backends:
        refusals = []
        for prec in a.precisions:
            try:
                combos.append((b, choose_backend(b, dev, prec)[1]))
            except BackendError as e:
                refusals.append(str(e))  # e.g. bf16 is eager-only: other precisions may still run
        if len(refusals) == len(a.precisions):  # nothing asked for can run on this backend here
            print(f"error: {refusals[0]}", file=sys.stderr)
            return 2
    combos = list(dict.fromkeys(combos))
    models = {}
    for m in a.model:
        ns = argparse.Namespace(model=m, model_weights="default", vgg=None, decoder=None)
        name = model_choice(ns, dev)[0]
        try:
            models[name] = load_model(ns, dev)[0]
        except WeightsError as e:
            print(f"error: {e}", file=sys.stderr)
            return 2
    runs: dict[tuple[str, str], list[Result]] = {}
    try:
        for _ in range(a.rounds):
            for size in a.sizes:
                for (name, model), (b, prec) in itertools.product(models.items(), combos):
                    r = bench(model, name, b, size, dev, prec, a.seconds, a.min_runs, a.e2e_frames, style_path,
                              a.stabilize)
                    runs.setdefault((name, b, prec, size), []).append(r)
                    print(f"{name:8s} {b:12s} {size:6s} {r.model_fps:8.2f} fps model  "
                          f"{(r.e2e_fps or 0):8.2f} fps end-to-end", file=sys.stderr)
    except BackendError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    results = median_rounds(runs, lambda r: r.model_fps)
    if a.json:
        print(json.dumps([asdict(r) for r in results], indent=2))
    else:
        print(table(results))
    if a.append:
        append(a, argv, dev, table(results))
    return 0


def median_rounds(runs: dict, key: Callable) -> list:
    """Of each configuration's rounds, the median one by `key` (a whole row, so its columns agree)."""
    return [sorted(rs, key=key)[len(rs) // 2] for rs in runs.values()]


def bench_writers(a: argparse.Namespace, argv: list[str] | None, style_path: Path) -> int:
    """--writers: each codec at each size, rounds interleaved, the median round by time kept."""
    runs: dict[tuple[str, str], list[WriterResult]] = {}
    for _ in range(a.rounds):
        for size, codec in itertools.product(a.sizes, a.writers):
            r = time_writer(codec, size, max(a.e2e_frames, 1), style_path)
            runs.setdefault((codec, size), []).append(r)
            print(f"{codec:6s} {size:6s} {r.ms_per_frame:8.1f} ms/frame", file=sys.stderr)
    results = median_rounds(runs, lambda r: r.ms_per_frame)
    print(json.dumps([asdict(r) for r in results], indent=2) if a.json else writer_table(results))
    if a.append:
        append(a, argv, "cpu", writer_table(results))
    return 0


def append(a: argparse.Namespace, argv: list[str] | None, dev: str, text: str) -> None:
    """Add a table to the --append file with what it needs to be compared: machine, versions, command."""
    cmd = "python tools/bench.py " + " ".join(shlex.quote(x) for x in (argv if argv is not None else sys.argv[1:]))
    with open(a.append, "a") as f:
        f.write(f"\n## {time.strftime('%Y-%m-%d')} - {dev}\n\n")
        f.write(f"- machine: {machine()}\n- versions: {versions()}\n- command: `{cmd}`\n")
        if a.note:
            f.write(f"- note: {a.note}\n")
        f.write(f"- rounds: {a.rounds} (median shown)\n\n{text}\n")


if __name__ == "__main__":
    sys.exit(main())
