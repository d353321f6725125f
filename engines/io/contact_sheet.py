"""Pictures side by side for the eye: the sheets the tools write next to their numbers."""
from __future__ import annotations

import cv2
import numpy as np

LABEL_HEIGHT = 28  # the header row's height, where the columns are named


def fit_in(im: np.ndarray, height: int, width: int) -> np.ndarray:
    """`im` scaled to fit a height x width cell, aspect kept (a panorama shrinks to the cell's width)."""
    s = min(height / im.shape[0], width / im.shape[1])
    size = (max(1, round(im.shape[1] * s)), max(1, round(im.shape[0] * s)))
    return cv2.resize(im, size, interpolation=cv2.INTER_AREA if s < 1 else cv2.INTER_CUBIC)


def contact_sheet(rows: list[list[np.ndarray]], height: int = 256, gap: int = 4,
                  labels: list[str] | None = None) -> np.ndarray:
    """A grid on a white background (content | style | result per row): every cell `height` high and as wide as
    its column's widest picture at that height (at most 1.5 times the height), each picture centred in its
    cell, so the columns line up and compare at a glance; `labels` name the columns in a header row."""
    columns = max(len(row) for row in rows)
    limit = round(1.5 * height)
    widths = [min(limit, max(round(row[c].shape[1] * height / row[c].shape[0]) for row in rows if c < len(row)))
              for c in range(columns)]
    top = LABEL_HEIGHT + gap if labels else 0
    sheet = np.full((top + len(rows) * (height + gap) + gap, sum(widths) + gap * (columns + 1), 3), 255, np.uint8)
    lefts = [gap + sum(widths[:c]) + gap * c for c in range(columns)]
    for c, text in enumerate(labels or []):
        scale = 0.6
        (w, h), _ = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)
        while w > widths[c] and scale > 0.3:  # a long name shrinks to its column
            scale -= 0.05
            (w, h), _ = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)
        cv2.putText(sheet, text, (lefts[c] + max(0, (widths[c] - w) // 2), gap + (LABEL_HEIGHT + h) // 2),
                    cv2.FONT_HERSHEY_SIMPLEX, scale, (40, 40, 40), 1, cv2.LINE_AA)
    for r, row in enumerate(rows):
        y = top + gap + r * (height + gap)
        for c, im in enumerate(row):
            cell = fit_in(im, height, widths[c])
            dy, dx = (height - cell.shape[0]) // 2, (widths[c] - cell.shape[1]) // 2
            sheet[y + dy : y + dy + cell.shape[0], lefts[c] + dx : lefts[c] + dx + cell.shape[1]] = cell
    return sheet
