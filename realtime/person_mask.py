"""Paint only the background, or only the person: per-frame person masks, steadied in time and feathered.

A webcam picture is mostly a person in a room; a kiosk visitor wants to recognise themselves. The segmenter
(engines/person/segmenter.py) gives each frame a person probability; here it becomes the region the engine
paints (engines/model/frame_graph.py: the region's own content statistics, the photo elsewhere).
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from engines.person.segmenter import PersonSegmenter, for_frame

MODES = ("whole", "background", "person")  # key m cycles them in this order


def next_mode(mode: str) -> str:
    return MODES[(MODES.index(mode) + 1) % len(MODES)]


@dataclass
class MaskSettings:
    every: int = 1          # run the segmenter on every Nth frame, the mask reused between (a CPU saves time)
    keep: float = 0.5       # share of the previous mask kept at each update: the edge does not flicker
    feather: float = 0.01   # Gaussian blur of the edge, sigma as a share of the shorter side


class PersonMasker:
    """Frames of one size (BGR uint8) -> the region to paint (uint8, 255 = paint) for a mask mode."""

    def __init__(self, height: int, width: int, settings: MaskSettings | None = None, device: str = "cpu") -> None:
        self.settings = settings or MaskSettings()
        self.segmenter = PersonSegmenter(for_frame(height, width)).to(device)
        self.sigma = max(0.5, self.settings.feather * min(height, width))
        self.person: np.ndarray | None = None  # the steadied probability, float32 (H, W)
        self.frames = 0
        self.updates = 0

    def reset(self) -> None:
        """A cut (a reconnected camera, a new clip): the next mask owes nothing to the last one."""
        self.person, self.frames = None, 0

    def update(self, frame: np.ndarray) -> np.ndarray:
        """The person probability for this frame: a new segmentation every `every` frames, averaged over time."""
        if self.person is None or self.person.shape != frame.shape[:2] or self.frames % self.settings.every == 0:
            new = self.segmenter.numpy(frame)
            keep = self.settings.keep if self.person is not None and self.person.shape == new.shape else 0.0
            self.person = new if keep == 0.0 else keep * self.person + (1.0 - keep) * new
            self.updates += 1
        self.frames += 1
        return self.person

    def region(self, frame: np.ndarray, mode: str) -> np.ndarray | None:
        """uint8 (H, W) region to paint, or None for the whole frame (no segmentation at all)."""
        if mode == "whole":
            return None
        if mode not in MODES:
            raise ValueError(f"mask mode must be one of {', '.join(MODES)}, got {mode!r}")
        soft = cv2.GaussianBlur(self.update(frame), (0, 0), self.sigma)
        paint = soft if mode == "person" else 1.0 - soft
        return (paint * 255.0 + 0.5).astype(np.uint8)
