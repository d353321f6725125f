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

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")


class ImageError(ValueError):
    """An image could not be read; the message is one line for the user."""


def read_bgr(path: str | Path) -> np.ndarray:
    """uint8 HxWx3 BGR; grey and alpha images are converted."""
    p = Path(path)
    if p.is_dir():
        raise ImageError(f"{p} is a folder, not an image")
    if not p.is_file():
        raise ImageError(f"image not found: {p}")
    data = np.fromfile(str(p), dtype=np.uint8)
    img = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None
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
    """PNG when the path has no extension."""
    p = Path(path)
    check_writable_image(p)
    ok, buf = cv2.imencode(p.suffix or ".png", img)
    if not ok:
        raise ImageError(f"cannot encode an image as {p.suffix!r}: {p}")
    try:
        buf.tofile(str(p))
    except OSError as e:
        raise ImageError(f"cannot write {p}: {e.strerror}") from None


def resize_short(img: np.ndarray, size: int | None) -> np.ndarray:
    """Scale so the shorter side is `size` (None or 0 keeps the image as it is). Enlarging stops where the
    longer side would pass 4 x `size`: a 2x400 banner would otherwise become 512x102400 pixels, minutes of
    work for a picture nobody asked to be that large, and a style strip could take all the memory."""
    if not size:
        return img
    h, w = img.shape[:2]
    s = size / min(h, w)
    if s > 1:
        s = max(1.0, min(s, 4 * size / max(h, w)))
    interp = cv2.INTER_AREA if s < 1 else cv2.INTER_CUBIC
    return cv2.resize(img, (max(1, round(w * s)), max(1, round(h * s))), interpolation=interp)


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
