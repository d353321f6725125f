"""Compiled backends for the frame graph, behind one `Stylizer` interface.

Every backend compiles the same `FrameGraph`; none changes the model. Compiled
artifacts are cached on disk under a key made of everything that changes them
(backend, device, library versions, frame size, batch, precision, weights), so
a different size or new weights never reuse an old engine, and a corrupt cache
file is rebuilt instead of failing.
"""
from __future__ import annotations

import contextlib
import copy
import hashlib
import importlib.util
import io
import json
import logging
import os
import shutil
import sys
import tempfile
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from torch import Tensor, nn

from engines.atomic_write import write_atomically
from engines.graph import FrameGraph
from engines.model import AdaINModel, StyleStats
from engines.vgg import LITE
from engines.weights import cache_dir, save_to_cache, weights_fingerprint

PRECISIONS = ("fp32", "fp16", "bf16")
log = logging.getLogger(__name__)


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
    channels: int = 512  # relu4_1 width: the length of the style statistics


def available_backends(device: str = "cpu") -> list[str]:
    """What can run on `device` with the libraries installed."""
    kind = "cuda" if device.startswith("cuda") else "cpu"
    return [b.name for b in REGISTRY.values()
            if kind in b.devices and (kind == "cpu" or torch.cuda.is_available())
            and all(importlib.util.find_spec(lib) for lib in b.libraries) and b.usable()]


def _cpuinfo(field: str) -> str:
    """The first `field` line of /proc/cpuinfo ('' where there is none: not Linux)."""
    try:
        with open("/proc/cpuinfo") as f:
            return next((line.split(":", 1)[1].strip() for line in f if line.startswith(field)), "")
    except OSError:
        return ""


def cpu_has_bf16() -> bool:
    """Native bf16 matrix instructions (AVX512-BF16 or AMX); without them bf16 is emulated and slower."""
    flags = _cpuinfo("flags").split()
    return "avx512_bf16" in flags or "amx_bf16" in flags


def cpu_name() -> str:
    """Model and instruction sets: code compiled for one CPU (inductor's) may not run on another."""
    flags = _cpuinfo("flags")
    return f"{_cpuinfo('model name')} {hashlib.sha256(flags.encode()).hexdigest()[:8]}" if flags else "cpu"


BF16_MAX_PIXELS = 400_000  # above this ONNX Runtime fp32 measured faster than eager bf16 (without inductor)


def cpp_compiler() -> str | None:
    """Inductor turns the graph into C++ for the CPU: without a compiler it cannot build anything."""
    names = (os.environ.get("CXX"), "clang++" if sys.platform == "darwin" else "g++")  # inductor's own search
    return next((c for c in names if c and shutil.which(c)), None)


def choose_backend(requested: str, device: str, precision: str = "auto",
                   pixels: int | None = None) -> tuple[str, str, str]:
    """(backend, precision, why): the why is printed at start.

    On a CPU, auto follows what BENCHMARKS.md measured: where the CPU has native bf16, the graph compiled by
    inductor under bf16 autocast (2-4x eager bf16) if a C++ compiler is there, else eager bf16 for small
    frames (BF16_MAX_PIXELS); ONNX Runtime fp32 for large frames and on CPUs without bf16.
    """
    have = available_backends(device)
    if precision not in ("auto",) + PRECISIONS:
        raise BackendError(f"unknown precision {precision!r}; choose one of {', '.join(PRECISIONS)}")
    cuda = device.startswith("cuda")
    if precision == "fp16" and not cuda:
        raise BackendError("fp16 needs a CUDA GPU; on the CPU use fp32 or bf16")
    if requested != "auto":
        if requested not in BACKENDS:
            raise BackendError(f"unknown backend {requested!r}; available here: {', '.join(have)}")
        if requested not in have:
            raise BackendError(f"backend {requested!r} is not available on {device}; available here: {', '.join(have)}")
        if precision == "auto":  # the fastest precision measured for that backend and device
            precision = "fp16" if cuda else ("bf16" if requested in BF16_BACKENDS and cpu_has_bf16() else "fp32")
        if precision == "bf16" and requested not in BF16_BACKENDS:
            raise BackendError(f"bf16 runs on the {' and '.join(BF16_BACKENDS)} backends (CPU autocast); "
                               f"use --backend {' or '.join(b for b in BF16_BACKENDS if b in have)}")
        return requested, precision, "requested"
    if cuda:
        p = "fp16" if precision == "auto" else precision
        if "tensorrt" in have:
            return "tensorrt", p, "CUDA GPU with torch-tensorrt installed"
        return "torchscript", p, "CUDA GPU without torch-tensorrt"
    bf16 = precision == "bf16" or (precision == "auto" and cpu_has_bf16())
    if bf16 and "inductor" in have:
        return "inductor", "bf16", "CPU with native bf16 and a C++ compiler: inductor + bf16 measured fastest"
    small = pixels is None or pixels <= BF16_MAX_PIXELS
    if precision == "bf16" or (precision == "auto" and cpu_has_bf16() and small):
        return "eager", "bf16", "CPU with native bf16: eager + bf16 autocast measured fastest at this size"
    if "onnx" in have:
        return "onnx", "fp32", "fastest measured fp32 CPU backend" + ("" if small else " for large frames")
    return "eager", "fp32", "onnxruntime not installed"


def _graph_code() -> str:
    """The source of what the frame graph computes: an engine compiled from older code is not reused."""
    from engines import adain, color, graph, model, vgg

    h = hashlib.sha256()
    for module in (adain, color, graph, model, vgg):  # model: padding and the region's pooling
        h.update(Path(module.__file__).read_bytes())
    return h.hexdigest()[:16]


_GRAPH_CODE = _graph_code()


def cache_key(spec: EngineSpec, fingerprint: str) -> str:
    device_name = torch.cuda.get_device_name(spec.device) if spec.device.startswith("cuda") else cpu_name()
    versions = {"torch": torch.__version__}
    for lib in REGISTRY[spec.backend].libraries:
        try:
            versions[lib] = __import__(lib).__version__
        except Exception:  # a broken optional install only changes the key
            versions[lib] = "unknown"
    parts = dict(spec.__dict__, device_name=device_name, versions=versions, weights=fingerprint, code=_GRAPH_CODE)
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:20]


class Stylizer:
    """Frames of one size in, stylized frames out: `stylizer(frames, style, alpha, color)`."""

    def __init__(self, spec: EngineSpec, run: Callable[..., Tensor], build_seconds: float, cache_file: Path | None,
                 why: str = "") -> None:
        self.spec = spec
        self._run = run
        self.build_seconds = build_seconds
        self.cache_file = cache_file
        self.why = why  # why this backend and precision were chosen, for the start-up line
        self._device = torch.device(spec.device)
        self._pinned: Tensor | None = None
        self._pinned_out: Tensor | None = None
        self._scalars: dict[float, Tensor] = {}
        self._style_src: tuple[Tensor, Tensor] | None = None  # held, so identity comparison is safe
        self._style: tuple[Tensor, Tensor] | None = None
        self._whole: Tensor | None = None  # the region "everything", made once

    def _blank(self) -> tuple[np.ndarray, StyleStats]:
        c = self.spec.channels
        return (np.zeros((self.spec.batch, self.spec.height, self.spec.width, 3), np.uint8),
                StyleStats(torch.zeros(c), torch.ones(c)))

    def warmup(self, runs: int = 2) -> None:
        """JIT profiling runs and allocator growth happen here, not on the first live frames."""
        frames, style = self._blank()
        for _ in range(runs):
            self(frames, style)
        self._style_src = None

    def rate(self, runs: int = 3) -> float:
        """Frames a second of the engine alone (median of `runs`, after warmup): what a size costs here."""
        frames, style = self._blank()
        times = []
        for _ in range(runs):
            t0 = time.perf_counter()
            self(frames, style)
            times.append(time.perf_counter() - t0)
        self._style_src = None
        return self.spec.batch / sorted(times)[len(times) // 2]

    @property
    def backend(self) -> str:
        return self.spec.backend

    def _style_tensors(self, style: StyleStats) -> tuple[Tensor, Tensor]:
        src = self._style_src
        if src is None or src[0] is not style.mean or src[1] is not style.std:  # uploaded once per switch
            self._style = (style.mean.float().to(self._device), style.std.float().to(self._device))
            self._style_src = (style.mean, style.std)
        return self._style

    def __call__(self, frames: np.ndarray, style: StyleStats, alpha: float = 1.0, color: float = 0.0,
                 region: np.ndarray | None = None) -> np.ndarray:
        """frames: uint8 (H, W, 3) or (N, H, W, 3) BGR of exactly the engine's size and batch; region: uint8
        (H, W) or (N, H, W), 255 where to paint and 0 where to keep the photo (None: the whole frame)."""
        single = frames.ndim == 3
        batch = frames[None] if single else frames
        expected = (self.spec.batch, self.spec.height, self.spec.width, 3)
        if batch.shape != expected:
            raise ValueError(f"this {self.backend} engine was built for frames {expected}, got {batch.shape}")
        x = torch.from_numpy(np.ascontiguousarray(batch))
        if self._device.type == "cuda":  # pinned host buffer, non-blocking uint8 upload
            if self._pinned is None:
                self._pinned = torch.empty(expected, dtype=torch.uint8).pin_memory()
            self._pinned.copy_(x)
            x = self._pinned.to(self._device, non_blocking=True)
        mean, std = self._style_tensors(style)
        r = self._region(region, expected[:3])
        with torch.inference_mode():
            out = self._run(x, mean, std, self._scalar(alpha), self._scalar(color), r)
        if isinstance(out, Tensor):
            if self._device.type == "cuda":  # uint8 download into a pinned buffer
                if self._pinned_out is None:
                    self._pinned_out = torch.empty(expected, dtype=torch.uint8).pin_memory()
                self._pinned_out.copy_(out, non_blocking=True)
                torch.cuda.current_stream(self._device).synchronize()
                out = self._pinned_out.numpy().copy()  # callers may keep frames (writer queues)
            else:
                out = out.numpy()
        return out[0] if single else out

    def _region(self, region: np.ndarray | None, shape: tuple[int, int, int]) -> Tensor:
        if region is None:
            if self._whole is None:
                self._whole = torch.full(shape, 255, dtype=torch.uint8, device=self._device)
            return self._whole
        r = region[None] if region.ndim == 2 else region
        if r.shape != shape or r.dtype != np.uint8:
            raise ValueError(f"the region must be uint8 {shape[1:]} like the frames, got {r.dtype} {region.shape}")
        return torch.from_numpy(np.ascontiguousarray(r)).to(self._device)

    def _scalar(self, value: float) -> Tensor:
        """alpha / colour weight as device tensors, made once per distinct value (keys move in 0.1 steps)."""
        t = self._scalars.get(value)
        if t is None:
            if len(self._scalars) > 64:
                self._scalars.clear()
            t = self._scalars[value] = torch.tensor([value], dtype=torch.float32, device=self._device)
        return t


INPUT_NAMES = ["frames", "style_mean", "style_std", "alpha", "color", "region"]  # FrameGraph.forward's


def _examples(spec: EngineSpec, device: torch.device) -> tuple[Tensor, ...]:
    frames = torch.randint(0, 256, (spec.batch, spec.height, spec.width, 3), dtype=torch.uint8, device=device)
    c = spec.channels
    region = torch.full(frames.shape[:3], 255, dtype=torch.uint8, device=device)
    return (frames, torch.zeros(c, device=device), torch.ones(c, device=device),
            torch.ones(1, device=device), torch.zeros(1, device=device), region)


def _graph(model: AdaINModel, spec: EngineSpec) -> FrameGraph:
    if spec.precision == "fp16":  # .half() converts modules in place: the caller's model (styles encoded later,
        model = copy.deepcopy(model)  # mask videos) must stay fp32
    g = FrameGraph(model, spec.height, spec.width).eval().to(spec.device)
    return g.half() if spec.precision == "fp16" else g


class _Bf16Autocast(nn.Module):
    """The graph under bf16 autocast, as one module (eager runs it, inductor exports it): convolutions in bf16,
    AdaIN statistics fp32 (engines.adain)."""

    def __init__(self, graph: FrameGraph, device: str) -> None:
        super().__init__()
        self.frame_graph = graph
        self.device_type = torch.device(device).type

    def forward(self, *inputs: Tensor) -> Tensor:
        with torch.autocast(self.device_type, dtype=torch.bfloat16):
            return self.frame_graph(*inputs)


def _build_eager(graph: FrameGraph, spec: EngineSpec, path: Path) -> Callable[..., Tensor]:
    return _Bf16Autocast(graph, spec.device) if spec.precision == "bf16" else graph


_USER_INDUCTOR_CACHE = os.environ.get("TORCHINDUCTOR_CACHE_DIR")


def _build_inductor(graph: FrameGraph, spec: EngineSpec, path: Path) -> Callable[..., Tensor]:
    """Ahead-of-time inductor: the graph exported, compiled to a shared library with its weights frozen in, and
    packaged; later starts load the package in a fraction of a second. Measured here on the lite model at
    640x480: 4.1x eager bf16, 5.4x eager fp32 (BENCHMARKS.md, 2026-12-06)."""
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
    module = _Bf16Autocast(graph, spec.device) if spec.precision == "bf16" else graph
    with tempfile.TemporaryDirectory() as tmp:
        package = Path(tmp) / "engine.pt2"
        try:
            with torch.no_grad(), warnings.catch_warnings():
                warnings.simplefilter("ignore")
                exported = torch.export.export(module, _examples(spec, torch.device(spec.device)))
                torch._inductor.aoti_compile_and_package(exported, package_path=str(package),
                                                         inductor_configs={"freezing": True})
            runner = torch._inductor.aoti_load_package(str(package))
        except Exception as e:  # the compiler's own error is pages long
            first = str(e).strip().splitlines()[0][:160] if str(e).strip() else type(e).__name__
            raise BackendError(f"inductor could not compile the model here ({first}); use --backend eager") from None
        save_to_cache(path, lambda dest: shutil.copyfile(package, dest))
    return runner


def _build_torchscript(graph: FrameGraph, spec: EngineSpec, path: Path) -> Callable[..., Tensor]:
    if path.is_file():
        try:
            return torch.jit.load(str(path), map_location=spec.device)
        except Exception:  # corrupt or from another build: rebuild below
            path.unlink(missing_ok=True)
    with torch.inference_mode(False), torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        traced = torch.jit.trace(graph, _examples(spec, torch.device(spec.device)), check_trace=False)
        frozen = torch.jit.optimize_for_inference(torch.jit.freeze(traced.eval()))
    save_to_cache(path, lambda tmp: torch.jit.save(frozen, str(tmp)))
    return frozen


def _build_onnx(graph: FrameGraph, spec: EngineSpec, path: Path) -> Callable[..., Tensor]:
    import onnxruntime as ort

    def session(source: str | bytes) -> "ort.InferenceSession":
        opts = ort.SessionOptions()
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        # ORT's memory pattern plans one block for every intermediate at once: measured on the 2-core CPU
        # here it doubled peak memory (full model 4.7 -> 2.4 KB per pixel, lite 1.3 -> 0.7) for no speed
        opts.enable_mem_pattern = False
        return ort.InferenceSession(source, opts, providers=["CPUExecutionProvider"])

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

    def run(*inputs: Tensor) -> np.ndarray:
        feeds = dict(zip(INPUT_NAMES, (t.cpu().numpy() for t in inputs)))
        return sess.run(["stylized"], feeds)[0]

    return run


def onnx_bytes(graph: FrameGraph, spec: EngineSpec) -> bytes:
    """The frame graph as an ONNX model."""
    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(graph, _examples(spec, torch.device("cpu")), buf, input_names=INPUT_NAMES,
                          output_names=["stylized"], opset_version=17, dynamo=False)
    return buf.getvalue()


def export_onnx(graph: FrameGraph, spec: EngineSpec, path: Path) -> None:
    """Write the frame graph as an ONNX file (also a product: tools/export_onnx.py)."""
    model = onnx_bytes(graph, spec)
    write_atomically(path, lambda tmp: tmp.write_bytes(model))


def _build_tensorrt(graph: FrameGraph, spec: EngineSpec, path: Path) -> Callable[..., Tensor]:
    import torch_tensorrt

    if path.is_file():
        try:
            return torch.export.load(str(path)).module()
        except Exception:
            path.unlink(missing_ok=True)
    inputs = list(_examples(spec, torch.device(spec.device)))
    precisions = {torch.float16, torch.float32} if spec.precision == "fp16" else {torch.float32}
    trt = torch_tensorrt.compile(graph, ir="dynamo", arg_inputs=inputs, enabled_precisions=precisions)
    save_to_cache(path, lambda tmp: torch_tensorrt.save(trt, str(tmp), arg_inputs=inputs))
    return trt


@dataclass(frozen=True)
class Backend:
    """One inference backend: where it runs, what it needs, how it builds and what it caches. Adding a backend
    is one record in REGISTRY (choose_backend holds the policy of which one `auto` takes)."""

    name: str
    build: Callable[[FrameGraph, EngineSpec, Path], Callable[..., Tensor]]
    devices: tuple[str, ...]  # "cpu", "cuda"
    libraries: tuple[str, ...] = ()  # modules it needs; their versions are part of the cache key
    suffix: str = ""  # the compiled engine's cache file ("": nothing to cache)
    usable: Callable[[], bool] = lambda: True  # what else it needs here (a C++ compiler, say)
    # Peak bytes of one CPU frame beyond the loaded model, per pixel and per channel of the model's widest
    # full-resolution layer (64 full, 16 lite), measured at 1024x1024 (BENCHMARKS.md), the lower of the two
    # models: an estimate that errs towards letting a run try.
    cpu_bytes_per_pixel_channel: int = 10


REGISTRY: dict[str, Backend] = {b.name: b for b in (
    Backend("eager", _build_eager, ("cpu", "cuda"), cpu_bytes_per_pixel_channel=10),
    Backend("inductor", _build_inductor, ("cpu",), suffix=".pt2", usable=lambda: cpp_compiler() is not None,
            cpu_bytes_per_pixel_channel=10),
    Backend("torchscript", _build_torchscript, ("cpu", "cuda"), suffix=".ts", cpu_bytes_per_pixel_channel=16),
    Backend("onnx", _build_onnx, ("cpu",), ("onnxruntime", "onnx"), ".onnx", cpu_bytes_per_pixel_channel=39),
    Backend("tensorrt", _build_tensorrt, ("cuda",), ("torch_tensorrt",), ".ep"),
)}
BACKENDS = tuple(REGISTRY)
BF16_BACKENDS = ("eager", "inductor")  # where bf16 autocast applies


def available_memory() -> int | None:
    """Bytes the kernel says a new allocation can have (Linux MemAvailable); None where unknown."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def check_memory(model: AdaINModel, backend: str, height: int, width: int, batch: int = 1,
                 device: str = "cpu", what: str = "frame", smaller: str = "--size, --scale") -> None:
    """Refuse a frame size that cannot fit in free memory. A CPU process past the RAM is killed outright
    by Linux (no message, a video half written), so this is asked before the first frame. CUDA runs out
    with an exception instead and is not estimated here. `what` and `smaller` name the picture and the
    options that shrink it (a style image: --style-size; encoding it alone needs less than this says)."""
    if device.startswith("cuda"):
        return
    free = available_memory()
    need = REGISTRY[backend].cpu_bytes_per_pixel_channel * model.encoder.channels[0] * height * width * batch
    if free is not None and need > free:
        raise BackendError(f"a {width}x{height} {what}{f' batch of {batch}' if batch > 1 else ''} needs about "
                           f"{need / 2**30:.1f} GB on the {backend} backend and {free / 2**30:.1f} GB are free: "
                           f"use a smaller size ({smaller})"
                           + ("" if model.encoder.layout == LITE else ", the lite model")
                           + ("" if backend == "eager" else ", or --backend eager (a quarter to a half of that)"))


def check_style_memory(model: AdaINModel, height: int, width: int) -> None:
    """A style image is encoded at the size asked (--style-size 0 keeps a museum scan whole): the same
    refusal as a frame's, before the encoder is run on it."""
    check_memory(model, "eager", height, width, device=str(model.device), what="style image", smaller="--style-size")


def make_stylizer(
    model: AdaINModel, backend: str, height: int, width: int, batch: int = 1, device: str = "cpu",
    precision: str = "auto",
) -> Stylizer:
    """Build (or load from the cache) an engine for frames of (batch, height, width). Where `auto` chose a
    compiled backend that cannot compile here, the engine is eager instead and its `why` says so."""
    name, chosen_precision, why = choose_backend(backend, device, precision, height * width)
    try:
        return _make(model, name, chosen_precision, why, height, width, batch, device)
    except BackendError as e:
        if backend != "auto" or name == "eager":
            raise
        return _make(model, "eager", chosen_precision, f"{e}: eager instead", height, width, batch, device)


def _make(model: AdaINModel, name: str, precision: str, why: str, height: int, width: int, batch: int,
          device: str) -> Stylizer:
    check_memory(model, name, height, width, batch, device)
    spec = EngineSpec(name, height, width, batch, device, precision, model.encoder.channels[-1])
    model = model.eval()
    backend = REGISTRY[name]
    path = cache_dir() / "engines" / f"{name}-{cache_key(spec, weights_fingerprint(model))}{backend.suffix}"
    t0 = time.perf_counter()
    try:
        run = backend.build(_graph(model, spec), spec, path)
        stylizer = Stylizer(spec, run, time.perf_counter() - t0, path if backend.suffix else None, why)
        stylizer.warmup()  # runs the engine at its size: later frames need no more memory than this
    except torch.cuda.OutOfMemoryError:
        raise BackendError(f"out of GPU memory for {width}x{height} frames{f' in batches of {batch}' if batch > 1 else ''} "
                           f"on {name} {precision}: use a smaller size (--size, --scale) or batch") from None
    return stylizer
