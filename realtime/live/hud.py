"""Text drawn over the live picture: speeds, style, alpha, backend, and the key help."""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np


@dataclass
class HudInfo:
    model_fps: float
    display_fps: float
    dropped: int
    style: str
    alpha: float
    backend: str
    color: bool
    recording: bool
    steady: bool = False
    mask: str = "whole"


def _text(img: np.ndarray, lines: list[str], origin: tuple[int, int], scale: float = 0.45) -> None:
    x, y = origin
    step = int(22 * scale / 0.45)
    for line in lines:
        cv2.putText(img, line, (x, y), cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 0), 3, cv2.LINE_AA)
        cv2.putText(img, line, (x, y), cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255), 1, cv2.LINE_AA)
        y += step


def draw_hud(img: np.ndarray, info: HudInfo) -> None:
    lines = [f"model {info.model_fps:5.1f} fps  display {info.display_fps:5.1f} fps  dropped {info.dropped}",
             f"style {info.style}  alpha {info.alpha:.1f}{'  colour kept' if info.color else ''}"
             f"{'  steady' if info.steady else ''}{'' if info.mask == 'whole' else '  ' + info.mask + ' only'}",
             f"backend {info.backend}{'  REC' if info.recording else ''}"]
    _text(img, lines, (8, 18))


def draw_help(img: np.ndarray, lines: list[str]) -> None:
    _text(img, ["keys:"] + lines, (8, 90))


def reconnecting_frame(height: int, width: int, attempt: int) -> np.ndarray:
    img = np.zeros((height, width, 3), np.uint8)
    _text(img, [f"reconnecting to the source ... ({attempt})"], (12, height // 2), 0.6)
    return img
