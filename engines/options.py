"""The options every command line shares: --backend, --precision (--fp16), --device, --model with its
weights, and the argparse types that turn a nonsensical number into a usage error (exit 2) before any work."""
from __future__ import annotations

import argparse

import torch

from engines.backends import BACKENDS, PRECISIONS
from engines.model import AdaINModel
from engines.weights import WeightsError, resolve

MIN_SIDE = 16  # the encoder pools three times: a smaller picture leaves it a 1x1 map, nothing to stylize


def count(text: str) -> int:
    """A whole number, at least 1 (pairs, frames, batch sizes): zero of them would measure or make nothing."""
    try:
        n = int(text)
    except ValueError:
        n = 0
    if n < 1:
        raise argparse.ArgumentTypeError(f"needs a whole number, at least 1, got {text!r}")
    return n


def positive(text: str) -> float:
    """A number above 0 (scales, periods)."""
    try:
        x = float(text)
    except ValueError:
        x = float("nan")
    if not x > 0 or x == float("inf"):
        raise argparse.ArgumentTypeError(f"needs a number above 0, got {text!r}")
    return x


def pixels(text: str) -> int:
    """A side in pixels (crops, load sizes), at least MIN_SIDE."""
    try:
        n = int(text)
    except ValueError:
        n = 0
    if n < MIN_SIDE:
        raise argparse.ArgumentTypeError(f"needs a number of pixels, at least {MIN_SIDE}, got {text!r}")
    return n


def image_side(text: str) -> int:
    """A shorter side in pixels: 0 keeps the picture's own size, else at least MIN_SIDE."""
    if text.strip() == "0":
        return 0
    try:
        return pixels(text)
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(f"needs 0 (keep the size) or a number of pixels, at least {MIN_SIDE}, "
                                         f"got {text!r}") from None


def add_engine_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--backend", default="auto", choices=("auto",) + BACKENDS,
                   help="inference backend (default auto: TensorRT on a GPU; on a CPU the fastest measured here)")
    p.add_argument("--precision", default="auto", choices=("auto",) + PRECISIONS,
                   help="auto: fp16 on a GPU, bf16 on CPUs with native bf16, else fp32")
    p.add_argument("--fp16", action="store_true", help="shorthand for --precision fp16 (CUDA only)")
    p.add_argument("--device", default="auto", help="auto, cpu or cuda (default auto)")


def engine_options(a: argparse.Namespace) -> tuple[str, str, str]:
    """(backend, precision, device) as the user asked; `choose_backend` resolves 'auto'."""
    device = ("cuda" if torch.cuda.is_available() else "cpu") if a.device == "auto" else a.device
    return a.backend, "fp16" if a.fp16 else a.precision, device


MODELS = ("auto", "full", "lite")


def add_model_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", default="auto", choices=MODELS,
                   help="full: VGG16 encoder + decoder; lite: the distilled quarter-width model, real time on CPUs; "
                        "auto (default): lite without a CUDA GPU, full with one")
    p.add_argument("--model-weights", default="default", choices=("default", "original-adain"),
                   help="'default' (shipped weights) or 'original-adain' (full model only; needs --vgg and --decoder)")
    p.add_argument("--vgg", help="encoder weights file (vgg_normalised.pth for original-adain)")
    p.add_argument("--decoder", help="decoder weights file (.pth or .safetensors)")


def model_choice(a: argparse.Namespace, device: str) -> tuple[str, str]:
    """(weights name for `engines.weights.resolve`, why): the why is printed at start."""
    if a.model_weights == "original-adain":
        if a.model == "lite":
            raise WeightsError("the original AdaIN files are a full model; drop --model lite")
        return "original-adain", "original AdaIN files"
    if a.model == "auto":
        if device.startswith("cuda"):
            return "default", "CUDA GPU: full model"
        if a.vgg or a.decoder:
            return "default", "weights files given: full model"
        return "lite", "no CUDA GPU: lite model"
    return ("lite" if a.model == "lite" else "default"), "requested"


def load_model(a: argparse.Namespace, device: str) -> tuple[AdaINModel, str]:
    """The model the command line asks for, on `device`, with why it was chosen."""
    name, why = model_choice(a, device)
    label = {"default": "full", "lite": "lite", "original-adain": "original AdaIN"}[name]
    return AdaINModel(*resolve(name, a.vgg, a.decoder)).eval().to(device), f"{label} ({why})"
