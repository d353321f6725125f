"""A synthetic clip that moves like a camera pan (gradient, moving bar, fixed square), written with PyAV:
what the benchmark's end-to-end loop and the tests read when no real footage is at hand."""
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
               gop: int | None = None, picture: np.ndarray | None = None) -> Path:
    """noise > 0 adds per-frame grain: a file too big for a demuxer to hold in its buffers. gop: a keyframe
    every `gop` frames (the encoder's own choice otherwise: one for the whole of a short clip). picture: a
    BGR photo of the clip's size filmed still, instead of the pattern (a person in a room, for masks)."""
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
        img = moving_frame(i, height, width) if picture is None else picture
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
