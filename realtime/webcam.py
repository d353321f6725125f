"""Live style transfer from a camera, video file or stream: `python -m realtime.webcam --style starry.jpg`."""
from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

if not __package__:  # run as a script (python path/to/realtime/webcam.py) from anywhere: the repo importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

if __name__ == "__main__":  # before the heavy imports: Ctrl-C while torch loads ends with one line
    from realtime.stop_signals import quit_quietly_on_signals

    quit_quietly_on_signals()

import torch  # noqa: E402

from engines.backends import BackendError  # noqa: E402
from engines.io.images import ImageError, list_images  # noqa: E402
from engines.io.sizes import MIN_SIDE  # noqa: E402
from engines.options import (  # noqa: E402
    add_engine_args, add_model_args, check_alpha, check_appendable, count, frame_size, image_side, positive, seconds,
)
from engines.zoo.files import WeightsError  # noqa: E402
from realtime.live.app import AppConfig, LiveApp, setup_logging  # noqa: E402
from realtime.live.capture import SourceError  # noqa: E402
from realtime.live.keys import help_lines, parse_script  # noqa: E402
from realtime.live.outputs import OUTPUT_ERRORS, OUTPUTS  # noqa: E402
from realtime.live.startup import FIT_MIN_SIDE, LIVE_SIDE, start  # noqa: E402
from realtime.person_mask import MODES, MaskSettings  # noqa: E402

log = logging.getLogger("realtime")


def parse_size(text: str) -> tuple[int, int] | int:
    """'512' -> shorter side 512; '1280x720' -> exactly that (width x height)."""
    try:
        if "x" in text:
            return frame_size(text)
        if text.isdigit() and int(text) >= MIN_SIDE:
            return int(text)
    except argparse.ArgumentTypeError:
        pass
    raise argparse.ArgumentTypeError(f"size must be N or WIDTHxHEIGHT (at least {MIN_SIDE}), got {text!r}")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m realtime.webcam",
        description="Repaint a live camera (or a video file or stream) in the style of any painting.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="keys:\n" + "\n".join(help_lines()),
    )
    p.add_argument("--style", action="append", default=[], help="style image (repeat for several; keys 1-9 pick)")
    p.add_argument("--style-dir", type=Path, help="folder of style images (new files picked up with key d)")
    p.add_argument("--source", default="0",
                   help="camera index, video file, stream URL or a photo (held like a still camera; default 0)")
    p.add_argument("--loop", action="store_true", help="restart a video file source at its end")
    p.add_argument("--size", type=parse_size, default=None,
                   help="processing size: shorter side N, or WIDTHxHEIGHT (default: the source's, shrunk to a "
                        f"{LIVE_SIDE} shorter side if larger)")
    p.add_argument("--fps", type=positive,
                   help="shrink the processing size at start until the model alone runs this many frames a second "
                        f"here (a laptop without a GPU; not below a {FIT_MIN_SIDE} px shorter side)")
    add_engine_args(p)
    p.add_argument("--alpha", type=float, default=1.0, help="content-style trade-off in [0, 1] (default 1)")
    p.add_argument("--stabilize", action="store_true",
                   help="steady the brush texture from frame to frame (less flicker; optical flow on the CPU, "
                        "its cost in BENCHMARKS.md; key t toggles)")
    p.add_argument("--mask-mode", choices=MODES, default="whole",
                   help="paint the whole frame (default), the background only (the person stays as filmed) or "
                        "the person only; key m cycles")
    p.add_argument("--mask-every", type=count,
                   help="segment every Nth frame and reuse the mask between (default 1 on a GPU, 2 on a CPU, "
                        "where it costs most: BENCHMARKS.md)")
    for kind in OUTPUTS:  # --serve, --record, --virtual-cam: realtime/live/outputs/
        kind.add_arguments(p)
    p.add_argument("--fullscreen", action="store_true", help="start fullscreen (key f toggles)")
    p.add_argument("--kiosk", action="store_true",
                   help="unattended demo: fullscreen, no HUD, cycle styles, loop a video file, wait for a source that "
                        "is not there yet, survive failures, log to a rotating file")
    p.add_argument("--cycle", type=positive, help="seconds between automatic style changes (kiosk default 30)")
    p.add_argument("--fade", type=seconds, default=1.0,
                   help="seconds each automatic style change cross-fades (default 1; 0 switches at once; keys "
                        "always switch at once)")
    p.add_argument("--no-display", action="store_true", help="run without a window (servers, kiosks behind other screens, tests)")
    p.add_argument("--max-frames", type=count, help="stop after this many output frames")
    p.add_argument("--style-size", type=image_side, default=512, help="style images' shorter side when encoded (default 512)")
    p.add_argument("--snapshot-dir", type=Path, default=Path("."), help="where key s saves PNGs (default .)")
    p.add_argument("--log-file", type=Path, help="rotating log file (kiosk default kiosk.log)")
    p.add_argument("--keys", default="", help="scripted key presses FRAME:KEY,... (demos and tests), e.g. 30:n,60:q")
    p.add_argument("--stats", type=Path,
                   help="add one JSON line per output frame (time per stage, freshness, style) to this file")
    add_model_args(p)
    return p


def check_args(a: argparse.Namespace) -> dict[int, list[int]]:
    """Everything a user can get wrong, said before the model loads; the parsed --keys script."""
    try:
        setup_logging(a.kiosk, a.log_file)
    except OSError as e:  # no folder, or a kiosk started where it may not write its kiosk.log
        raise ValueError(f"cannot write the log file {e.filename}: {e.strerror}") from None
    check_appendable(a.stats, "stats file")
    if not a.snapshot_dir.is_dir():
        raise ValueError(f"snapshot folder not found: {a.snapshot_dir}")
    check_alpha(a.alpha)
    if not a.style and a.style_dir is None:
        raise ValueError("give at least one --style image or a --style-dir")
    if a.style_dir is not None and not a.style_dir.is_dir():
        raise ImageError(f"style folder not found: {a.style_dir}")
    if a.style_dir is not None and not list_images(a.style_dir):
        raise ImageError(f"style folder has no images: {a.style_dir}")
    script = parse_script(a.keys)
    for kind in OUTPUTS:  # a missing package, an unwritable file: said now, not after the engine build
        kind.check(a)
    return script


@torch.no_grad()  # scoped to the call: a caller in the same process keeps autograd
def main(argv: list[str] | None = None) -> int:
    a = build_parser().parse_args(argv)
    try:
        script = check_args(a)
        s = start(a)
    except (ValueError, ImageError, WeightsError, SourceError, BackendError, *OUTPUT_ERRORS) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # Ctrl-C while an engine builds: nothing to save yet
        print("interrupted", file=sys.stderr)
        return 130
    cfg = AppConfig(
        alpha=a.alpha, display=not a.no_display, fullscreen=a.fullscreen or a.kiosk, kiosk=a.kiosk,
        cycle=a.cycle if a.cycle is not None else (30.0 if a.kiosk else None), max_frames=a.max_frames,
        key_script=script, stats_path=a.stats, snapshot_dir=a.snapshot_dir, stabilize=a.stabilize,
        fade=a.fade, mask_mode=a.mask_mode,
        mask=MaskSettings(every=a.mask_every or (1 if s.device.startswith("cuda") else 2)),
    )
    app = LiveApp(cfg, s.capture, s.stylizer, s.bank, s.display, s.outputs)
    frames = app.run()
    capture = s.capture
    damaged = f", {capture.skipped} damaged source frame(s) skipped" if capture.skipped else ""
    log.info("done: %d frames, %d dropped by capture, %d frame errors%s", frames, capture.dropped, app.errors, damaged)
    capture.wait_closed()  # everything is saved; a read held by a stalled stream must end before the process does
    return 0


if __name__ == "__main__":
    sys.exit(main())
