"""TorchScript: the graph traced, frozen and optimised for inference (`.ts`); the GPU backend without TensorRT."""
from __future__ import annotations

import warnings
from collections.abc import Callable
from pathlib import Path

import torch
from torch import Tensor

from engines.backends.base import Backend, EngineSpec, examples
from engines.model.frame_graph import FrameGraph
from engines.zoo.cache import save_to_cache


def build(graph: FrameGraph, spec: EngineSpec, path: Path) -> Callable[..., Tensor]:
    if path.is_file():
        try:
            return torch.jit.load(str(path), map_location=spec.device)
        except Exception:  # corrupt or from another build: rebuild below
            path.unlink(missing_ok=True)
    with torch.inference_mode(False), torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        traced = torch.jit.trace(graph, examples(spec, torch.device(spec.device)), check_trace=False)
        frozen = torch.jit.optimize_for_inference(torch.jit.freeze(traced.eval()))
    save_to_cache(path, lambda tmp: torch.jit.save(frozen, str(tmp)))
    return frozen


BACKEND = Backend("torchscript", build, ("cpu", "cuda"), suffix=".ts", cpu_bytes_per_pixel_channel=16)
