"""ONNX Runtime on the CPU: the graph exported to ONNX (`.onnx`, also a product: tools/export_onnx.py)."""
from __future__ import annotations

import io
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from engines.backends.base import INPUT_NAMES, Backend, EngineSpec, examples
from engines.io.atomic_write import write_atomically
from engines.model.frame_graph import FrameGraph
from engines.zoo.cache import save_to_cache


def session(source: str | bytes):
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    # ORT's memory pattern plans one block for every intermediate at once: measured on the 2-core CPU
    # here it doubled peak memory (full model 4.7 -> 2.4 KB per pixel, lite 1.3 -> 0.7) for no speed
    opts.enable_mem_pattern = False
    return ort.InferenceSession(source, opts, providers=["CPUExecutionProvider"])


def runner(sess) -> Callable[..., np.ndarray]:
    def run(*inputs: Tensor) -> np.ndarray:
        feeds = dict(zip(INPUT_NAMES, (t.cpu().numpy() for t in inputs)))
        return sess.run(["stylized"], feeds)[0]

    return run


def build(graph: FrameGraph, spec: EngineSpec, path: Path) -> Callable[..., np.ndarray]:
    sess = None
    if path.is_file():
        try:
            sess = session(str(path))
        except Exception:  # corrupt cache: export again
            path.unlink(missing_ok=True)
    if sess is None:
        model = onnx_bytes(graph, spec)  # in memory: the cache may have no room for it
        save_to_cache(path, lambda tmp: tmp.write_bytes(model))
        sess = session(model)
    return runner(sess)


def onnx_bytes(graph: FrameGraph, spec: EngineSpec) -> bytes:
    """The frame graph as an ONNX model."""
    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(graph, examples(spec, torch.device("cpu")), buf, input_names=INPUT_NAMES,
                          output_names=["stylized"], opset_version=17, dynamo=False)
    return buf.getvalue()


def export_onnx(graph: FrameGraph, spec: EngineSpec, path: Path) -> None:
    """Write the frame graph as an ONNX file."""
    model = onnx_bytes(graph, spec)
    write_atomically(path, lambda tmp: tmp.write_bytes(model))


BACKEND = Backend("onnx", build, ("cpu",), ("onnxruntime", "onnx"), ".onnx", cpu_bytes_per_pixel_channel=39)
