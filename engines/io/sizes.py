"""The one size rule: how big a picture is made before the model sees it, and the one resize that does it.

Every tool scales by the shorter side (a style's `--style-size`, a still's or a video's `--size`, the live
app's processing size), never enlarges past a longer side of 4 x the asked side (a 2x400 banner would
otherwise become 512x102400 pixels), and keeps every side at least `min_side`. The live app also rounds to a
multiple of 8, so that the model (three 2x pools, engines/model/network.py) needs no padding.
"""
from __future__ import annotations

import cv2
import numpy as np

MIN_SIDE = 16  # 2x2 positions at relu4_1: the least whose features have a spread to normalise (and reflect)


def short_side_size(height: int, width: int, side: int | float | None, multiple: int = 1,
                    min_side: int = MIN_SIDE) -> tuple[int, int]:
    """(height, width) with the shorter side `side` (None or 0: as it is), rounded to `multiple`."""
    if not side:
        h, w = float(height), float(width)
    else:
        s = side / min(height, width)
        if s > 1:
            s = max(1.0, min(s, 4 * side / max(height, width)))
        h, w = height * s, width * s
    return tuple(max(min_side, int(round(x / multiple)) * multiple) for x in (h, w))


def scaled_size(height: int, width: int, scale: float, min_side: int = MIN_SIDE) -> tuple[int, int]:
    """(height, width) times `scale` (a video's --scale)."""
    return max(min_side, round(height * scale)), max(min_side, round(width * scale))


def inner_size(height: int, width: int, scale: float | None) -> tuple[int, int] | None:
    """The size the network runs at for a frame of (height, width) at `scale` of its sides (None or 1: the
    frame's own); sides multiples of 8 (no padding), at least MIN_SIDE."""
    if not scale or scale >= 1:
        return None
    inner = short_side_size(height, width, max(MIN_SIDE, min(height, width) * scale), multiple=8)
    return None if inner == (height, width) else inner


def resize_to(img: np.ndarray, height: int, width: int) -> np.ndarray:
    """`img` at (height, width): area averaging to shrink (no aliasing), bicubic to enlarge; as it is if it
    already has that size (no copy)."""
    if img.shape[:2] == (height, width):
        return img
    shrink = height * width < img.shape[0] * img.shape[1]
    return cv2.resize(img, (width, height), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_CUBIC)
