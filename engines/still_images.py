"""Stylizing still pictures: several styles by weights or by masks, alpha, and the content's colours kept."""
from __future__ import annotations

from collections import Counter
from pathlib import Path

import cv2
import numpy as np
import torch

from engines.io.images import bgr_to_tensor, read_bgr, tensor_to_bgr
from engines.model.color import coral, luminance_transfer
from engines.model.network import AdaINModel


def read_mask(path: str | Path, size: tuple[int, int]) -> torch.Tensor:
    """Grey image -> (H, W) weights in [0, 1] at the content's size."""
    m = cv2.cvtColor(read_bgr(path), cv2.COLOR_BGR2GRAY)
    m = cv2.resize(m, (size[1], size[0]), interpolation=cv2.INTER_LINEAR)
    return torch.from_numpy(m).float() / 255.0


def stylize_one(
    model: AdaINModel,
    content_bgr: np.ndarray,
    styles_bgr: list[np.ndarray],
    weights: list[float] | None,
    alpha: float,
    preserve_color: str | None,
    mask_paths: list[str] | None,
) -> np.ndarray:
    """`preserve_color`: None, 'coral' (each style recoloured to the content before encoding) or 'luminance'
    (the result takes the content's chroma)."""
    content = bgr_to_tensor(content_bgr)
    style_ts = [bgr_to_tensor(s) for s in styles_bgr]
    if preserve_color == "coral":
        style_ts = [coral(s, content) for s in style_ts]
    stats = [model.encode_style(s) for s in style_ts]
    masks = None
    if mask_paths:
        masks = torch.stack([read_mask(p, content_bgr.shape[:2]) for p in mask_paths])
    out = model.stylize(content, stats, weights=weights, alpha=alpha, masks=masks)
    if preserve_color == "luminance":
        out = luminance_transfer(out, content)
    return tensor_to_bgr(out)


def output_names(contents: list[Path], out_dir: Path) -> list[Path]:
    """A PNG per content in `out_dir`: photo.jpg and photo.png must not both become photo.png."""
    stems = Counter(c.stem for c in contents)
    return [out_dir / (f"{c.stem}_{c.suffix[1:]}.png" if stems[c.stem] > 1 else f"{c.stem}.png") for c in contents]
