"""TensorRT through torch-tensorrt on a CUDA GPU (`.ep`): fp16 where asked. Not yet run on a GPU here."""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import torch
from torch import Tensor

from engines.backends.base import Backend, EngineSpec, examples
from engines.model.frame_graph import FrameGraph
from engines.zoo.cache import save_to_cache


def build(graph: FrameGraph, spec: EngineSpec, path: Path) -> Callable[..., Tensor]:
    import torch_tensorrt

    if path.is_file():
        try:
            return torch.export.load(str(path)).module()
        except Exception:
            path.unlink(missing_ok=True)
    inputs = list(examples(spec, torch.device(spec.device)))
    precisions = {torch.float16, torch.float32} if spec.precision == "fp16" else {torch.float32}
    trt = torch_tensorrt.compile(graph, ir="dynamo", arg_inputs=inputs, enabled_precisions=precisions)
    save_to_cache(path, lambda tmp: torch_tensorrt.save(trt, str(tmp), arg_inputs=inputs))
    return trt


BACKEND = Backend("tensorrt", build, ("cuda",), ("torch_tensorrt",), ".ep")
