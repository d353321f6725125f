"""The backends, one record each (its file's `BACKEND`): adding a backend is its file and one row here."""
from __future__ import annotations

import importlib.util

import torch

from engines.backends import eager, inductor, onnx, tensorrt, torchscript
from engines.backends.base import Backend

REGISTRY: dict[str, Backend] = {b.BACKEND.name: b.BACKEND for b in (
    eager,
    inductor,
    torchscript,
    onnx,
    tensorrt,
)}
BACKENDS = tuple(REGISTRY)
BF16_BACKENDS = tuple(b.name for b in REGISTRY.values() if b.bf16)  # where bf16 autocast applies


def available_backends(device: str = "cpu") -> list[str]:
    """What can run on `device` with the libraries installed."""
    kind = "cuda" if device.startswith("cuda") else "cpu"
    return [b.name for b in REGISTRY.values()
            if kind in b.devices and (kind == "cpu" or torch.cuda.is_available())
            and all(importlib.util.find_spec(lib) for lib in b.libraries) and b.usable()]
