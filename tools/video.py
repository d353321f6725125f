"""Stylize a video file the way ffmpeg would treat it: nothing lost, nothing changed that was not asked for.

Timestamps, time base, rotation and resolution are kept; audio and subtitles are remuxed unchanged. Output goes
to NAME.partial.EXT and is renamed when complete; Ctrl-C, SIGTERM or SIGHUP leaves a playable NAME.partial.EXT
of every frame done (the pipeline: realtime/video/job.py).

Examples:
    python tools/video.py clip.mp4 -o clip_starry.mp4 --style starry.jpg
    python tools/video.py clip.mp4 -o mix.mp4 --style a.jpg --style b.jpg --weights 0.7,0.3 --alpha 0.8
    python tools/video.py long.mkv -o part.mkv --style a.jpg --start 60 --end 90 --scale 0.5 --stabilize
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

if __name__ == "__main__":  # before the heavy imports: Ctrl-C while torch loads ends with one line
    from realtime.stop_signals import quit_quietly_on_signals

    quit_quietly_on_signals()

import torch  # noqa: E402

from engines.backends import BackendError  # noqa: E402
from engines.io.images import ImageError  # noqa: E402
from engines.io.output_paths import OutputPathError  # noqa: E402
from engines.options import say_engine_builds, seconds  # noqa: E402
from engines.zoo.files import WeightsError  # noqa: E402
from realtime.video.job import VideoJob  # noqa: E402
from realtime.video.options import add_video_options  # noqa: E402
from realtime.video.reader import VideoError  # noqa: E402
from realtime.video.writer import RecorderError  # noqa: E402


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        description="Stylize a video file (AdaIN), keeping its timing, rotation and audio.",
        formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__.split("\n\n", 1)[1],
    )
    p.add_argument("input", type=Path, help="input video file")
    p.add_argument("-o", "--output", type=Path, required=True, help="output file (container from the extension)")
    add_video_options(p)
    p.add_argument("--start", type=seconds, help="start time in seconds")
    p.add_argument("--end", type=seconds, help="end time in seconds")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output file")
    p.add_argument("--quiet", action="store_true", help="no progress bar and no start-up lines: errors only")
    return p


@torch.no_grad()  # scoped to the call: a caller in the same process keeps autograd
def main(argv: list[str] | None = None) -> int:
    a = build_parser().parse_args(argv)
    if not a.quiet:
        say_engine_builds()
    try:
        return VideoJob(a).run()
    except (VideoError, ImageError, WeightsError, BackendError, RecorderError, OutputPathError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
