"""Real media files for tests, written with PyAV: moving content, optional audio and rotation."""
from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np


def moving_frame(i: int, h: int, w: int) -> np.ndarray:
    """A scene that pans: a gradient background, a moving bar and a fixed square."""
    yy, xx = np.mgrid[0:h, 0:w]
    img = np.stack([(xx + 2 * i) % 256, yy * 255 // max(h - 1, 1), np.full_like(xx, 90)], -1).astype(np.uint8)
    x0 = (3 * i) % max(w - 12, 1)
    img[:, x0 : x0 + 12] = (40, 200, 230)
    img[h // 3 : h // 3 + h // 4, w // 2 : w // 2 + w // 5] = (20, 20, 220)
    return img


def make_video(path: Path, frames: int = 60, width: int = 160, height: int = 120, rate: Fraction = Fraction(30),
               audio: bool = False, rotate: int | None = None, codec: str = "libx264", noise: int = 0,
               gop: int | None = None) -> Path:
    """noise > 0 adds per-frame grain: a file too big for a demuxer to hold in its buffers. gop: a keyframe
    every `gop` frames (the encoder's own choice otherwise: one for the whole of a short clip)."""
    rng = np.random.default_rng(0)
    container = av.open(str(path), "w")
    v = container.add_stream(codec, rate=rate)
    v.width, v.height = width, height
    v.pix_fmt = "yuv420p" if width % 2 == 0 and height % 2 == 0 else "yuv444p"
    if rotate is not None:
        v.set_display_rotation(rotate)
    if gop is not None:
        v.options = {"g": str(gop), "keyint_min": str(gop), "sc_threshold": "0"}
    a = None
    if audio:
        a = container.add_stream("aac", rate=48000)
        a.layout = "mono"
    samples_per_frame = int(48000 / float(rate))
    for i in range(frames):
        img = moving_frame(i, height, width)
        if noise:
            img = (img + rng.integers(-noise, noise + 1, img.shape)).clip(0, 255).astype(np.uint8)
        vf = av.VideoFrame.from_ndarray(img, format="bgr24")
        vf.pts = i
        vf.time_base = 1 / rate
        for p in v.encode(vf):
            container.mux(p)
        if a is not None:
            t = (np.arange(samples_per_frame) + i * samples_per_frame) / 48000
            pcm = (0.2 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)[None]
            af = av.AudioFrame.from_ndarray(pcm, format="fltp", layout="mono")
            af.sample_rate = 48000
            af.pts = i * samples_per_frame
            for p in a.encode(af):
                container.mux(p)
    for p in v.encode(None):
        container.mux(p)
    if a is not None:
        for p in a.encode(None):
            container.mux(p)
    container.close()
    return path


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
