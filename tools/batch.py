"""Stylize many video files, on this machine or a Ray cluster: each output as tools/video.py makes it.

Inputs are files, folders (their video files) or list files (.txt, one path a line). Outputs go into --out-dir
with the inputs' names. A re-run skips the files already done with the same options (a manifest in the
output folder, written atomically after each file), so an interrupted batch resumes with the same command;
a file that fails is retried --retries times, then reported, and the rest go on.

Examples:
    python tools/batch.py clips/ -o styled/ --style starry.jpg
    python tools/batch.py list.txt -o styled/ --style a.jpg --style b.jpg --weights 0.5,0.5 --workers 2
    python tools/batch.py clips/ -o styled/ --style starry.jpg --address ray://head:10001 --gpus-per-worker 0.5
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

if __name__ == "__main__":  # before the heavy imports: Ctrl-C while torch loads ends with one line
    from realtime.stop_signals import quit_quietly_on_signals

    quit_quietly_on_signals()

from engines.io.images import ImageError  # noqa: E402
from engines.options import count, non_negative, positive, say_engine_builds, style_weights  # noqa: E402
from realtime.video.batch import run_batch  # noqa: E402
from realtime.video.batch_plan import BatchError  # noqa: E402
from realtime.video.manifest import JOB_OPTIONS  # noqa: E402
from realtime.video.options import add_video_options  # noqa: E402
from realtime.video.reader import VideoError  # noqa: E402


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description="Stylize many video files on Ray (a local instance by default).",
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog=__doc__.split("\n\n", 1)[1])
    p.add_argument("inputs", nargs="+", type=Path, help="video files, folders of them, or .txt lists of them")
    p.add_argument("-o", "--out-dir", type=Path, required=True, help="folder for the outputs (same names)")
    p.add_argument("--suffix", help="output extension instead of each input's own (e.g. .mp4)")
    add_video_options(p)
    p.add_argument("--address", help="Ray cluster to join (e.g. ray://head:10001 or auto); default: a local "
                                     "instance on this machine")
    p.add_argument("--workers", type=count, help="workers (default: one per --cpus-per-worker of the cluster)")
    p.add_argument("--cpus-per-worker", type=positive, default=1.0,
                   help="CPU cores each worker takes (and its PyTorch threads; default 1)")
    p.add_argument("--gpus-per-worker", type=positive_or_zero, default=0.0,
                   help="GPU share each worker takes, fractions allowed (0.5: two workers a GPU; default 0)")
    p.add_argument("--cpus", type=count, help="cores the local instance may use (default: all)")
    p.add_argument("--segment-seconds", type=positive, default=60.0,
                   help="files at least twice this long are cut at keyframes into parts of about this length, made "
                        "by several workers at once and joined without re-encoding (default 60)")
    p.add_argument("--retries", type=non_negative, default=2, help="attempts after a file's first failure (default 2)")
    p.add_argument("--overwrite", action="store_true",
                   help="replace outputs in the folder that this batch's manifest does not list")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    return p


def positive_or_zero(text: str) -> float:
    return 0.0 if text.strip() in ("0", "0.0") else positive(text)


def main(argv: list[str] | None = None) -> int:
    a = build_parser().parse_args(argv)
    if not a.quiet:
        say_engine_builds()
    try:
        style_weights(a.weights, len(a.style))
        for s in a.style:
            if not Path(s).is_file():
                raise ImageError(f"style image not found: {s}")
        if a.suffix is not None and not a.suffix.startswith("."):
            a.suffix = "." + a.suffix
        if a.device.startswith("cuda") and not a.gpus_per_worker:
            a.gpus_per_worker = 1.0
        options = {k: getattr(a, k) for k in JOB_OPTIONS}
        return run_batch(a, options)
    except (BatchError, VideoError, ImageError, ValueError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
