"""The live loop: newest frame -> stylize -> outputs and window, with keys and kiosk recovery.

What the keys change lives in realtime/live/controls.py, where the picture goes besides the window in
realtime/live/outputs/; the loop only moves frames between them.
"""
from __future__ import annotations

import json
import logging
import logging.handlers
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from engines.backends import Stylizer
from engines.io.images import ImageError, write_bgr
from engines.io.sizes import resize_to
from realtime.live.capture import CaptureThread
from realtime.live.controls import Controls
from realtime.live.display import Display
from realtime.live.hud import HudInfo, draw_help, draw_hud, reconnecting_frame
from realtime.live.keys import help_lines
from realtime.live.outputs.base import OutFrame, Output, ViewState
from realtime.live.outputs.recording import Recording
from realtime.live.style_bank import StyleBank
from realtime.person_mask import MaskSettings, PersonMasker
from realtime.stage_times import StageTimes
from realtime.stop_signals import StopSignals

log = logging.getLogger("realtime")


@dataclass
class AppConfig:
    alpha: float = 1.0
    display: bool = True
    fullscreen: bool = False
    kiosk: bool = False
    cycle: float | None = None          # seconds between automatic style changes
    max_frames: int | None = None
    key_script: dict[int, list[str]] = field(default_factory=dict)  # output frame -> keys
    stats_path: Path | None = None      # one JSON line per output frame (freshness, style, alpha)
    snapshot_dir: Path = Path(".")
    show_hud: bool = True
    stabilize: bool = False             # blend each result with the previous one warped by optical flow
    fade: float = 0.0                   # seconds the automatic cycle cross-fades into the next style
    mask_mode: str = "whole"            # whole / background / person (realtime/person_mask.py)
    mask: MaskSettings = field(default_factory=MaskSettings)


class Rate:
    """Exponential moving average of events per second."""

    def __init__(self) -> None:
        self.value = 0.0

    def add(self, seconds: float) -> None:
        if seconds > 0:
            fps = 1.0 / seconds
            self.value = fps if self.value == 0 else 0.9 * self.value + 0.1 * fps


class LiveApp:
    """`outputs`: where each frame goes besides the window; a `Recording` among them is what key r toggles (one
    that does not record until asked is made when none is given)."""

    def __init__(self, cfg: AppConfig, capture: CaptureThread, stylizer: Stylizer, bank: StyleBank,
                 display: Display, outputs: Sequence[Output] = (), record: Path | None = None) -> None:
        self.cfg = cfg
        self.capture = capture
        self.stylizer = stylizer
        self.bank = bank
        self.display = display
        self.height, self.width = stylizer.spec.height, stylizer.spec.width
        self.outputs = list(outputs)
        self.recording = next((o for o in self.outputs if isinstance(o, Recording)), None)
        if self.recording is None:
            self.recording = Recording(record, self.width, self.height)
            self.outputs.insert(0, self.recording)
        self.controls = Controls(bank, display, self.recording, self._freeze_frame, cfg.alpha, cfg.mask_mode,
                                 cfg.stabilize, cfg.show_hud and not cfg.kiosk, cfg.fade, cfg.cycle)
        self.masker: PersonMasker | None = None  # made at the first masked frame: no cost while unused
        self.model_rate, self.display_rate = Rate(), Rate()
        self.frames_out = 0
        self.errors = 0
        self.snapshots: list[Path] = []
        self._last_seq = 0
        self._last_out = time.monotonic()
        self._last_poll = time.monotonic()
        # earlier runs' lines are kept; each line is written whole as its frame leaves (a reader can follow it)
        self._stats = open(cfg.stats_path, "a", buffering=1) if cfg.stats_path else None
        self.stages = StageTimes()

    def toggle_recording(self) -> None:
        self.recording.toggle()

    def _freeze_frame(self) -> np.ndarray | None:
        frame = self.capture.latest()
        return None if frame is None else resize_to(frame.image, self.height, self.width)

    # --- loop --------------------------------------------------------------------------------------------
    def step(self) -> bool:
        """One output frame; False when the app should stop."""
        c = self.controls
        for key in self.cfg.key_script.pop(self.frames_out, []):  # once, even if this step waits for a frame
            c.press(key)
        for output in self.outputs:
            for key in output.pressed():
                c.press(key)
        if not c.running:
            return False
        c.cycle_style()
        t_loop, newest_before = time.monotonic(), self.capture.newest_seq()
        used_seq, capture_time = -1, t_loop
        reconnecting = self.capture.reconnecting
        if reconnecting:
            out = stylized = self._reconnecting_picture()
        else:
            got = self._next_picture(t_loop)
            if got is None:
                if self.capture.finished:
                    return False
                with self.stages.stage("wait"):
                    return self._wait_for_frame()
            small, used_seq, capture_time = got
            stylized = self._stylize(small)
            out = np.hstack([small, stylized]) if c.frozen is not None else stylized
        now = time.monotonic()
        self._send(OutFrame(out, stylized, now, self._view_state()))
        with self.stages.stage("show"):
            if c.snapshot_pending:
                self._snapshot(out)
            if self.display.enabled:
                self._show(out)
        self.display_rate.add(time.monotonic() - self._last_out)
        self._last_out = time.monotonic()
        self._write_stats({"frame": self.frames_out, "seq": used_seq, "newest_at_start": newest_before,
                           "newest_at_end": self.capture.newest_seq(), "capture_time": capture_time,
                           "out_time": now, "reconnecting": reconnecting, "ms": self.stages.end_frame(),
                           "decode_ms": self.capture.decode.since_last(), "encode_ms": self.recording.encode_ms()})
        self.frames_out += 1
        if self.cfg.max_frames is not None and self.frames_out >= self.cfg.max_frames:
            return False
        return c.running

    def _view_state(self) -> ViewState:
        return ViewState(self.bank.current.name, self.bank.index, len(self.bank), self.controls.alpha,
                         self.controls.mask_mode, str(self.bank.current.path))

    def _reconnecting_picture(self) -> np.ndarray:
        if self.controls.steadier is not None:  # the picture after the gap owes nothing to the one before
            self.controls.steadier.reset()
        if self.masker is not None:
            self.masker.reset()
        time.sleep(0.05)
        return reconnecting_frame(self.height, self.width, self.capture.reconnects + 1)

    def _next_picture(self, now: float) -> tuple[np.ndarray, int, float] | None:
        """(the frame to stylize at the processing size, its capture sequence number and time), or None when
        the camera has nothing new; a frozen picture is restylized each loop so that keys still apply."""
        if self.controls.frozen is not None:
            return self.controls.frozen, -1, now
        frame = self.capture.latest()
        if frame is None or frame.seq == self._last_seq:
            return None
        self._last_seq = frame.seq
        with self.stages.stage("resize"):
            small = resize_to(frame.image, self.height, self.width)
        return small, frame.seq, frame.time

    def _wait_for_frame(self) -> bool:
        """Nothing new: wait for the camera, don't restylize; a window left unpolled while a stream stalls stops
        answering (keys, its close button), so poll it meanwhile."""
        if self.display.enabled and time.monotonic() - self._last_poll >= 0.05:
            self._poll_window()
        time.sleep(0.002)
        return self.controls.running

    def _region(self, small: np.ndarray) -> np.ndarray | None:
        """The region to paint for the mask mode in force (None: the whole frame)."""
        if self.controls.mask_mode == "whole":
            return None
        if self.masker is None:
            self.masker = PersonMasker(self.height, self.width, self.cfg.mask, self.stylizer.spec.device)
        with self.stages.stage("mask"):
            return self.masker.region(small, self.controls.mask_mode)

    def _stylize(self, small: np.ndarray) -> np.ndarray:
        c = self.controls
        region = self._region(small)
        t0 = time.monotonic()
        with self.stages.stage("model"):
            stylized = self.stylizer(small, c.style_stats(), c.alpha, 1.0 if c.keep_color else 0.0, region)
        self.model_rate.add(time.monotonic() - t0)
        if c.steadier is not None and c.frozen is None:  # a frozen picture has nothing to steady
            with self.stages.stage("steady"):
                stylized = c.steadier(small, stylized)
        return stylized

    def _send(self, frame: OutFrame) -> None:
        """The frame to every output, each timed under its stage (a recording's is "record")."""
        for output in self.outputs:
            with self.stages.stage(output.stage):
                output.send(frame)

    def _show(self, out: np.ndarray) -> None:
        c = self.controls
        shown = out.copy() if (c.show_hud or c.show_help) else out
        if c.show_hud:
            draw_hud(shown, HudInfo(self.model_rate.value, self.display_rate.value, self.capture.dropped,
                                    c.style_label(), c.alpha, self.stylizer.backend, c.keep_color,
                                    self.recording.active, c.steadier is not None, c.mask_mode))
        if c.show_help:
            draw_help(shown, help_lines())
        self.display.show(shown)
        self._poll_window()

    def _write_stats(self, frame: dict) -> None:
        """--stats: one JSON line per output frame, with the controls in force."""
        if self._stats is None:
            return
        c = self.controls
        try:
            self._stats.write(json.dumps(frame | {
                "style": self.bank.index, "blend": c.blend_weight, "alpha": c.alpha, "color": c.keep_color,
                "steady": c.steadier is not None, "fade": c.fade_used, "mask": c.mask_mode}) + "\n")
        except OSError as e:  # a full disk: the statistics stop, the live view and its recording go on
            log.error("stats file failed: %s; stats stopped", e.strerror or e)
            self._stats = None

    def _poll_window(self) -> None:
        """Keys pressed and the window's close button: also what keeps a GUI window responsive."""
        self._last_poll = time.monotonic()
        key = self.display.poll_key()
        if key >= 0:
            self.controls.press(key)
        if self.display.closed():
            self.controls.running = False

    def _snapshot(self, img: np.ndarray) -> None:
        self.controls.snapshot_pending = False
        path = self.cfg.snapshot_dir / time.strftime(f"snapshot-%Y%m%d-%H%M%S-{self.frames_out}.png")
        try:
            write_bgr(path, img)
        except ImageError as e:  # a full disk, a folder gone: the show goes on
            log.error("snapshot failed: %s", e)
            return
        self.snapshots.append(path)
        log.info("snapshot %s", path)

    def run(self) -> int:
        """Until quit, end of file, --max-frames or a stop signal (Ctrl-C, SIGTERM from `kill` or systemd,
        SIGHUP): the recording in hand is closed properly either way. In kiosk mode a failing frame is logged
        and skipped."""
        self.capture.start()
        try:
            with StopSignals() as stop:
                while stop.hit is None:
                    try:
                        if not self.step():
                            break
                    except Exception:
                        if not self.cfg.kiosk:
                            raise
                        self.errors += 1
                        log.exception("frame %d failed; continuing", self.frames_out)
                        time.sleep(0.1)
                if stop.hit is not None:
                    log.info("%s: stopping", stop.hit)
        finally:
            self.close()
        return self.frames_out

    def close(self) -> None:
        if self._stats is not None:
            self._stats.close()
            self._stats = None
        self.capture.stop()
        self.display.close()
        first = [self.recording] + [o for o in self.outputs if o is not self.recording]
        for output in first:  # the recording first: it is saved whatever the others do
            try:
                output.close()
            except Exception as e:  # noqa: BLE001  (one output failing to close must not keep the others open)
                log.error("closing %s failed: %s", type(output).__name__, e)


def setup_logging(kiosk: bool, log_file: Path | None) -> None:
    handlers: list[logging.Handler] = [logging.StreamHandler()]
    if log_file is not None or kiosk:
        path = log_file or Path("kiosk.log")
        handlers.append(logging.handlers.RotatingFileHandler(path, maxBytes=5_000_000, backupCount=3))
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s", handlers=handlers,
                        force=True)
