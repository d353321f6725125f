"""Stylize still images with AdaIN: one or more styles, weights, alpha, colour preservation, masks.

Examples:
    python tools/stylize.py --content photo.jpg --style starry.jpg --output out.png
    python tools/stylize.py --content photo.jpg --style a.jpg --style b.jpg --weights 0.7,0.3 --output mix.png
    python tools/stylize.py --content photo.jpg --style a.jpg --style b.jpg --mask left.png --mask right.png -o m.png
    python tools/stylize.py --content photos/ --style a.jpg --output results/ --contact-sheet sheet.png
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

if __name__ == "__main__":  # before the heavy imports: Ctrl-C while torch loads ends with one line
    from realtime.stop_signals import quit_quietly_on_signals

    quit_quietly_on_signals()

import torch  # noqa: E402

from engines.backends import BackendError, check_memory, check_style_memory  # noqa: E402
from engines.io.contact_sheet import contact_sheet  # noqa: E402
from engines.io.images import (  # noqa: E402
    ImageError, check_writable_image, list_images, read_bgr, read_short, resize_short, write_bgr,
)
from engines.io.output_paths import OutputPathError, check_outputs  # noqa: E402
from engines.io.sizes import short_side_size  # noqa: E402
from engines.model.color import METHODS  # noqa: E402
from engines.options import add_model_args, check_alpha, image_side, load_model, style_weights  # noqa: E402
from engines.still_images import output_names, stylize_one  # noqa: E402
from engines.zoo.files import WeightsError  # noqa: E402


class UsageError(ValueError):
    """Arguments that parse but do not fit together."""


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        description="Repaint an image (or a folder of images) in the style of one or more paintings (AdaIN).",
        formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__.split("\n", 1)[1],
    )
    p.add_argument("--content", required=True, help="content image, or a folder of images")
    p.add_argument("--style", action="append", required=True, help="style image (repeat for several styles)")
    p.add_argument("--weights", help="interpolation weights, one per style, summing to 1 (e.g. 0.7,0.3)")
    p.add_argument("--alpha", type=float, default=1.0, help="content-style trade-off in [0, 1] (default 1: full style)")
    p.add_argument("--preserve-color", action="store_true", help="keep the content's colours")
    p.add_argument("--color-method", choices=METHODS, default="coral",
                   help="coral: recolour the style to the content before encoding (default); luminance: keep content chroma")
    p.add_argument("--mask", action="append",
                   help="grey mask image per style (white = that style there; with one style, black stays the "
                        "photo); one per --style")
    p.add_argument("--output", "-o", required=True, help="output image, or a folder when --content is a folder")
    p.add_argument("--size", type=image_side, default=512, help="content shorter side in pixels (0 keeps the original; default 512)")
    p.add_argument("--style-size", type=image_side, default=512,
                   help="style shorter side in pixels (0 keeps the original; default 512)")
    p.add_argument("--contact-sheet", help="also write a PNG with one row per content: content | style | result")
    add_model_args(p, offline=True)
    return p


def plan(a: argparse.Namespace) -> tuple[list[Path], list[Path], list[float] | None]:
    """(contents, outputs, weights), every argument checked and every output place tried before any work."""
    check_alpha(a.alpha)
    weights = style_weights(a.weights, len(a.style))
    if a.mask and len(a.mask) != len(a.style):
        raise UsageError(f"got {len(a.mask)} masks for {len(a.style)} styles; give one --mask per --style")
    if a.mask and a.weights:
        raise UsageError("--mask and --weights cannot be combined: masks already say where each style goes")
    content_path = Path(a.content)
    if content_path.is_dir():
        contents = list_images(content_path)
        if not contents:
            raise ImageError(f"no images in {content_path}")
        out_dir = Path(a.output)
        if out_dir.exists() and not out_dir.is_dir():
            raise ImageError(f"--output {out_dir} is a file; a folder of contents needs an output folder")
        outputs = output_names(contents, out_dir)
    else:
        contents, outputs = [content_path], [Path(a.output)]
        check_writable_image(outputs[0])
    if a.contact_sheet:
        check_writable_image(a.contact_sheet)
    check_outputs([*outputs, *([Path(a.contact_sheet)] if a.contact_sheet else [])],
                  [*contents, *a.style, *(a.mask or [])])
    return contents, outputs, weights


def run(a: argparse.Namespace) -> tuple[list[Path], list[Path]]:
    """(written, skipped): in a folder, an unreadable image is reported and skipped, not the end of the batch."""
    contents, outputs, weights = plan(a)
    styles = [read_short(s, a.style_size) for s in a.style]  # all first: fail before work
    model, _ = load_model(a, "cpu")
    for s in styles:
        check_style_memory(model, *s.shape[:2])
    color = a.color_method if a.preserve_color else None
    outputs[0].parent.mkdir(parents=True, exist_ok=True)  # only a folder of contents can get here without one
    rows, written, skipped = [], [], []
    for c_path, o_path in zip(contents, outputs):
        try:
            content = read_bgr(c_path, a.size)
            check_memory(model, "eager", *short_side_size(*content.shape[:2], a.size, min_side=1))  # before resizing
            content = resize_short(content, a.size)
        except (ImageError, BackendError) as e:
            if len(contents) == 1:
                raise
            print(f"skipped: {e}", file=sys.stderr)
            skipped.append(c_path)
            continue
        result = stylize_one(model, content, styles, weights, a.alpha, color, a.mask)
        write_bgr(o_path, result)
        written.append(o_path)
        rows.append([content, styles[0], result])
    if a.contact_sheet and rows:
        write_bgr(a.contact_sheet, contact_sheet(rows, labels=["content", "style", "result"]))
    return written, skipped


def main(argv: list[str] | None = None) -> int:
    a = build_parser().parse_args(argv)
    try:
        with torch.inference_mode():  # scoped: callers in the same process keep autograd
            written, skipped = run(a)
    except (ImageError, WeightsError, UsageError, ValueError, BackendError, OutputPathError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if not Path(a.content).is_dir():
        print(f"wrote {written[0]}")
        return 0
    print(f"wrote {len(written)} images to {a.output}" + (f"; skipped {len(skipped)}" if skipped else ""))
    return 2 if skipped else 0  # scripts learn that not everything was done


if __name__ == "__main__":
    sys.exit(main())
