"""The options of the offline video job (realtime/video/job.py), one set for every tool that runs it."""
from __future__ import annotations

import argparse
from pathlib import Path

from engines.options import add_engine_args, add_model_args, count, crf, image_side, positive
from realtime.person_mask import MODES
from realtime.video.writer import CODECS


def add_video_options(p: argparse.ArgumentParser) -> None:
    """How each file is stylized: tools/video.py's options, and tools/batch.py's, which runs the same job on
    many files."""
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
