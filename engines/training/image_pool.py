"""Training images in memory, and the random crops a batch is cut from."""
from __future__ import annotations

import numpy as np
import torch

from engines.io.images import ImageError, list_images, read_short
from engines.training.data_split import select


class ImagePool:
    """All images of a folder, resized once (shorter side = load_size) and kept in memory as uint8 RGB.
    The held-out files of a `kind` folder ('content' or 'style', engines/training/data_split.py) are never used."""

    def __init__(self, folder: str, load_size: int, crop: int, kind: str = "content") -> None:
        paths = select(list_images(folder), kind, "train")
        self.images: list[np.ndarray] = []
        for p in paths:
            try:
                img = read_short(p, max(load_size, crop))
            except ImageError:
                continue  # a corrupt training image is skipped, not fatal
            self.images.append(np.ascontiguousarray(img[:, :, ::-1]))
        if not self.images:
            raise ImageError(f"no readable images in {folder}")
        self.crop = crop

    def batch(self, n: int, gen: torch.Generator) -> torch.Tensor:
        idx = torch.randint(len(self.images), (n,), generator=gen).tolist()
        out = torch.empty(n, 3, self.crop, self.crop)
        for j, i in enumerate(idx):
            img = self.images[i]
            h, w = img.shape[:2]
            y = int(torch.randint(h - self.crop + 1, (1,), generator=gen))
            x = int(torch.randint(w - self.crop + 1, (1,), generator=gen))
            patch = torch.from_numpy(img[y : y + self.crop, x : x + self.crop]).permute(2, 0, 1)
            out[j] = patch.float() / 255.0
        return out
