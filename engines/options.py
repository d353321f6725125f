"""The options every command line shares: --backend, --precision (--fp16), --device, --model with its
weights, and the argparse types that turn a nonsensical number into a usage error (exit 2) before any work."""
from __future__ import annotations

import argparse
import logging
import math
import re
import sys
from collections.abc import Callable
from pathlib import Path

import torch

from engines.backends import BACKENDS, PRECISIONS, machine
from engines.io.sizes import MIN_SIDE
from engines.model.adain import check_weights
from engines.model.network import AdaINModel
from engines.zoo.files import WeightsError
from engines.zoo.registry import GPU_DEFAULT, cli_models, cpu_default, resolve
from engines.zoo.registry import MODELS as REGISTRY


def _checked(text: str, parse: Callable[[str], float], ok: Callable[[float], bool], needs: str) -> float:
    try:
        value = parse(text)
    except ValueError:
        value = None
    if value is None or not ok(value):
        raise argparse.ArgumentTypeError(f"needs {needs}, got {text!r}")
    return value


def count(text: str) -> int:
    """A whole number, at least 1 (pairs, frames, batch sizes): zero of them would measure or make nothing."""
    return _checked(text, int, lambda n: n >= 1, "a whole number, at least 1")


def non_negative(text: str) -> int:
    """A whole number, 0 or more (0 turns a step off, as --warmup 0 or --e2e-frames 0)."""
    return _checked(text, int, lambda n: n >= 0, "a whole number, 0 or more")


def positive(text: str) -> float:
    """A finite number above 0 (scales, periods)."""
    return _checked(text, float, lambda x: 0 < x < math.inf, "a number above 0")


def seconds(text: str) -> float:
    """A time from the start of a file, 0 or more."""
    return _checked(text, float, lambda x: 0 <= x < math.inf, "a time in seconds, 0 or more")


def crf(text: str) -> int:
    """Video quality on H.264's scale, 0 (lossless) to 51: x264 silently clamped 100 and failed on -5 only
    after the model had loaded, leaving a partial file."""
    return _checked(text, int, lambda n: 0 <= n <= 51, "a whole number from 0 (best) to 51")


def pixels(text: str) -> int:
    """A side in pixels (crops, load sizes), at least MIN_SIDE."""
    return _checked(text, int, lambda n: n >= MIN_SIDE, f"a number of pixels, at least {MIN_SIDE}")


def image_side(text: str) -> int:
    """A shorter side in pixels: 0 keeps the picture's own size, else at least MIN_SIDE."""
    return _checked(text, int, lambda n: n == 0 or n >= MIN_SIDE,
                    f"0 (keep the size) or a number of pixels, at least {MIN_SIDE}")


def frame_size(text: str) -> tuple[int, int]:
    """'1280x720' -> (1280, 720): WIDTHxHEIGHT, the order screens and cameras use, each side at least MIN_SIDE."""
    w, _, h = text.partition("x")
    if not (w.isdigit() and h.isdigit()) or int(w) < MIN_SIDE or int(h) < MIN_SIDE:
        raise argparse.ArgumentTypeError(f"size must be WIDTHxHEIGHT, each at least {MIN_SIDE}, got {text!r}")
    return int(w), int(h)


def check_alpha(alpha: float) -> float:
    """The content-style trade-off is a mix of two feature maps: outside [0, 1] it extrapolates into noise."""
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"--alpha must be between 0 and 1, got {alpha:g}")
    return alpha


def style_weights(text: str | None, styles: int) -> list[float] | None:
    """--weights as given ('0.7,0.3'): one per style, non-negative, summing to 1; a ValueError says what is wrong."""
    if text is None:
        return None
    try:
        values = [float(x) for x in text.split(",")]
    except ValueError:
        raise ValueError(f"--weights must be numbers separated by commas, got {text!r}") from None
    return check_weights(values, styles)


def numbers(text: str) -> list[float]:
    """An argparse type: comma-separated numbers."""
    try:
        return [float(x) for x in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected numbers separated by commas, got {text!r}") from None


def listed(check: Callable[[str], object]) -> Callable[[str], list[str]]:
    """An argparse type for a comma list whose every item passes `check` (which raises ArgumentTypeError)."""
    def parse(text: str) -> list[str]:
        items = list(dict.fromkeys(text.split(",")))
        for item in items:
            check(item)
        return items
    return parse


def one_of(names: tuple[str, ...]) -> Callable[[str], str]:
    """An item check for `listed`: one of `names`."""
    def check(item: str) -> str:
        if item not in names:
            raise argparse.ArgumentTypeError(f"needs one or more of {', '.join(names)}, got {item!r}")
        return item
    return check


def device(text: str) -> str:
    """auto, cpu, cuda or cuda:N. CUDA asked for where torch has none (a CPU-only wheel, no driver) is a
    usage error here rather than a traceback from the first tensor moved there."""
    m = re.fullmatch(r"auto|cpu|cuda(?::(\d+))?", text)
    if not m:
        raise argparse.ArgumentTypeError(f"needs auto, cpu, cuda or cuda:N, got {text!r}")
    if text.startswith("cuda"):
        if not torch.cuda.is_available():
            build = "" if torch.version.cuda else "; this torch is a CPU-only build"
            raise argparse.ArgumentTypeError(f"{text!r}: no CUDA GPU is usable here{build}")
        if m.group(1) and int(m.group(1)) >= torch.cuda.device_count():
            raise argparse.ArgumentTypeError(f"{text!r}: this machine has {torch.cuda.device_count()} CUDA GPU(s)")
    return text


def resolve_device(name: str) -> str:
    """'auto' is the GPU when there is one."""
    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return name


def check_folder_of(path: Path | None, what: str) -> None:
    """A file the run will write must have a folder to go in, or the run would die after its work."""
    if path is not None and not path.resolve().parent.is_dir():
        raise ValueError(f"cannot write the {what} {path}: folder {path.resolve().parent} does not exist")


def check_appendable(path: Path | None, what: str) -> None:
    """A log the run will add lines to (kept, never truncated) can be opened for that, before any work."""
    if path is None:
        return
    check_folder_of(path, what)
    if path.is_dir():
        raise ValueError(f"cannot write the {what} {path}: it is a folder")
    try:
        with open(path, "a"):
            pass
    except OSError as e:
        raise ValueError(f"cannot write the {what} {path}: {e.strerror or e}") from None


def model_scale(text: str) -> float:
    """A fraction of the frame's side, above 0 and at most 1."""
    return _checked(text, float, lambda x: 0 < x <= 1, "a fraction above 0 and at most 1")


def add_engine_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--backend", default="auto", choices=("auto",) + BACKENDS,
                   help="inference backend (default auto: TensorRT on a GPU; on a CPU the fastest measured here)")
    p.add_argument("--precision", default="auto", choices=("auto",) + PRECISIONS,
                   help="auto: fp16 on a GPU, bf16 on CPUs with native bf16, else fp32")
    p.add_argument("--fp16", action="store_true", help="shorthand for --precision fp16 (CUDA only)")
    p.add_argument("--device", type=device, default="auto", help="auto, cpu or cuda[:N] (default auto)")
    p.add_argument("--model-scale", type=model_scale, default=None,
                   help="run the network at this fraction of the frame's sides and bring its result back to full "
                        "size along the frame's own edges (guided upsampling): 0.5 is about a third of the time, "
                        "with much less of the style's fine texture (BENCHMARKS.md; default 1)")


def engine_options(a: argparse.Namespace) -> tuple[str, str, str]:
    """(backend, precision, device) as the user asked; `choose_backend` resolves 'auto'."""
    return a.backend, "fp16" if a.fp16 else a.precision, resolve_device(a.device)


MODELS = cli_models()


def add_model_args(p: argparse.ArgumentParser, offline: bool = False) -> None:
    """offline: a tool whose result is kept (an image, a video file) puts quality first, so auto takes the full
    model on a CPU too; the live app keeps the model that runs in real time there."""
    models = "; ".join(f"{m.name}: {m.description} (card: {m.card.relative_to(m.card.parents[2])})"
                       for m in REGISTRY.values() if not m.files_only)
    cpu = f"{cpu_default(True)} on CPUs with native bf16, {cpu_default(False)} on the others"
    auto = (f"{GPU_DEFAULT} (offline work: quality first, even without a GPU; {cpu} are faster)" if offline
            else f"without a CUDA GPU {cpu}; {GPU_DEFAULT} with one")
    p.add_argument("--model", default="auto", choices=MODELS, help=f"{models}; auto (default): {auto}")
    p.set_defaults(offline_model=offline)
    p.add_argument("--model-weights", default="default", choices=("default", "original-adain"),
                   help="'default' (shipped weights) or 'original-adain' (full model only; needs --vgg and --decoder)")
    p.add_argument("--vgg", help="encoder weights file (vgg_normalised.pth for original-adain)")
    p.add_argument("--decoder", help="decoder weights file (.pth or .safetensors)")


def model_choice(a: argparse.Namespace, device: str) -> tuple[str, str]:
    """(model name in engines.zoo.registry, why): the why is printed at start."""
    if a.model_weights == "original-adain":
        if a.model not in ("auto", GPU_DEFAULT):
            raise WeightsError(f"the original AdaIN files are a full model; drop --model {a.model}")
        return "original-adain", "original AdaIN files"
    if a.model == "auto":
        if device.startswith("cuda"):
            return GPU_DEFAULT, "CUDA GPU: full model"
        if a.vgg or a.decoder:
            return GPU_DEFAULT, "weights files given: full model"
        if getattr(a, "offline_model", False):
            return GPU_DEFAULT, "offline work: quality first"
        native = machine.cpu_has_bf16()
        name = cpu_default(native)
        return name, f"no CUDA GPU, CPU {'with' if native else 'without'} native bf16: {name} model"
    return a.model, "requested"


def load_model(a: argparse.Namespace, device: str) -> tuple[AdaINModel, str]:
    """The model the command line asks for, on `device`, with why it was chosen."""
    name, why = model_choice(a, device)
    return resolve(name, a.vgg, a.decoder).eval().to(device), f"{name} ({why})"


def say_engine_builds() -> None:
    """Print what the engine builder says (a compile that takes up to a minute the first time) on stderr, for the
    tools that do not set up logging themselves: otherwise the wait before the progress bar is silent."""
    log = logging.getLogger("engines")
    if not any(getattr(h, "_says_builds", False) for h in log.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(message)s"))
        handler._says_builds = True  # once, however often a tool's main() is called in one process
        log.addHandler(handler)
        log.setLevel(logging.INFO)
