"""The live app's styles: an ordered set with a current one, swapped instantly, and a folder watched for new
files. Each style is its statistics, encoded once (engines/style_cache.py); blends are arithmetic on them."""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from engines.backends import BackendError
from engines.io.images import ImageError, list_images
from engines.model.network import AdaINModel, StyleStats, mix_styles
from engines.style_cache import StyleCache

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
        self.cache = StyleCache()
        self.folder = folder
        self.style_size = style_size
        self.styles: list[Style] = []
        self.index = 0
        self._told: set[Path] = set()  # unreadable files already reported
        for p in paths or []:
            self.add(Path(p))
        if folder is not None:
            self.rescan()
        if not self.styles:
            raise ImageError(f"no style images in {folder}" if folder else "no style images given")

    @property
    def encoded(self) -> int:
        """Styles encoded by the network (neither in memory nor in the disk cache)."""
        return self.cache.encoded

    def encode(self, path: Path) -> StyleStats:
        try:
            return self.cache.stats(self.model, path, self.style_size)  # an unreadable image: ImageError
        except BackendError as e:  # skipped in a folder like an unreadable file, a one-line error at start-up
            raise ImageError(f"{path}: {e}") from None

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

