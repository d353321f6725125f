"""The full HED edge detector (Xie & Tu 2015) on the converted weights.

Only used to prove the Keras -> PyTorch conversion right: HED's edge map lands
on real edges when the channel order, kernel layout and mean are right, and
turns to noise when any of them is wrong. HED uses zero 'same' padding (unlike
the style encoder's reflection padding), as the Keras model did.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from engines.model.vgg import CaffePreprocess
from engines.zoo.hed_vgg16 import HED_CONVS, HED_SIDES

_BLOCKS = ((3, 64, 64), (64, 128, 128), (128, 256, 256, 256), (256, 512, 512, 512), (512, 512, 512, 512))


class HED(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.preprocess = CaffePreprocess()
        self.convs = nn.ModuleDict()
        names = iter(HED_CONVS)
        for widths in _BLOCKS:
            for c_in, c_out in zip(widths[:-1], widths[1:]):
                self.convs[next(names)] = nn.Conv2d(c_in, c_out, 3, padding=1)
        self.sides = nn.ModuleDict({s: nn.Conv2d(c, 1, 1) for s, c in zip(HED_SIDES, (64, 128, 256, 512, 512, 5))})

    def load_converted(self, sd: dict[str, Tensor]) -> "HED":
        own = {f"convs.{k}": v for k, v in sd.items() if k.startswith("conv")}
        own |= {f"sides.{k}": v for k, v in sd.items() if not k.startswith("conv")}
        self.load_state_dict(own)
        return self.eval()

    def forward(self, rgb: Tensor) -> Tensor:
        """RGB [0, 1] NCHW -> fused edge probability N x 1 x H x W."""
        h, w = rgb.shape[-2:]
        x = self.preprocess(rgb)
        names = iter(HED_CONVS)
        sides = []
        for b, widths in enumerate(_BLOCKS):
            if b:
                x = F.max_pool2d(x, 2, 2, ceil_mode=True)
            for _ in widths[1:]:
                x = F.relu(self.convs[next(names)](x))
            side = self.sides[HED_SIDES[b]](x)
            sides.append(F.interpolate(side, size=(h, w), mode="bilinear", align_corners=False) if b else side)
        return torch.sigmoid(self.sides["fuse"](torch.cat(sides, 1)))
