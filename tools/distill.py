"""Distil the lite CPU model from the full one's encoder, in two resumable stages (engines/training/distillation.py).

Example:
    python tools/distill.py encoder --content ../shared/data/train/content --style ../shared/data/train/style \\
        --out runs/lite_enc --iters 3000 --export engines/weights/lite_encoder.safetensors
    python tools/distill.py decoder --content ../shared/data/train/content --style ../shared/data/train/style \\
        --out runs/lite_dec --iters 6000 --export engines/weights/lite_decoder.safetensors
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from engines.training.distillation import run  # noqa: E402
from engines.training.options import add_training_args, training_config  # noqa: E402
from engines.training.trainer import TrainConfig, guarded  # noqa: E402
from engines.zoo.files import LITE_ENCODER  # noqa: E402
from engines.zoo.registry import LOSS_NETWORKS  # noqa: E402


def parse_args(argv: list[str] | None = None) -> tuple[str, TrainConfig, str]:
    p = argparse.ArgumentParser(description="Distil the lite CPU model (encoder, then decoder) from a teacher VGG.")
    p.add_argument("stage", choices=("encoder", "decoder"),
                   help="encoder first (it regresses the teacher's features from batch content + batch style images), "
                        "then decoder (the teacher's AdaIN losses; --style-weight, --identity-weight and --warmup "
                        "apply to it); --init starts either stage from a lite encoder or decoder file")
    add_training_args(p, iters=6000, crop=128, save_every=250, lr_help="default 2e-3 encoder, 1e-4 decoder")
    p.add_argument("--encoder", default=str(LITE_ENCODER),
                   help="decoder stage: the distilled lite encoder (default: the shipped one)")
    p.add_argument("--teacher", choices=LOSS_NETWORKS, default="vgg19",
                   help="the network distilled from and whose AdaIN losses train the decoder (default vgg19, the "
                        "full model's encoder; both stages must use the same one)")
    a = p.parse_args(argv)
    return a.stage, training_config(a, lr=2e-3 if a.stage == "encoder" else 1e-4, layout="lite",
                                       encoder=a.teacher), a.encoder


def main(argv: list[str] | None = None) -> int:
    stage, cfg, encoder_path = parse_args(argv)
    return guarded(lambda: run(stage, cfg, encoder_path))


if __name__ == "__main__":
    sys.exit(main())
