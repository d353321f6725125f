"""Temporal stabilization for per-frame stylization (live: --stabilize, key t; tools/video.py --stabilize).

AdaIN stylizes each frame independently, so small changes in the input become
large frame-to-frame changes of the brush texture (flicker). Each result is
blended with the previous *result*, warped onto the current frame by optical
flow computed on the input frames. Where the warped previous input does not
match the current input (occlusions, new content, cuts) the blend is switched
off, so moving objects do not smear.
"""
from __future__ import annotations

import cv2
import numpy as np


def flow_scale(h: int, w: int, target: int = 256) -> float:
    return min(1.0, target / max(h, w))


def backward_flow(cur_gray: np.ndarray, prev_gray: np.ndarray) -> np.ndarray:
    """For each pixel of `cur`, where it was in `prev` (Farneback, pyramid)."""
    return cv2.calcOpticalFlowFarneback(cur_gray, prev_gray, None, 0.5, 3, 15, 3, 5, 1.2, 0)


def warp(img: np.ndarray, flow: np.ndarray) -> np.ndarray:
    h, w = flow.shape[:2]
    gx, gy = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    return cv2.remap(img, gx + flow[..., 0], gy + flow[..., 1], cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


class Stabilizer:
    """Call per frame in order: `stabilizer(content_bgr, stylized_bgr) -> stabilized_bgr`."""

    def __init__(self, strength: float = 0.6, threshold: float = 12.0) -> None:
        self.strength = strength      # weight of the warped previous result where the flow is trusted
        self.threshold = threshold    # grey levels of input mismatch above which a pixel counts as occluded
        self.prev_gray: np.ndarray | None = None
        self.prev_out: np.ndarray | None = None

    def reset(self) -> None:
        self.prev_gray = self.prev_out = None

    def __call__(self, content: np.ndarray, stylized: np.ndarray) -> np.ndarray:
        h, w = content.shape[:2]
        s = flow_scale(h, w)
        small = cv2.resize(content, (max(8, round(w * s)), max(8, round(h * s))), interpolation=cv2.INTER_AREA)
        gray = cv2.cvtColor(small, cv2.COLOR_BGR2GRAY)
        if self.prev_gray is None or self.prev_out is None or self.prev_out.shape != stylized.shape:
            self.prev_gray, self.prev_out = gray, stylized
            return stylized
        flow = backward_flow(gray, self.prev_gray)
        mismatch = np.abs(warp(self.prev_gray, flow).astype(np.float32) - gray.astype(np.float32))
        trust = np.clip(1.0 - mismatch / self.threshold, 0.0, 1.0)
        trust = cv2.GaussianBlur(trust, (5, 5), 0)
        flow_full = cv2.resize(flow, (w, h), interpolation=cv2.INTER_LINEAR) / s
        trust_full = cv2.resize(trust, (w, h), interpolation=cv2.INTER_LINEAR)[..., None]
        warped = warp(self.prev_out, flow_full).astype(np.float32)
        blend = self.strength * trust_full
        out = (stylized.astype(np.float32) * (1.0 - blend) + warped * blend).round().clip(0, 255).astype(np.uint8)
        self.prev_gray, self.prev_out = gray, out
        return out
