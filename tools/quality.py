"""How much style an output took on, and how much of the content's structure it kept.

* style ratio: for each of relu1_1..relu4_1, the AdaIN style loss between the
  output and the style image divided by the same loss for the untouched content
  image, averaged over the four layers. 1 = nothing transferred; 0 = the
  output's feature statistics equal the style's.
* structure: SSIM between the grayscale content and output at 1/4 size.

Example (pairs drawn from the training folders, shipped weights; both models on the same
pairs, judged by VGG16, with a content | style | full | lite sheet):
    python tools/quality.py --model full,lite --content-dir ../shared/data/train/content \\
        --style-dir ../shared/data/train/style --pairs 12 --sheet sheet.jpg
"""
from __future__ import annotations

import argparse
import random
import sys
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import cv2  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

from engines.adain import mean_std  # noqa: E402
from engines.data_split import SPLITS, select  # noqa: E402
from engines.images import (  # noqa: E402
    ImageError, bgr_to_tensor, check_writable_image, list_images, read_bgr, read_short, tensor_to_bgr, write_bgr,
)
from engines.losses import style_layer_losses  # noqa: E402
from engines.model import AdaINModel, pad_to_multiple  # noqa: E402
from engines.options import count, image_side, listed, one_of  # noqa: E402
from engines.vgg import Encoder  # noqa: E402


@dataclass
class Quality:
    style_ratio: float
    structure: float
    layer_ratios: list[float]


@torch.no_grad()
def style_ratio(encoder: Encoder, output: torch.Tensor, content: torch.Tensor, style: torch.Tensor) -> list[float]:
    """Per-layer L_style(output, style) / L_style(content, style)."""
    s_stats = [mean_std(f) for f in encoder.features(pad_to_multiple(style)[0])]
    lo = style_layer_losses(encoder.features(pad_to_multiple(output)[0]), s_stats)
    lc = style_layer_losses(encoder.features(pad_to_multiple(content)[0]), s_stats)
    return [float(a / b.clamp_min(1e-12)) for a, b in zip(lo, lc)]


def ssim(a: np.ndarray, b: np.ndarray) -> float:
    """Mean SSIM of two float images in [0, 255] (Gaussian window, sigma 1.5, as Wang et al. 2004)."""
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    blur = lambda x: cv2.GaussianBlur(x, (11, 11), 1.5)  # noqa: E731
    mu_a, mu_b = blur(a), blur(b)
    var_a = blur(a * a) - mu_a**2
    var_b = blur(b * b) - mu_b**2
    cov = blur(a * b) - mu_a * mu_b
    s = ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / ((mu_a**2 + mu_b**2 + c1) * (var_a + var_b + c2))
    return float(s.mean())


def structure(content_bgr: np.ndarray, output_bgr: np.ndarray) -> float:
    """SSIM of the grayscale images at 1/4 size: layout kept, brush texture forgiven."""
    h, w = content_bgr.shape[:2]
    size = (max(8, w // 4), max(8, h // 4))
    g = [cv2.resize(cv2.cvtColor(x, cv2.COLOR_BGR2GRAY), size, interpolation=cv2.INTER_AREA).astype(np.float64)
         for x in (content_bgr, output_bgr)]
    return ssim(*g)


def measure(encoder: Encoder, content_bgr: np.ndarray, style_bgr: np.ndarray, output_bgr: np.ndarray) -> Quality:
    c, s, o = (bgr_to_tensor(x) for x in (content_bgr, style_bgr, output_bgr))
    ratios = style_ratio(encoder, o, c, s)
    return Quality(float(np.mean(ratios)), structure(content_bgr, output_bgr), ratios)


def evaluate_pairs(
    model: AdaINModel, pairs: list[tuple[Path, Path]], size: int = 512, style_size: int = 512,
    rows: list[list[np.ndarray]] | None = None, judge: Encoder | None = None, alpha: float = 1.0,
) -> list[Quality]:
    """Stylize each (content, style) at `alpha` and measure it; `rows` collects content | style | output.

    `judge` is the loss network (default the model's own encoder); the lite model is judged by VGG16.
    """
    judge = judge if judge is not None else model.encoder
    results = []
    for c_path, s_path in pairs:
        c = read_short(c_path, size)
        s = read_short(s_path, style_size)
        stats = model.encode_style(bgr_to_tensor(s))
        out = tensor_to_bgr(model.stylize(bgr_to_tensor(c), [stats], alpha=alpha))
        results.append(measure(judge, c, s, out))
        if rows is not None:
            rows.append([c, s, out])
    return results


def sample_pairs(content_dir: str, style_dir: str, n: int, seed: int = 0, split: str = "all") -> list[tuple[Path, Path]]:
    """`n` random (content, style) pairs; `split` 'heldout' draws only from the files no trainer saw."""
    rng = random.Random(seed)
    cs = select(list_images(content_dir), "content", split)
    ss = select(list_images(style_dir), "style", split)
    for folder, found in ((content_dir, cs), (style_dir, ss)):
        if not found:
            raise ImageError(f"no images in {folder}" + (f" in the {split} split" if split != "all" else ""))
    return [(rng.choice(cs), rng.choice(ss)) for _ in range(n)]


def readable_pairs(pairs: list[tuple[Path, Path]]) -> tuple[list[tuple[Path, Path]], list[str]]:
    """(the pairs whose images both decode, one message per file that does not): one bad file in a folder
    of hundreds costs its pairs, not the run. The draw itself is unchanged, so a seed keeps its pairs."""
    bad: dict[Path, str] = {}
    for path in dict.fromkeys(x for pair in pairs for x in pair):
        try:
            read_bgr(path)
        except ImageError as e:
            bad[path] = str(e)
    kept = [pair for pair in pairs if not (set(pair) & bad.keys())]
    if not kept:
        raise ImageError(f"none of the {len(pairs)} pairs drawn is readable ({next(iter(bad.values()))})")
    return kept, list(bad.values())


def numbers(text: str) -> list[float]:
    """An argparse type: comma-separated numbers."""
    try:
        return [float(x) for x in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected numbers separated by commas, got {text!r}") from None


def curve(model: AdaINModel, pairs: list[tuple[Path, Path]], alphas: list[float], judges: dict[str, Encoder],
          size: int = 512, rows: list[list[np.ndarray]] | None = None) -> dict[float, dict[str, list[float]]]:
    """alpha -> {"structure": per pair, judge name: style ratio per pair}: the trade-off curve, each point
    judged by every loss network (a decoder can learn to please the one it was trained with)."""
    out = {alpha: {"structure": [], **{j: [] for j in judges}} for alpha in alphas}
    for c_path, s_path in pairs:  # each pair read and its style encoded once, for every alpha
        c, st = read_short(c_path, size), read_short(s_path, size)
        stats = model.encode_style(bgr_to_tensor(st))
        for alpha in alphas:
            result = tensor_to_bgr(model.stylize(bgr_to_tensor(c), [stats], alpha=alpha))
            out[alpha]["structure"].append(structure(c, result))
            for name, judge in judges.items():
                out[alpha][name].append(float(np.mean(style_ratio(judge, *(bgr_to_tensor(x) for x in (result, c, st))))))
            if rows is not None and alpha == alphas[0]:
                rows.append([c, st, result])
    return out


def load_candidate(name: str, encoder: str | None, decoder: str | None) -> AdaINModel:
    """A shipped model (full, lite), or a decoder file trained against an encoder (--encoder, --decoder)."""
    from engines.models import resolve
    from engines.weights import ENCODER_LAYOUTS, encoder_by_name, load_decoder

    if encoder is None:
        return AdaINModel(*resolve(name, decoder=decoder)).eval()
    return AdaINModel(encoder_by_name(encoder), load_decoder(ENCODER_LAYOUTS[encoder], Path(decoder))).eval()


def main(argv: list[str] | None = None) -> int:
    from engines.weights import WeightsError, encoder_by_name

    p = argparse.ArgumentParser(description="Measure style transfer: style-loss ratio (lower = more style) and structure (SSIM).")
    p.add_argument("--content-dir", help="folder of content photos to draw pairs from")
    p.add_argument("--style-dir", help="folder of style images to draw pairs from")
    p.add_argument("--split", choices=SPLITS, default="all",
                   help="draw from all files (default), the training files, or the held-out ones no trainer saw")
    p.add_argument("--pairs", type=count, default=12, help="number of random pairs (default 12)")
    p.add_argument("--seed", type=int, default=0, help="seed for drawing pairs")
    p.add_argument("--size", type=image_side, default=512, help="content shorter side (default 512)")
    p.add_argument("--model", default=["full"], type=listed(one_of(("full", "lite"))),
                   help="full, lite, or full,lite to compare them on the same pairs")
    p.add_argument("--decoder", help="decoder weights to evaluate instead of the shipped ones (one model only)")
    p.add_argument("--encoder", choices=("vgg16-hed", "vgg19", "lite"),
                   help="the encoder --decoder was trained against (default: the model's own)")
    p.add_argument("--judges", default=["vgg16-hed"], type=listed(one_of(("vgg16-hed", "vgg19"))),
                   help="loss networks that measure the style ratio, e.g. vgg16-hed,vgg19 (default vgg16-hed)")
    p.add_argument("--alpha", default=[1.0], type=numbers,
                   help="content-style trade-off(s) to measure at, e.g. 1,0.8,0.6 for a curve (default 1, where "
                        "the project's target is set); lower alpha buys structure with style")
    p.add_argument("--sheet", help="also write a contact sheet (content | style | result per pair) here")
    p.add_argument("--content", help="measure one existing result: the content image")
    p.add_argument("--style", help="... the style image")
    p.add_argument("--output", help="... the stylized image")
    a = p.parse_args(argv)
    for alpha in a.alpha:
        if not 0.0 <= alpha <= 1.0:
            p.error(f"--alpha must be between 0 and 1, got {alpha}")
    if a.encoder and not a.decoder:
        p.error("--encoder goes with --decoder")
    try:
        judges = {name: encoder_by_name(name) for name in a.judges}
        if a.output:
            if not (a.content and a.style):
                p.error("--output needs --content and --style")
            for name, judge in judges.items():
                q = measure(judge, read_bgr(a.content), read_bgr(a.style), read_bgr(a.output))
                print(f"[{name}] style ratio {q.style_ratio:.4f}  structure {q.structure:.3f}  "
                      f"layers {[round(r, 4) for r in q.layer_ratios]}")
            return 0
        if not (a.content_dir and a.style_dir):
            p.error("give --content-dir and --style-dir, or --content/--style/--output")
        names = a.model
        if a.decoder and len(names) > 1:
            p.error("--decoder takes one model only: --model full or --model lite")
        if a.sheet:
            check_writable_image(a.sheet)
        pairs, skipped = readable_pairs(sample_pairs(a.content_dir, a.style_dir, a.pairs, a.seed, a.split))
        for message in skipped:
            print(f"skipped: {message}", file=sys.stderr)
        results: dict[str, dict[float, dict[str, list[float]]]] = {}
        sheet: list[list[np.ndarray]] = []
        for name in names:
            model = load_candidate(name, a.encoder, a.decoder)
            rows: list[list[np.ndarray]] = []
            label = f"{a.encoder or name}: {Path(a.decoder).name}" if a.decoder else name
            results[label] = curve(model, pairs, a.alpha, judges, a.size, rows)
            sheet = [r[:2] for r in rows] if not sheet else sheet
            for i, r in enumerate(rows):
                sheet[i].append(r[2])  # content | style | one column per model
        if a.sheet:
            from tools.stylize import contact_sheet

            write_bgr(a.sheet, contact_sheet(sheet, height=200))
    except (ImageError, WeightsError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    first = a.judges[0]
    for name, by_alpha in results.items():
        print(f"[{name}]")
        top = by_alpha[a.alpha[0]]
        for (c, s), r, st in zip(pairs, top[first], top["structure"]):
            print(f"{c.name:40s} {s.name:40s} ratio {r:.4f}  structure {st:.3f}")
        for alpha, got in by_alpha.items():
            ratios = ", ".join(f"{j} {np.mean(got[j]):.4f} (median {np.median(got[j]):.4f})" for j in a.judges)
            print(f"[{name}] mean over {len(pairs)} pairs at alpha {alpha:g}: style ratio {ratios}; "
                  f"structure {np.mean(got['structure']):.3f}")
    if results.keys() == {"full", "lite"}:
        full, lite = (np.mean(results[n][a.alpha[0]][first]) for n in ("full", "lite"))
        print(f"lite / full style ratio ({first}): {lite / full:.2f}")
    return 2 if skipped else 0


if __name__ == "__main__":
    sys.exit(main())
