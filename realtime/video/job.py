"""The offline video pipeline: a file in, a stylized file out, nothing lost and nothing changed that was not asked.

Decode (PyAV) -> batched stylization with the style encoded once -> encode (PyAV), on overlapping threads.
Frame timestamps, time base, rotation and resolution are kept; audio and subtitle streams are remuxed
unchanged. Output goes to NAME.partial.EXT and is renamed when complete; Ctrl-C, SIGTERM or SIGHUP finishes
the batch in hand and leaves a playable NAME.partial.EXT of every frame done.

`VideoJob(args).run()` is a composition of the steps below; `args` is what tools/video.py parses.
"""
from __future__ import annotations

import argparse
import queue
import sys
import threading
import time
from dataclasses import dataclass
from typing import Callable

import av
import numpy as np

from engines.backends import check_memory, choose_backend
from engines.io.images import read_bgr
from engines.io.output_paths import check_outputs
from engines.io.sizes import inner_size, resize_to
from engines.model.network import mix_styles
from engines.options import check_alpha, engine_options, style_weights
from realtime.person_mask import MaskSettings, PersonMasker
from realtime.stabilize import TextureSteadier
from realtime.stop_signals import StopSignals
from realtime.video.mask_video import MaskedStylizer
from realtime.video.model_cache import ModelCache
from realtime.video.reader import Probe, VideoError, decode_thread, output_size, partial_path, probe
from realtime.video.writer import RecorderError, VideoWriter, check_writable, copyable


@dataclass(frozen=True)
class Segment:
    """A part of a file made on its own and joined to the others afterwards (tools/batch.py): its timestamps are
    kept, no audio. Frames from `decode_from` (a few before `start` with --stabilize, so the steadied texture
    carries over the seam) go through the model; those from `start` to before `end` are written (seconds)."""
    decode_from: float | None
    start: float | None
    end: float | None


class VideoJob:
    def __init__(self, a: argparse.Namespace, cache: ModelCache | None = None, segment: Segment | None = None) -> None:
        self.a = a
        self.segment = segment
        self.cache = cache or ModelCache()  # a batch worker passes its own: model and engines kept between files
        self.tmp = partial_path(a.output)
        self.written = 0
        self.stats = {"corrupt": 0, "error": None}

    def run(self) -> int:
        """0 done, 130 interrupted (the partial file kept, playable); bad input or a failed write: VideoError."""
        info, weights = self.check()
        frames_fn, label = self.load_stylizer(info, weights)
        if not self.a.quiet:
            print(f"model {self.model_why}; backend {label}", file=sys.stderr)
        writer, copy_indexes = self.open_writer(info)
        t0 = time.perf_counter()
        interrupted = self.pump(info, writer, frames_fn, copy_indexes)
        return self.finish(writer, interrupted, time.perf_counter() - t0)

    def check(self) -> tuple[Probe, list[float] | None]:
        """Everything a user can get wrong, said before the model loads; a broken input first."""
        a = self.a
        info = probe(a.input)
        try:
            check_alpha(a.alpha)
            weights = style_weights(a.weights, len(a.style))
        except ValueError as e:
            raise VideoError(str(e)) from None
        if a.size and a.scale:
            raise VideoError("give --size or --scale, not both")
        if a.mask_video is not None:
            if len(a.style) > 2:
                raise VideoError("--mask-video takes one or two styles")
            if a.weights:
                raise VideoError("--mask-video and --weights cannot be combined")
            if not a.mask_video.is_file():
                raise VideoError(f"mask video not found: {a.mask_video}")
            if a.mask_mode != "whole":
                raise VideoError("give --mask-video or --mask-mode, not both")
        if a.end is not None and a.end <= (a.start or 0.0):
            raise VideoError("--end must be after --start" if a.start else "--end must be after 0 s")
        inputs = [a.input, *a.style, *([a.mask_video] if a.mask_video is not None else [])]
        check_outputs([a.output, self.tmp], inputs, keep_existing=not a.overwrite)
        check_writable(a.output, a.codec)  # folder, permission, container, codec
        length = info.frames / float(info.rate)
        if a.start is not None and info.frames and a.start >= length:
            raise VideoError(f"--start {a.start:g} is past the end of {a.input} ({length:.1f} s)")
        for s in a.style:
            read_bgr(s, a.style_size)  # a bad style fails before any work
        return info, weights

    def load_stylizer(self, info: Probe, weights: list[float] | None) -> tuple[Callable[[np.ndarray], np.ndarray], str]:
        """(frames (N, H, W, 3) BGR -> stylized frames, what runs them), the styles encoded once."""
        a = self.a
        backend, precision, device = engine_options(a)
        choose_backend(backend, device, precision)  # an unavailable backend fails here, before any work
        model, self.model_why = self.cache.model(a, device)
        styles = [self.cache.style(model, path, a.style_size) for path in a.style]
        self.width, self.height = output_size(info, a.size, a.scale)
        self.steadier = TextureSteadier() if a.stabilize else None
        if a.mask_video is not None:  # masks need the eager model: no engine is built
            check_memory(model, "eager", self.height, self.width, device=device)
            self.masked = MaskedStylizer(model, styles, a.mask_video, a.alpha)
            return self.masked, "eager fp32 (masks run the eager model)"
        self.masked = None
        style, color = mix_styles(styles, weights), 1.0 if a.preserve_color else 0.0
        stylizer = self.cache.stylizer(model, backend, self.height, self.width, a.batch, device, precision,
                                       inner_size(self.height, self.width, a.model_scale))
        masker = (PersonMasker(self.height, self.width, MaskSettings(every=1), device)
                  if a.mask_mode != "whole" else None)

        def run(frames: np.ndarray) -> np.ndarray:
            region = None if masker is None else np.stack([masker.region(f, a.mask_mode) for f in frames])
            return stylizer(frames, style, a.alpha, color, region)

        return run, f"{stylizer.spec.backend} {stylizer.spec.precision} ({stylizer.why})"

    def open_writer(self, info: Probe) -> tuple[VideoWriter, tuple[int, ...]]:
        """The partial file's writer, with the streams the output's container can hold copied as they are."""
        a = self.a
        with av.open(str(a.input)) as src:
            wanted = () if self.segment else info.copy_indexes  # a segment's audio comes from the source at the join
            copies, left_out = copyable(a.output, [s for s in src.streams if s.index in wanted])
            copy_indexes = tuple(s.index for s in copies)  # read now: the streams go with the container
            for s in left_out:
                print(f"note: {s.type} stream #{s.index} ({s.codec_context.name if s.codec_context else '?'}) left "
                      f"out: {a.output.suffix} cannot hold it (.mkv holds most)", file=sys.stderr)
            try:
                writer = VideoWriter(self.tmp, self.width, self.height, time_base=info.time_base, rate=info.rate,
                                     codec=a.codec, crf=a.crf, rotation=info.rotation, copy_streams=tuple(copies))
            except RecorderError as e:
                self.tmp.unlink(missing_ok=True)
                raise VideoError(str(e)) from None
        return writer, copy_indexes

    def expected_frames(self, info: Probe) -> int:
        if not (self.a.start or self.a.end):
            return info.frames
        dur = (self.a.end or info.frames / float(info.rate)) - (self.a.start or 0)
        return max(0, int(round(dur * float(info.rate))))

    def pump(self, info: Probe, writer: VideoWriter, frames_fn: Callable, copy_indexes: tuple[int, ...]) -> bool:
        """Decode, stylize and write until the input ends, a write fails or a signal comes; True if a signal came."""
        from tqdm import tqdm

        a = self.a
        frames_q: queue.Queue = queue.Queue(maxsize=4 * a.batch)
        packets_q: queue.Queue = queue.Queue()
        stop = threading.Event()
        start, end = (self.segment.decode_from, self.segment.end) if self.segment else (a.start, a.end)
        reader = threading.Thread(target=decode_thread, daemon=True,
                                  args=(a.input, start, end, frames_q, packets_q, stop, self.stats, copy_indexes,
                                        self.segment is None))
        bar = tqdm(total=self.expected_frames(info) or None, unit="frame", disable=a.quiet, dynamic_ncols=True)
        interrupted = False
        with StopSignals() as intr:
            reader.start()
            try:
                while intr.hit is None:
                    batch, pts, done = self.next_batch(frames_q)
                    if batch:
                        self.write_batch(writer, info, frames_fn, batch, pts, packets_q)
                        bar.update(len(batch))
                    if done:
                        break
                interrupted = intr.hit is not None
            except RecorderError:  # a write failed (a full disk): said by finish, once the file is closed
                pass
            finally:
                stop.set()
                drain_until_done(reader, frames_q)
                if not interrupted and writer.error is None:
                    flush_packets(writer, packets_q)
                bar.close()
                writer.close()
                if self.masked is not None:
                    self.masked.close()
        return interrupted

    def next_batch(self, frames_q: queue.Queue) -> tuple[list[np.ndarray], list[int | None], bool]:
        """Up to --batch frames at the output size, their timestamps, and whether the input has ended."""
        batch, pts = [], []
        while len(batch) < self.a.batch:
            item = frames_q.get()
            if item is None:
                return batch, pts, True
            img, p = item
            batch.append(resize_to(img, self.height, self.width))
            pts.append(p)
        return batch, pts, False

    def write_batch(self, writer: VideoWriter, info: Probe, frames_fn: Callable, batch: list[np.ndarray],
                    pts: list[int | None], packets_q: queue.Queue) -> None:
        n = len(batch)
        if self.masked is not None:
            out = frames_fn(np.stack(batch))
        else:  # a short last batch is padded: an engine built for --batch frames takes no other count
            out = frames_fn(np.stack(batch + [batch[-1]] * (self.a.batch - n)))[:n]
        if self.steadier is not None:
            out = np.stack([self.steadier(c, o) for c, o in zip(batch, out)])
        flush_packets(writer, packets_q)
        for img, p in zip(out, pts):
            if self.segment and self.segment.start is not None and p is not None \
                    and float(p * info.time_base) < self.segment.start:
                continue  # decoded to steady the texture into the segment; the previous segment has it
            # a raw stream (.h264) carries no timestamps: frame n is shown at n / rate, in time_base ticks
            writer.write(img, p if p is not None else round(self.written / (info.rate * info.time_base)))
            self.written += 1

    def finish(self, writer: VideoWriter, interrupted: bool, seconds: float) -> int:
        """The partial file renamed to the output when whole; else kept (playable) or removed, and said."""
        a, written = self.a, self.written
        if writer.error is not None:
            left = (f"what was written is in {self.tmp} (playable)" if writer.kept
                    else f"nothing playable could be kept, {self.tmp} removed")
            raise VideoError(f"writing failed after {written} frames: {writer.error}; {left}")
        if interrupted:
            print(f"interrupted: {written} frames written to {self.tmp} (playable); {a.output} not created",
                  file=sys.stderr)
            return 130
        if written == 0:
            self.tmp.unlink(missing_ok=True)
            raise VideoError(f"no frames decoded from {a.input}")
        self.tmp.replace(a.output)
        skipped = f", {self.stats['corrupt']} corrupt packet(s) skipped" if self.stats["corrupt"] else ""
        warn = f" ({self.stats['error']})" if self.stats["error"] else ""
        print(f"done: {written} frames in {seconds:.1f} s ({written / max(seconds, 1e-9):.2f} fps){skipped}{warn} "
              f"-> {a.output}")
        return 0


def flush_packets(writer: VideoWriter, packets_q: queue.Queue) -> None:
    """The copied streams' packets read so far, muxed between video frames so the streams stay interleaved."""
    while True:
        try:
            writer.write_packet(*packets_q.get_nowait())
        except queue.Empty:
            return


def drain_until_done(reader: threading.Thread, frames_q: queue.Queue) -> None:
    """Unblock a reader that waits on a full queue, until it has ended."""
    while reader.is_alive():
        try:
            frames_q.get(timeout=0.05)
        except queue.Empty:
            pass
