"""Stylize a video file the way ffmpeg would treat it: nothing lost, nothing changed that was not asked for.

Decode (PyAV) -> batched stylization with the style encoded once -> encode (PyAV), on
three overlapping threads. Frame timestamps, time base, rotation and resolution are
kept; audio and subtitle streams are remuxed unchanged. Output goes to
NAME.partial.EXT and is renamed when complete; Ctrl-C, SIGTERM or SIGHUP finishes the
batch in hand and leaves a playable NAME.partial.EXT of every frame done.

Examples:
    python tools/video.py clip.mp4 -o clip_starry.mp4 --style starry.jpg
    python tools/video.py clip.mp4 -o mix.mp4 --style a.jpg --style b.jpg --weights 0.7,0.3 --alpha 0.8
    python tools/video.py long.mkv -o part.mkv --style a.jpg --start 60 --end 90 --scale 0.5 --stabilize
"""
from __future__ import annotations

import argparse
import queue
import sys
import threading
import time
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

if __name__ == "__main__":  # before the heavy imports: Ctrl-C while torch loads ends with one line
    from realtime.stop_signals import quit_quietly_on_signals

    quit_quietly_on_signals()

import av  # noqa: E402
import cv2  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

from engines.adain import check_weights, interpolate_stats  # noqa: E402
from engines.backends import (  # noqa: E402
    BackendError, check_memory, check_style_memory, choose_backend, make_stylizer,
)
from engines.images import ImageError, bgr_to_tensor, read_bgr, read_short  # noqa: E402
from engines.model import AdaINModel, StyleStats  # noqa: E402
from engines.output_paths import OutputPathError, check_outputs  # noqa: E402
from engines.options import (  # noqa: E402
    add_engine_args, add_model_args, count, crf, engine_options, image_side, load_model, positive, seconds,
)
from engines.weights import WeightsError  # noqa: E402
from realtime.recorder import CODECS, RecorderError, VideoWriter, check_writable, copyable  # noqa: E402
from realtime.stop_signals import StopSignals  # noqa: E402
from realtime.stabilize import Stabilizer  # noqa: E402


class VideoError(ValueError):
    """Bad input or output; one line for the user."""


@dataclass
class Probe:
    width: int
    height: int
    time_base: Fraction
    rate: Fraction
    frames: int
    rotation: int
    copy_indexes: list[int]


def probe(path: Path) -> Probe:
    if not path.is_file():
        raise VideoError(f"input not found: {path}")
    try:
        with av.open(str(path)) as c:
            if not c.streams.video:
                raise VideoError(f"no video stream in {path}")
            v = c.streams.video[0]
            rotation = 0
            for frame in c.decode(v):
                rotation = int(frame.rotation or 0)
                break
            else:
                raise VideoError(f"no decodable video frames in {path}")
            rate = v.average_rate or v.guessed_rate or Fraction(30)
            frames = v.frames
            if not frames and v.duration:
                frames = int(float(v.duration * v.time_base * rate))
            copies = [s.index for s in c.streams if s.type in ("audio", "subtitle")]
            return Probe(v.codec_context.width, v.codec_context.height, v.time_base, Fraction(rate), frames or 0,
                         rotation, copies)
    except av.FFmpegError as e:
        raise VideoError(f"not a readable video file: {path} ({type(e).__name__})") from None


def output_size(p: Probe, size: int | None, scale: float | None) -> tuple[int, int]:
    """(width, height) to write: the input's unless --size/--scale ask otherwise."""
    if size:
        s = size / min(p.width, p.height)
    elif scale:
        s = scale
    else:
        return p.width, p.height
    return max(16, round(p.width * s)), max(16, round(p.height * s))


def decode_thread(path: Path, start: float | None, end: float | None, out: queue.Queue, packets: queue.Queue,
                  stop: threading.Event, stats: dict, copy_indexes: tuple[int, ...] = ()) -> None:
    """Demux once: video frames -> `out`, packets of the `copy_indexes` streams -> `packets`; corrupt packets
    counted, skipped.

    With --start every stream's timestamps move back by the same `start`, so they stay in sync.
    """
    try:
        with av.open(str(path)) as c:
            v = c.streams.video[0]
            copies = [s for s in c.streams if s.index in copy_indexes]
            tb = v.time_base
            vshift = int(round(start / tb)) if start else 0
            if start:
                c.seek(vshift, stream=v, backward=True)
            for packet in c.demux([v, *copies]):
                if stop.is_set():
                    break
                if packet.stream.type != "video":
                    if packet.dts is None:
                        continue
                    t = float(packet.pts * packet.time_base) if packet.pts is not None else 0.0
                    if (start is None or t >= start) and (end is None or t < end):
                        if start:
                            shift = int(round(start / packet.time_base))
                            packet.pts = packet.pts - shift if packet.pts is not None else None
                            packet.dts = packet.dts - shift
                        packets.put((packet, packet.stream.index))
                    continue
                try:
                    frames = packet.decode()
                except av.FFmpegError:
                    stats["corrupt"] += 1
                    continue
                for f in frames:
                    t = float(f.pts * tb) if f.pts is not None else None
                    if t is not None and start is not None and t < start:
                        continue
                    if t is not None and end is not None and t >= end:
                        stop.set()
                        break
                    out.put((f.to_ndarray(format="bgr24"), f.pts - vshift if f.pts is not None else None))
    except av.FFmpegError as e:
        stats["error"] = f"decoding stopped: {e}"
    finally:
        out.put(None)


def mix_styles(stats: list[StyleStats], weights: list[float] | None) -> StyleStats:
    """One style from several: arithmetic on the statistics, nothing re-encoded."""
    if len(stats) == 1:
        return stats[0]
    w = weights or [1.0 / len(stats)] * len(stats)
    m, s = interpolate_stats(torch.stack([x.mean for x in stats]), torch.stack([x.std for x in stats]), w)
    return StyleStats(m, s)


class MaskedStylizer:
    """Spatial control from a mask video, frame by frame (the last mask holds if the mask video is shorter)."""

    def __init__(self, model: AdaINModel, styles: list[StyleStats], mask_path: Path, alpha: float) -> None:
        self.model, self.styles, self.alpha = model, styles, alpha
        probe(mask_path)  # missing, unreadable or frameless: said with its name, before any frame is written
        try:
            self.container = av.open(str(mask_path))
            self.frames = self.container.decode(video=0)
        except av.FFmpegError:
            raise VideoError(f"not a readable video file: {mask_path}") from None
        self.mask: np.ndarray | None = None

    def next_mask(self, h: int, w: int) -> torch.Tensor:
        try:
            frame = next(self.frames)
            self.mask = frame.to_ndarray(format="gray")
        except (StopIteration, av.FFmpegError):
            if self.mask is None:
                raise VideoError("the mask video has no frames") from None
        m = cv2.resize(self.mask, (w, h), interpolation=cv2.INTER_LINEAR).astype(np.float32) / 255.0
        return torch.from_numpy(m)

    def __call__(self, frames: np.ndarray) -> np.ndarray:
        from engines.images import tensor_to_bgr

        out = []
        for img in frames:
            m = self.next_mask(*img.shape[:2])
            content = bgr_to_tensor(img, self.model.device)
            masks = torch.stack([m, 1 - m]) if len(self.styles) == 2 else m[None]
            out.append(tensor_to_bgr(self.model.stylize(content, self.styles, masks=masks, alpha=self.alpha)))
        return np.stack(out)

    def close(self) -> None:
        self.container.close()


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        description="Stylize a video file (AdaIN), keeping its timing, rotation and audio.",
        formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__.split("\n\n", 1)[1],
    )
    p.add_argument("input", type=Path, help="input video file")
    p.add_argument("-o", "--output", type=Path, required=True, help="output file (container from the extension)")
    p.add_argument("--style", action="append", required=True, help="style image (repeat to interpolate several)")
    p.add_argument("--weights", help="interpolation weights, one per style, summing to 1 (e.g. 0.7,0.3)")
    p.add_argument("--alpha", type=float, default=1.0, help="content-style trade-off in [0, 1] (default 1)")
    p.add_argument("--preserve-color", action="store_true", help="keep the video's colours (luminance transfer)")
    p.add_argument("--mask-video", type=Path,
                   help="grey video of masks, frame by frame: with one style white = stylized, black = original; "
                        "with two styles white = first, black = second (runs the eager model)")
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
    p.add_argument("--start", type=seconds, help="start time in seconds")
    p.add_argument("--end", type=seconds, help="end time in seconds")
    p.add_argument("--stabilize", action="store_true", help="reduce flicker: blend with the previous result warped by optical flow")
    p.add_argument("--style-size", type=image_side, default=512, help="style images' shorter side when encoded (default 512)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output file")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    return p


def partial_path(output: Path) -> Path:
    return output.with_name(f"{output.stem}.partial{output.suffix}")


def check_args(a: argparse.Namespace) -> list[float] | None:
    if not 0.0 <= a.alpha <= 1.0:
        raise VideoError(f"--alpha must be between 0 and 1, got {a.alpha}")
    if a.size and a.scale:
        raise VideoError("give --size or --scale, not both")
    if a.mask_video is not None:
        if len(a.style) > 2:
            raise VideoError("--mask-video takes one or two styles")
        if a.weights:
            raise VideoError("--mask-video and --weights cannot be combined")
        if not a.mask_video.is_file():
            raise VideoError(f"mask video not found: {a.mask_video}")
    if a.end is not None and a.end <= (a.start or 0.0):
        raise VideoError("--end must be after --start" if a.start else "--end must be after 0 s")
    weights = None
    if a.weights:
        try:
            weights = check_weights([float(x) for x in a.weights.split(",")], len(a.style))
        except ValueError as e:
            raise VideoError(str(e)) from None
    inputs = [a.input, *a.style, *([a.mask_video] if a.mask_video is not None else [])]
    check_outputs([a.output, partial_path(a.output)], inputs, keep_existing=not a.overwrite)
    check_writable(a.output, a.codec)  # folder, permission, container, codec: before the model loads
    return weights


def run(a: argparse.Namespace) -> int:
    from tqdm import tqdm

    info = probe(a.input)  # a missing or broken input first: it is what the user must fix first
    weights = check_args(a)
    length = info.frames / float(info.rate)
    if a.start is not None and info.frames and a.start >= length:
        raise VideoError(f"--start {a.start:g} is past the end of {a.input} ({length:.1f} s)")
    for s in a.style:
        read_bgr(s, a.style_size)  # fail on a bad style before any work
    backend, precision, device = engine_options(a)
    choose_backend(backend, device, precision)  # an unavailable backend fails here, before any work
    model, model_why = load_model(a, device)
    styles = []
    for path in a.style:
        image = read_short(path, a.style_size)
        check_style_memory(model, *image.shape[:2])
        styles.append(model.encode_style(bgr_to_tensor(image)))
    style = mix_styles(styles, weights)
    width, height = output_size(info, a.size, a.scale)
    if a.mask_video is not None:  # masks need the eager model: no engine is built
        check_memory(model, "eager", height, width, device=device)
        masked, stylizer = MaskedStylizer(model, styles, a.mask_video, a.alpha), None
        engine = "eager fp32 (masks run the eager model)"
    else:
        masked = None
        stylizer = make_stylizer(model, backend, height, width, batch=a.batch, device=device, precision=precision)
        engine = f"{stylizer.spec.backend} {stylizer.spec.precision} ({stylizer.why})"
    stabilizer = Stabilizer() if a.stabilize else None
    if not a.quiet:
        print(f"model {model_why}; backend {engine}", file=sys.stderr)
    tmp = partial_path(a.output)
    with av.open(str(a.input)) as src:
        copies, left_out = copyable(a.output, [s for s in src.streams if s.index in info.copy_indexes])
        copy_indexes = tuple(s.index for s in copies)  # read now: the streams go with the container
        for s in left_out:
            print(f"note: {s.type} stream #{s.index} ({s.codec_context.name if s.codec_context else '?'}) left out: "
                  f"{a.output.suffix} cannot hold it (.mkv holds most)", file=sys.stderr)
        try:
            writer = VideoWriter(tmp, width, height, time_base=info.time_base, rate=info.rate,
                                 codec=a.codec, crf=a.crf, rotation=info.rotation, copy_streams=tuple(copies))
        except RecorderError as e:
            tmp.unlink(missing_ok=True)
            raise VideoError(str(e)) from None
    frames_q: queue.Queue = queue.Queue(maxsize=4 * a.batch)
    packets_q: queue.Queue = queue.Queue()
    stop = threading.Event()
    stats = {"corrupt": 0, "error": None}
    reader = threading.Thread(target=decode_thread, args=(a.input, a.start, a.end, frames_q, packets_q, stop, stats,
                                                        copy_indexes),
                              daemon=True)
    total = info.frames
    if a.start or a.end:
        dur = (a.end or total / float(info.rate)) - (a.start or 0)
        total = max(0, int(round(dur * float(info.rate))))
    bar = tqdm(total=total or None, unit="frame", disable=a.quiet, dynamic_ncols=True)
    written, t0, interrupted = 0, time.perf_counter(), False
    color = 1.0 if a.preserve_color else 0.0

    def flush_packets() -> None:
        while True:
            try:
                writer.write_packet(*packets_q.get_nowait())
            except queue.Empty:
                return

    with StopSignals() as intr:
        reader.start()
        done = False
        try:
            while not done and intr.hit is None:
                batch, pts = [], []
                while len(batch) < a.batch:
                    item = frames_q.get()
                    if item is None:
                        done = True
                        break
                    img, p = item
                    if img.shape[:2] != (height, width):
                        img = cv2.resize(img, (width, height), interpolation=cv2.INTER_AREA)
                    batch.append(img)
                    pts.append(p)
                if not batch:
                    break
                n = len(batch)
                padded = np.stack(batch + [batch[-1]] * (a.batch - n))
                out = masked(padded[:n]) if masked is not None else stylizer(padded, style, a.alpha, color)[:n]
                if stabilizer is not None:
                    out = np.stack([stabilizer(c, o) for c, o in zip(batch, out)])
                flush_packets()
                for img, p in zip(out, pts):
                    # a raw stream (.h264) carries no timestamps: frame n is shown at n / rate, in time_base
                    # ticks (the frame number itself put 25 frames into 20 microseconds)
                    writer.write(img, p if p is not None else round(written / (info.rate * info.time_base)))
                    written += 1
                bar.update(n)
            interrupted = intr.hit is not None
        except RecorderError:  # a write failed (a full disk): said below, once the file is closed
            pass
        finally:
            stop.set()
            while reader.is_alive():  # unblock the reader if it waits on a full queue
                try:
                    frames_q.get(timeout=0.05)
                except queue.Empty:
                    pass
            if not interrupted and writer.error is None:
                flush_packets()
            bar.close()
            writer.close()
            if masked is not None:
                masked.close()
    seconds = time.perf_counter() - t0
    if writer.error is not None:
        left = (f"what was written is in {tmp} (playable)" if writer.kept
                else f"nothing playable could be kept, {tmp} removed")
        raise VideoError(f"writing failed after {written} frames: {writer.error}; {left}")
    if interrupted:
        print(f"interrupted: {written} frames written to {tmp} (playable); {a.output} not created", file=sys.stderr)
        return 130
    if written == 0:
        tmp.unlink(missing_ok=True)
        raise VideoError(f"no frames decoded from {a.input}")
    tmp.replace(a.output)
    skipped = f", {stats['corrupt']} corrupt packet(s) skipped" if stats["corrupt"] else ""
    warn = f" ({stats['error']})" if stats["error"] else ""
    print(f"done: {written} frames in {seconds:.1f} s ({written / max(seconds, 1e-9):.2f} fps){skipped}{warn} -> {a.output}")
    return 0


@torch.no_grad()  # scoped to the call: a caller in the same process keeps autograd
def main(argv: list[str] | None = None) -> int:
    a = build_parser().parse_args(argv)
    try:
        return run(a)
    except (VideoError, ImageError, WeightsError, BackendError, RecorderError, OutputPathError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
