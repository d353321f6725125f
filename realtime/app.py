"""The live loop: newest frame -> stylize -> HUD -> window / recording, with keys and kiosk recovery."""
from __future__ import annotations

import json
import logging
import logging.handlers
import time
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from engines.backends import Stylizer
from engines.images import ImageError, write_bgr
from engines.model import StyleStats, mix_styles
from realtime.capture import CaptureThread
from realtime.display import Display
from realtime.hud import HudInfo, draw_help, draw_hud, reconnecting_frame
from realtime.keys import action_for, help_lines
from realtime.person_mask import MaskSettings, PersonMasker, next_mode
from realtime.recorder import LiveRecorder, RecorderError
from realtime.stabilize import Stabilizer
from realtime.stage_times import StageTimes
from realtime.stop_signals import StopSignals
from realtime.style_bank import StyleBank
from realtime.virtual_camera import VirtualCamera
from realtime.web_view import ViewState, WebView

log = logging.getLogger("realtime")


@dataclass
class AppConfig:
    alpha: float = 1.0
    record: Path | None = None
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


def free_path(path: Path) -> Path:
    """`path`, or `name-2.ext`, `name-3.ext`... if taken: a second recording never overwrites the first."""
    n = 2
    candidate = path
    while candidate.exists():
        candidate = path.with_name(f"{path.stem}-{n}{path.suffix}")
        n += 1
    return candidate


class Rate:
    """Exponential moving average of events per second."""

    def __init__(self) -> None:
        self.value = 0.0

    def add(self, seconds: float) -> None:
        if seconds > 0:
            fps = 1.0 / seconds
            self.value = fps if self.value == 0 else 0.9 * self.value + 0.1 * fps


class LiveApp:
    def __init__(self, cfg: AppConfig, capture: CaptureThread, stylizer: Stylizer, bank: StyleBank,
                 display: Display, web: WebView | None = None, virtual_cam: VirtualCamera | None = None) -> None:
        self.cfg = cfg
        self.web = web                  # --serve: the page's buttons press keys, viewers get each output frame
        self.virtual_cam = virtual_cam  # --virtual-cam: each stylized frame, for video calls
        self.capture = capture
        self.stylizer = stylizer
        self.bank = bank
        self.display = display
        self.alpha = cfg.alpha
        self.color = False
        self.stabilizer = self._new_stabilizer() if cfg.stabilize else None
        self.mask_mode = cfg.mask_mode
        self.masker: PersonMasker | None = None  # made at the first masked frame: no cost while unused
        self.blend_weight: float | None = None
        self._fade_from: StyleStats | None = None  # the style a cycle is fading out of, and since when
        self._fade_start = 0.0
        self.fade_used: float | None = None  # where in a fade the last stylized frame was
        self.show_hud = cfg.show_hud and not cfg.kiosk
        self.show_help = False
        self.frozen: tuple[np.ndarray, np.ndarray] | None = None
        self.recorder: LiveRecorder | None = None
        self.model_rate, self.display_rate = Rate(), Rate()
        self.frames_out = 0
        self.errors = 0
        self.running = True
        self.last_cycle = time.monotonic()
        self.snapshots: list[Path] = []
        self.snapshot_pending = False
        self._last_seq = 0
        self._last_out = time.monotonic()
        self._last_poll = time.monotonic()
        # earlier runs' lines are kept; each line is written whole as its frame leaves (a reader can follow it)
        self._stats = open(cfg.stats_path, "a", buffering=1) if cfg.stats_path else None
        self.height, self.width = stylizer.spec.height, stylizer.spec.width
        self.stages = StageTimes()

    @staticmethod
    def _new_stabilizer() -> Stabilizer:
        # flow at 160 px, not the video tool's 256: half the cost, the same flicker on a 640x480 pan
        # (BENCHMARKS.md)
        return Stabilizer(flow_side=160)

    # --- actions -----------------------------------------------------------------------------------------
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
        t = (time.monotonic() - self._fade_start) / self.cfg.fade
        if t >= 1.0:
            self._fade_from = None
            return None
        return t

    def style_label(self) -> str:
        if self.blend_weight is None:
            return f"{self.bank.index + 1}:{self.bank.current.name}"
        nxt = self.bank.styles[(self.bank.index + 1) % len(self.bank)]
        return f"{self.blend_weight:.2f} {self.bank.current.name} + {1 - self.blend_weight:.2f} {nxt.name}"

    def handle(self, key: int | str) -> None:
        """A key press: the keymap (realtime/keys.py) names the action, on_<action> does it."""
        act = action_for(key)
        if act is not None:
            getattr(self, f"on_{act[0]}")(act[1])

    # --- key actions (one method per action of realtime.keys.KEYS) -------------------------------------------
    def _chose_style(self) -> None:
        self.last_cycle = time.monotonic()  # a choice by hand restarts the kiosk's cycle timer
        self._fade_from = None              # ... and is shown at once
        self.blend_weight = None

    def on_select(self, index: int) -> None:
        self.last_cycle, self._fade_from = time.monotonic(), None  # as _chose_style, also for a style not there
        if self.bank.select(index):
            self.blend_weight = None

    def on_next(self, _: int = 0) -> None:
        self.bank.step(1)
        self._chose_style()

    def on_prev(self, _: int = 0) -> None:
        self.bank.step(-1)
        self._chose_style()

    def on_alpha_up(self, _: int = 0) -> None:
        self.alpha = min(1.0, round(self.alpha + 0.1, 2))

    def on_alpha_down(self, _: int = 0) -> None:
        self.alpha = max(0.0, round(self.alpha - 0.1, 2))

    def on_blend(self, _: int = 0) -> None:
        cycle = [0.5, 0.75, 0.25]  # weight of the current style; again = next weights
        self.blend_weight = 0.5 if self.blend_weight not in cycle else cycle[(cycle.index(self.blend_weight) + 1) % 3]

    def on_color(self, _: int = 0) -> None:
        self.color = not self.color

    def on_stabilize(self, _: int = 0) -> None:
        self.stabilizer = None if self.stabilizer is not None else self._new_stabilizer()

    def on_mask(self, _: int = 0) -> None:
        self.mask_mode = next_mode(self.mask_mode)
        log.info("painting: %s", "the whole frame" if self.mask_mode == "whole" else f"the {self.mask_mode} only")

    def on_snapshot(self, _: int = 0) -> None:
        self.snapshot_pending = True

    def on_record(self, _: int = 0) -> None:
        self.toggle_recording()

    def on_fullscreen(self, _: int = 0) -> None:
        self.display.set_fullscreen(not self.display.fullscreen)

    def on_freeze(self, _: int = 0) -> None:
        self.frozen = None if self.frozen is not None else self._freeze_request()

    def on_help(self, _: int = 0) -> None:
        self.show_help = not self.show_help
        self.show_hud = self.show_hud or self.show_help

    def on_hud(self, _: int = 0) -> None:
        self.show_hud = not self.show_hud

    def on_rescan(self, _: int = 0) -> None:
        log.info("rescan: %d new style(s)", len(self.bank.rescan()))

    def on_quit(self, _: int = 0) -> None:
        self.running = False

    def _freeze_request(self) -> tuple[np.ndarray, np.ndarray] | None:
        frame = self.capture.latest()
        if frame is None:
            return None
        small = self._resize(frame.image)
        return small, small  # stylized half is recomputed each loop so keys still apply

    def toggle_recording(self) -> None:
        if self.recorder is not None:
            self._end_recording("stopped")
            return
        path = free_path(self.cfg.record or Path(time.strftime("recording-%Y%m%d-%H%M%S.mp4")))
        try:
            self.recorder = LiveRecorder(path, self.width, self.height, time.monotonic())
        except RecorderError as e:  # the live view matters more than the recording: say so and go on
            log.error("%s; not recording", e)
            return
        log.info("recording to %s (%dx%d)", path, self.width, self.height)

    def _end_recording(self, how: str) -> None:
        frames = self.recorder.close()
        if frames is not None:  # otherwise the recorder has said what went wrong
            log.info("recording %s: %d frames in %s", how, frames, self.recorder.path)
        self.recorder = None

    # --- loop --------------------------------------------------------------------------------------------
    def _resize(self, image: np.ndarray) -> np.ndarray:
        if image.shape[:2] == (self.height, self.width):
            return image
        return cv2.resize(image, (self.width, self.height), interpolation=cv2.INTER_AREA)

    def step(self) -> bool:
        """One output frame; False when the app should stop."""
        for key in self.cfg.key_script.pop(self.frames_out, []):  # once, even if this step waits for a frame
            self.handle(key)
        if self.web is not None:
            for key in self.web.pressed():
                self.handle(key)
        if not self.running:
            return False
        self._cycle_style()
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
            out = np.hstack([small, stylized]) if self.frozen is not None else stylized
        now = time.monotonic()
        with self.stages.stage("record"):
            self._record(stylized, now)
        with self.stages.stage("send"):
            self._send(out, stylized)
        with self.stages.stage("show"):
            if self.snapshot_pending:
                self._snapshot(out)
            if self.display.enabled:
                self._show(out)
        self.display_rate.add(time.monotonic() - self._last_out)
        self._last_out = time.monotonic()
        self._write_stats({"frame": self.frames_out, "seq": used_seq, "newest_at_start": newest_before,
                           "newest_at_end": self.capture.newest_seq(), "capture_time": capture_time,
                           "out_time": now, "reconnecting": reconnecting, "ms": self.stages.end_frame(),
                           "decode_ms": self.capture.decode.since_last(),
                           "encode_ms": self.recorder.writer.encode_cost.since_last() if self.recorder else None})
        self.frames_out += 1
        if self.cfg.max_frames is not None and self.frames_out >= self.cfg.max_frames:
            return False
        return self.running

    def _cycle_style(self) -> None:
        """--cycle: the next style when its time is up, cross-faded over --fade seconds."""
        if self.cfg.cycle and time.monotonic() - self.last_cycle >= self.cfg.cycle:
            if self.cfg.fade > 0:
                self._fade_from, self._fade_start = self.style_stats(), time.monotonic()
            self.bank.step(1)
            self.blend_weight = None
            self.last_cycle = time.monotonic()

    def _reconnecting_picture(self) -> np.ndarray:
        if self.stabilizer is not None:  # the picture after the gap owes nothing to the one before
            self.stabilizer.reset()
        if self.masker is not None:
            self.masker.reset()
        time.sleep(0.05)
        return reconnecting_frame(self.height, self.width, self.capture.reconnects + 1)

    def _next_picture(self, now: float) -> tuple[np.ndarray, int, float] | None:
        """(the frame to stylize at the processing size, its capture sequence number and time), or None when
        the camera has nothing new; a frozen picture is restylized each loop so that keys still apply."""
        if self.frozen is not None:
            return self.frozen[0], -1, now
        frame = self.capture.latest()
        if frame is None or frame.seq == self._last_seq:
            return None
        self._last_seq = frame.seq
        with self.stages.stage("resize"):
            small = self._resize(frame.image)
        return small, frame.seq, frame.time

    def _wait_for_frame(self) -> bool:
        """Nothing new: wait for the camera, don't restylize; a window left unpolled while a stream stalls stops
        answering (keys, its close button), so poll it meanwhile."""
        if self.display.enabled and time.monotonic() - self._last_poll >= 0.05:
            self._poll_window()
        time.sleep(0.002)
        return self.running

    def _region(self, small: np.ndarray) -> np.ndarray | None:
        """The region to paint for the mask mode in force (None: the whole frame)."""
        if self.mask_mode == "whole":
            return None
        if self.masker is None:
            self.masker = PersonMasker(self.height, self.width, self.cfg.mask, self.stylizer.spec.device)
        with self.stages.stage("mask"):
            return self.masker.region(small, self.mask_mode)

    def _stylize(self, small: np.ndarray) -> np.ndarray:
        region = self._region(small)
        t0 = time.monotonic()
        with self.stages.stage("model"):
            stylized = self.stylizer(small, self.style_stats(), self.alpha, 1.0 if self.color else 0.0, region)
        self.model_rate.add(time.monotonic() - t0)
        if self.stabilizer is not None and self.frozen is None:  # a frozen picture has nothing to steady
            with self.stages.stage("steady"):
                stylized = self.stabilizer(small, stylized)
        return stylized

    def _record(self, stylized: np.ndarray, now: float) -> None:
        if self.recorder is None:
            return
        try:
            self.recorder.write(stylized, now)
        except RecorderError as e:  # disk full, say: keep the live view, keep what was written
            log.error("%s; recording stopped", e)
            self.recorder.close()
            self.recorder = None

    def _send(self, out: np.ndarray, stylized: np.ndarray) -> None:
        """The frame to the browser view (as the window shows it, without the HUD) and the virtual camera."""
        if self.web is not None:
            self.web.publish(out, ViewState(self.bank.current.name, self.bank.index, len(self.bank), self.alpha,
                                            self.mask_mode, str(self.bank.current.path)))
        if self.virtual_cam is not None:
            self.virtual_cam.send(stylized)

    def _show(self, out: np.ndarray) -> None:
        shown = out.copy() if (self.show_hud or self.show_help) else out
        if self.show_hud:
            draw_hud(shown, HudInfo(self.model_rate.value, self.display_rate.value, self.capture.dropped,
                                    self.style_label(), self.alpha, self.stylizer.backend, self.color,
                                    self.recorder is not None, self.stabilizer is not None, self.mask_mode))
        if self.show_help:
            draw_help(shown, help_lines())
        self.display.show(shown)
        self._poll_window()

    def _write_stats(self, frame: dict) -> None:
        """--stats: one JSON line per output frame, with the controls in force."""
        if self._stats is None:
            return
        try:
            self._stats.write(json.dumps(frame | {
                "style": self.bank.index, "blend": self.blend_weight, "alpha": self.alpha, "color": self.color,
                "steady": self.stabilizer is not None, "fade": self.fade_used, "mask": self.mask_mode}) + "\n")
        except OSError as e:  # a full disk: the statistics stop, the live view and its recording go on
            log.error("stats file failed: %s; stats stopped", e.strerror or e)
            self._stats = None

    def _poll_window(self) -> None:
        """Keys pressed and the window's close button: also what keeps a GUI window responsive."""
        self._last_poll = time.monotonic()
        key = self.display.poll_key()
        if key >= 0:
            self.handle(key)
        if self.display.closed():
            self.running = False

    def _snapshot(self, img: np.ndarray) -> None:
        self.snapshot_pending = False
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
        if self.recorder is not None:
            self._end_recording("saved")
        if self._stats is not None:
            self._stats.close()
            self._stats = None
        self.capture.stop()
        self.display.close()
        for output in (self.web, self.virtual_cam):
            if output is not None:
                output.close()


def setup_logging(kiosk: bool, log_file: Path | None) -> None:
    handlers: list[logging.Handler] = [logging.StreamHandler()]
    if log_file is not None or kiosk:
        path = log_file or Path("kiosk.log")
        handlers.append(logging.handlers.RotatingFileHandler(path, maxBytes=5_000_000, backupCount=3))
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s", handlers=handlers,
                        force=True)
