"""Adaptive instance normalization and the runtime controls built on feature statistics.

Statistics are always computed in fp32: sums of squares over a 1080p relu4_1
map overflow fp16.
"""
from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

EPS = 1e-5


def mean_std(feat: Tensor, eps: float = EPS) -> tuple[Tensor, Tensor]:
    """Per-channel mean and std over space, shape (N, C), fp32."""
    f = feat.float().flatten(2)
    var = f.var(dim=2, unbiased=False)
    return f.mean(dim=2), (var + eps).sqrt()


def weighted_mean_std(feat: Tensor, weight: Tensor, eps: float = EPS) -> tuple[Tensor, Tensor]:
    """Per-channel mean and std over the pixels `weight` (N, 1, h, w) in [0, 1] covers, shape (N, C), fp32:
    the content statistics of a region (the paper's spatial control). Uniform weights give `mean_std`."""
    f, w = feat.float(), weight.float()
    area = w.sum((2, 3)).clamp_min(1e-6)
    mu = (f * w).sum((2, 3)) / area
    var = ((f - mu[..., None, None]) ** 2 * w).sum((2, 3)) / area
    return mu, (var + eps).sqrt()


def adain(content: Tensor, style_mean: Tensor, style_std: Tensor, eps: float = EPS,
          region: Tensor | None = None) -> Tensor:
    """sigma(y) * (x - mu(x)) / sigma(x) + mu(y); style_* are (N, C) or (C,). With `region` (N, 1, h, w) in
    [0, 1], mu(x) and sigma(x) are the region's: the region gets the style as if it were the whole picture (the
    whole map is transformed; the caller keeps the rest of the picture). A region that is empty, or almost,
    falls back to the whole map's statistics rather than dividing by nothing."""
    if region is None:
        c_mean, c_std = mean_std(content, eps)
    else:
        covered = region.float().sum((2, 3), keepdim=True) > 1e-3
        c_mean, c_std = weighted_mean_std(content, torch.where(covered, region.float(), 1.0), eps)
    sm = style_mean.float().reshape(-1, content.shape[1]).expand_as(c_mean)
    ss = style_std.float().reshape(-1, content.shape[1]).expand_as(c_std)
    scale = (ss / c_std)[..., None, None]
    shift = (sm - c_mean * ss / c_std)[..., None, None]
    return (content.float() * scale + shift).to(content.dtype)


def blend_alpha(content: Tensor, target: Tensor, alpha: float | Tensor) -> Tensor:
    """Content-style trade-off at feature level: (1 - alpha) f(c) + alpha t."""
    return content + (target - content) * alpha


def check_weights(weights: Sequence[float], count: int) -> list[float]:
    """Validate style interpolation weights: one per style, non-negative, summing to 1."""
    w = [float(x) for x in weights]
    if len(w) != count:
        raise ValueError(f"got {len(w)} style weights for {count} styles")
    if any(x < 0 for x in w):
        raise ValueError("style weights must be non-negative")
    total = sum(w)
    if abs(total - 1.0) > 1e-3:
        raise ValueError(f"style weights must sum to 1 (they sum to {total:g})")
    return w


def interpolate_stats(means: Tensor, stds: Tensor, weights: Sequence[float]) -> tuple[Tensor, Tensor]:
    """Mix K styles: AdaIN is affine in (mean, std), so sum_k w_k AdaIN(x, s_k) = AdaIN(x, sum_k w_k s_k).

    means, stds: (K, C). Returns (C,) each. No style is re-encoded.
    """
    w = torch.tensor(check_weights(weights, means.shape[0]), dtype=torch.float32, device=means.device)
    return (w[:, None] * means.float()).sum(0), (w[:, None] * stds.float()).sum(0)


def masked_adain(
    content: Tensor, style_means: Tensor, style_stds: Tensor, masks: Tensor, eps: float = EPS
) -> Tensor:
    """Spatial control: style k applied to the region of mask k (content statistics taken per region).

    content: (1, C, h, w); style_*: (K, C); masks: (K, H, W) in [0, 1] at any size,
    resized here to the feature map. Where masks overlap or leave gaps they are
    normalised to sum to 1 per pixel (gaps fall back to an even mix).
    """
    k = masks.shape[0]
    if style_means.shape[0] != k:
        raise ValueError(f"got {k} masks for {style_means.shape[0]} styles")
    m = F.interpolate(masks[None].float(), size=content.shape[-2:], mode="bilinear", align_corners=False)[0]
    m = m.clamp(0, 1)
    total = m.sum(0, keepdim=True)
    m = torch.where(total > 1e-6, m / total.clamp_min(1e-6), torch.full_like(m, 1.0 / k))
    out = torch.zeros_like(content, dtype=torch.float32)
    for i in range(k):
        wi = m[i][None, None]  # (1, 1, h, w)
        out = out + wi * adain(content.float(), style_means[i], style_stds[i], eps, region=wi)
    return out.to(content.dtype)
