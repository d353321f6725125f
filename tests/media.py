"""Real media files for tests, written with PyAV: moving content, optional audio and rotation."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np

from realtime.video.pattern_clip import make_video, moving_frame  # noqa: F401  (the tests' clips)


def damage_frames(src: Path, dst: Path, first: int, count: int = 1) -> Path:
    """`src` with the data of `count` video packets from `first` on (in file order) overwritten: undecodable
    frames."""
    with av.open(str(src)) as c:
        packets = [(p.pos, p.size) for p in c.demux(video=0) if p.size]
    data = bytearray(src.read_bytes())
    for pos, size in packets[first : first + count]:
        data[pos : pos + size] = b"\xff" * size
    dst.write_bytes(bytes(data))
    return dst


@dataclass
class StreamInfo:
    """What the video tools must keep of a source: frame times, audio packets byte for byte, rotation, size."""

    pts: list[float]
    audio: list[bytes]
    rotation: int
    size: tuple[int, int]
    duration: int | None  # the container's, in av.time_base units


def stream_info(path: Path) -> StreamInfo:
    with av.open(str(path)) as c:
        frames = list(c.decode(video=0))
        duration = c.duration
    with av.open(str(path)) as c:
        audio = [bytes(p) for p in c.demux(audio=0) if p.size] if c.streams.audio else []
    return StreamInfo([float(f.pts * f.time_base) for f in frames], audio, frames[0].rotation,
                      (frames[0].width, frames[0].height), duration)


def decode_frames(path: Path) -> list[np.ndarray]:
    with av.open(str(path)) as c:
        return [f.to_ndarray(format="bgr24") for f in c.decode(video=0)]


def with_subtitles(video: Path, out: Path, cues: list[tuple[float, float, str]]) -> Path:
    """`video`'s stream plus an SRT subtitle stream (read by FFmpeg's srt demuxer, so no encoder is needed)."""
    srt = out.with_suffix(".srt")
    stamp = lambda t: f"00:00:{int(t):02d},{int(round(t % 1 * 1000)):03d}"  # noqa: E731
    srt.write_text("".join(f"{i}\n{stamp(a)} --> {stamp(b)}\n{text}\n\n" for i, (a, b, text) in
                           enumerate(cues, 1)))
    with av.open(str(video)) as src, av.open(str(srt)) as sub, av.open(str(out), "w") as dst:
        v = dst.add_stream_from_template(src.streams.video[0])
        s = dst.add_stream_from_template(sub.streams[0])
        for packet in src.demux(src.streams.video[0]):
            if packet.dts is not None:
                packet.stream = v
                dst.mux(packet)
        for packet in sub.demux(sub.streams[0]):
            if packet.dts is not None:
                packet.stream = s
                dst.mux(packet)
    return out
