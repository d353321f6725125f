"""The skip decoder (issue #37): the paper's decoder, plus the AdaIN-transformed relu3_1, relu2_1 and relu1_1 added
where it reaches each level's resolution.

The paper decodes relu4_1 alone, an eighth of the picture's side: what that map does not hold of a photo's layout
the decoder has to invent. The lower levels hold it, and AdaIN on each of them carries that level's style
statistics too. Each skip enters through a 1x1 conv that starts at zero, so a skip decoder begins as exactly the
single-level decoder it is made from (`--init`) and training alone decides how much of each level it uses.

A style here is the statistics of all four levels, concatenated channel by channel (64 + 128 + 256 + 512 for the
VGG19): still one mean and one std vector, so mixing styles by weights works unchanged, and the style cache, the
frame graph and every backend take it through AdaINModel's `widths`, `encode` and `decode`.
"""
from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor, nn

from engines.model.network import AdaINModel
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


class SkipAdaINModel(AdaINModel):
    """AdaIN at every level the skip decoder takes; all of AdaINModel's calls (mixes, masks, regions, the frame
    graph) work on the four levels through `widths`, `encode` and `decode`."""

    @property
    def widths(self) -> tuple[int, ...]:
        return tuple(self.encoder.channels)

    def encode(self, x: Tensor) -> list[Tensor]:
        return self.encoder.features(x)

    def decode(self, maps: list[Tensor]) -> Tensor:
        return self.decoder(maps)


def adain_model(encoder: Encoder, decoder: Decoder | SkipDecoder) -> AdaINModel:
    """The model a decoder file makes: the paper's for a single-level decoder, the skip model for a skip one."""
    return (SkipAdaINModel if isinstance(decoder, SkipDecoder) else AdaINModel)(encoder, decoder)
