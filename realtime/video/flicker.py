"""Flicker of a stylized video: mean warping error between consecutive frames.

For each pair of consecutive frames, optical flow is computed on the *original*
video (DIS, medium preset; a different estimator from the one --stabilize uses),
the previous stylized frame is warped onto the next, and the mean absolute
difference is taken over pixels whose flow passes a forward-backward check
(occluded pixels masked). Lower = steadier. Grey levels, 0-255.
"""
from __future__ import annotations

from pathlib import Path

import av
import cv2
import numpy as np

from realtime.stabilize import warp


def frames(path: Path) -> list[np.ndarray]:
    """Every frame as BGR; a missing or undecodable file is a ValueError that names it."""
    if not path.is_file():
        raise ValueError(f"video not found: {path}")
    try:
        with av.open(str(path)) as c:
            return [f.to_ndarray(format="bgr24") for f in c.decode(video=0)]
    except (av.FFmpegError, IndexError):  # IndexError: no video stream
        raise ValueError(f"not a readable video file: {path}") from None


def warping_error(original: list[np.ndarray], stylized: list[np.ndarray], max_fb_error: float = 1.0) -> float:
    if len(original) != len(stylized) or len(original) < 2:
        raise ValueError(f"need two videos with the same number of frames (>= 2), got {len(original)} and {len(stylized)}")
    dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
    errors = []
    for t in range(1, len(original)):
        h, w = stylized[t].shape[:2]
        a = cv2.cvtColor(cv2.resize(original[t - 1], (w, h)), cv2.COLOR_BGR2GRAY)
        b = cv2.cvtColor(cv2.resize(original[t], (w, h)), cv2.COLOR_BGR2GRAY)
        back = dis.calc(b, a, None)   # where each pixel of t was at t-1
        fwd = dis.calc(a, b, None)
        fb = back + warp(fwd, back)   # ~0 where the flow is consistent (not occluded)
        valid = np.linalg.norm(fb, axis=2) < max_fb_error
        warped = warp(stylized[t - 1], back).astype(np.float32)
        diff = np.abs(stylized[t].astype(np.float32) - warped).mean(axis=2)
        if valid.any():
            errors.append(float(diff[valid].mean()))
    return float(np.mean(errors))
