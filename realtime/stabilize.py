"""Temporal stabilization for per-frame stylization (live: --stabilize, key t; tools/video.py --stabilize).

AdaIN stylizes each frame independently, so small changes in the input become
large frame-to-frame changes of the brush texture (flicker). Each result is
blended with the previous *result*, warped onto the current frame by optical
flow computed on the input frames. Where the warped previous input does not
match the current input (occlusions, new content, cuts) the blend is switched
off, so moving objects do not smear.
"""
from __future__ import annotations

import functools

import cv2
import numpy as np


def flow_scale(h: int, w: int, target: int = 256) -> float:
    return min(1.0, target / max(h, w))


def backward_flow(cur_gray: np.ndarray, prev_gray: np.ndarray) -> np.ndarray:
    """For each pixel of `cur`, where it was in `prev` (Farneback, pyramid)."""
    return cv2.calcOpticalFlowFarneback(cur_gray, prev_gray, None, 0.5, 3, 15, 3, 5, 1.2, 0)


@functools.lru_cache(maxsize=4)
def _grid(h: int, w: int) -> np.ndarray:
    """Each pixel's own (x, y), HxWx2 float32: made once a size, not once a frame (a 1080p frame's grid is 16 MB)."""
    gx, gy = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    grid = np.dstack([gx, gy])
    grid.flags.writeable = False
    return grid


def warp(img: np.ndarray, flow: np.ndarray) -> np.ndarray:
    h, w = flow.shape[:2]
    return cv2.remap(img, _grid(h, w) + flow, None, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


class TextureSteadier:
    """Call per frame in order: `steadier(content_bgr, stylized_bgr) -> steadied_bgr`."""

    def __init__(self, strength: float = 0.6, threshold: float = 12.0, flow_side: int = 256) -> None:
        """flow_side: the longer side the optical flow is computed at (its cost; the live app takes 160)."""
        self.strength = strength      # weight of the warped previous result where the flow is trusted
        self.threshold = threshold    # grey levels of input mismatch above which a pixel counts as occluded
        self.flow_side = flow_side
        self.prev_gray: np.ndarray | None = None
        self.prev_out: np.ndarray | None = None

    def reset(self) -> None:
        self.prev_gray = self.prev_out = None

    def __call__(self, content: np.ndarray, stylized: np.ndarray) -> np.ndarray:
        h, w = content.shape[:2]
        s = flow_scale(h, w, self.flow_side)
        small = cv2.resize(content, (max(8, round(w * s)), max(8, round(h * s))), interpolation=cv2.INTER_AREA)
        gray = cv2.cvtColor(small, cv2.COLOR_BGR2GRAY)
        if self.prev_gray is None or self.prev_out is None or self.prev_out.shape != stylized.shape:
            self.prev_gray, self.prev_out = gray, stylized
            return stylized
        flow = backward_flow(gray, self.prev_gray)
        mismatch = np.abs(warp(self.prev_gray, flow).astype(np.float32) - gray.astype(np.float32))
        trust = np.clip(1.0 - mismatch / self.threshold, 0.0, 1.0)
        trust = cv2.GaussianBlur(trust, (5, 5), 0)
        # full-size work in OpenCV's single passes (numpy float arithmetic cost 50 ms a 1080p frame)
        flow_full = cv2.resize(flow / s, (w, h), interpolation=cv2.INTER_LINEAR)
        blend = cv2.resize(trust * self.strength, (w, h), interpolation=cv2.INTER_LINEAR)
        out = cv2.blendLinear(stylized, warp(self.prev_out, flow_full), 1.0 - blend, blend)
        self.prev_gray, self.prev_out = gray, out
        return out
