"""How far a decoder is from what its own loss allows: the same loss minimised over the pixels, measured
beside the decoder's result on the same pairs (engines/evaluation/pixel_reference.py says how).

Example (6 pairs, content at 256 px, shipped decoder):
    python tools/pixel_reference.py --content-dir ../shared/data/train/content \\
        --style-dir ../shared/data/train/style --pairs 6 --size 256 --steps 25,50,100
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

from engines.evaluation.pixel_reference import compare  # noqa: E402
from engines.evaluation.quality import readable_pairs, sample_pairs  # noqa: E402
from engines.io.images import ImageError, read_short  # noqa: E402
from engines.options import count, image_side  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    from engines.zoo.files import WeightsError
    from engines.zoo.registry import resolve

    p = argparse.ArgumentParser(description="Compare a decoder with pixel optimisation of its own loss "
                                            "(style ratio / structure, as tools/quality.py measures them).")
    p.add_argument("--content-dir", required=True, help="folder of content photos to draw pairs from")
    p.add_argument("--style-dir", required=True, help="folder of style images to draw pairs from")
    p.add_argument("--pairs", type=count, default=6, help="number of random pairs (default 6; same draw as quality.py)")
    p.add_argument("--seed", type=int, default=0, help="seed for drawing pairs")
    p.add_argument("--size", type=image_side, default=256, help="content shorter side (default 256: each step is a VGG pass)")
    p.add_argument("--style-size", type=image_side, default=512, help="style shorter side (default 512, as quality.py)")
    p.add_argument("--steps", default="25,50,100", help="optimisation steps to measure at (default 25,50,100)")
    p.add_argument("--style-weight", type=float, default=10.0, help="lambda (default 10, the trainer's)")
    p.add_argument("--decoder", help="decoder weights to compare instead of the shipped ones")
    a = p.parse_args(argv)
    try:
        marks = sorted({int(x) for x in a.steps.split(",")})
    except ValueError:
        p.error("--steps takes comma-separated integers")
    if not marks or marks[0] < 0:
        p.error("--steps takes non-negative integers")
    try:
        model = resolve("full", decoder=a.decoder).eval()
        model.encoder.requires_grad_(False)
        pairs, skipped = readable_pairs(sample_pairs(a.content_dir, a.style_dir, a.pairs, a.seed))
        for message in skipped:
            print(f"skipped: {message}", file=sys.stderr)
        rows = []
        for c_path, s_path in pairs:
            c = read_short(c_path, a.size)
            s = read_short(s_path, a.style_size)
            dec, opt = compare(model, c, s, marks, a.style_weight)
            rows.append((dec, opt))
            shots = "  ".join(f"{k}: {q.style_ratio:.3f}/{q.structure:.3f}" for k, q in opt.items())
            print(f"{c_path.name:36s} {s_path.name:32s} decoder {dec.style_ratio:.3f}/{dec.structure:.3f}  "
                  f"pixels {shots}", flush=True)
    except (ImageError, WeightsError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    n = len(rows)
    print(f"mean over {n} pairs (style ratio / structure): decoder "
          f"{np.mean([d.style_ratio for d, _ in rows]):.3f} / {np.mean([d.structure for d, _ in rows]):.3f}")
    for k in marks:
        print(f"  pixels after {k:4d} steps: {np.mean([o[k].style_ratio for _, o in rows]):.3f} / "
              f"{np.mean([o[k].structure for _, o in rows]):.3f}")
    return 2 if skipped else 0


if __name__ == "__main__":
    sys.exit(main())
