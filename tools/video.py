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
from engines.options import (  # noqa: E402
    add_engine_args, add_model_args, count, crf, image_side, positive, say_engine_builds, seconds,
)
from engines.io.output_paths import OutputPathError  # noqa: E402
from engines.zoo.files import WeightsError  # noqa: E402
from realtime.person_mask import MODES  # noqa: E402
from realtime.video.writer import CODECS, RecorderError  # noqa: E402
from realtime.video.reader import VideoError  # noqa: E402
from realtime.video.job import VideoJob  # noqa: E402


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


def add_video_options(p: argparse.ArgumentParser) -> None:
    """How each file is stylized: shared with tools/batch.py, which runs the same job on many files."""
    p.add_argument("--style", action="append", required=True, help="style image (repeat to interpolate several)")
    p.add_argument("--weights", help="interpolation weights, one per style, summing to 1 (e.g. 0.7,0.3)")
    p.add_argument("--alpha", type=float, default=1.0, help="content-style trade-off in [0, 1] (default 1)")
    p.add_argument("--preserve-color", action="store_true", help="keep the video's colours (luminance transfer)")
    p.add_argument("--mask-video", type=Path,
                   help="grey video of masks, frame by frame: with one style white = stylized, black = original; "
                        "with two styles white = first, black = second (runs the eager model)")
    p.add_argument("--mask-mode", choices=MODES, default="whole",
                   help="paint the whole frame (default), the background only (people stay as filmed) or the "
                        "people only, from a person segmenter run on every frame (engines/weights/person.md)")
    p.add_argument("--size", type=image_side, help="output shorter side in pixels (default: the input's size)")
    p.add_argument("--scale", type=positive, help="output size as a fraction of the input's (e.g. 0.5)")
    add_engine_args(p)
    add_model_args(p, offline=True)
    p.add_argument("--crf", type=crf, default=18,
                   help="quality on H.264's scale, lower is better (default 18; VP8 and MPEG-4 get about the same; "
                        "GIF ignores it: 256 colours a frame, each frame its own palette)")
    p.add_argument("--codec", default="auto", choices=["auto", *CODECS],
                   help="video codec (default auto: H.264, VP8 for .webm, GIF for .gif)")
    p.add_argument("--batch", type=count, default=1, help="frames per model call (default 1; 4-8 helps on a GPU)")
    p.add_argument("--stabilize", action="store_true", help="reduce flicker: blend with the previous result warped by optical flow")
    p.add_argument("--style-size", type=image_side, default=512, help="style images' shorter side when encoded (default 512)")


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
