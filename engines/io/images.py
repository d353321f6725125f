"""The one place where pixels change representation.

Outside: OpenCV's uint8 HxWx3 BGR arrays (files, cameras, video frames).
Inside the model: float RGB in [0, 1], NCHW. Every conversion goes through here.
"""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import torch
from torch import Tensor

from engines.io.atomic_write import write_atomically
from engines.io.image_header import declared_size, is_jpeg
from engines.io.sizes import resize_to, short_side_size

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")


class ImageError(ValueError):
    """An image could not be read; the message is one line for the user."""


# Pixels decoded at most (300 MB as BGR): a 100-megapixel camera file fits, a PNG that declares 60000x60000
# in 11 KB does not. Decoding is what costs: a JPEG is judged at the size it is decoded at (see read_bgr).
MAX_PIXELS = 100_000_000
_REDUCED = ((8, cv2.IMREAD_REDUCED_COLOR_8), (4, cv2.IMREAD_REDUCED_COLOR_4), (2, cv2.IMREAD_REDUCED_COLOR_2))


def read_bgr(path: str | Path, short_side: int | None = None) -> np.ndarray:
    """uint8 HxWx3 BGR; grey and alpha images are converted.

    The size the file declares is checked before decoding. `short_side`: the image is wanted no smaller than
    that (it will be resized to it), so a JPEG much larger is decoded at 1/2, 1/4 or 1/8 of its size and never
    held whole (a 200-megapixel photo as a 512 px style).
    """
    p = Path(path)
    if p.is_dir():
        raise ImageError(f"{p} is a folder, not an image")
    if not p.is_file():
        raise ImageError(f"image not found: {p}")
    try:
        data = np.fromfile(str(p), dtype=np.uint8)
    except OSError as e:
        raise ImageError(f"cannot read {p}: {e.strerror or e}") from None
    flag, factor = cv2.IMREAD_COLOR, 1
    size = declared_size(data[:1 << 16].tobytes())
    if size is not None:
        w, h = size
        if short_side and is_jpeg(data[:2].tobytes()):
            factor, flag = next(((f, fl) for f, fl in _REDUCED if min(w, h) // f >= short_side), (1, flag))
        if (w // factor) * (h // factor) > MAX_PIXELS:
            raise ImageError(f"{p} is {w}x{h} pixels, more than the {MAX_PIXELS // 1_000_000} megapixels "
                             "read here; scale it down first")
    try:
        img = cv2.imdecode(data, flag) if data.size else None
    except cv2.error:  # a header not recognised above that asks for more than OpenCV allows
        raise ImageError(f"not a readable image: {p} (too large or damaged)") from None
    if img is None:
        raise ImageError(f"not a readable image: {p}")
    return img


def check_writable_image(path: str | Path) -> None:
    """Fail before any work if `path` cannot become an image (no folder, or no encoder for its extension)."""
    p = Path(path)
    if not p.parent.is_dir():
        raise ImageError(f"output folder does not exist: {p.parent}")
    if p.suffix and not cv2.haveImageWriter(p.name):
        raise ImageError(f"cannot write {p}: no image format for the extension {p.suffix!r}; use .png or .jpg")


def write_bgr(path: str | Path, img: np.ndarray) -> None:
    """PNG when the path has no extension. The file appears whole or not at all: a full disk leaves no
    truncated picture behind (nor a half-overwritten earlier one)."""
    p = Path(path)
    check_writable_image(p)
    ok, buf = cv2.imencode(p.suffix or ".png", img)
    if not ok:
        raise ImageError(f"cannot encode an image as {p.suffix!r}: {p}")
    try:
        write_atomically(p, lambda tmp: buf.tofile(str(tmp)))
    except OSError as e:
        raise ImageError(f"cannot write {p}: {e.strerror or e}") from None


def resize_short(img: np.ndarray, size: int | None) -> np.ndarray:
    """Scale so the shorter side is `size` (None or 0 keeps the image as it is; engines/io/sizes.py)."""
    return resize_to(img, *short_side_size(*img.shape[:2], size, min_side=1))


def read_short(path: str | Path, size: int | None) -> np.ndarray:
    """An image scaled so its shorter side is `size`, decoded no larger than needed for that."""
    return resize_short(read_bgr(path, size), size)


def bgr_to_tensor(img: np.ndarray, device: torch.device | str = "cpu") -> Tensor:
    """uint8 HxWx3 BGR -> float 1x3xHxW RGB in [0, 1]."""
    t = torch.from_numpy(np.ascontiguousarray(img[:, :, ::-1])).to(device)
    return t.permute(2, 0, 1)[None].float().div_(255.0)


def tensor_to_bgr(t: Tensor) -> np.ndarray:
    """float 1x3xHxW (or 3xHxW) RGB -> uint8 HxWx3 BGR, clipped before rounding."""
    if t.dim() == 4:
        t = t[0]
    t = t.detach().float().clamp(0, 1).mul(255.0).round().to(torch.uint8)
    return np.ascontiguousarray(t.permute(1, 2, 0).cpu().numpy()[:, :, ::-1])


def list_images(folder: str | Path) -> list[Path]:
    p = Path(folder)
    if not p.is_dir():
        raise ImageError(f"not a folder: {p}")
    return sorted(f for f in p.iterdir() if f.suffix.lower() in IMAGE_SUFFIXES)
