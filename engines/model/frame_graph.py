"""The whole per-frame computation as one module, so every backend compiles the same graph.

uint8 BGR frames (N, H, W, 3) -> preprocess -> encoder -> AdaIN with alpha ->
decoder -> colour preservation -> region -> clip -> uint8 BGR frames. The style
statistics, alpha, the colour-preservation weight and the region to paint (a
person mask, say) are graph *inputs*: a style switch, a key press or a new mask
never rebuilds an engine.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from engines.model.adain import adain, blend_alpha
from engines.model.color import luminance_transfer
from engines.model.network import AdaINModel, feature_region, padded_size


class FrameGraph(nn.Module):
    """Frames of one fixed size in, frames of that size out."""

    def __init__(self, model: AdaINModel, height: int, width: int) -> None:
        super().__init__()
        self.encoder = model.encoder
        self.decoder = model.decoder
        self.height, self.width = height, width
        ph, pw = padded_size(height, width)
        self.pad = (0, pw - width, 0, ph - height)
        self.pad_mode = "reflect" if pw - width < width and ph - height < height else "replicate"

    @property
    def dtype(self) -> torch.dtype:
        """The weights' own: fp16 engines are made with .half() after construction (a value stored in
        __init__ stayed fp32 and fed fp32 images to fp16 convolutions). AdaIN statistics stay fp32."""
        return next(self.decoder.parameters()).dtype

    def forward(self, frames: Tensor, style_mean: Tensor, style_std: Tensor, alpha: Tensor, color: Tensor,
                region: Tensor) -> Tensor:
        """frames uint8 (N, H, W, 3) BGR; style_* (C,) fp32; alpha, color: 0-d or (1,) in [0, 1]; region uint8
        (N, H, W), 255 where the picture is painted and 0 where it keeps the photo (content statistics are the
        region's; all 255 is the plain whole-frame transfer)."""
        x = frames.permute(0, 3, 1, 2).flip(1).float() / 255.0  # RGB [0, 1]
        x = F.pad(x, self.pad, mode=self.pad_mode)
        r = F.pad(region[:, None].float() / 255.0, self.pad, mode=self.pad_mode)
        f = self.encoder(x.to(self.dtype))
        t = blend_alpha(f, adain(f, style_mean, style_std, region=feature_region(r, f)),
                        alpha.reshape(-1, 1, 1, 1).to(f.dtype))
        out = self.decoder(t).float()
        kept = luminance_transfer(out, x.float())
        w = color.reshape(-1, 1, 1, 1).float()
        out = out + (kept - out) * w
        out = x + (out - x) * r
        out = out[:, :, : self.height, : self.width]
        out = (out.clamp(0, 1) * 255.0).round().to(torch.uint8)
        return out.flip(1).permute(0, 2, 3, 1).contiguous()
