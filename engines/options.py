"""The engine options every command line shares: --backend, --precision (--fp16), --device."""
from __future__ import annotations

import argparse

import torch

from engines.backends import BACKENDS, PRECISIONS


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
