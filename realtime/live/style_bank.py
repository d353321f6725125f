"""Styles as precomputed statistics: encoded once, cached on disk, swapped instantly.

A style is fully described at run time by the mean and std of its relu4_1
features (two vectors of 512 floats for the full model, 128 for the lite one).
They are cached as safetensors (never pickle), keyed by the image file's content
hash and the model (layout and weights), so a restart or a second kiosk never
re-encodes, the full and lite models keep their statistics side by side, and new
weights never reuse stale statistics. Blends are arithmetic on the stored vectors.
"""
from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from pathlib import Path

from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from engines.backends import BackendError, check_style_memory
from engines.io.images import ImageError, bgr_to_tensor, list_images, read_short
from engines.model.network import AdaINModel, StyleStats, mix_styles
from engines.zoo.cache import cache_dir, save_to_cache
from engines.zoo.files import weights_fingerprint

log = logging.getLogger("realtime")


@dataclass
class Style:
    name: str
    path: Path
    stats: StyleStats


class StyleBank:
    """An ordered set of styles with a current index; `rescan()` picks up files added to the folder."""

    def __init__(self, model: AdaINModel, paths: list[Path] | None = None,
                 folder: Path | None = None, style_size: int = 512) -> None:
        self.model = model
        # statistics of another model or other weights are never reused
        self.model_key = f"{model.encoder.layout.name}-{weights_fingerprint(model)}"
        self.folder = folder
        self.style_size = style_size
        self.styles: list[Style] = []
        self.index = 0
        self.encoded = 0  # styles encoded by the network (cache misses)
        self._told: set[Path] = set()  # unreadable files already reported
        for p in paths or []:
            self.add(Path(p))
        if folder is not None:
            self.rescan()
        if not self.styles:
            raise ImageError(f"no style images in {folder}" if folder else "no style images given")

    def _cache_path(self, path: Path) -> Path:
        digest = hashlib.sha256(path.read_bytes()).hexdigest()[:24]
        return cache_dir() / "styles" / f"{self.model_key}-{self.style_size}-{digest}.safetensors"

    def encode(self, path: Path) -> StyleStats:
        image = read_short(path, self.style_size)  # raises ImageError with a clear message
        cached = self._cache_path(path)
        if cached.is_file():
            try:
                t = load_file(str(cached))
                return StyleStats(t["mean"], t["std"])
            except (SafetensorError, OSError, KeyError):
                cached.unlink(missing_ok=True)
        try:
            check_style_memory(self.model, *image.shape[:2])
        except BackendError as e:  # skipped in a folder like an unreadable file, a one-line error at start-up
            raise ImageError(f"{path}: {e}") from None
        stats = self.model.encode_style(bgr_to_tensor(image))
        self.encoded += 1
        tensors = {"mean": stats.mean.contiguous(), "std": stats.std.contiguous()}
        save_to_cache(cached, lambda tmp: save_file(tensors, str(tmp)))  # the style is in hand either way
        return stats

    def add(self, path: Path) -> Style:
        style = Style(path.stem, path, self.encode(path))
        self.styles.append(style)
        return style

    def rescan(self) -> list[Style]:
        """Encode images added to the style folder since the last scan; unreadable ones are skipped, once
        said (a file still being copied in is read again at the next scan)."""
        if self.folder is None:
            return []
        try:
            paths = list_images(self.folder)
        except ImageError as e:  # the folder went away (a network share, say): keep the styles in hand
            log.warning("rescan: %s", e)
            return []
        known = {s.path.resolve() for s in self.styles}
        added = []
        for p in paths:
            if p.resolve() not in known:
                try:
                    added.append(self.add(p))
                except ImageError as e:
                    if p not in self._told:
                        log.warning("style skipped: %s", e)
                        self._told.add(p)
        return added

    def __len__(self) -> int:
        return len(self.styles)

    @property
    def current(self) -> Style:
        return self.styles[self.index]

    def select(self, index: int) -> bool:
        if 0 <= index < len(self.styles):
            self.index = index
            return True
        return False

    def step(self, delta: int) -> None:
        self.index = (self.index + delta) % len(self.styles)

    def blend(self, weight: float) -> StyleStats:
        """Current style mixed with the next: weight * current + (1 - weight) * next."""
        a, b = self.current.stats, self.styles[(self.index + 1) % len(self.styles)].stats
        return mix_styles([a, b], [weight, 1.0 - weight])

