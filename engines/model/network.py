"""The AdaIN style-transfer network: encoder f, AdaIN, decoder g, for images of any size."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from engines.io.sizes import MIN_SIDE
from engines.model.adain import adain, blend_alpha, interpolate_stats, masked_adain, mean_std
from engines.model.vgg import Encoder

MULTIPLE = 8  # three 2x pools between input and relu4_1


def padded_size(h: int, w: int, multiple: int = MULTIPLE) -> tuple[int, int]:
    """Sides an (h, w) picture is computed at: each a multiple of `multiple`, at least MIN_SIDE."""
    return max(h + (-h % multiple), MIN_SIDE), max(w + (-w % multiple), MIN_SIDE)


def pad_to_multiple(x: Tensor, multiple: int = MULTIPLE) -> tuple[Tensor, tuple[int, int]]:
    """Reflect-pad bottom/right to `padded_size`; returns the original size."""
    h, w = x.shape[-2:]
    ph, pw = (side - orig for side, orig in zip(padded_size(h, w, multiple), (h, w)))
    if ph or pw:
        # reflection needs pad < side; replicate covers images smaller than the pad
        mode = "reflect" if ph < h and pw < w else "replicate"
        x = F.pad(x, (0, pw, 0, ph), mode=mode)
    return x, (h, w)


def feature_region(region: Tensor, feat: Tensor) -> Tensor:
    """A region (N, 1, H, W) in [0, 1] of a padded picture -> its share of each feature position (N, 1, h, w):
    the mean over the pixels each relu4_1 position stands for (the picture's sides are multiples of those)."""
    return F.avg_pool2d(region.float(), region.shape[-1] // feat.shape[-1])


@dataclass
class StyleStats:
    """What AdaIN needs of a style: per-channel mean and std of its relu4_1 features (of every level the decoder
    takes, concatenated, for the skip model), (C,) fp32."""

    mean: Tensor
    std: Tensor

    def to(self, device: torch.device | str) -> "StyleStats":
        return StyleStats(self.mean.to(device), self.std.to(device))


def mix_styles(styles: Sequence[StyleStats], weights: Sequence[float] | None = None) -> StyleStats:
    """One style from several (equal shares by default): AdaIN is affine in (mean, std), so mixing the
    statistics mixes the styles and nothing is re-encoded. Interpolation, blends and cross-fades all use this."""
    if len(styles) == 1 and weights is None:
        return styles[0]
    w = weights if weights is not None else [1.0 / len(styles)] * len(styles)
    m, s = interpolate_stats(torch.stack([x.mean for x in styles]), torch.stack([x.std for x in styles]), w)
    return StyleStats(m, s)


def split_stats(stats: Tensor, widths: Sequence[int]) -> list[Tensor]:
    """(..., sum(widths)) -> one (..., width) piece per map the decoder takes (one piece: the tensor itself)."""
    return [stats] if len(widths) == 1 else list(torch.split(stats, list(widths), dim=-1))


class AdaINModel(nn.Module):
    """Images are float RGB in [0, 1], NCHW, any size.

    The decoder takes a list of feature maps (`encode`), each AdaIN-transformed with its own share of the style
    statistics (`transfer`): here relu4_1 alone, the paper's network; engines/model/skips.py's model takes every
    level through the same calls, so the apps, the frame graph and its backends serve both.
    """

    def __init__(self, encoder: Encoder, decoder: nn.Module) -> None:
        super().__init__()
        self.encoder = encoder
        self.decoder = decoder

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    @property
    def widths(self) -> tuple[int, ...]:
        """Channels of each map the decoder takes: a style's statistics are these pieces concatenated."""
        return (self.encoder.channels[-1],)

    @property
    def style_width(self) -> int:
        """Length of a style's mean (and std) vector."""
        return sum(self.widths)

    def encode(self, x: Tensor) -> list[Tensor]:
        """The maps the decoder takes, of a padded picture."""
        return [self.encoder(x)]

    def decode(self, maps: list[Tensor]) -> Tensor:
        return self.decoder(maps[-1])

    def transfer(self, maps: list[Tensor], style_mean: Tensor, style_std: Tensor, alpha: float | Tensor = 1.0,
                 region: Tensor | None = None) -> list[Tensor]:
        """AdaIN of each map with its piece of the statistics ((C,) or (N, C)), then alpha; with `region`
        (N, 1, H, W) in [0, 1] of the padded picture, each map's content statistics are the region's."""
        means, stds = split_stats(style_mean, self.widths), split_stats(style_std, self.widths)
        out = []
        for f, m, s in zip(maps, means, stds):
            r = None if region is None else feature_region(region, f)
            out.append(adain(f, m, s, region=r, alpha=alpha))
        return out

    @torch.no_grad()
    def encode_style(self, image: Tensor) -> StyleStats:
        """Done once per style: the statistics are all a style is at run time. The image may come from the
        CPU (a file just read) while the model sits on a GPU."""
        x, _ = pad_to_multiple(image.to(self.device))
        stats = [mean_std(f) for f in self.encode(x)]
        return StyleStats(torch.cat([m[0] for m, _ in stats]), torch.cat([s[0] for _, s in stats]))

    def forward(self, content: Tensor, style_mean: Tensor, style_std: Tensor, alpha: float | Tensor = 1.0,
                region: Tensor | None = None) -> Tensor:
        """One style (statistics as (C,) or (N, C)) with the content-style trade-off alpha. With `region`
        (N, 1, H, W) in [0, 1] at the content's size, only the region is painted (its own content statistics,
        the paper's spatial control) and the rest keeps the photo, blended in pixels."""
        x, (h, w) = pad_to_multiple(content)
        r = None if region is None else pad_to_multiple(region.float())[0]
        out = self.decode(self.transfer(self.encode(x), style_mean, style_std, alpha, r))[..., :h, :w]
        if region is None:
            return out
        return content.to(out) + (out - content.to(out)) * region.to(out).clamp(0, 1)

    @torch.no_grad()
    def stylize(
        self,
        content: Tensor,
        styles: Sequence[StyleStats],
        weights: Sequence[float] | None = None,
        alpha: float = 1.0,
        masks: Tensor | None = None,
    ) -> Tensor:
        """Several styles: interpolated by `weights`, or placed by `masks` (K, H, W), then alpha. One style
        with one mask: white is stylized, with the white region's own content statistics, and black keeps the
        content untouched (a single region has no other style to share the picture with, so the rest is the
        photo itself, blended in pixels)."""
        if not 0.0 <= alpha <= 1.0:
            raise ValueError(f"alpha must be in [0, 1], got {alpha}")
        content = content.to(self.device)  # inputs may come from the CPU (files, cached styles) to a GPU model
        masks = masks.to(self.device) if masks is not None else None
        if masks is not None and len(styles) == 1:
            m = F.interpolate(masks[None, :1].float(), size=content.shape[-2:], mode="bilinear", align_corners=False)
            s = styles[0].to(self.device)
            return self(content, s.mean, s.std, alpha, region=m.clamp(0, 1))
        styles = [s.to(self.device) for s in styles]
        if masks is None:
            mixed = mix_styles(styles, weights)
            return self(content, mixed.mean, mixed.std, alpha)
        means, stds = torch.stack([s.mean for s in styles]), torch.stack([s.std for s in styles])
        x, (h, w) = pad_to_multiple(content)
        padded = F.pad(masks[None].float(), (0, x.shape[-1] - w, 0, x.shape[-2] - h), mode="replicate")[0]
        pieces = zip(self.encode(x), split_stats(means, self.widths), split_stats(stds, self.widths))
        t = [blend_alpha(f, masked_adain(f, m, s, padded), alpha) for f, m, s in pieces]
        return self.decode(t)[..., :h, :w]
