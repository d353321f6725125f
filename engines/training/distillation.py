"""Distilling a CPU model (lite, or micro) from a teacher encoder, in two resumable stages.

1. ``encoder``: the student encoder (lite from the full model's VGG19, micro from lite)
   learns to reproduce the teacher's relu1_1..relu4_1 through small learned 1x1 projections (FitNets-style feature
   regression, as collaborative distillation does for style transfer, Wang et
   al. CVPR 2020), on photos and paintings alike.
2. ``decoder``: the student's decoder inverts the student encoder's AdaIN target while
   the losses are a loss network's (VGG19): content at relu4_1 against that network's
   AdaIN target, style statistics at relu1_1..relu4_1 (engines/training/trainer.py's recipe).

Same data folders, checkpoints, CSV log and exact resume as engines/training/trainer.py.
"""
from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from engines.model.adain import adain, mean_std
from engines.model.skips import SkipDecoder
from engines.model.vgg import LAYOUTS, Encoder
from engines.training.trainer import TrainConfig, Trainer, export, fit
from engines.zoo.files import load_decoder, load_encoder

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
        student = Encoder(LAYOUTS[self.cfg.layout])
        for m in student.modules():  # He init: PyTorch's default shrinks the signal ~5x per layer
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
                nn.init.zeros_(m.bias)
        return nn.ModuleDict({"encoder": student, "proj": Projections(student.channels, self.encoder.channels)})

    @property
    def student(self) -> Encoder:
        return self.net["encoder"]

    def shipped(self, net: nn.Module) -> nn.Module:
        return net["encoder"]  # the projections are never shipped

    def init_student(self, path: Path) -> None:
        """--init in this stage starts the student from an encoder file of its layout (the shipped one, say, to
        move it to a new teacher); the projections start afresh."""
        self.student.load_state_dict(load_encoder(self.student.layout, path).state_dict())
        self.restart_average()

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


class StudentDecoderTrainer(Trainer):
    """Stage 2: the student's decoder (cfg.layout), driven by the loss network's AdaIN losses, decoding the
    student encoder's features; with `cfg.mimic`, also towards the teacher model's own pictures."""

    LOG_COLUMNS = ("loss", "content", "style", "identity", "mimic", "lr")

    def __init__(self, cfg: TrainConfig, student: Encoder, encoder: Encoder | None = None) -> None:
        self.student = student.eval().requires_grad_(False)
        super().__init__(cfg, encoder)
        self.student.to(self.device)
        self.teacher = None
        if cfg.mimic:
            self.teacher = load_decoder(self.encoder.layout, Path(cfg.mimic)).to(self.device)

    def picture_losses(self, out: Tensor, targets: list[Tensor]) -> dict[str, Tensor]:
        """The teacher's picture of the same pair (its decoder on its loss network's AdaIN targets: relu4_1's,
        or every level's for a skip teacher): a dense target for the layout that the statistics-only style loss
        and the relu4_1 content loss leave loose."""
        if self.teacher is None:
            return {"mimic": torch.zeros((), device=out.device)}
        with torch.no_grad(), self.autocast():
            want = self.teacher(targets if isinstance(self.teacher, SkipDecoder) else targets[-1])
        return {"mimic": (out.float() - want.float()).abs().mean()}

    def own_features(self, content: Tensor) -> Tensor | list[Tensor]:
        return self.student.features(content) if self.cfg.skips else self.student(content)

    def decoder_inputs(self, content: Tensor, style: Tensor, c_feats: list[Tensor],
                       targets: list[Tensor]) -> tuple[object, object]:
        own = self.own_features(content)
        if self.cfg.skips:  # the student's every level, each with its own statistics of the style
            stats = [mean_std(f) for f in self.student.features(style)]
            return [adain(f, *st) for f, st in zip(own, stats)], own
        return adain(own, *mean_std(self.student(style))), own


def make_trainer(stage: str, cfg: TrainConfig, encoder_path: str) -> Trainer:
    if stage == "encoder":
        return EncoderDistiller(cfg)
    return StudentDecoderTrainer(cfg, load_encoder(LAYOUTS[cfg.layout], Path(encoder_path)))


def run(stage: str, cfg: TrainConfig, encoder_path: str) -> Trainer:
    """One stage, resumed from its folder's checkpoint; the student encoder or its decoder exported."""
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    trainer = make_trainer(stage, cfg, encoder_path)
    init = trainer.init_student if stage == "encoder" else trainer.init_decoder
    start = (lambda: init(Path(cfg.init))) if cfg.init else None
    write = (lambda: export(trainer, Path(cfg.export), {"stage": stage})) if cfg.export else None
    fit(trainer, Path(cfg.out_dir), cfg.iters, cfg.save_every, write, start, cfg.minutes)
    return trainer
