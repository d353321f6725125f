"""Distil a CPU model (lite, micro) from a teacher encoder, in two resumable stages
(engines/training/distillation.py); the models' cards hold the commands that made the shipped files.

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
from engines.zoo.registry import ENCODER_SPECS, LOSS_NETWORKS  # noqa: E402

STUDENTS = tuple(n for n, e in ENCODER_SPECS.items() if not e.loss_network)


def parse_args(argv: list[str] | None = None) -> tuple[str, TrainConfig, str]:
    p = argparse.ArgumentParser(description="Distil a CPU model (encoder, then decoder) from a teacher encoder.")
    p.add_argument("stage", choices=("encoder", "decoder"),
                   help="encoder first (it regresses the teacher's features from batch content + batch style images), "
                        "then decoder (the teacher's AdaIN losses; --style-weight, --identity-weight and --warmup "
                        "apply to it); --init starts either stage from an encoder or decoder file of the student")
    add_training_args(p, iters=6000, crop=128, save_every=250, lr_help="default 2e-3 encoder, 1e-4 decoder")
    p.add_argument("--student", choices=STUDENTS, default="lite", help="the model distilled (default lite)")
    p.add_argument("--encoder", help="decoder stage: the distilled student encoder (default: the shipped one)")
    p.add_argument("--teacher", choices=tuple(ENCODER_SPECS), default="vgg19",
                   help="encoder stage: the encoder regressed; decoder stage: the loss network whose AdaIN losses "
                        f"train the decoder, one of {', '.join(LOSS_NETWORKS)} (default vgg19, the full model's)")
    p.add_argument("--mimic", metavar="DECODER",
                   help="decoder stage: also learn to reproduce the pictures of the teacher model, this decoder of "
                        "the --teacher loss network (the shipped engines/weights/decoder_vgg19.safetensors, say)")
    p.add_argument("--mimic-weight", type=float, default=100.0,
                   help="with --mimic: weight of the mean absolute difference from its pictures (default 100)")
    a = p.parse_args(argv)
    if a.mimic and a.stage != "decoder":
        p.error("--mimic belongs to the decoder stage")
    if a.skips and a.stage != "decoder":
        p.error("--skips belongs to the decoder stage")
    if a.teacher == a.student:
        p.error("--teacher must differ from --student")
    if a.stage == "decoder" and a.teacher not in LOSS_NETWORKS:
        p.error(f"the decoder stage's --teacher is a loss network: one of {', '.join(LOSS_NETWORKS)}")
    encoder = a.encoder or str(ENCODER_SPECS[a.student].file)
    return a.stage, training_config(a, lr=2e-3 if a.stage == "encoder" else 1e-4, layout=a.student,
                                       encoder=a.teacher, mimic=a.mimic, mimic_weight=a.mimic_weight), encoder


def main(argv: list[str] | None = None) -> int:
    stage, cfg, encoder_path = parse_args(argv)
    return guarded(lambda: run(stage, cfg, encoder_path))


if __name__ == "__main__":
    sys.exit(main())
