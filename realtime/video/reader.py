"""A video file read the way ffmpeg would treat it: its timing, rotation and other streams known before any
work, and its frames and packets demuxed once, on a thread, for the offline pipeline (realtime/video/job.py)."""
from __future__ import annotations

import queue
import threading
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av

from engines.io.sizes import scaled_size, short_side_size


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
    """(width, height) to write: the input's unless --size/--scale ask otherwise (engines/io/sizes.py)."""
    h, w = (scaled_size(p.height, p.width, scale) if scale and not size else
            short_side_size(p.height, p.width, size) if size else (p.height, p.width))
    return w, h


def decode_thread(path: Path, start: float | None, end: float | None, out: queue.Queue, packets: queue.Queue,
                  stop: threading.Event, stats: dict, copy_indexes: tuple[int, ...] = (), shift: bool = True) -> None:
    """Demux once: video frames -> `out` as (BGR, pts), packets of the `copy_indexes` streams -> `packets`;
    corrupt packets counted, skipped; None on `out` at the end.

    With --start every stream's timestamps move back by the same `start`, so they stay in sync; `shift=False`
    keeps them (a segment of a file that is joined again afterwards).
    """
    try:
        with av.open(str(path)) as c:
            v = c.streams.video[0]
            copies = [s for s in c.streams if s.index in copy_indexes]
            seek = int(round(start / v.time_base)) if start else 0
            vshift = seek if shift else 0
            if start:
                c.seek(seek, stream=v, backward=True)
            for packet in c.demux([v, *copies]):
                if stop.is_set():
                    break
                if packet.stream.type != "video":
                    if in_range_shifted(packet, start, end):
                        packets.put((packet, packet.stream.index))
                    continue
                try:
                    frames = packet.decode()
                except av.FFmpegError:
                    stats["corrupt"] += 1
                    continue
                if not put_frames(frames, v.time_base, start, end, vshift, out):
                    stop.set()
    except av.FFmpegError as e:
        stats["error"] = f"decoding stopped: {e}"
    finally:
        out.put(None)


def in_range_shifted(packet: av.Packet, start: float | None, end: float | None) -> bool:
    """Whether a copied stream's packet falls in [start, end); its timestamps moved back by `start` if so."""
    if packet.dts is None:
        return False
    t = float(packet.pts * packet.time_base) if packet.pts is not None else 0.0
    if not ((start is None or t >= start) and (end is None or t < end)):
        return False
    if start:
        shift = int(round(start / packet.time_base))
        packet.pts = packet.pts - shift if packet.pts is not None else None
        packet.dts = packet.dts - shift
    return True


def put_frames(frames: list[av.VideoFrame], tb: Fraction, start: float | None, end: float | None, vshift: int,
               out: queue.Queue) -> bool:
    """The frames in [start, end) onto `out`, timestamps moved back by `vshift`; False once past `end`."""
    for f in frames:
        t = float(f.pts * tb) if f.pts is not None else None
        if t is not None and start is not None and t < start:
            continue
        if t is not None and end is not None and t >= end:
            return False
        out.put((f.to_ndarray(format="bgr24"), f.pts - vshift if f.pts is not None else None))
    return True


def partial_path(output: Path) -> Path:
    return output.with_name(f"{output.stem}.partial{output.suffix}")
