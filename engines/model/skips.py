"""The skip decoder of issue #37's experiment: the paper's decoder, plus the AdaIN-transformed relu3_1, relu2_1 and
relu1_1 added where it reaches each level's resolution.

The paper decodes relu4_1 alone, an eighth of the picture's side: what that map does not hold of a photo's layout
the decoder has to invent. The lower levels hold it, and AdaIN on each of them carries that level's style
statistics too. Each skip enters through a 1x1 conv that starts at zero, so a skip decoder begins as exactly the
single-level decoder it is made from (`--init`) and training alone decides how much of each level it uses.

A style here is the statistics of all four levels, concatenated channel by channel (64 + 128 + 256 + 512 for the
VGG19): still one mean and one std vector, so mixing styles by weights works unchanged.
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from engines.model.adain import adain, blend_alpha, mean_std
from engines.model.network import AdaINModel, StyleStats, pad_to_multiple
from engines.model.vgg import Decoder, Encoder, VGGLayout


class SkipDecoder(nn.Module):
    """Decodes [relu1_1, relu2_1, relu3_1, relu4_1]-shaped maps; the mirror decoder's layers under `net.main`."""

    def __init__(self, layout: VGGLayout) -> None:
        super().__init__()
        lower = layout.levels[-2::-1]  # relu3_1, relu2_1, relu1_1: the order the decoder reaches them
        skips = nn.ModuleList(nn.Conv2d(c, c, 1) for c in lower)
        for conv in skips:
            nn.init.zeros_(conv.weight)
            nn.init.zeros_(conv.bias)
        self.net = nn.ModuleDict({"main": Decoder(layout).net, "skips": skips})
        self.layout = layout

    def load_single(self, decoder: Decoder) -> None:
        """Start from a single-level decoder of the same layout: its layers, skips at zero."""
        self.net["main"].load_state_dict(decoder.net.state_dict())

    def forward(self, levels: Sequence[Tensor]) -> Tensor:
        x, lower, k = levels[-1], levels[-2::-1], 0
        for layer in self.net["main"]:
            x = layer(x)
            if isinstance(layer, nn.Upsample):
                x = x + self.net["skips"][k](lower[k].to(x.dtype))
                k += 1
        return x


def split_stats(stats: Tensor, widths: Sequence[int]) -> list[Tensor]:
    """(..., sum(widths)) -> one (..., width) piece per level."""
    return list(torch.split(stats, list(widths), dim=-1))


class SkipAdaINModel(AdaINModel):
    """AdaIN at every level the skip decoder takes; the same calls as AdaINModel, one style or a weighted mix
    (masks and regions are not built for it yet: the experiment judges whole pictures)."""

    def __init__(self, encoder: Encoder, decoder: SkipDecoder) -> None:
        super().__init__(encoder, decoder)
        self.widths = encoder.channels

    @torch.no_grad()
    def encode_style(self, image: Tensor) -> StyleStats:
        x, _ = pad_to_multiple(image.to(self.device))
        stats = [mean_std(f) for f in self.encoder.features(x)]
        return StyleStats(torch.cat([m[0] for m, _ in stats]), torch.cat([s[0] for _, s in stats]))

    def forward(self, content: Tensor, style_mean: Tensor, style_std: Tensor, alpha: float | Tensor = 1.0,
                region: Tensor | None = None) -> Tensor:
        if region is not None:
            raise ValueError("regions are not built for the skip decoder yet")
        x, (h, w) = pad_to_multiple(content)
        feats = self.encoder.features(x)
        means, stds = split_stats(style_mean, self.widths), split_stats(style_std, self.widths)
        levels = [blend_alpha(f, adain(f, m, s), alpha) for f, m, s in zip(feats, means, stds)]
        return self.decoder(levels)[..., :h, :w]

    def stylize(self, content: Tensor, styles: Sequence[StyleStats], weights: Sequence[float] | None = None,
                alpha: float = 1.0, masks: Tensor | None = None) -> Tensor:
        if masks is not None:
            raise ValueError("masks are not built for the skip decoder yet")
        return super().stylize(content, styles, weights, alpha)
