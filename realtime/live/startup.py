"""Starting the live app: source, engine (fitted to --fps if asked), styles, window and outputs, in the order
that says a mistake before the slow steps, and closes again what was opened when a later step fails."""
from __future__ import annotations

import argparse
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import cv2

from engines.backends import Stylizer, choose_backend, make_stylizer
from engines.io.sizes import inner_size, short_side_size
from engines.options import engine_options, load_model
from realtime.live.capture import CaptureThread, SourceError, parse_source
from realtime.live.display import Display, NoDisplayError, check_screen
from realtime.live.outputs import OUTPUTS
from realtime.live.outputs.base import Engine, Output
from realtime.live.style_bank import StyleBank

log = logging.getLogger("realtime")
FIT_MIN_SIDE = 128  # --fps shrinks no further: below this a painting's strokes are a few pixels
LIVE_SIDE = 512  # a source larger than this is processed at this shorter side unless --size says otherwise


def processing_size(size: tuple[int, int] | int | None, frame_hw: tuple[int, int]) -> tuple[int, int]:
    """(height, width) the model runs at: --size WIDTHxHEIGHT as given, else the source's aspect at a shorter
    side of --size N (default: the source's own, shrunk to LIVE_SIDE if larger; never enlarged: a 640x480
    camera runs at 640x480), sides rounded to multiples of 8 (engines/io/sizes.py)."""
    if isinstance(size, tuple):
        return short_side_size(size[1], size[0], None, multiple=8)
    fh, fw = frame_hw
    return short_side_size(fh, fw, size if size is not None else min(LIVE_SIDE, fh, fw), multiple=8)


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


def open_display(enabled: bool, fullscreen: bool, window_size: tuple[int, int] | None = None) -> Display:
    try:
        return Display(enabled, fullscreen, window_size)
    except NoDisplayError as e:
        raise ValueError(str(e)) from None
    except cv2.error:
        raise ValueError("cannot open a window; use --no-display") from None


@dataclass
class Started:
    capture: CaptureThread
    stylizer: Stylizer
    bank: StyleBank
    display: Display
    device: str
    outputs: list[Output] = field(default_factory=list)


def close_all(outputs: list[Output]) -> None:
    for output in outputs:
        output.close()


def start(a: argparse.Namespace) -> Started:
    """The outputs that open early (the browser view: a port in use is said before any work), the source, the
    engine, the styles, the window and the other outputs."""
    early = [o for k in OUTPUTS if k.opens_early and (o := k.open(a, None)) is not None]
    try:
        started = _start(a)
    except BaseException:
        close_all(early)
        raise
    started.outputs[:0] = early
    return started


def _start(a: argparse.Namespace) -> Started:
    backend, precision, device = engine_options(a)
    choose_backend(backend, device, precision)  # an unavailable backend fails here, before any work
    model, model_why = load_model(a, device)
    bank = StyleBank(model, [Path(s) for s in a.style], a.style_dir, a.style_size)
    capture = open_source(a.source, loop=a.loop or a.kiosk, wait=a.kiosk)  # a kiosk never runs out
    outputs: list[Output] = []
    try:
        if not a.no_display:  # said now, not after the engine's build (a compile of up to a minute)
            try:
                check_screen()
            except NoDisplayError as e:
                raise ValueError(str(e)) from None
        height, width = processing_size(a.size, capture.size)

        def build(h: int, w: int) -> Stylizer:
            inner = inner_size(h, w, a.model_scale)
            return make_stylizer(model, backend, h, w, device=device, precision=precision, inner=inner)

        if a.fps is None:
            stylizer = build(height, width)
        else:
            stylizer, fitted = fit_to_rate(build, height, width, a.fps)
            log.info("%s", fitted)  # the window keeps (height, width): frames are scaled up to it
        display = open_display(not a.no_display, a.fullscreen or a.kiosk, (width, height))
        engine = Engine(stylizer.spec.width, stylizer.spec.height, lambda: min(capture.fps, stylizer.rate()))
        try:
            for kind in OUTPUTS:
                if not kind.opens_early and (o := kind.open(a, engine)) is not None:
                    outputs.append(o)
        except BaseException:
            close_all(outputs)
            display.close()
            raise
    except BaseException:
        capture.stop()
        raise
    inner = stylizer.spec.inner
    network = f"; network at {inner[1]}x{inner[0]} (--model-scale {a.model_scale:g})" if inner else ""
    log.info("model %s; backend %s %s (%s) on %s, %dx%d%s, %d style(s)", model_why, stylizer.spec.backend,
             stylizer.spec.precision, stylizer.why, device, stylizer.spec.width, stylizer.spec.height, network,
             len(bank))
    return Started(capture, stylizer, bank, display, device, outputs)
