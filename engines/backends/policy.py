"""Which backend `auto` takes, and whether a frame size fits in memory before anything is built."""
from __future__ import annotations

from engines.backends import machine
from engines.backends.base import PRECISIONS, BackendError
from engines.backends.registry import BACKENDS, BF16_BACKENDS, REGISTRY, available_backends
from engines.model.network import AdaINModel
from engines.model.vgg import LITE, MICRO

BF16_MAX_PIXELS = 400_000  # above this ONNX Runtime fp32 measured faster than eager bf16 (without inductor)


def choose_backend(requested: str, device: str, precision: str = "auto",
                   pixels: int | None = None) -> tuple[str, str, str]:
    """(backend, precision, why): the why is printed at start.

    On a CPU, auto follows what BENCHMARKS.md measured: the graph compiled by inductor where a C++ compiler is
    there, under bf16 autocast on CPUs with native bf16 and in fp32 on the others (1.2-1.5x ONNX Runtime fp32 on
    both classes); without a compiler eager bf16 for small frames (BF16_MAX_PIXELS) on CPUs with native bf16,
    else ONNX Runtime fp32.
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
            precision = "fp16" if cuda else ("bf16" if requested in BF16_BACKENDS and machine.cpu_has_bf16() else "fp32")
        if precision == "bf16" and requested not in BF16_BACKENDS:
            raise BackendError(f"bf16 runs on the {' and '.join(BF16_BACKENDS)} backends (CPU autocast); "
                               f"use --backend {' or '.join(b for b in BF16_BACKENDS if b in have)}")
        return requested, precision, "requested"
    if cuda:
        p = "fp16" if precision == "auto" else precision
        if "tensorrt" in have:
            return "tensorrt", p, "CUDA GPU with torch-tensorrt installed"
        return "torchscript", p, "CUDA GPU without torch-tensorrt"
    native = machine.cpu_has_bf16()
    bf16 = precision == "bf16" or (precision == "auto" and native)
    if bf16 and "inductor" in have:
        return "inductor", "bf16", "CPU with native bf16 and a C++ compiler: inductor + bf16 measured fastest"
    if precision in ("auto", "fp32") and "inductor" in have:
        return "inductor", "fp32", "CPU without native bf16, with a C++ compiler: inductor fp32 measured fastest"
    small = pixels is None or pixels <= BF16_MAX_PIXELS
    if precision == "bf16" or (precision == "auto" and native and small):
        return "eager", "bf16", "CPU with native bf16: eager + bf16 autocast measured fastest at this size"
    if "onnx" in have:
        return "onnx", "fp32", "fastest measured fp32 CPU backend" + ("" if small else " for large frames")
    return "eager", "fp32", "onnxruntime not installed"


def check_memory(model: AdaINModel, backend: str, height: int, width: int, batch: int = 1,
                 device: str = "cpu", what: str = "frame", smaller: str = "--size, --scale") -> None:
    """Refuse a frame size that cannot fit in free memory. A CPU process past the RAM is killed outright
    by Linux (no message, a video half written), so this is asked before the first frame. CUDA runs out
    with an exception instead and is not estimated here. `what` and `smaller` name the picture and the
    options that shrink it (a style image: --style-size; encoding it alone needs less than this says)."""
    if device.startswith("cuda"):
        return
    free = machine.available_memory()
    need = REGISTRY[backend].cpu_bytes_per_pixel_channel * model.encoder.channels[0] * height * width * batch
    if free is not None and need > free:
        raise BackendError(f"a {width}x{height} {what}{f' batch of {batch}' if batch > 1 else ''} needs about "
                           f"{need / 2**30:.1f} GB on the {backend} backend and {free / 2**30:.1f} GB are free: "
                           f"use a smaller size ({smaller})"
                           + ("" if model.encoder.layout in (LITE, MICRO) else ", the lite model")
                           + ("" if backend == "eager" else ", or --backend eager (a quarter to a half of that)"))


def check_style_memory(model: AdaINModel, height: int, width: int) -> None:
    """A style image is encoded at the size asked (--style-size 0 keeps a museum scan whole): the same
    refusal as a frame's, before the encoder is run on it."""
    check_memory(model, "eager", height, width, device=str(model.device), what="style image", smaller="--style-size")
