"""AdaIN's training losses, shared by the trainer and the quality measure."""
from __future__ import annotations

from typing import Sequence

import torch.nn.functional as F
from torch import Tensor

from engines.adain import mean_std


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
