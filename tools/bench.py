"""Benchmark the backends side by side: model-only and end-to-end speed, latency, memory, GFLOP/s.

Model-only: the compiled frame graph (uint8 frame in, uint8 frame out) called
back to back. End-to-end: the real live loop (capture thread on a real video
file read as fast as it decodes, resize, stylize, HUD, recorder thread) run
headless. --writers times the video file writers instead (H.264 ... GIF). Results
print as a table (or --json) and can be appended to BENCHMARKS.md with the machine,
date, versions and command.

    python tools/bench.py --sizes 256,512 --backends eager,torchscript,onnx --append BENCHMARKS.md
    python tools/bench.py --writers h264,gif --sizes 256,480p --rounds 3 --e2e-frames 30
    python tools/bench.py --outputs --sizes 480p --rounds 3 --e2e-frames 150 --viewers 50
"""
from __future__ import annotations

import argparse
import itertools
import json
import shlex
import sys
from dataclasses import asdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from engines.backends import BACKENDS, PRECISIONS, BackendError, available_backends, make_stylizer  # noqa: E402
from engines.evaluation.benchmark import (  # noqa: E402
    SIZES, append_table, bench_size, load_models, median_rounds, runnable_pairs, table,
)
from engines.options import (  # noqa: E402
    MODELS, check_folder_of, count, device, listed, model_scale, non_negative, one_of, positive, resolve_device,
    say_engine_builds,
)
from engines.zoo.files import WeightsError  # noqa: E402
from realtime.live.benchmark import WRITER_SUFFIX, bench, outputs_sweep, stage_table, writer_sweep, writer_table  # noqa: E402

STYLE = Path(__file__).resolve().parents[1] / "tests" / "data" / "painting.jpg"


def size_name(text: str) -> str:
    """An argparse item check: a size bench_size knows."""
    try:
        bench_size(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None
    return text


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description="Benchmark stylization backends side by side (model-only and end-to-end).",
                                formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__.split("\n\n", 1)[1])
    p.add_argument("--backends", default=["all"], type=listed(one_of(("all",) + BACKENDS)),
                   help="comma list, or 'all' available here (default)")
    p.add_argument("--sizes", default=["256", "512"], type=listed(size_name),
                   help=f"comma list of {', '.join(SIZES)} or N (480p is 640x480; default 256,512)")
    p.add_argument("--model", default=["auto"], type=listed(one_of(MODELS)),
                   help="comma list of full, lite, or auto (lite without a CUDA GPU, full with one; default)")
    p.add_argument("--device", type=device, default="auto", help="auto, cpu or cuda[:N]")
    p.add_argument("--precisions", default=["auto"], type=listed(one_of(("auto",) + PRECISIONS)),
                   help="comma list of auto, fp32, fp16, bf16 tried for each backend where it applies (default auto)")
    p.add_argument("--seconds", type=positive, default=5.0, help="time per model-only measurement (default 5)")
    p.add_argument("--min-runs", type=count, default=5, help="at least this many timed calls (default 5)")
    p.add_argument("--e2e-frames", type=non_negative, default=20,
                   help="frames of the end-to-end loop (default 20; 0 skips it)")
    p.add_argument("--stabilize", action="store_true",
                   help="run the end-to-end loop with the live app's --stabilize (optical flow per frame)")
    p.add_argument("--model-scale", type=model_scale, help="the network at this fraction of the sides, guided back")
    p.add_argument("--rounds", type=count, default=1, help="repeat the whole sweep, interleaved, and keep medians")
    p.add_argument("--writers", type=listed(one_of(tuple(WRITER_SUFFIX))),
                   help="time the video file writers instead of the model: comma list of h264, vp8, mpeg4, gif "
                        "(writing --e2e-frames frames of a painted pan at each size)")
    p.add_argument("--outputs", action="store_true",
                   help="time the live loop with its outputs instead: person masks (every frame, every 2nd) and "
                        "--viewers browser viewers connecting and dropping at once, against the plain loop (first "
                        "model, backend and size given; the camera at --camera-fps)")
    p.add_argument("--viewers", type=count, default=50, help="browser viewers for --outputs (default 50)")
    p.add_argument("--camera-fps", type=positive, default=30.0, help="the camera's rate for --outputs (default 30)")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.add_argument("--append", type=Path, help="append the table to this Markdown file (e.g. BENCHMARKS.md)")
    p.add_argument("--note", default="", help="a line of context stored with the appended table")
    return p


def sweep(a: argparse.Namespace, dev: str) -> str:
    """Every model x (backend, precision) x size, rounds interleaved; the table of median rounds."""
    pairs = runnable_pairs(available_backends(dev) if "all" in a.backends else a.backends, a.precisions, dev)
    loaded = load_models(a.model, dev)
    runs: dict[tuple, list] = {}
    for _ in range(a.rounds):
        for size in a.sizes:
            for (name, model), (b, prec) in itertools.product(loaded.items(), pairs):
                r = bench(model, name, b, size, dev, prec, a.seconds, a.min_runs, a.e2e_frames, STYLE, a.stabilize,
                          a.model_scale)
                runs.setdefault((name, b, prec, size), []).append(r)
                print(f"{name:8s} {b:12s} {size:6s} {r.model_fps:8.2f} fps model  "
                      f"{(r.e2e_fps or 0):8.2f} fps end-to-end", file=sys.stderr)
    results = median_rounds(runs, lambda r: r.model_fps)
    text = "\n\n".join(t for t in (table(results), stage_table(results)) if t)
    print(json.dumps([asdict(r) for r in results], indent=2) if a.json else text)
    return text


@torch.no_grad()  # scoped to the call: a caller in the same process keeps autograd
def main(argv: list[str] | None = None) -> int:
    a = build_parser().parse_args(argv)
    say_engine_builds()
    try:
        check_folder_of(a.append, "benchmark table")
        if a.writers:
            return bench_writers(a, argv)
        dev = resolve_device(a.device)
        text = bench_outputs(a, dev) if a.outputs else sweep(a, dev)
    except (ValueError, BackendError, WeightsError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if a.append:
        append_table(a.append, command(argv), dev, text, a.note, a.rounds)
    return 0


def bench_outputs(a: argparse.Namespace, dev: str) -> str:
    name, model = next(iter(load_models(a.model[:1], dev).items()))
    backend = "auto" if "all" in a.backends else a.backends[0]
    w, h = bench_size(a.sizes[0])
    stylizer = make_stylizer(model, backend, h, w, device=dev, precision=a.precisions[0])
    stylizer.warmup()
    text = (f"{name} model, {stylizer.spec.backend} {stylizer.spec.precision}:\n\n"
            + outputs_sweep(stylizer, model, STYLE, a.e2e_frames, a.camera_fps, a.rounds, a.viewers))
    print(text)
    return text


def command(argv: list[str] | None) -> str:
    return "python tools/bench.py " + " ".join(shlex.quote(x) for x in (argv if argv is not None else sys.argv[1:]))


def bench_writers(a: argparse.Namespace, argv: list[str] | None) -> int:
    """--writers: each codec at each size, rounds interleaved, the median round by time kept."""
    results = writer_sweep(a.writers, a.sizes, a.rounds, max(a.e2e_frames, 1), STYLE)
    print(json.dumps([asdict(r) for r in results], indent=2) if a.json else writer_table(results))
    if a.append:
        append_table(a.append, command(argv), "cpu", writer_table(results), a.note, a.rounds)
    return 0


if __name__ == "__main__":
    sys.exit(main())
