"""Spatial control from a video of masks: the paper's masked AdaIN, one mask frame per picture frame."""
from __future__ import annotations

from pathlib import Path

import av
import cv2
import numpy as np
import torch

from engines.io.images import bgr_to_tensor, tensor_to_bgr
from engines.model.network import AdaINModel, StyleStats
from realtime.video.reader import VideoError, probe


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
        out = []
        for img in frames:
            m = self.next_mask(*img.shape[:2])
            content = bgr_to_tensor(img, self.model.device)
            masks = torch.stack([m, 1 - m]) if len(self.styles) == 2 else m[None]
            out.append(tensor_to_bgr(self.model.stylize(content, self.styles, masks=masks, alpha=self.alpha)))
        return np.stack(out)

    def close(self) -> None:
        self.container.close()
