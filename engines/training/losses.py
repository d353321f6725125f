"""AdaIN's training losses, shared by the trainer and the quality measure."""
from __future__ import annotations

from typing import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from engines.model.adain import mean_std


def content_loss(out_feat: Tensor, target: Tensor) -> Tensor:
    """||f(g(t)) - t||^2 at relu4_1 (mean squared error, as in the paper's reference code)."""
    return F.mse_loss(out_feat.float(), target.float())


def style_layer_losses(
    out_feats: Sequence[Tensor], style_stats: Sequence[tuple[Tensor, Tensor]], scales: Sequence[float] | None = None
) -> list[Tensor]:
    """Per layer: ||mu(phi(g(t))) - mu(phi(s))||^2 + ||sigma(phi(g(t))) - sigma(phi(s))||^2.

    `scales` divides each layer's features (so every layer counts alike when the
    encoder's activations are not normalised); statistics scale linearly with it.
    """
    losses = []
    for i, (feat, (s_mean, s_std)) in enumerate(zip(out_feats, style_stats)):
        o_mean, o_std = mean_std(feat)
        k = 1.0 / scales[i] if scales is not None else 1.0
        losses.append(F.mse_loss(o_mean * k, s_mean.float() * k) + F.mse_loss(o_std * k, s_std.float() * k))
    return losses


def adain_losses(
    out_feats: Sequence[Tensor], target: Tensor, style_stats: Sequence[tuple[Tensor, Tensor]], scales: Sequence[float]
) -> tuple[Tensor, Tensor]:
    """The paper's two terms: content at relu4_1 against the AdaIN target, style summed over the layers.

    Both are in `scales` units (each layer divided by its mean activation), so lambda means
    what it means with the original normalised VGG.
    """
    k4 = scales[3]
    lc = content_loss(out_feats[3] / k4, target / k4)
    ls = torch.stack(style_layer_losses(out_feats, style_stats, scales)).sum()
    return lc, ls


@torch.no_grad()
def layer_scales(features: Callable[[Tensor], Sequence[Tensor]], images: Sequence[Tensor]) -> list[float]:
    """Mean activation of each loss layer over `images` (RGB in [0, 1], one batch each).

    The original AdaIN used a "normalised" VGG whose activations average 1; the Caffe
    VGG16 averages about 20 at relu1_1 and 5 at relu4_1, which would let the lowest
    layers swamp the loss at the paper's lambda.
    """
    sums: list[float] = []
    for img in images:
        means = [float(f.mean()) / len(images) for f in features(img)]
        sums = [a + b for a, b in zip(sums, means)] if sums else means
    return [max(s, 1e-3) for s in sums]
