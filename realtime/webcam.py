"""Live style transfer from a camera, video file or stream: `python -m realtime.webcam --style starry.jpg`."""
from __future__ import annotations

import argparse
import importlib.util
import logging
import math
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

if not __package__:  # run as a script (python path/to/realtime/webcam.py) from anywhere: the repo importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

if __name__ == "__main__":  # before the heavy imports: Ctrl-C while torch loads ends with one line
    from realtime.stop_signals import quit_quietly_on_signals

    quit_quietly_on_signals()

import cv2  # noqa: E402
import torch  # noqa: E402

from engines.backends import BackendError, Stylizer, choose_backend, make_stylizer  # noqa: E402
from engines.images import ImageError, list_images  # noqa: E402
from engines.options import (  # noqa: E402
    add_engine_args, add_model_args, check_alpha, check_appendable, count, engine_options, frame_size, image_side,
    load_model, positive, seconds,
)
from engines.weights import WeightsError  # noqa: E402
from realtime.app import AppConfig, LiveApp, setup_logging  # noqa: E402
from realtime.capture import CaptureThread, SourceError, parse_source  # noqa: E402
from realtime.display import Display, NoDisplayError, check_screen  # noqa: E402
from realtime.keys import help_lines, parse_script  # noqa: E402
from realtime.person_mask import MODES, MaskSettings  # noqa: E402
from realtime.recorder import RecorderError, check_writable  # noqa: E402
from realtime.style_bank import StyleBank  # noqa: E402
from realtime.virtual_camera import VirtualCamera, VirtualCameraError  # noqa: E402
from realtime.web_access import check_token  # noqa: E402
from realtime.web_view import ServeError, WebView, parse_address  # noqa: E402

log = logging.getLogger("realtime")


def parse_size(text: str) -> tuple[int, int] | int:
    """'512' -> shorter side 512; '1280x720' -> exactly that (width x height)."""
    try:
        if "x" in text:
            return frame_size(text)
        if text.isdigit() and int(text) >= 16:
            return int(text)
    except argparse.ArgumentTypeError:
        pass
    raise argparse.ArgumentTypeError(f"size must be N or WIDTHxHEIGHT (at least 16), got {text!r}")


def processing_size(size: tuple[int, int] | int | None, frame_hw: tuple[int, int]) -> tuple[int, int]:
    """(height, width) the model runs at: the source's aspect, sides rounded to multiples of 8.

    None: the source's own size, shrunk to a 512 shorter side if larger (never enlarged: a
    640x480 camera runs at 640x480, not at 683x512).
    """
    if isinstance(size, tuple):
        w, h = size
    else:
        fh, fw = frame_hw
        s = (size if size is not None else min(512, fh, fw)) / min(fh, fw)
        h, w = fh * s, fw * s
    return max(16, int(round(h / 8)) * 8), max(16, int(round(w / 8)) * 8)


def open_source(source: str, loop: bool, wait: bool) -> CaptureThread:
    """The capture; with `wait` (a kiosk) a source that is not there yet (a camera still being found at boot,
    a stream not up, a drive not mounted) is waited for, said once, instead of ending the program."""
    delay, told = 0.5, False
    while True:
        try:
            return CaptureThread(parse_source(source), loop=loop)
        except SourceError as e:
            if not wait:
                raise
            if not told:
                log.warning("%s; waiting for it", e)
                told = True
            time.sleep(delay)
            delay = min(2 * delay, 5.0)


FIT_MIN_SIDE = 128  # --fps shrinks no further: below this a painting's strokes are a few pixels


def fit_to_rate(build: Callable[[int, int], Stylizer], height: int, width: int, fps: float) -> tuple[Stylizer, str]:
    """The engine at (height, width), rebuilt smaller while it runs slower than `fps` here, and what was done.

    The cost grows with the pixel count, so each step shrinks the sides by the square root of the shortfall
    (and 5 % more): one rebuild usually lands, a few at most.
    """
    stylizer = build(height, width)
    first = (width, height, stylizer.rate())
    rate = first[2]
    for _ in range(4):
        short = min(height, width)
        if rate >= fps or short <= FIT_MIN_SIDE:
            break
        side = max(FIT_MIN_SIDE, int(short * math.sqrt(rate / fps) * 0.95))
        smaller = processing_size(side, (height, width))
        if smaller == (height, width):
            break
        height, width = smaller
        stylizer = build(height, width)
        rate = stylizer.rate()
    if (width, height) == first[:2]:
        return stylizer, f"--fps {fps:g}: {width}x{height} runs at {rate:.1f} fps here; size kept"
    floor = "; as small as --fps goes" if rate < fps else ""
    return stylizer, (f"--fps {fps:g}: {first[0]}x{first[1]} ran at {first[2]:.1f} fps here; "
                      f"processing at {width}x{height} ({rate:.1f} fps){floor}")


def serve_address(text: str) -> tuple[str, int]:
    try:
        return parse_address(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def serve_token(text: str) -> str:
    try:
        return check_token(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def open_display(enabled: bool, fullscreen: bool, window_size: tuple[int, int] | None = None) -> Display:
    try:
        return Display(enabled, fullscreen, window_size)
    except NoDisplayError as e:
        raise ValueError(str(e)) from None
    except cv2.error:
        raise ValueError("cannot open a window; use --no-display") from None


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
                        "512 shorter side if larger)")
    p.add_argument("--fps", type=positive,
                   help="shrink the processing size at start until the model alone runs this many frames a second "
                        f"here (a laptop without a GPU; not below a {FIT_MIN_SIDE} px shorter side)")
    add_engine_args(p)
    p.add_argument("--alpha", type=float, default=1.0, help="content-style trade-off in [0, 1] (default 1)")
    p.add_argument("--stabilize", action="store_true",
                   help="steady the brush texture from frame to frame (less flicker; optical flow on the CPU, "
                        "20-40 ms a frame on 2 cores: see BENCHMARKS.md; key t toggles)")
    p.add_argument("--mask-mode", choices=MODES, default="whole",
                   help="paint the whole frame (default), the background only (the person stays as filmed) or "
                        "the person only; key m cycles")
    p.add_argument("--mask-every", type=count,
                   help="segment every Nth frame and reuse the mask between (default 1 on a GPU, 2 on a CPU, "
                        "where it costs 6-9 ms a frame: BENCHMARKS.md)")
    p.add_argument("--serve", type=serve_address, metavar="[HOST:]PORT",
                   help="show the live picture in a browser at http://HOST:PORT/ with buttons for style, alpha and "
                        "mask (this machine only unless a HOST such as 0.0.0.0 is given; open the URL the app "
                        "prints, which carries a secret token; needs requirements-extra.txt)")
    access = p.add_mutually_exclusive_group()
    access.add_argument("--serve-token", type=serve_token, metavar="TOKEN",
                        help="the browser view's secret instead of a new random one at each start (a kiosk's "
                             "printed link; 16 or more of A-Z a-z 0-9 - _ . ~)")
    access.add_argument("--serve-open", action="store_true",
                        help="serve the browser view without a secret: anyone who can reach the address may "
                             "watch and press its buttons (a kiosk's page for its visitors)")
    p.add_argument("--virtual-cam", action="store_true",
                   help="send the stylized picture to a virtual camera for Zoom, Meet, Teams or OBS (v4l2loopback "
                        "on Linux, OBS Virtual Camera elsewhere; needs requirements-extra.txt)")
    p.add_argument("--record", type=Path,
                   help="record the stylized stream to this video file (key r toggles; H.264, VP8 for .webm, "
                        "GIF for .gif)")
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
    if (a.serve_token or a.serve_open) and a.serve is None:
        raise ValueError(f"{'--serve-token' if a.serve_token else '--serve-open'} is for the browser view: add "
                         "--serve [HOST:]PORT")
    if a.virtual_cam and importlib.util.find_spec("pyvirtualcam") is None:  # said now, not after the engine build
        raise ValueError("--virtual-cam needs pyvirtualcam: pip install -r requirements-extra.txt")
    if a.record is not None:
        check_writable(a.record)
    return script


@dataclass
class Started:
    capture: CaptureThread
    stylizer: Stylizer
    bank: StyleBank
    display: Display
    device: str
    web: WebView | None = None
    virtual_cam: VirtualCamera | None = None


def start(a: argparse.Namespace) -> Started:
    """The browser view (a port in use is said before any work), the source, the engine (fitted to --fps if
    asked), the styles, the window and the virtual camera; what was opened is closed again if a later step
    fails."""
    web = WebView(*a.serve, token=a.serve_token, open_access=a.serve_open) if a.serve is not None else None
    try:
        started = _start(a)
    except BaseException:
        if web is not None:
            web.close()
        raise
    started.web = web
    if web is not None:
        log.info("%s", web.describe())
    return started


def _start(a: argparse.Namespace) -> Started:
    backend, precision, device = engine_options(a)
    choose_backend(backend, device, precision)  # an unavailable backend fails here, before any work
    model, model_why = load_model(a, device)
    bank = StyleBank(model, [Path(s) for s in a.style], a.style_dir, a.style_size)
    capture = open_source(a.source, loop=a.loop or a.kiosk, wait=a.kiosk)  # a kiosk never runs out
    try:
        if not a.no_display:  # said now, not after the engine's build (a compile of up to a minute)
            try:
                check_screen()
            except NoDisplayError as e:
                raise ValueError(str(e)) from None
        height, width = processing_size(a.size, capture.size)

        def build(h: int, w: int) -> Stylizer:
            return make_stylizer(model, backend, h, w, device=device, precision=precision)

        if a.fps is None:
            stylizer = build(height, width)
        else:
            stylizer, fitted = fit_to_rate(build, height, width, a.fps)
            log.info("%s", fitted)  # the window keeps (height, width): frames are scaled up to it
        display = open_display(not a.no_display, a.fullscreen or a.kiosk, (width, height))
        try:
            virtual_cam = (VirtualCamera(stylizer.spec.width, stylizer.spec.height, min(capture.fps, stylizer.rate()))
                           if a.virtual_cam else None)
        except BaseException:
            display.close()
            raise
    except BaseException:
        capture.stop()
        raise
    log.info("model %s; backend %s %s (%s) on %s, %dx%d, %d style(s)", model_why, stylizer.spec.backend,
             stylizer.spec.precision, stylizer.why, device, stylizer.spec.width, stylizer.spec.height, len(bank))
    return Started(capture, stylizer, bank, display, device, virtual_cam=virtual_cam)


@torch.no_grad()  # scoped to the call: a caller in the same process keeps autograd
def main(argv: list[str] | None = None) -> int:
    a = build_parser().parse_args(argv)
    try:
        script = check_args(a)
        s = start(a)
    except (ValueError, ImageError, WeightsError, SourceError, RecorderError, BackendError, ServeError,
            VirtualCameraError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # Ctrl-C while an engine builds: nothing to save yet
        print("interrupted", file=sys.stderr)
        return 130
    cfg = AppConfig(
        alpha=a.alpha, record=a.record, display=not a.no_display, fullscreen=a.fullscreen or a.kiosk, kiosk=a.kiosk,
        cycle=a.cycle if a.cycle is not None else (30.0 if a.kiosk else None), max_frames=a.max_frames,
        key_script=script, stats_path=a.stats, snapshot_dir=a.snapshot_dir, stabilize=a.stabilize,
        fade=a.fade, mask_mode=a.mask_mode,
        mask=MaskSettings(every=a.mask_every or (1 if s.device.startswith("cuda") else 2)),
    )
    app = LiveApp(cfg, s.capture, s.stylizer, s.bank, s.display, s.web, s.virtual_cam)
    if a.record is not None:
        app.toggle_recording()
    frames = app.run()
    capture = s.capture
    damaged = f", {capture.skipped} damaged source frame(s) skipped" if capture.skipped else ""
    log.info("done: %d frames, %d dropped by capture, %d frame errors%s", frames, capture.dropped, app.errors, damaged)
    capture.wait_closed()  # everything is saved; a read held by a stalled stream must end before the process does
    return 0


if __name__ == "__main__":
    sys.exit(main())
