"""Adaptive instance normalization and the runtime controls built on feature statistics.

Statistics are always computed in fp32: sums of squares over a 1080p relu4_1
map overflow fp16.
"""
from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

EPS = 1e-5


def _without_autocast(device_type: str) -> AbstractContextManager:
    """Autocast off where it is on (there is no autocast to leave on other devices, PyTorch's meta included)."""
    if device_type in ("cpu", "cuda") and torch.is_autocast_enabled(device_type):
        return torch.autocast(device_type, enabled=False)
    return nullcontext()


def _centred(feat: Tensor, weight: Tensor | None = None) -> tuple[Tensor, Tensor, Tensor]:
    """Per-channel mean over space (weighted by `weight` (N, 1, h, w) when given), the map minus it, and the
    variance; fp32, the map as (N, h*w, C), a view of the map in its own memory layout (channels-last where
    the frame graph's permuted frame made the convolutions pick it, and they run faster so).

    The weighted sums are batched matrix products, which BLAS runs at memory speed in either layout:
    torch.var_mean's per-row loop was most of the time AdaIN took on a 640x480 relu1_1 map. The squares are
    of the centred map: E[f^2] - E[f]^2 lost 6 % of the std of a channel whose mean was 38 stds. Outside
    autocast, whose bf16 products would ruin the sums."""
    n, c = feat.shape[:2]
    with _without_autocast(feat.device.type):
        f = feat.float().permute(0, 2, 3, 1).reshape(n, -1, c)
        if weight is None:
            mu = f.mean(1)
            centred = f - mu[:, None]
            var = centred.square().mean(1)
        else:
            w = weight.float().reshape(n, 1, -1)
            area = w.sum(-1).clamp_min(1e-6)
            mu = torch.bmm(w, f)[:, 0] / area
            centred = f - mu[:, None]
            var = torch.bmm(w, centred.square())[:, 0] / area
    return mu, centred, var


def mean_std(feat: Tensor, eps: float = EPS) -> tuple[Tensor, Tensor]:
    """Per-channel mean and std over space, shape (N, C), fp32."""
    mu, _, var = _centred(feat)
    return mu, (var + eps).sqrt()


def weighted_mean_std(feat: Tensor, weight: Tensor, eps: float = EPS) -> tuple[Tensor, Tensor]:
    """Per-channel mean and std over the pixels `weight` (N, 1, h, w) in [0, 1] covers, shape (N, C), fp32:
    the content statistics of a region (the paper's spatial control). Uniform weights give `mean_std`."""
    mu, _, var = _centred(feat, weight)
    return mu, (var + eps).sqrt()


def adain(content: Tensor, style_mean: Tensor, style_std: Tensor, eps: float = EPS,
          region: Tensor | None = None, alpha: float | Tensor = 1.0) -> Tensor:
    """sigma(y) * (x - mu(x)) / sigma(x) + mu(y); style_* are (N, C) or (C,). With `region` (N, 1, h, w) in
    [0, 1], mu(x) and sigma(x) are the region's: the region gets the style as if it were the whole picture (the
    whole map is transformed; the caller keeps the rest of the picture). A region that is empty, or almost,
    falls back to the whole map's statistics rather than dividing by nothing.

    `alpha` (a number, or a tensor of one value per picture) is the content-style trade-off of `blend_alpha`,
    folded in: AdaIN and the blend are both per-channel affine maps of x, so the centred map is scaled and
    shifted once. A 640x480 relu1_1 map, region given: 230 ms before, 85 ms so (2 cores of an AMD EPYC).
    The result keeps the content's memory layout."""
    if region is not None:
        covered = region.float().sum((2, 3), keepdim=True) > 1e-3
        region = torch.where(covered, region.float(), 1.0)
    c_mean, centred, var = _centred(content, region)
    sm = style_mean.float().reshape(-1, content.shape[1]).expand_as(c_mean)
    ss = style_std.float().reshape(-1, content.shape[1]).expand_as(c_mean)
    a = alpha.float().reshape(-1, 1) if isinstance(alpha, Tensor) else alpha
    # (1 - a) x + a (ss (x - mu) / sigma + sm) with x = centred + mu
    scale = 1 + (ss / (var + eps).sqrt() - 1) * a
    shift = c_mean + (sm - c_mean) * a
    out = torch.addcmul(shift[:, None], centred, scale[:, None])  # (N, h*w, C), the content's layout
    n, c, h, w = content.shape
    return out.reshape(n, h, w, c).permute(0, 3, 1, 2).to(content.dtype)


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
