"""What the keys and the browser view's buttons change: one method per action of the keymap.

The method of a key is the one named as its action in realtime/live/keys.py; every action must have one,
which is checked when the controls are made (a missing method fails at start, not at the key press).
"""
from __future__ import annotations

import logging
import time
from collections.abc import Callable

import numpy as np

from engines.model.network import StyleStats, mix_styles
from realtime.live.display import Display
from realtime.live.keys import KEYS, action_for
from realtime.live.outputs.recording import Recording
from realtime.live.style_bank import StyleBank
from realtime.person_mask import next_mode
from realtime.stabilize import TextureSteadier

log = logging.getLogger("realtime")


def new_steadier() -> TextureSteadier:
    # flow at 160 px, not the video tool's 256: half the cost, the same flicker on a 640x480 pan (BENCHMARKS.md)
    return TextureSteadier(flow_side=160)


class Controls:
    """The live app's settings as the user changes them, and the style they make for the next frame."""

    def __init__(self, bank: StyleBank, display: Display, recording: Recording,
                 freeze_frame: Callable[[], np.ndarray | None], alpha: float = 1.0, mask_mode: str = "whole",
                 stabilize: bool = False, show_hud: bool = True, fade: float = 0.0, cycle: float | None = None) -> None:
        self.bank, self.display, self.recording, self._freeze_frame = bank, display, recording, freeze_frame
        self.alpha = alpha
        self.keep_color = False  # colour preservation (key c)
        self.mask_mode = mask_mode
        self.steadier = new_steadier() if stabilize else None
        self.show_hud, self.show_help = show_hud, False
        self.frozen: np.ndarray | None = None  # the picture a freeze holds (restylized each loop: keys apply)
        self.snapshot_pending = False
        self.running = True
        self.blend_weight: float | None = None
        self.fade, self.cycle = fade, cycle
        self._fade_from: StyleStats | None = None  # the style a cycle is fading out of, and since when
        self._fade_start = 0.0
        self.fade_used: float | None = None  # where in a fade the last stylized frame was
        self.last_cycle = time.monotonic()
        missing = [k.action for k in KEYS if not callable(getattr(self, k.action, None))]
        if missing:
            raise TypeError(f"keys without a Controls method: {', '.join(missing)}")

    def press(self, key: int | str) -> None:
        """A key press (an OpenCV key code or a character): its action, if it has one."""
        act = action_for(key)
        if act is not None:
            getattr(self, act[0])(act[1])

    # --- the style of the next frame -----------------------------------------------------------------------
    def style_stats(self) -> StyleStats:
        target = self.bank.current.stats if self.blend_weight is None else self.bank.blend(self.blend_weight)
        t = self.fade_used = self.fade_progress()
        if t is None:
            return target
        return mix_styles([self._fade_from, target], [1.0 - t, t])

    def fade_progress(self) -> float | None:
        """0..1 into a cycle's cross-fade, None when not fading."""
        if self._fade_from is None:
            return None
        t = (time.monotonic() - self._fade_start) / self.fade
        if t >= 1.0:
            self._fade_from = None
            return None
        return t

    def style_label(self) -> str:
        if self.blend_weight is None:
            return f"{self.bank.index + 1}:{self.bank.current.name}"
        nxt = self.bank.styles[(self.bank.index + 1) % len(self.bank)]
        return f"{self.blend_weight:.2f} {self.bank.current.name} + {1 - self.blend_weight:.2f} {nxt.name}"

    def cycle_style(self) -> None:
        """--cycle: the next style when its time is up, cross-faded over --fade seconds."""
        if self.cycle and time.monotonic() - self.last_cycle >= self.cycle:
            if self.fade > 0:
                self._fade_from, self._fade_start = self.style_stats(), time.monotonic()
            self.bank.step(1)
            self.blend_weight = None
            self.last_cycle = time.monotonic()

    def _chose_style(self) -> None:
        self.last_cycle = time.monotonic()  # a choice by hand restarts the kiosk's cycle timer
        self._fade_from = None              # ... and is shown at once
        self.blend_weight = None

    # --- one method per action of realtime.live.keys.KEYS --------------------------------------------------
    def select(self, index: int) -> None:
        self.last_cycle, self._fade_from = time.monotonic(), None  # as _chose_style, also for a style not there
        if self.bank.select(index):
            self.blend_weight = None

    def next(self, _: int = 0) -> None:
        self.bank.step(1)
        self._chose_style()

    def prev(self, _: int = 0) -> None:
        self.bank.step(-1)
        self._chose_style()

    def alpha_up(self, _: int = 0) -> None:
        self.alpha = min(1.0, round(self.alpha + 0.1, 2))

    def alpha_down(self, _: int = 0) -> None:
        self.alpha = max(0.0, round(self.alpha - 0.1, 2))

    def blend(self, _: int = 0) -> None:
        cycle = [0.5, 0.75, 0.25]  # weight of the current style; again = next weights
        self.blend_weight = 0.5 if self.blend_weight not in cycle else cycle[(cycle.index(self.blend_weight) + 1) % 3]

    def color(self, _: int = 0) -> None:
        self.keep_color = not self.keep_color

    def stabilize(self, _: int = 0) -> None:
        self.steadier = None if self.steadier is not None else new_steadier()

    def mask(self, _: int = 0) -> None:
        self.mask_mode = next_mode(self.mask_mode)
        log.info("painting: %s", "the whole frame" if self.mask_mode == "whole" else f"the {self.mask_mode} only")

    def snapshot(self, _: int = 0) -> None:
        self.snapshot_pending = True

    def record(self, _: int = 0) -> None:
        self.recording.toggle()

    def fullscreen(self, _: int = 0) -> None:
        self.display.set_fullscreen(not self.display.fullscreen)

    def freeze(self, _: int = 0) -> None:
        self.frozen = None if self.frozen is not None else self._freeze_frame()

    def help(self, _: int = 0) -> None:
        self.show_help = not self.show_help
        self.show_hud = self.show_hud or self.show_help

    def hud(self, _: int = 0) -> None:
        self.show_hud = not self.show_hud

    def rescan(self, _: int = 0) -> None:
        log.info("rescan: %d new style(s)", len(self.bank.rescan()))

    def quit(self, _: int = 0) -> None:
        self.running = False
