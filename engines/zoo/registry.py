"""Which models exist, one record each (in the spirit of torchvision's weight enums), and the fixed encoders
they are built on.

A model is an encoder (fixed, an `EncoderSpec` below, or a file the user gives) and a decoder of the same
layout. The command lines' ``--model`` choices, the names the tools print, which model ``auto`` picks, and
which loss network judges a model all come from here: adding a model is one `ModelSpec` plus its weight
files and card; adding an encoder, one `EncoderSpec` and its loader (a distilled
student's is `student(name, layout, file)`).
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from engines.model.network import AdaINModel
from engines.model.skips import adain_model
from engines.model.vgg import LITE, MICRO, VGG16, VGG19, Encoder, VGGLayout
from engines.zoo.files import (
    DEFAULT_DECODER, HED_DECODER, LITE_DECODER, LITE_ENCODER, MICRO_DECODER, MICRO_ENCODER, WEIGHTS_DIR, WeightsError,
    load_decoder, load_encoder,
)
from engines.zoo.hed_vgg16 import vgg16_encoder
from engines.zoo.imagenet_vgg19 import imagenet_vgg19_encoder


@dataclass(frozen=True)
class EncoderSpec:
    """A fixed encoder by name; a decoder mirrors its encoder's layout."""

    name: str
    layout: VGGLayout
    load: Callable[[], Encoder]
    loss_network: bool  # decoders are trained against it and results judged by it (the students only run)
    file: Path | None = None  # a distilled student's shipped weights (what tools/distill.py writes)


def student(name: str, layout: VGGLayout, file: Path) -> EncoderSpec:
    """A distilled encoder: its shipped file (what tools/distill.py writes) loaded in its layout, no loader of its own."""
    return EncoderSpec(name, layout, lambda: load_encoder(layout, file), loss_network=False, file=file)


ENCODER_SPECS: dict[str, EncoderSpec] = {e.name: e for e in (
    EncoderSpec("vgg16-hed", VGG16, vgg16_encoder, loss_network=True),
    EncoderSpec("vgg19", VGG19, imagenet_vgg19_encoder, loss_network=True),
    student("lite", LITE, LITE_ENCODER),  # quarter width, distilled from the full model's VGG19
    student("micro", MICRO, MICRO_ENCODER),  # separable, distilled from lite
)}
ENCODERS: dict[str, Callable[[], Encoder]] = {n: e.load for n, e in ENCODER_SPECS.items()}
ENCODER_LAYOUTS: dict[str, VGGLayout] = {n: e.layout for n, e in ENCODER_SPECS.items()}
LOSS_NETWORKS = tuple(n for n, e in ENCODER_SPECS.items() if e.loss_network)


def encoder_by_name(name: str) -> Encoder:
    if name not in ENCODERS:
        raise WeightsError(f"unknown encoder {name!r}; choose one of {', '.join(ENCODERS)}")
    return ENCODERS[name]()


@dataclass(frozen=True)
class ModelSpec:
    name: str                 # what --model takes and the tools print
    description: str          # one line for --help
    layout: VGGLayout
    encoder: str | None       # a fixed encoder (ENCODER_SPECS); None: the user's --vgg file
    decoder: Path | None      # the shipped decoder; None: the user's --decoder file
    card: Path | None         # the model card beside the weights
    judge: str = "vgg16-hed"  # the loss network its quality is measured with (what it was trained against)
    live_on_cpu: str | None = None  # auto's live choice without a CUDA GPU: "bf16" (native bf16) or "fp32" (others)
    files_only: bool = False  # only with the user's own files (--model-weights)


MODELS: dict[str, ModelSpec] = {m.name: m for m in (
    ModelSpec("full", "ImageNet VGG19 encoder + decoder (the paper's network)", VGG19, "vgg19", DEFAULT_DECODER,
              WEIGHTS_DIR / "decoder_vgg19.md", judge="vgg19"),
    ModelSpec("lite", "the quarter-width model distilled from the full one's VGG19, real time on CPUs", LITE, "lite",
              LITE_DECODER, WEIGHTS_DIR / "lite.md", judge="vgg19", live_on_cpu="bf16"),
    ModelSpec("micro", "separable convs at a ninth of lite's FLOPs, for laptop CPUs without native bf16", MICRO,
              "micro", MICRO_DECODER, WEIGHTS_DIR / "micro.md", judge="vgg19", live_on_cpu="fp32"),
    ModelSpec("hed", "VGG16 (from the HED edge detector) encoder + decoder, superseded by full", VGG16,
              "vgg16-hed", HED_DECODER, WEIGHTS_DIR / "decoder_vgg16.md"),
    ModelSpec("original-adain", "the original AdaIN release's vgg_normalised.pth and decoder.pth", VGG19, None,
              None, None, judge="vgg19", files_only=True),
)}
ALIASES = {"default": "full"}  # the weights name of earlier versions
GPU_DEFAULT = "full"  # auto's choice with a CUDA GPU


def spec(name: str) -> ModelSpec:
    name = ALIASES.get(name, name)
    if name not in MODELS:
        raise WeightsError(f"unknown model {name!r}; choose one of {', '.join(MODELS)}")
    return MODELS[name]


def cli_models() -> tuple[str, ...]:
    """The --model choices: auto and every model that ships its own weights."""
    return ("auto", *(m.name for m in MODELS.values() if not m.files_only))


def cpu_default(native_bf16: bool) -> str:
    """auto's live model without a CUDA GPU, for this CPU's class (engines.backends.machine.cpu_has_bf16): the two
    classes BENCHMARKS.md measures apart, servers with native bf16 (AVX512-BF16 or AMX), where lite runs in real
    time, and the rest (AVX2: most laptops), where only micro does."""
    return next(m.name for m in MODELS.values() if m.live_on_cpu == ("bf16" if native_bf16 else "fp32"))


def resolve(name: str = "full", vgg: str | Path | None = None, decoder: str | Path | None = None) -> AdaINModel:
    """A model by name, its encoder and decoder loaded (a skip decoder makes the skip model); explicit files
    override the shipped ones."""
    m = spec(name)
    if m.files_only and (vgg is None or decoder is None):
        raise WeightsError(f"model {m.name!r} needs --vgg and --decoder files ({m.description})")
    encoder = load_encoder(m.layout, Path(vgg)) if vgg is not None else encoder_by_name(m.encoder)
    return adain_model(encoder, load_decoder(m.layout, Path(decoder) if decoder is not None else m.decoder))
