"""Distil the lite CPU model from the VGG16 one, in two resumable stages.

1. ``encoder``: the quarter-width encoder learns to reproduce VGG16's
   relu1_1..relu4_1 through small learned 1x1 projections (FitNets-style feature
   regression, as collaborative distillation does for style transfer, Wang et
   al. CVPR 2020), on photos and paintings alike.
2. ``decoder``: the lite decoder inverts the lite encoder's AdaIN target while
   the losses are the VGG16 teacher's: content at relu4_1 against the teacher's
   AdaIN target, style statistics at relu1_1..relu4_1 (tools/train.py's recipe).

Same data folders, checkpoints, CSV log and exact resume as tools/train.py.

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

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from torch import Tensor, nn  # noqa: E402

from engines.adain import adain, mean_std  # noqa: E402
from engines.options import count, device, pixels, whole  # noqa: E402
from engines.vgg import LITE, Decoder, Encoder  # noqa: E402
from engines.weights import LITE_ENCODER, lite_encoder, save_net  # noqa: E402
from tools.train import TrainConfig, Trainer, fit, guarded  # noqa: E402

TAPS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1")


class Projections(nn.Module):
    """1x1 convs from the student's widths to the teacher's: used in training only, never shipped."""

    def __init__(self, student: tuple[int, ...], teacher: tuple[int, ...]) -> None:
        super().__init__()
        self.convs = nn.ModuleList(nn.Conv2d(s, t, 1) for s, t in zip(student, teacher))
        for conv in self.convs:
            nn.init.ones_(conv.bias)  # the targets are scaled to average 1: start there, not at 0

    def forward(self, feats: list[Tensor]) -> list[Tensor]:
        return [conv(f) for conv, f in zip(self.convs, feats)]


class EncoderDistiller(Trainer):
    """Stage 1: student encoder + projections regress the teacher's four style layers."""

    LOG_COLUMNS = ("loss", *TAPS, "lr")
    STATE_KEY = "student"

    def build(self) -> nn.Module:
        student = Encoder(LITE)
        for m in student.modules():  # He init: PyTorch's default shrinks the signal ~5x per layer
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
                nn.init.zeros_(m.bias)
        return nn.ModuleDict({"encoder": student, "proj": Projections(student.channels, self.encoder.channels)})

    @property
    def student(self) -> Encoder:
        return self.net["encoder"]

    def losses(self, content: Tensor, style: Tensor) -> dict[str, Tensor]:
        """Photos and paintings both: the encoder must describe styles as well as content."""
        x = torch.cat([content, style])
        with torch.no_grad(), self.autocast():
            target = self.encoder.features(x)
        with self.autocast():
            pred = self.net["proj"](self.student.features(x))
        # targets divided by each layer's mean activation: every layer counts alike, and the
        # projections regress values near 1 rather than the teacher's raw 0-100 range
        parts = [F.mse_loss(p.float(), t.float() / k) for p, t, k in zip(pred, target, self.scales)]
        return {"loss": torch.stack(parts).sum()} | dict(zip(TAPS, parts))


class LiteDecoderTrainer(Trainer):
    """Stage 2: the lite decoder, driven by the teacher's AdaIN losses, decoding the student's features."""

    def __init__(self, cfg: TrainConfig, student: Encoder, encoder: Encoder | None = None) -> None:
        self.student = student.eval().requires_grad_(False)
        super().__init__(cfg, encoder)
        self.student.to(self.device)

    def build(self) -> nn.Module:
        return Decoder(LITE)

    def own_features(self, content: Tensor) -> Tensor:
        return self.student(content)

    def decoder_inputs(self, content: Tensor, style: Tensor, c4: Tensor,
                       s4_stats: tuple[Tensor, Tensor]) -> tuple[Tensor, Tensor]:
        own = self.own_features(content)
        return adain(own, *mean_std(self.student(style))), own


def parse_args(argv: list[str] | None = None) -> tuple[str, TrainConfig, str]:
    p = argparse.ArgumentParser(description="Distil the lite CPU model (encoder, then decoder) from VGG16.")
    p.add_argument("stage", choices=("encoder", "decoder"), help="encoder first, then decoder")
    p.add_argument("--content", required=True, help="folder of content photos")
    p.add_argument("--style", required=True, help="folder of style images")
    p.add_argument("--out", required=True, help="folder for last.pt (resumed automatically) and loss.csv")
    p.add_argument("--encoder", default=str(LITE_ENCODER),
                   help="decoder stage: the distilled lite encoder (default: the shipped one)")
    p.add_argument("--iters", type=count, default=6000, help="total iterations to reach (default 6000)")
    p.add_argument("--batch", type=count, default=8, help="images per batch (default 8; the encoder stage uses "
                                                        "batch content + batch style images)")
    p.add_argument("--crop", type=pixels, default=128, help="random crop side (default 128)")
    p.add_argument("--load-size", type=pixels, default=512, help="shorter side images are resized to (default 512)")
    p.add_argument("--lr", type=float, default=None, help="Adam learning rate (default 2e-3 encoder, 1e-4 decoder)")
    p.add_argument("--lr-decay", type=float, default=5e-5, help="lr / (1 + decay * iter) (default 5e-5)")
    p.add_argument("--style-weight", type=float, default=10.0, help="decoder stage: lambda (default 10)")
    p.add_argument("--identity-weight", type=float, default=0.0,
                   help="decoder stage: weight of |g(f(c)) - c| (see tools/train.py; default 0)")
    p.add_argument("--warmup", type=whole, default=0,
                   help="decoder stage: first iterations train reconstruction only (no teacher; cheap)")
    p.add_argument("--save-every", type=count, default=250, help="checkpoint interval in iterations")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", type=device, default="auto", help="auto, cpu or cuda[:N]")
    p.add_argument("--precision", default="auto", choices=("auto", "fp32", "bf16", "fp16"),
                   help="autocast precision (auto: fp16 on CUDA, fp32 on CPU)")
    p.add_argument("--threads", type=int, default=0, help="CPU threads (0: torch's default)")
    p.add_argument("--export", help="write the trained encoder/decoder as fp16 safetensors here at each checkpoint")
    p.add_argument("--init", help="decoder stage: start from these lite decoder weights when --out holds no "
                                  "checkpoint (e.g. engines/weights/lite_decoder.safetensors to fine-tune it)")
    a = p.parse_args(argv)
    if a.init and a.stage == "encoder":
        p.error("--init applies to the decoder stage only")
    lr = a.lr if a.lr is not None else (2e-3 if a.stage == "encoder" else 1e-4)
    cfg = TrainConfig(
        content_dir=a.content, style_dir=a.style, out_dir=a.out, iters=a.iters, batch=a.batch, crop=a.crop,
        load_size=a.load_size, lr=lr, lr_decay=a.lr_decay, style_weight=a.style_weight,
        identity_weight=a.identity_weight, warmup=a.warmup, save_every=a.save_every, seed=a.seed, device=a.device,
        threads=a.threads, export=a.export, precision=a.precision, layout="lite", init=a.init,
    )
    return a.stage, cfg, a.encoder


def make_trainer(stage: str, cfg: TrainConfig, encoder_path: str) -> Trainer:
    if stage == "encoder":
        return EncoderDistiller(cfg)
    return LiteDecoderTrainer(cfg, lite_encoder(Path(encoder_path)))


def main(argv: list[str] | None = None) -> int:
    stage, cfg, encoder_path = parse_args(argv)

    def work() -> None:
        if cfg.threads:
            torch.set_num_threads(cfg.threads)
        trainer = make_trainer(stage, cfg, encoder_path)
        meta = {"stage": stage, "crop": str(cfg.crop), "batch": str(cfg.batch)}
        module = trainer.student if stage == "encoder" else trainer.decoder

        def export() -> None:
            save_net(module, Path(cfg.export), meta | {"iterations": str(trainer.iter)})

        start = (lambda: trainer.init_decoder(Path(cfg.init))) if cfg.init else None
        fit(trainer, Path(cfg.out_dir), cfg.iters, cfg.save_every, export if cfg.export else None, start, cfg.minutes)

    return guarded(work)


if __name__ == "__main__":
    sys.exit(main())
