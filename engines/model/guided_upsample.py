"""Edge-aware upsampling: a picture computed at a reduced size brought back to full size along the edges of a
full-resolution guide (the fast guided filter, He & Sun 2015: the guided filter's local linear model fitted at
low resolution, its coefficients upsampled, applied to the full-resolution guide).

So the network can run at half the side (a quarter of the work) while the output keeps the camera's sharp
edges instead of a plain resize's blur. Box filters and bilinear resizes only: every backend compiles it.
"""
from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor

LUMA = (0.299, 0.587, 0.114)  # RGB


def grey(x: Tensor) -> Tensor:
    """(N, 3, H, W) RGB -> (N, 1, H, W) luminance."""
    return x[:, 0:1] * LUMA[0] + x[:, 1:2] * LUMA[1] + x[:, 2:3] * LUMA[2]


def box(x: Tensor, radius: int) -> Tensor:
    """Mean over a (2r+1)^2 window, the border's windows over the pixels they hold."""
    return F.avg_pool2d(x, 2 * radius + 1, stride=1, padding=radius, count_include_pad=False)


def guided_upsample(low: Tensor, guide_low: Tensor, guide: Tensor, radius: int = 1, eps: float = 1e-3) -> Tensor:
    """`low` (N, C, h, w), computed from `guide_low` (N, 1, h, w), at the size of `guide` (N, 1, H, W): each
    output channel is locally a * guide + b, with a and b fitted over (2r+1)^2 windows at low resolution.
    `eps` is how much a window's own contrast must exceed to be followed (guide in [0, 1])."""
    mean_i = box(guide_low, radius)
    mean_p = box(low, radius)
    cov_ip = box(guide_low * low, radius) - mean_i * mean_p
    var_i = box(guide_low * guide_low, radius) - mean_i * mean_i
    a = cov_ip / (var_i + eps)
    b = mean_p - a * mean_i
    size = guide.shape[-2:]
    a = F.interpolate(box(a, radius), size=size, mode="bilinear", align_corners=False)
    b = F.interpolate(box(b, radius), size=size, mode="bilinear", align_corners=False)
    return a * guide + b
