"""How far a decoder is from what its own loss allows.

The decoder is trained to minimise AdaIN's loss (content at relu4_1 against the
AdaIN target + lambda * style statistics at relu1_1..relu4_1) in one forward
pass. Minimising the same loss directly over the pixels, starting from the
content photo (Gatys et al.'s procedure with AdaIN's loss), traces the
style/structure trade-off that loss permits; each marked step is measured like
the decoder's result on the same pair (engines/evaluation/quality.py). A decoder far
inside that curve needs training, not another loss.
"""
from __future__ import annotations

import numpy as np
import torch

from engines.evaluation.quality import Quality, measure
from engines.io.images import bgr_to_tensor, tensor_to_bgr
from engines.model.adain import adain, mean_std
from engines.model.network import AdaINModel, pad_to_multiple
from engines.training.losses import adain_losses, layer_scales


def optimise_pixels(
    model: AdaINModel, content: torch.Tensor, style: torch.Tensor, marks: list[int],
    style_weight: float = 10.0, lr: float = 0.01,
) -> dict[int, torch.Tensor]:
    """Adam on the pixels of `content` (RGB [0, 1], sides a multiple of 8) against AdaIN's loss.

    Returns the image at each step in `marks`. Layer scales come from the pair itself,
    as the trainer takes them from its first images.
    """
    enc = model.encoder
    with torch.no_grad():
        s_stats = [mean_std(f) for f in enc.features(style)]
        target = adain(enc(content), *s_stats[3])
    scales = layer_scales(enc.features, [content, style])
    x = content.clone().requires_grad_(True)
    opt = torch.optim.Adam([x], lr=lr)
    shots = {}
    for step in range(max(marks) + 1):
        if step in marks:
            shots[step] = x.detach().clone()
        if step == max(marks):
            break
        lc, ls = adain_losses(enc.features(x), target, s_stats, scales)
        opt.zero_grad(set_to_none=True)
        (lc + style_weight * ls).backward()
        opt.step()
        with torch.no_grad():
            x.clamp_(0, 1)
    return shots


def compare(model: AdaINModel, c_bgr: np.ndarray, s_bgr: np.ndarray, marks: list[int],
            style_weight: float = 10.0) -> tuple[Quality, dict[int, Quality]]:
    """The decoder's result and the pixel-optimised ones on one pair, measured alike."""
    h, w = c_bgr.shape[:2]
    c_bgr = c_bgr[: h // 8 * 8, : w // 8 * 8]
    c, s = bgr_to_tensor(c_bgr), bgr_to_tensor(s_bgr)
    with torch.no_grad():
        decoded = tensor_to_bgr(model.stylize(c, [model.encode_style(s)]))
    judge = model.encoder
    shots = optimise_pixels(model, c, pad_to_multiple(s)[0], marks, style_weight)
    return measure(judge, c_bgr, s_bgr, decoded), {k: measure(judge, c_bgr, s_bgr, tensor_to_bgr(v))
                                                   for k, v in shots.items()}
