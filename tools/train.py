"""Train the AdaIN decoder for a fixed VGG encoder (the recipe: engines/training/trainer.py).

Checkpoints resume exactly: the same command continues a run.

Example:
    python tools/train.py --content ../shared/data/train/content --style ../shared/data/train/style \\
        --out runs/vgg19 --iters 160000 --export engines/weights/decoder_vgg19.safetensors
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from engines.training.options import add_training_args, training_config  # noqa: E402
from engines.training.trainer import TrainConfig, guarded, run  # noqa: E402
from engines.zoo.registry import ENCODER_LAYOUTS, LOSS_NETWORKS  # noqa: E402


def parse_args(argv: list[str] | None = None) -> TrainConfig:
    p = argparse.ArgumentParser(description="Train the AdaIN decoder for a fixed VGG encoder.")
    add_training_args(p, iters=160_000, crop=256, save_every=500, lr_help="default 1e-4")
    p.add_argument("--encoder", choices=LOSS_NETWORKS, default="vgg19",
                   help="encoder and loss network: vgg19 (default: ImageNet VGG19, normalised, the paper's and the "
                        "full model's) or vgg16-hed (the earlier model, --model hed)")
    a = p.parse_args(argv)
    return training_config(a, lr=1e-4, encoder=a.encoder, layout=ENCODER_LAYOUTS[a.encoder].name)


def main(argv: list[str] | None = None) -> int:
    cfg = parse_args(argv)
    return guarded(lambda: run(cfg))


if __name__ == "__main__":
    sys.exit(main())
