"""Ahead-of-time inductor on the CPU: the frame graph exported, compiled to a shared library with its weights
frozen in, and packaged (`.pt2`); later starts load the package in a fraction of a second. The fastest CPU
backend where it was measured (BENCHMARKS.md); it needs a C++ compiler."""
from __future__ import annotations

import contextlib
import logging
import os
import shutil
import tempfile
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path

import torch
from torch import Tensor

from engines.backends import machine
from engines.backends.base import Backend, BackendError, EngineSpec, examples, in_precision
from engines.model.frame_graph import FrameGraph
from engines.zoo.cache import cache_dir, save_to_cache

log = logging.getLogger("engines.backends")
_USER_INDUCTOR_CACHE = os.environ.get("TORCHINDUCTOR_CACHE_DIR")


def build(graph: FrameGraph, spec: EngineSpec, path: Path) -> Callable[..., Tensor]:
    with _no_cuda_home_warning():
        return _compile_or_load(graph, spec, path)


@contextlib.contextmanager
def _no_cuda_home_warning() -> Iterator[None]:
    """torch's C++ builder warns "No CUDA runtime is found" where nvcc is installed without a GPU: true, and no
    news to someone running on the CPU; its other warnings still show."""
    chatty = logging.getLogger("torch.utils.cpp_extension")
    level = chatty.level
    chatty.setLevel(logging.ERROR)
    try:
        yield
    finally:
        chatty.setLevel(level)


def _compile_or_load(graph: FrameGraph, spec: EngineSpec, path: Path) -> Callable[..., Tensor]:
    if path.is_file():
        try:
            return torch._inductor.aoti_load_package(str(path))
        except Exception:  # corrupt, or from another build: compile again below
            path.unlink(missing_ok=True)
    if _USER_INDUCTOR_CACHE is None:  # inductor's own working files: beside the engines, not in /tmp
        os.environ["TORCHINDUCTOR_CACHE_DIR"] = str(cache_dir() / "inductor")
    log.info("compiling the model for %dx%d frames on this CPU (the first time at a size takes up to a minute; "
             "kept in the cache after)", spec.width, spec.height)
    with tempfile.TemporaryDirectory() as tmp:
        package = Path(tmp) / "engine.pt2"
        try:
            with torch.no_grad(), warnings.catch_warnings():
                warnings.simplefilter("ignore")
                exported = torch.export.export(in_precision(graph, spec), examples(spec, torch.device(spec.device)))
                torch._inductor.aoti_compile_and_package(exported, package_path=str(package),
                                                         inductor_configs={"freezing": True})
            runner = torch._inductor.aoti_load_package(str(package))
        except Exception as e:  # the compiler's own error is pages long
            first = str(e).strip().splitlines()[0][:160] if str(e).strip() else type(e).__name__
            raise BackendError(f"inductor could not compile the model here ({first}); use --backend eager") from None
        save_to_cache(path, lambda dest: shutil.copyfile(package, dest))
    return runner


BACKEND = Backend("inductor", build, ("cpu",), suffix=".pt2", usable=lambda: machine.cpp_compiler() is not None,
                  bf16=True, cpu_bytes_per_pixel_channel=10)
