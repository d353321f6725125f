"""Eager PyTorch: the graph as it is (CPU or CUDA), under bf16 autocast when asked; nothing to compile or cache."""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from torch import Tensor

from engines.backends.base import Backend, EngineSpec, in_precision
from engines.model.frame_graph import FrameGraph


def build(graph: FrameGraph, spec: EngineSpec, path: Path) -> Callable[..., Tensor]:
    return in_precision(graph, spec)


BACKEND = Backend("eager", build, ("cpu", "cuda"), bf16=True, cpu_bytes_per_pixel_channel=10)
