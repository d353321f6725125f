"""The command-line options that training and distillation share, and the config they become: one place for
the recipe's knobs, so that the two commands cannot drift apart."""
from __future__ import annotations

import argparse

from engines.options import count, device, non_negative, pixels, positive
from engines.training.trainer import TrainConfig


def decay(text: str) -> float:
    """A moving average's decay: 0 (off) up to, not including, 1."""
    value = float(text)
    if not 0.0 <= value < 1.0:
        raise argparse.ArgumentTypeError(f"{text}: a decay is at least 0 and below 1 (0.999, say)")
    return value


def add_training_args(p: argparse.ArgumentParser, iters: int, crop: int, save_every: int, lr_help: str) -> None:
    p.add_argument("--content", required=True, help="folder of content photos")
    p.add_argument("--style", required=True, help="folder of style images")
    p.add_argument("--out", required=True, help="folder for last.pt (resumed automatically) and loss.csv")
    p.add_argument("--iters", type=count, default=iters, help=f"total iterations to reach (default {iters})")
    p.add_argument("--batch", type=count, default=8, help="images per batch (default 8)")
    p.add_argument("--crop", type=pixels, default=crop, help=f"random crop side (default {crop})")
    p.add_argument("--crop-final", type=pixels, default=None,
                   help="grow the crops linearly from --crop to this side over the run (to --iters): cheap small "
                        "crops first, the paper's 256 by the end")
    p.add_argument("--load-size", type=pixels, default=512, help="shorter side images are resized to (default 512)")
    p.add_argument("--lr", type=float, default=None, help=f"Adam learning rate ({lr_help})")
    p.add_argument("--lr-decay", type=float, default=5e-5, help="lr / (1 + decay * iter) (default 5e-5)")
    p.add_argument("--style-weight", type=float, default=10.0, help="lambda (default 10)")
    p.add_argument("--identity-weight", type=float, default=0.0,
                   help="weight of the identity loss |g(f(c)) - c| (SANet, Park & Lee 2019); 0 (default) = the "
                        "AdaIN paper's recipe; helps a short training keep structure")
    p.add_argument("--warmup", type=non_negative, default=0,
                   help="first iterations train reconstruction |g(f(c)) - c| only (cheap; default 0)")
    p.add_argument("--save-every", type=count, default=save_every,
                   help=f"checkpoint interval in iterations (default {save_every})")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", type=device, default="auto", help="auto, cpu or cuda[:N] (auto: cuda when available)")
    p.add_argument("--precision", default="auto", choices=("auto", "fp32", "bf16", "fp16"),
                   help="autocast precision of the trained network and the loss network (auto: fp16 on CUDA, fp32 "
                        "on CPU)")
    p.add_argument("--threads", type=int, default=0, help="CPU threads (0: torch's default)")
    p.add_argument("--minutes", type=positive, help="stop after this many minutes of training, checkpointed and "
                                                     "exported (a GPU lent for minutes); the same command resumes")
    p.add_argument("--export", help="also write the trained network as fp16 safetensors here at each checkpoint")
    p.add_argument("--ema", type=decay, default=0.0,
                   help="also keep an exponential moving average of the weights with this decay (0.999, say: about "
                        "the last 1,000 steps) and export it beside --export as NAME.ema.safetensors; 0 (default) off")
    p.add_argument("--init", help="start from these decoder weights when --out holds no checkpoint (e.g. a "
                                  "shipped decoder, to fine-tune it)")
    p.add_argument("--skips", action="store_true",
                   help="train the skip decoder (engines/model/skips.py): relu3_1..relu1_1 after AdaIN join the "
                        "decoder at their resolutions through 1x1 convs that start at zero, so --init from a shipped "
                        "decoder starts where it is; every tool takes its file as --decoder")


def training_config(a: argparse.Namespace, lr: float, **fields: object) -> TrainConfig:
    """The parsed options as a TrainConfig; `lr` where --lr was not given, `fields` what the command fixes."""
    return TrainConfig(
        content_dir=a.content, style_dir=a.style, out_dir=a.out, iters=a.iters, batch=a.batch, crop=a.crop,
        crop_final=a.crop_final or 0, load_size=a.load_size, lr=a.lr if a.lr is not None else lr, lr_decay=a.lr_decay,
        style_weight=a.style_weight, identity_weight=a.identity_weight, warmup=a.warmup, save_every=a.save_every,
        seed=a.seed, device=a.device, threads=a.threads, export=a.export, precision=a.precision, init=a.init,
        minutes=a.minutes or 0.0, ema=a.ema, skips=a.skips, **fields,
    )
