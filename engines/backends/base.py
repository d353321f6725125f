"""What a backend is: one record saying where it runs, what it needs and how it builds an engine.

Every backend compiles the same frame graph (engines/model/frame_graph.py); none changes the model. A backend's
file holds its builder and its `BACKEND` record; engines/backends/registry.py lists the records.
"""
from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor, nn

from engines.model.frame_graph import FrameGraph
from engines.model.network import AdaINModel

PRECISIONS = ("fp32", "fp16", "bf16")
INPUT_NAMES = ["frames", "style_mean", "style_std", "alpha", "color", "region"]  # FrameGraph.forward's


class BackendError(RuntimeError):
    """A backend cannot run here; the message is one line for the user."""


@dataclass(frozen=True)
class EngineSpec:
    backend: str
    height: int
    width: int
    batch: int = 1
    device: str = "cpu"
    precision: str = "fp32"
    channels: int = 512  # the length of the style statistics (relu4_1 width; every level's for the skip model)
    inner: tuple[int, int] | None = None  # (height, width) the network runs at, if smaller (guided upsampling)


Build = Callable[[FrameGraph, EngineSpec, Path], Callable[..., Tensor]]


@dataclass(frozen=True)
class Backend:
    """One inference backend. `build(graph, spec, cache_path)` returns the engine: a callable taking the graph's
    inputs (INPUT_NAMES) and returning uint8 frames; it loads `cache_path` when it holds an engine and may save
    one there (`suffix` "": nothing to cache)."""

    name: str
    build: Build
    devices: tuple[str, ...]  # "cpu", "cuda"
    libraries: tuple[str, ...] = ()  # modules it needs; their versions are part of the cache key
    suffix: str = ""
    usable: Callable[[], bool] = lambda: True  # what else it needs here (a C++ compiler, say)
    bf16: bool = False  # runs the graph under CPU bf16 autocast when asked
    # Peak bytes of one CPU frame beyond the loaded model, per pixel and per channel of the model's widest
    # full-resolution layer (64 full, 16 lite), measured at 1024x1024 (BENCHMARKS.md), the lower of the two
    # models: an estimate that errs towards letting a run try.
    cpu_bytes_per_pixel_channel: int = 10


def examples(spec: EngineSpec, device: torch.device) -> tuple[Tensor, ...]:
    """Inputs of the engine's shapes, for tracing and export."""
    frames = torch.randint(0, 256, (spec.batch, spec.height, spec.width, 3), dtype=torch.uint8, device=device)
    c = spec.channels
    region = torch.full(frames.shape[:3], 255, dtype=torch.uint8, device=device)
    return (frames, torch.zeros(c, device=device), torch.ones(c, device=device),
            torch.ones(1, device=device), torch.zeros(1, device=device), region)


def frame_graph(model: AdaINModel, spec: EngineSpec) -> FrameGraph:
    """The graph a backend compiles, on the spec's device and in its precision."""
    if spec.precision == "fp16":  # .half() converts modules in place: the caller's model (styles encoded later,
        model = copy.deepcopy(model)  # mask videos) must stay fp32
    g = FrameGraph(model, spec.height, spec.width, spec.inner).eval().to(spec.device)
    return g.half() if spec.precision == "fp16" else g


class Bf16Autocast(nn.Module):
    """The graph under bf16 autocast, as one module (eager runs it, inductor exports it): convolutions in bf16,
    AdaIN statistics fp32 (engines/model/adain.py)."""

    def __init__(self, graph: FrameGraph, device: str) -> None:
        super().__init__()
        self.frame_graph = graph
        self.device_type = torch.device(device).type

    def forward(self, *inputs: Tensor) -> Tensor:
        with torch.autocast(self.device_type, dtype=torch.bfloat16):
            return self.frame_graph(*inputs)


def in_precision(graph: FrameGraph, spec: EngineSpec) -> nn.Module:
    """The module to run or compile: the graph itself, or under bf16 autocast."""
    return Bf16Autocast(graph, spec.device) if spec.precision == "bf16" else graph
