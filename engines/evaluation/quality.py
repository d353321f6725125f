"""How much style an output took on, and how much of the content's structure it kept.

* style ratio: for each of relu1_1..relu4_1, the AdaIN style loss between the
  output and the style image divided by the same loss for the untouched content
  image, averaged over the four layers. 1 = nothing transferred; 0 = the
  output's feature statistics equal the style's.
* structure: SSIM between the grayscale content and output at 1/4 size.

Judged by more than one loss network where it matters: a decoder can learn to please the one it was trained with.
"""
from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch

from engines.io.images import ImageError, bgr_to_tensor, list_images, read_bgr, read_short, tensor_to_bgr
from engines.io.sizes import inner_size
from engines.model.adain import mean_std
from engines.model.frame_graph import FrameGraph
from engines.model.network import AdaINModel, pad_to_multiple
from engines.model.vgg import Encoder
from engines.training.data_split import select
from engines.training.losses import style_layer_losses

Pair = tuple[Path, Path]


@dataclass(frozen=True)
class Scale:
    """The network at `fraction` of the sides, brought back guided by the photo (or by a plain resize)."""
    fraction: float
    guided: bool = True


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



def stylized(model: AdaINModel, pairs: list[Pair], alphas: list[float], size: int = 512,
             style_size: int = 512, scale: Scale | None = None) -> Iterator[tuple[np.ndarray, np.ndarray, dict]]:
    """(content, style, {alpha: output}) per pair: each pair read and its style encoded once, for every alpha.
    With `scale`, the network runs at that fraction of the sides inside the frame graph, as engines run it."""
    for c_path, s_path in pairs:
        c, s = read_short(c_path, size), read_short(s_path, style_size)
        stats = model.encode_style(bgr_to_tensor(s))
        if scale is None:
            yield c, s, {a: tensor_to_bgr(model.stylize(bgr_to_tensor(c), [stats], alpha=a)) for a in alphas}
            continue
        h, w = c.shape[:2]
        graph = FrameGraph(model, h, w, inner_size(h, w, scale.fraction), guided=scale.guided).eval()
        frame, region = torch.from_numpy(c)[None], torch.full((1, h, w), 255, dtype=torch.uint8)
        with torch.no_grad():
            yield c, s, {a: graph(frame, stats.mean, stats.std, torch.tensor([a]), torch.zeros(1), region)[0].numpy()
                         for a in alphas}


def evaluate_pairs(
    model: AdaINModel, pairs: list[Pair], size: int = 512, style_size: int = 512,
    rows: list[list[np.ndarray]] | None = None, judge: Encoder | None = None, alpha: float = 1.0,
) -> list[Quality]:
    """Stylize each (content, style) at `alpha` and measure it; `rows` collects content | style | output.

    `judge` is the loss network (default the model's own encoder); the lite model is judged by its teacher.
    """
    judge = judge if judge is not None else model.encoder
    results = []
    for c, s, outs in stylized(model, pairs, [alpha], size, style_size):
        results.append(measure(judge, c, s, outs[alpha]))
        if rows is not None:
            rows.append([c, s, outs[alpha]])
    return results


def curve(model: AdaINModel, pairs: list[Pair], alphas: list[float], judges: dict[str, Encoder], size: int = 512,
          rows: list[list[np.ndarray]] | None = None, scale: Scale | None = None) -> dict[float, dict[str, list[float]]]:
    """alpha -> {"structure": per pair, judge name: style ratio per pair}: the trade-off curve, each point
    judged by every loss network."""
    out: dict[float, dict[str, list[float]]] = {alpha: {"structure": [], **{j: [] for j in judges}} for alpha in alphas}
    for c, s, outs in stylized(model, pairs, alphas, size, size, scale):
        c_t, s_t = bgr_to_tensor(c), bgr_to_tensor(s)
        for alpha, result in outs.items():
            out[alpha]["structure"].append(structure(c, result))
            r_t = bgr_to_tensor(result)
            for name, judge in judges.items():
                out[alpha][name].append(float(np.mean(style_ratio(judge, r_t, c_t, s_t))))
        if rows is not None:
            rows.append([c, s, outs[alphas[0]]])
    return out


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



def load_candidate(name: str, encoder: str | None, decoder: str | None) -> AdaINModel:
    """A shipped model (full, lite), or a decoder file trained against an encoder (--encoder, --decoder)."""
    from engines.model.skips import adain_model
    from engines.zoo.files import load_decoder
    from engines.zoo.registry import ENCODER_LAYOUTS, encoder_by_name, resolve

    if encoder is None:
        return resolve(name, decoder=decoder).eval()
    return adain_model(encoder_by_name(encoder), load_decoder(ENCODER_LAYOUTS[encoder], Path(decoder))).eval()


def report(results: dict[str, dict[float, dict[str, list[float]]]], pairs: list[Pair], alphas: list[float],
           judges: list[str]) -> list[str]:
    """The lines a comparison prints: per pair at the first alpha, then each curve's means per alpha."""
    lines, first = [], judges[0]
    for name, by_alpha in results.items():
        lines.append(f"[{name}]")
        top = by_alpha[alphas[0]]
        for (c, s), r, st in zip(pairs, top[first], top["structure"]):
            lines.append(f"{c.name:40s} {s.name:40s} ratio {r:.4f}  structure {st:.3f}")
        for alpha, got in by_alpha.items():
            ratios = ", ".join(f"{j} {np.mean(got[j]):.4f} (median {np.median(got[j]):.4f})" for j in judges)
            lines.append(f"[{name}] mean over {len(pairs)} pairs at alpha {alpha:g}: style ratio {ratios}; "
                         f"structure {np.mean(got['structure']):.3f}")
    if results.keys() == {"full", "lite"}:
        full, lite = (np.mean(results[n][alphas[0]][first]) for n in ("full", "lite"))
        lines.append(f"lite / full style ratio ({first}): {lite / full:.2f}")
    return lines
