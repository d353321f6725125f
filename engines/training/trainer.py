"""Training the AdaIN decoder (Huang & Belongie 2017) against a fixed VGG encoder.

Recipe: content loss at relu4_1 against the AdaIN target, style loss on
mean/std at relu1_1..relu4_1 weighted by lambda, Adam lr 1e-4 decayed as
lr / (1 + 5e-5 * iter), batch 8, images resized to 512 then random 256 crops.
Checkpoints resume exactly (model, optimizer, sampling generator, iteration);
`fit` is the loop every trainer here shares (engines/training/distillation.py too).
"""
from __future__ import annotations

import copy
import csv
import pickle
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import torch
from torch import nn

from engines.io.atomic_write import write_atomically
from engines.io.images import ImageError
from engines.model.adain import adain, mean_std
from engines.model.skips import SkipDecoder
from engines.model.vgg import LAYOUTS, Decoder, Encoder
from engines.options import resolve_device
from engines.training.image_pool import ImagePool
from engines.training.losses import adain_losses, layer_scales
from engines.zoo.files import WeightsError, load_decoder, save_net
from engines.zoo.registry import encoder_by_name


@dataclass
class TrainConfig:
    content_dir: str
    style_dir: str
    out_dir: str
    iters: int = 160_000
    batch: int = 8
    crop: int = 256
    crop_final: int = 0  # crops grow linearly from `crop` to this over the run (0: fixed at `crop`)
    load_size: int = 512
    lr: float = 1e-4
    lr_decay: float = 5e-5
    style_weight: float = 10.0
    content_weight: float = 1.0
    identity_weight: float = 0.0  # SANet's identity loss |g(f(c)) - c|; 0 = the AdaIN paper's recipe
    warmup: int = 0  # first iterations train reconstruction only (cheap: no loss network)
    save_every: int = 500
    seed: int = 0
    device: str = "auto"
    threads: int = 0
    scale_images: int = 16  # images used to measure each layer's activation scale
    encoder: str = "vgg16-hed"  # the fixed encoder and loss network (engines.zoo.registry.ENCODER_SPECS)
    layout: str = "vgg16"  # the decoder's layout, the encoder's (ENCODER_LAYOUTS)
    precision: str = "auto"  # auto (fp16 on CUDA, fp32 on CPU), fp32, bf16, fp16
    export: str | None = None
    init: str | None = None  # decoder weights to start from when there is no checkpoint yet
    minutes: float = 0.0  # stop (checkpointed, exported) after this much training time; 0: at `iters` only
    ema: float = 0.0  # decay of an exponential moving average of the weights, exported beside them; 0: none
    skips: bool = False  # the skip decoder (engines/model/skips.py) instead of the paper's single-level one
    mimic: str | None = None  # a student's: the teacher's decoder, whose pictures it also learns to reproduce
    mimic_weight: float = 0.0  # weight of |student's picture - teacher's picture| (L1 in [0, 1])
    extra: dict = field(default_factory=dict)


class Trainer:
    """One decoder, one fixed encoder, Adam; `step()` runs one iteration of the paper's recipe."""

    LOG_COLUMNS = ("loss", "content", "style", "identity", "lr")
    STATE_KEY = "decoder"  # what the trained module is called in checkpoints

    def __init__(self, cfg: TrainConfig, encoder: Encoder | None = None) -> None:
        self.cfg = cfg
        self.device = torch.device(resolve_device(cfg.device))
        self.encoder = (encoder if encoder is not None else encoder_by_name(cfg.encoder)).to(self.device).eval()
        self.encoder.requires_grad_(False)
        torch.manual_seed(cfg.seed)
        self.net = self.build().to(self.device)
        # Polyak averaging: the average of the last ~1/(1-decay) steps' weights is a less noisy decoder than
        # the last step's, at no training cost
        self.ema = copy.deepcopy(self.net).requires_grad_(False) if cfg.ema > 0 else None
        self.opt = torch.optim.Adam(self.net.parameters(), lr=cfg.lr)
        self.gen = torch.Generator().manual_seed(cfg.seed)
        largest = max(cfg.crop, cfg.crop_final)
        self.content = ImagePool(cfg.content_dir, cfg.load_size, largest, "content")
        self.style = ImagePool(cfg.style_dir, cfg.load_size, largest, "style")
        self.iter = 0
        precision = cfg.precision if cfg.precision != "auto" else ("fp16" if self.device.type == "cuda" else "fp32")
        self.amp_dtype = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}[precision]
        self.scaler = torch.amp.GradScaler(self.device.type, enabled=self.amp_dtype == torch.float16)
        self.scales = self.measure_scales()

    def build(self) -> nn.Module:
        """The module this trainer optimises."""
        return (SkipDecoder if self.cfg.skips else Decoder)(LAYOUTS[self.cfg.layout])

    @property
    def decoder(self) -> nn.Module:
        return self.net

    def shipped(self, net: nn.Module) -> nn.Module:
        """The part of `net` (the trained module or its average) that an export writes."""
        return net

    def update_average(self) -> None:
        # the decay ramps up from 0.1 (TensorFlow's num_updates rule) so that a short or fresh run's average is
        # not dominated by where it started
        d = min(self.cfg.ema, (1 + self.iter) / (10 + self.iter))
        with torch.no_grad():
            for a, p in zip(self.ema.state_dict().values(), self.net.state_dict().values()):
                if a.is_floating_point():
                    a.lerp_(p, 1.0 - d)
                else:
                    a.copy_(p)

    def restart_average(self) -> None:
        if self.ema is not None:
            self.ema.load_state_dict(self.net.state_dict())

    def measure_scales(self) -> list[float]:
        """Each style layer's mean activation on the first images, so every layer counts alike."""
        n = max(1, self.cfg.scale_images // 2)
        imgs = self.content.images[:n] + self.style.images[:n]
        crops = [torch.from_numpy(img[: self.cfg.crop, : self.cfg.crop].copy()).permute(2, 0, 1)[None]
                 .float().div(255).to(self.device) for img in imgs]
        return layer_scales(self.encoder.features, crops)

    def autocast(self) -> torch.autocast:
        """Mixed precision for the networks' forward passes (a no-op in fp32)."""
        return torch.autocast(self.device.type, dtype=self.amp_dtype, enabled=self.amp_dtype is not None)

    def lr(self) -> float:
        return self.cfg.lr / (1.0 + self.cfg.lr_decay * self.iter)

    def crop(self) -> int:
        """This iteration's crop side: small cheap crops first, the paper's context (and the scale pictures are
        judged at) by the end; a multiple of 8, as the decoder's three poolings need."""
        if not self.cfg.crop_final:
            return self.cfg.crop
        done = min(1.0, self.iter / max(1, self.cfg.iters))
        return int(self.cfg.crop + (self.cfg.crop_final - self.cfg.crop) * done) // 8 * 8

    def own_features(self, content: torch.Tensor) -> torch.Tensor:
        """The features the decoder inverts when it reconstructs the content itself (every level for skips)."""
        return self.encoder.features(content) if self.cfg.skips else self.encoder(content)

    def decoder_inputs(self, content: torch.Tensor, style: torch.Tensor, c_feats: list[torch.Tensor],
                       targets: list[torch.Tensor]) -> tuple[object, object]:
        """What the decoder decodes: the AdaIN target, and the content's own features (identity loss), from the
        loss network's relu1_1..relu4_1 of the content and their AdaIN targets.

        Here both are the loss network's own relu4_1, or every level for the skip decoder (engines/model/skips.py);
        a distilled student overrides this with its own features.
        """
        if self.cfg.skips:
            return targets, c_feats
        return targets[-1], c_feats[-1]

    def losses(self, content: torch.Tensor, style: torch.Tensor) -> dict[str, torch.Tensor]:
        if self.iter < self.cfg.warmup:
            return self.warmup_losses(content)
        with torch.no_grad():
            c_feats = self.encoder.features(content)
            s_stats = [mean_std(f) for f in self.encoder.features(style)]
            targets = [adain(f, *st) for f, st in zip(c_feats, s_stats)]  # every level's: skips, a skip teacher
            t = targets[-1]
            dec_in, dec_own = self.decoder_inputs(content, style, c_feats, targets)
        with self.autocast():
            out = self.decoder(dec_in)
            o_feats = self.encoder.features(out)
        lc, ls = adain_losses(o_feats, t, s_stats, self.scales)
        total = self.cfg.content_weight * lc + self.cfg.style_weight * ls
        extra = self.picture_losses(out, targets)
        for name, value in extra.items():
            total = total + getattr(self.cfg, f"{name}_weight") * value
        li = torch.zeros((), device=content.device)
        if self.cfg.identity_weight > 0:
            # Park & Lee 2019 (SANet): decoding the content's own features must give the content back.
            # relu4_1 alone does not pin pixels down, and without this a briefly trained decoder
            # invents texture in place of structure.
            with self.autocast():
                recon = self.decoder(dec_own)
            li = (recon.float() - content).abs().mean()
            total = total + self.cfg.identity_weight * li
        return {"loss": total, "content": lc, "style": ls, "identity": li} | extra

    def picture_losses(self, out: torch.Tensor, targets: list[torch.Tensor]) -> dict[str, torch.Tensor]:
        """Further terms on the decoded picture `out` of the loss network's AdaIN targets (relu1_1..relu4_1, each
        with the style's statistics of its level), each weighted by the config's `<name>_weight`: none here (a
        student adds its teacher's picture)."""
        return {}

    def warmup_losses(self, content: torch.Tensor) -> dict[str, torch.Tensor]:
        """Reconstruction only: a decoder that already inverts its encoder starts the style losses from
        pictures rather than noise, and these steps cost a fraction of a full one."""
        with torch.no_grad():
            own = self.own_features(content)
        with self.autocast():
            recon = self.decoder(own)
        li = (recon.float() - content).abs().mean()
        zero = torch.zeros((), device=content.device)
        return {"loss": li, "content": zero, "style": zero, "identity": li} | {c: zero for c in self.LOG_COLUMNS
                                                                              if c not in ("loss", "identity", "lr")}

    def step(self) -> dict[str, float]:
        for g in self.opt.param_groups:
            g["lr"] = self.lr()
        self.content.crop = self.style.crop = self.crop()
        content = self.content.batch(self.cfg.batch, self.gen).to(self.device, non_blocking=True)
        style = self.style.batch(self.cfg.batch, self.gen).to(self.device, non_blocking=True)
        self.net.train()
        parts = self.losses(content, style)
        self.opt.zero_grad(set_to_none=True)
        self.scaler.scale(parts["loss"]).backward()
        self.scaler.step(self.opt)
        self.scaler.update()
        self.iter += 1
        if self.ema is not None:
            self.update_average()
        return {k: float(v.detach()) for k, v in parts.items()} | {"lr": self.opt.param_groups[0]["lr"]}

    def state(self) -> dict:
        return {
            "iter": self.iter,
            self.STATE_KEY: self.net.state_dict(),
            "opt": self.opt.state_dict(),
            "scaler": self.scaler.state_dict(),
            "gen": self.gen.get_state(),
            "scales": torch.tensor(self.scales),
            "config": {k: v for k, v in asdict(self.cfg).items() if isinstance(v, (int, float, str))},
        } | ({"ema": self.ema.state_dict()} if self.ema is not None else {})

    def load_state(self, state: dict) -> None:
        self.iter = int(state["iter"])
        self.net.load_state_dict(state[self.STATE_KEY])
        self.opt.load_state_dict(state["opt"])
        self.scaler.load_state_dict(state["scaler"])
        self.gen.set_state(state["gen"])
        self.scales = [float(x) for x in state["scales"]]
        if self.ema is not None:  # a run that turns --ema on midway starts its average at the resumed weights
            self.ema.load_state_dict(state.get("ema", state[self.STATE_KEY]))

    def save(self, path: Path) -> None:
        write_atomically(path, lambda tmp: torch.save(self.state(), tmp))  # a crash mid-save keeps the last one

    def load(self, path: Path) -> None:
        # onto the CPU: the data generator's state must be a CPU tensor (mapped to CUDA, resuming on a GPU
        # failed); load_state_dict copies weights and optimiser state to the model's device itself
        try:
            self.load_state(torch.load(path, map_location="cpu", weights_only=True))
        except (RuntimeError, KeyError, ValueError, TypeError, EOFError, pickle.UnpicklingError) as e:
            why = ("it was written for another model (layer shapes differ: train.py and distill.py runs, or "
                   "another layout)" if "size mismatch" in str(e) else "not a readable checkpoint of this tool")
            raise WeightsError(f"cannot resume from {path}: {why}; move it away to start over, or use another "
                               "--out") from None

    def init_decoder(self, path: Path) -> None:
        """Start from shipped decoder weights (fine-tuning, or moving a CPU run to a GPU without its
        optimiser state); the iteration count and the learning-rate schedule start at 0."""
        dec = load_decoder(LAYOUTS[self.cfg.layout], path)
        if isinstance(self.decoder, SkipDecoder) and isinstance(dec, Decoder):
            self.decoder.load_single(dec)  # a single-level decoder grows skips, starting at zero
        elif isinstance(dec, SkipDecoder) and not isinstance(self.decoder, SkipDecoder):
            raise WeightsError(f"{path} is a skip decoder: train it with --skips")
        else:
            self.decoder.load_state_dict(dec.state_dict())
        self.restart_average()


def run(cfg: TrainConfig) -> Trainer:
    """Train a decoder as `cfg` says, resuming from its folder's checkpoint."""
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    trainer = Trainer(cfg)
    fit(trainer, Path(cfg.out_dir), cfg.iters, cfg.save_every,
        (lambda: export_decoder(trainer, Path(cfg.export))) if cfg.export else None,
        (lambda: trainer.init_decoder(Path(cfg.init))) if cfg.init else None, cfg.minutes)
    return trainer


def fit(trainer, out: Path, iters: int, save_every: int, export_fn=None, start_fn=None, minutes: float = 0.0) -> None:
    """The loop every trainer here shares: resume from out/last.pt, log out/loss.csv, checkpoint, export.

    `trainer` has `iter`, `LOG_COLUMNS`, `step() -> dict`, `save(path)` and `load(path)`;
    `start_fn` runs instead of resuming when there is no checkpoint yet (`--init`). `minutes` > 0 ends the
    run early, checkpointed and exported, after that much time in this loop (a GPU lent for minutes).
    """
    from tqdm import tqdm

    out.mkdir(parents=True, exist_ok=True)
    ckpt = out / "last.pt"
    if ckpt.is_file():
        trainer.load(ckpt)
        print(f"resumed from {ckpt} at iteration {trainer.iter}")
    elif start_fn is not None:
        start_fn()
    log_path = out / "loss.csv"
    new_log = not log_path.is_file()
    columns = trainer.LOG_COLUMNS
    with open(log_path, "a", newline="") as f:
        log = csv.writer(f)
        if new_log:
            log.writerow(["iter", *columns, "seconds"])
        bar = tqdm(total=iters, initial=trainer.iter, unit="it", dynamic_ncols=True)
        t0 = time.time()
        while trainer.iter < iters:
            r = trainer.step()
            log.writerow([trainer.iter, *(f"{r[c]:.5g}" for c in columns), f"{time.time() - t0:.1f}"])
            bar.set_postfix({c: f"{r[c]:.3g}" for c in columns[:3]})
            bar.update(1)
            out_of_time = minutes > 0 and time.time() - t0 >= 60 * minutes
            if trainer.iter % save_every == 0 or trainer.iter == iters or out_of_time:
                f.flush()
                trainer.save(ckpt)
                if export_fn is not None:
                    export_fn()
            if out_of_time:
                print(f"stopped after {minutes:g} minutes at iteration {trainer.iter}; the same command resumes")
                break
        bar.close()


def average_path(path: Path) -> Path:
    """Where the weights' moving average is exported beside `path`: NAME.ema.safetensors."""
    return path.with_name(f"{path.stem}.ema{path.suffix}")


def export(trainer: Trainer, path: Path, meta: dict[str, str]) -> None:
    """The trained network as fp16 safetensors (and its moving average beside it, with --ema)."""
    meta = meta | {"iterations": str(trainer.iter), "crop": str(trainer.crop()), "batch": str(trainer.cfg.batch)}
    save_net(trainer.shipped(trainer.net), path, meta)
    if trainer.ema is not None:
        save_net(trainer.shipped(trainer.ema), average_path(path), meta | {"ema": str(trainer.cfg.ema)})


def export_decoder(trainer: Trainer, path: Path) -> None:
    """The decoder, with what it was trained on in its metadata."""
    export(trainer, path, {"layout": trainer.cfg.layout, "encoder": trainer.cfg.encoder,
                           "style_weight": str(trainer.cfg.style_weight),
                           "identity_weight": str(trainer.cfg.identity_weight), "skips": str(trainer.cfg.skips)})


def guarded(work: Callable[[], object]) -> int:
    """Exit status of a training command: bad data or weights are one line and 2, Ctrl-C is 130."""
    try:
        work()
    except (ImageError, WeightsError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted; resume with the same command", file=sys.stderr)
        return 130
    return 0

