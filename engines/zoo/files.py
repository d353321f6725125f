"""Weight files: the ones that ship (``engines/weights/``) and users' own, loaded with clear one-line errors.

Decoders this project trained are fp16 safetensors; users' files, such as the original AdaIN release's
``vgg_normalised.pth`` and ``decoder.pth``, are read with ``weights_only=True`` (a pickle is never executed).
A file of the wrong kind, a shape that does not fit or NaN weights are refused before they reach a model.
"""
from __future__ import annotations

import hashlib
from collections.abc import Iterable
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from torch import Tensor, nn

from engines.model.skips import SkipDecoder
from engines.model.vgg import Decoder, Encoder, VGGLayout

WEIGHTS_DIR = Path(__file__).resolve().parents[1] / "weights"
DEFAULT_DECODER = WEIGHTS_DIR / "decoder_vgg19.safetensors"  # the full model's (ImageNet VGG19)
HED_DECODER = WEIGHTS_DIR / "decoder_vgg16.safetensors"  # --model hed's (VGG16 from HED)
LITE_ENCODER = WEIGHTS_DIR / "lite_encoder.safetensors"
LITE_DECODER = WEIGHTS_DIR / "lite_decoder.safetensors"
MICRO_ENCODER = WEIGHTS_DIR / "micro_encoder.safetensors"
MICRO_DECODER = WEIGHTS_DIR / "micro_decoder.safetensors"


class WeightsError(RuntimeError):
    """A weights file is missing, corrupt or of the wrong kind; the message is one line for the user."""


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _load_tensors(path: Path, what: str) -> dict[str, Tensor]:
    if not path.is_file():
        raise WeightsError(f"{what} not found: {path}")
    if path.suffix == ".safetensors":
        try:
            return load_file(str(path))
        except Exception as e:  # SafetensorError says what is wrong with the header, in one line
            raise WeightsError(f"{what} {path} is not a readable safetensors file ({str(e)[:120]})") from None
    try:
        sd = torch.load(path, map_location="cpu", weights_only=True)
    except Exception:  # torch's own messages (a KeyError's byte, a page on weights_only) do not help here
        raise WeightsError(f"{what} {path} is not a readable weights file "
                           "(expected a PyTorch state dict of tensors, .pth, or .safetensors)") from None
    if not isinstance(sd, dict) or not all(isinstance(v, Tensor) for v in sd.values()):
        raise WeightsError(f"{what} {path} does not hold a state dict of tensors")
    return sd


def load_into(module: nn.Module, sd: dict[str, Tensor], path: Path, what: str) -> None:
    """Load only the keys the module has (the VGG19 file goes on past relu4_1); shapes must match."""
    own = module.state_dict()
    missing = [k for k in own if k not in sd]
    if missing:
        raise WeightsError(f"{path} is not a {what} file (missing {missing[0]!r})")
    for k, v in own.items():
        if tuple(sd[k].shape) != tuple(v.shape):
            raise WeightsError(f"{path} is not a {what} file ({k} has shape {tuple(sd[k].shape)}, expected {tuple(v.shape)})")
        if not torch.isfinite(sd[k].float()).all():  # a diverged training run: black pictures, said nowhere
            raise WeightsError(f"{path} is damaged: {k} holds NaN or infinite values")
    module.load_state_dict({k: sd[k].float() for k in own})


def holds_skips(keys: Iterable[str]) -> bool:
    """Whether a decoder file's tensor names are a skip decoder's (its 1x1 convs are stored as skips.*)."""
    return any(k.startswith("skips.") for k in keys)


def load_decoder(layout: VGGLayout, path: Path) -> Decoder | SkipDecoder:
    """A decoder file of `layout`, single-level or skip (engines/model/skips.py), told apart by its keys:
    engines.model.skips.adain_model makes the model either needs."""
    sd = _load_tensors(path, "decoder weights")
    skips = holds_skips(sd)
    dec = SkipDecoder(layout) if skips else Decoder(layout)
    load_into(dec.net, sd, path, f"{layout.name} {'skip ' if skips else ''}decoder")
    return dec.eval().requires_grad_(False)


def load_encoder(layout: VGGLayout, path: Path) -> Encoder:
    """An encoder of `layout` from a weights file (the VGG19 vgg_normalised.pth runs on past relu4_1: the rest
    is ignored)."""
    enc = Encoder(layout)
    load_into(enc.net, _load_tensors(path, "encoder weights"), path, f"{layout.name.replace('vgg', 'VGG')} encoder")
    return enc.eval().requires_grad_(False)


def weights_fingerprint(model: nn.Module) -> str:
    """Short hash of a model's tensors: part of every cache key, so new weights never reuse old results."""
    h = hashlib.sha256()
    for name, t in sorted(model.state_dict().items()):
        h.update(name.encode())
        h.update(t.detach().float().cpu().numpy().tobytes())
    return h.hexdigest()[:16]


def save_net(module: Encoder | Decoder, path: Path, metadata: dict[str, str] | None = None) -> None:
    """fp16 safetensors keyed like the original decoder.pth (`net.` prefix dropped): what ships in the repo."""
    sd = {k: v.detach().half().contiguous() for k, v in module.net.state_dict().items()}
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file(sd, str(path), metadata=metadata or {})
