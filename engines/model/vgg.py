"""VGG encoders to relu4_1 and their mirrored decoders.

Both layouts are described by one list of layer widths (as torchvision's VGG
configs are), so the decoder is derived from the encoder instead of being
written out twice, and the original AdaIN files' ``nn.Sequential`` indices
(``0.weight``, ``2.weight``, ...) come out of the builder unchanged.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

# Caffe ImageNet mean, BGR order, 0-255 scale (Keras VGG16 preprocessing).
CAFFE_MEAN_BGR = (103.939, 116.779, 123.68)


@dataclass(frozen=True)
class VGGLayout:
    """Widths up to relu4_1: ints are 3x3 convs, "M" a 2x2 max-pool."""

    name: str
    widths: tuple[int | str, ...]
    # The original "vgg_normalised" file starts with a 1x1 conv that turns
    # RGB [0, 1] into BGR minus mean; it is part of its state dict.
    input_conv: bool
    # Every 3x3 conv between feature maps factored into a depthwise 3x3 and a 1x1 (MobileNet's), which costs
    # about 1/9 + 1/width of it; the convs that read or write the picture's 3 channels stay whole.
    separable: bool = False

    @property
    def levels(self) -> tuple[int, ...]:
        """Widths of relu1_1 .. relu4_1, AdaIN's style layers: the first conv after the input and after each pool."""
        return tuple(int(w) for prev, w in zip(("M", *self.widths), self.widths) if prev == "M" and w != "M")


VGG16 = VGGLayout("vgg16", (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512), input_conv=False)
VGG19 = VGGLayout("vgg19", (64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512), input_conv=True)
# The CPU model: VGG16's layers at a quarter of the width (15.6x fewer FLOPs for encoder + decoder).
# It learns its own input normalisation (the 1x1 input conv) while being distilled from VGG16.
LITE = VGGLayout("lite", (16, 16, "M", 32, 32, "M", 64, 64, 64, "M", 128), input_conv=True)
# The laptop model: lite's widths with one conv fewer before each pool (none more at full resolution, where
# most of a small network's time goes) and separable convs: 1.9 GFLOP at 640x480 (lite 16.1).
MICRO = VGGLayout("micro", (16, "M", 32, 32, "M", 64, 64, "M", 128), input_conv=True, separable=True)
LAYOUTS = {layout.name: layout for layout in (VGG16, VGG19, LITE, MICRO)}


def conv3x3(c_in: int, c_out: int, separable: bool) -> list[nn.Module]:
    """A reflection-padded 3x3 conv, whole or (`separable`, between feature maps) depthwise then 1x1."""
    if not separable or 3 in (c_in, c_out):
        return [nn.ReflectionPad2d(1), nn.Conv2d(c_in, c_out, 3)]
    return [nn.ReflectionPad2d(1), nn.Conv2d(c_in, c_in, 3, groups=c_in), nn.Conv2d(c_in, c_out, 1)]


class CaffePreprocess(nn.Module):
    """RGB [0, 1] -> BGR 0-255 minus the ImageNet mean, as the HED/VGG16 weights expect."""

    def __init__(self) -> None:
        super().__init__()
        mean = torch.tensor(CAFFE_MEAN_BGR).view(1, 3, 1, 1)
        self.register_buffer("mean", mean, persistent=False)

    def forward(self, x: Tensor) -> Tensor:
        return x.flip(1) * 255.0 - self.mean


class Encoder(nn.Module):
    """Fixed VGG feature extractor; input RGB in [0, 1], NCHW, sides divisible by 8."""

    def __init__(self, layout: VGGLayout) -> None:
        super().__init__()
        self.layout = layout
        layers: list[nn.Module] = []
        taps: list[int] = []  # index one past each reluN_1
        if layout.input_conv:
            layers.append(nn.Conv2d(3, 3, 1))
        in_ch, after_pool = 3, True
        for w in layout.widths:
            if w == "M":
                layers.append(nn.MaxPool2d(2, 2, ceil_mode=True))
                after_pool = True
                continue
            layers += [*conv3x3(in_ch, int(w), layout.separable), nn.ReLU(inplace=True)]
            if after_pool:
                taps.append(len(layers))
            in_ch, after_pool = int(w), False
        self.net = nn.Sequential(*layers)
        self.preprocess = nn.Identity() if layout.input_conv else CaffePreprocess()
        self.taps = tuple(taps)
        self.channels = layout.levels  # widths of relu1_1 .. relu4_1

    def features(self, x: Tensor) -> list[Tensor]:
        """relu1_1, relu2_1, relu3_1, relu4_1: the layers AdaIN's style loss uses."""
        x = self.preprocess(x)
        out, start = [], 0
        for end in self.taps:
            x = self.net[start:end](x)
            out.append(x)
            start = end
        return out

    def forward(self, x: Tensor) -> Tensor:
        return self.net(self.preprocess(x))


class Decoder(nn.Module):
    """Mirror of an encoder: nearest x2 upsampling for pools, reflection padding, ReLU, no norm."""

    def __init__(self, layout: VGGLayout) -> None:
        super().__init__()
        # Each encoder conv c_in -> c_out becomes a decoder conv c_out -> c_in, in reverse order.
        convs: list[tuple[int, int] | str] = []
        in_ch = 3
        for w in layout.widths:
            if w == "M":
                convs.append("M")
            else:
                convs.append((in_ch, int(w)))
                in_ch = int(w)
        layers: list[nn.Module] = []
        for i, item in enumerate(reversed(convs)):
            if item == "M":
                layers.append(nn.Upsample(scale_factor=2, mode="nearest"))
                continue
            c_in, c_out = item
            layers += conv3x3(c_out, c_in, layout.separable)
            if i < len(convs) - 1:  # no activation after the last conv
                layers.append(nn.ReLU(inplace=True))
        self.net = nn.Sequential(*layers)
        self.layout = layout

    def forward(self, t: Tensor) -> Tensor:
        return self.net(t)
