"""Pictures side by side for the eye: the sheets the tools write next to their numbers."""
from __future__ import annotations

import cv2
import numpy as np


def contact_sheet(rows: list[list[np.ndarray]], height: int = 256, gap: int = 4) -> np.ndarray:
    """Rows of images (content | style | result) on a white background, each scaled to `height` but no wider
    than three times that (a panorama is shrunk to fit: scaled to the height alone, a 2x400 banner made the
    sheet 87,000 pixels wide)."""
    def fit(im: np.ndarray) -> np.ndarray:
        s = min(height / im.shape[0], 3 * height / im.shape[1])
        size = (max(1, round(im.shape[1] * s)), max(1, round(im.shape[0] * s)))
        return cv2.resize(im, size, interpolation=cv2.INTER_AREA if s < 1 else cv2.INTER_CUBIC)

    scaled = [[fit(im) for im in row] for row in rows]
    widths = [sum(im.shape[1] for im in row) + gap * (len(row) + 1) for row in scaled]
    sheet = np.full((len(rows) * (height + gap) + gap, max(widths), 3), 255, np.uint8)
    y = gap
    for row in scaled:
        x = gap
        for im in row:
            top = y + (height - im.shape[0]) // 2
            sheet[top : top + im.shape[0], x : x + im.shape[1]] = im
            x += im.shape[1] + gap
        y += height + gap
    return sheet
