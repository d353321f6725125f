"""Make an engine: build it with its backend, or load it from the disk cache.

Compiled engines are cached under a key made of everything that changes them (backend, device, library
versions, frame size, batch, precision, weights, and the source of the graph's code), so a different size or
new weights never reuse an old engine, and a corrupt cache file is rebuilt instead of failing.
"""
from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path

import torch

from engines.backends import machine
from engines.backends.base import BackendError, EngineSpec, frame_graph
from engines.backends.policy import check_memory, choose_backend
from engines.backends.registry import REGISTRY
from engines.backends.stylizer import Stylizer
from engines.model import adain, color, guided_upsample, network, skips, vgg
from engines.model import frame_graph as graph_module
from engines.model.network import AdaINModel
from engines.zoo.cache import cache_dir
from engines.zoo.files import weights_fingerprint


def _graph_code() -> str:
    """The source of what the frame graph computes: an engine compiled from older code is not reused."""
    h = hashlib.sha256()
    for module in (adain, color, graph_module, guided_upsample, network, skips, vgg):  # network: padding, region pooling
        h.update(Path(module.__file__).read_bytes())
    return h.hexdigest()[:16]


_GRAPH_CODE = _graph_code()


def cache_key(spec: EngineSpec, fingerprint: str) -> str:
    device_name = torch.cuda.get_device_name(spec.device) if spec.device.startswith("cuda") else machine.cpu_name()
    versions = {"torch": torch.__version__}
    for lib in REGISTRY[spec.backend].libraries:
        try:
            versions[lib] = __import__(lib).__version__
        except Exception:  # a broken optional install only changes the key
            versions[lib] = "unknown"
    parts = dict(spec.__dict__, device_name=device_name, versions=versions, weights=fingerprint, code=_GRAPH_CODE)
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:20]


def make_stylizer(
    model: AdaINModel, backend: str, height: int, width: int, batch: int = 1, device: str = "cpu",
    precision: str = "auto", inner: tuple[int, int] | None = None,
) -> Stylizer:
    """Build (or load from the cache) an engine for frames of (batch, height, width), the network run at
    `inner` (height, width) if given. Where `auto` chose a compiled backend that cannot compile here, the engine
    is eager instead and its `why` says so."""
    inner = None if inner is None or tuple(inner) == (height, width) else (int(inner[0]), int(inner[1]))
    net_h, net_w = inner or (height, width)
    name, chosen_precision, why = choose_backend(backend, device, precision, net_h * net_w)
    try:
        return _make(model, name, chosen_precision, why, height, width, batch, device, inner)
    except BackendError as e:
        if backend != "auto" or name == "eager":
            raise
        return _make(model, "eager", chosen_precision, f"{e}: eager instead", height, width, batch, device, inner)


def _make(model: AdaINModel, name: str, precision: str, why: str, height: int, width: int, batch: int,
          device: str, inner: tuple[int, int] | None) -> Stylizer:
    check_memory(model, name, *(inner or (height, width)), batch, device)
    spec = EngineSpec(name, height, width, batch, device, precision, model.style_width, inner)
    model = model.eval()
    backend = REGISTRY[name]
    path = cache_dir() / "engines" / f"{name}-{cache_key(spec, weights_fingerprint(model))}{backend.suffix}"
    t0 = time.perf_counter()
    try:
        run = backend.build(frame_graph(model, spec), spec, path)
        stylizer = Stylizer(spec, run, time.perf_counter() - t0, path if backend.suffix else None, why)
        stylizer.warmup()  # runs the engine at its size: later frames need no more memory than this
    except torch.cuda.OutOfMemoryError:
        raise BackendError(f"out of GPU memory for {width}x{height} frames{f' in batches of {batch}' if batch > 1 else ''} "
                           f"on {name} {precision}: use a smaller size (--size, --scale) or batch") from None
    return stylizer
