"""Measure style transfer: style ratio (lower = more style) and structure (SSIM); engines/evaluation/quality.py says how.

Example (pairs drawn from the training folders, shipped weights; both models on the same
pairs, judged by their VGG19 loss network, with a content | style | full | lite sheet):
    python tools/quality.py --model full,lite --content-dir ../shared/data/train/content \\
        --style-dir ../shared/data/train/style --pairs 12 --sheet sheet.jpg
A curve for a decoder in training, on the held-out split, judged by both loss networks:
    python tools/quality.py --content-dir ../shared/data/train/content --style-dir ../shared/data/train/style \\
        --split heldout --encoder vgg19 --decoder runs/vgg19/decoder.safetensors --judges vgg16-hed,vgg19 \\
        --alpha 1,0.8,0.6
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

from engines.evaluation.quality import (  # noqa: E402
    Scale, curve, load_candidate, measure, readable_pairs, report, sample_pairs,
)
from engines.io.contact_sheet import contact_sheet  # noqa: E402
from engines.io.images import ImageError, check_writable_image, read_bgr, write_bgr  # noqa: E402
from engines.options import check_alpha, count, image_side, listed, model_scale, numbers, one_of  # noqa: E402
from engines.training.data_split import SPLITS  # noqa: E402
from engines.zoo.files import WeightsError  # noqa: E402
from engines.zoo.registry import ENCODERS, LOSS_NETWORKS, cli_models, encoder_by_name, spec  # noqa: E402

SHIPPED = tuple(name for name in cli_models() if name != "auto")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__.split("\n", 1)[1])
    p.add_argument("--content-dir", help="folder of content photos to draw pairs from")
    p.add_argument("--style-dir", help="folder of style images to draw pairs from")
    p.add_argument("--split", choices=SPLITS, default="all",
                   help="draw from all files (default), the training files, or the held-out ones no trainer saw")
    p.add_argument("--pairs", type=count, default=12, help="number of random pairs (default 12)")
    p.add_argument("--seed", type=int, default=0, help="seed for drawing pairs")
    p.add_argument("--size", type=image_side, default=512, help="content shorter side (default 512)")
    p.add_argument("--model", default=["full"], type=listed(one_of(SHIPPED)),
                   help=f"{', '.join(SHIPPED)}, or several (full,lite) to compare them on the same pairs (default full)")
    p.add_argument("--decoder", help="decoder weights to evaluate instead of the shipped ones (one model only)")
    p.add_argument("--encoder", choices=tuple(ENCODERS),
                   help="the encoder --decoder was trained against (default: the model's own)")
    p.add_argument("--judges", type=listed(one_of(LOSS_NETWORKS)),
                   help="loss networks that measure the style ratio, e.g. vgg16-hed,vgg19 (default: the one each "
                        "model was trained against, --encoder's for a --decoder)")
    p.add_argument("--alpha", default=[1.0], type=numbers,
                   help="content-style trade-off(s) to measure at, e.g. 1,0.8,0.6 for a curve (default 1, where "
                        "the project's target is set); lower alpha buys structure with style")
    p.add_argument("--model-scale", type=model_scale,
                   help="run the network at this fraction of the sides in the frame graph, as the engines do")
    p.add_argument("--upsample", choices=("guided", "bilinear"), default="guided",
                   help="with --model-scale: bring the result back along the photo's edges (default) or resize it")
    p.add_argument("--sheet", help="also write a contact sheet (content | style | result per pair) here")
    p.add_argument("--content", help="measure one existing result: the content image")
    p.add_argument("--style", help="... the style image")
    p.add_argument("--output", help="... the stylized image")
    return p


def check_args(p: argparse.ArgumentParser, a: argparse.Namespace) -> None:
    try:
        [check_alpha(alpha) for alpha in a.alpha]
    except ValueError as e:
        p.error(str(e))
    if a.encoder and not a.decoder:
        p.error("--encoder goes with --decoder")
    if a.output and not (a.content and a.style):
        p.error("--output needs --content and --style")
    if not a.output and not (a.content_dir and a.style_dir):
        p.error("give --content-dir and --style-dir, or --content/--style/--output")
    if a.decoder and len(a.model) > 1:
        p.error("--decoder takes one model only: --model full or --model lite")


def measure_one(a: argparse.Namespace, judges: dict) -> int:
    """--output: one existing result, by every judge."""
    for name, judge in judges.items():
        q = measure(judge, read_bgr(a.content), read_bgr(a.style), read_bgr(a.output))
        print(f"[{name}] style ratio {q.style_ratio:.4f}  structure {q.structure:.3f}  "
              f"layers {[round(r, 4) for r in q.layer_ratios]}")
    return 0


def compare(a: argparse.Namespace, judges: dict) -> int:
    """Every --model (or the --decoder) on the same drawn pairs, at every --alpha; 2 if pairs were skipped."""
    if a.sheet:
        check_writable_image(a.sheet)
    pairs, skipped = readable_pairs(sample_pairs(a.content_dir, a.style_dir, a.pairs, a.seed, a.split))
    for message in skipped:
        print(f"skipped: {message}", file=sys.stderr)
    results, sheet = {}, []
    for name in a.model:
        rows: list[list[np.ndarray]] = []
        label = f"{a.encoder or name}: {Path(a.decoder).name}" if a.decoder else name
        scale = Scale(a.model_scale, a.upsample == "guided") if a.model_scale else None
        label += f" at {a.model_scale:g}, {a.upsample}" if scale else ""
        results[label] = curve(load_candidate(name, a.encoder, a.decoder), pairs, a.alpha, judges, a.size, rows,
                               scale)
        sheet = sheet or [r[:2] for r in rows]
        for line, r in zip(sheet, rows):
            line.append(r[2])  # content | style | one column per model
    if a.sheet:
        write_bgr(a.sheet, contact_sheet(sheet, height=200, labels=["content", "style", *results]))
    print("\n".join(report(results, pairs, a.alpha, a.judges)))
    return 2 if skipped else 0


def default_judges(a: argparse.Namespace) -> list[str]:
    """The loss network each candidate was trained against (engines/zoo/registry.py)."""
    if a.encoder in LOSS_NETWORKS:
        return [a.encoder]
    return list(dict.fromkeys(spec(name).judge for name in a.model))


def main(argv: list[str] | None = None) -> int:
    p = build_parser()
    a = p.parse_args(argv)
    check_args(p, a)
    a.judges = a.judges or default_judges(a)
    try:
        judges = {name: encoder_by_name(name) for name in a.judges}
        return measure_one(a, judges) if a.output else compare(a, judges)
    except (ImageError, WeightsError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
