"""Compiled backends for the frame graph, behind one `Stylizer` interface (one file per backend).

base.py says what a backend is; eager.py, inductor.py, torchscript.py, onnx.py and tensorrt.py are the
backends; registry.py lists them; policy.py is what `auto` picks and the memory check; build.py makes an
engine (the disk cache); stylizer.py runs one; machine.py is what this machine offers.
"""
from engines.backends.base import PRECISIONS, Backend, BackendError, EngineSpec
from engines.backends.build import cache_key, make_stylizer
from engines.backends.policy import check_memory, check_style_memory, choose_backend
from engines.backends.registry import BACKENDS, BF16_BACKENDS, REGISTRY, available_backends
from engines.backends.stylizer import Stylizer

__all__ = ["BACKENDS", "BF16_BACKENDS", "PRECISIONS", "REGISTRY", "Backend", "BackendError", "EngineSpec", "Stylizer",
           "available_backends", "cache_key", "check_memory", "check_style_memory", "choose_backend", "make_stylizer"]
