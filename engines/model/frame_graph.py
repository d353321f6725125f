"""The whole per-frame computation as one module, so every backend compiles the same graph.

uint8 BGR frames (N, H, W, 3) -> preprocess -> encoder -> AdaIN with alpha ->
decoder -> colour preservation -> region -> clip -> uint8 BGR frames. The style
statistics, alpha, the colour-preservation weight and the region to paint (a
person mask, say) are graph *inputs*: a style switch, a key press or a new mask
never rebuilds an engine. With an `inner` size the network runs on the frame
shrunk to it and its result comes back to the frame's size along the frame's own
edges (engines/model/guided_upsample.py): a quarter of the work at half the side.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from engines.model.color import luminance_transfer
from engines.model.guided_upsample import grey, guided_upsample
from engines.model.network import AdaINModel, padded_size


class FrameGraph(nn.Module):
    """Frames of one fixed size in, frames of that size out; the network at `inner` (height, width) if given."""

    def __init__(self, model: AdaINModel, height: int, width: int, inner: tuple[int, int] | None = None,
                 guided: bool = True) -> None:
        """`guided` False brings an inner result back by a plain bilinear resize (the comparison it is judged
        against)."""
        super().__init__()
        self.guided = guided
        self.model = model  # the paper's network or the skip model: its encode / transfer / decode
        self.height, self.width = height, width
        self.inner = tuple(inner) if inner and tuple(inner) != (height, width) else None
        ih, iw = self.inner or (height, width)
        ph, pw = padded_size(ih, iw)
        self.inner_size = (ih, iw)
        self.pad = (0, pw - iw, 0, ph - ih)
        self.pad_mode = "reflect" if pw - iw < iw and ph - ih < ih else "replicate"

    @property
    def dtype(self) -> torch.dtype:
        """The weights' own: fp16 engines are made with .half() after construction (a value stored in
        __init__ stayed fp32 and fed fp32 images to fp16 convolutions). AdaIN statistics stay fp32."""
        return next(self.model.decoder.parameters()).dtype

    def forward(self, frames: Tensor, style_mean: Tensor, style_std: Tensor, alpha: Tensor, color: Tensor,
                region: Tensor) -> Tensor:
        """frames uint8 (N, H, W, 3) BGR; style_* (C,) fp32, C the model's style_width; alpha, color: 0-d or (1,)
        in [0, 1]; region uint8 (N, H, W), 255 where the picture is painted and 0 where it keeps the photo
        (content statistics are the region's; all 255 is the plain whole-frame transfer)."""
        x = frames.permute(0, 3, 1, 2).flip(1).float() / 255.0  # RGB [0, 1]
        r = region[:, None].float() / 255.0
        small, r_small = x, r
        if self.inner is not None:
            small = F.interpolate(x, size=self.inner, mode="area")
            r_small = F.interpolate(r, size=self.inner, mode="area")
        maps = self.model.encode(F.pad(small, self.pad, mode=self.pad_mode).to(self.dtype))
        a = alpha.reshape(-1, 1, 1, 1).to(maps[0].dtype)
        t = self.model.transfer(maps, style_mean, style_std, a, F.pad(r_small, self.pad, mode=self.pad_mode))
        out = self.model.decode(t).float()[:, :, : self.inner_size[0], : self.inner_size[1]]
        if self.inner is not None and self.guided:
            out = guided_upsample(out, grey(small), grey(x))
        elif self.inner is not None:
            out = F.interpolate(out, size=x.shape[-2:], mode="bilinear", align_corners=False)
        kept = luminance_transfer(out, x)
        w = color.reshape(-1, 1, 1, 1).float()
        out = out + (kept - out) * w
        out = x + (out - x) * r
        out = (out.clamp(0, 1) * 255.0).round().to(torch.uint8)
        return out.flip(1).permute(0, 2, 3, 1).contiguous()
