"""Does an encoder's relu4_1 keep a photo's layout? Invert it and look.

AdaIN's content loss lives at relu4_1: if many very different images share a photo's relu4_1 features, no
decoder trained against it can be held to the photo's layout. The check: start from a grey image and minimise
the MSE between its relu4_1 features and the photo's (divided by the target's mean square; Adam on the pixels),
then take the structure (SSIM of greyscale photo and result at 1/4 size, as tools/quality.py; engines/evaluation/encoder_diagnostics.py). ImageNet VGG19
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

from engines.evaluation.encoder_diagnostics import concentration, invert, quantisation_effect  # noqa: E402
from engines.evaluation.quality import structure  # noqa: E402
from engines.io.contact_sheet import contact_sheet  # noqa: E402
from engines.io.images import ImageError, bgr_to_tensor, list_images, read_short, tensor_to_bgr, write_bgr  # noqa: E402
from engines.options import count, image_side  # noqa: E402
from engines.training.data_split import SPLITS, select  # noqa: E402
from engines.zoo.files import WeightsError  # noqa: E402
from engines.zoo.registry import encoder_by_name  # noqa: E402


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
        write_bgr(a.sheet, contact_sheet(rows, height=160, labels=["photo", *encoders]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
