"""What a long-lived worker keeps between video files: the model, the encoded styles, an engine per frame size.

`tools/video.py` makes one per run; a batch worker (realtime/video/batch.py) keeps one for its life, so the second
file of a batch costs no model load, no style encoding and no engine build.
"""
from __future__ import annotations

import argparse
from pathlib import Path

from engines.backends import Stylizer, make_stylizer
from engines.model.network import AdaINModel, StyleStats
from engines.options import load_model
from engines.style_cache import StyleCache


class ModelCache:
    def __init__(self) -> None:
        self._models: dict[tuple, tuple[AdaINModel, str]] = {}
        self.styles = StyleCache()
        self._engines: dict[tuple, Stylizer] = {}

    def model(self, a: argparse.Namespace, device: str) -> tuple[AdaINModel, str]:
        """The model the options ask for, and why it was chosen."""
        key = (a.model, a.model_weights, str(a.vgg), str(a.decoder), device)
        if key not in self._models:
            self._models[key] = load_model(a, device)
        return self._models[key]

    @property
    def encoded(self) -> int:
        """Styles this cache encoded itself (adopted ones not counted)."""
        return self.styles.encoded

    def style(self, model: AdaINModel, path: Path | str, size: int) -> StyleStats:
        """A style image's statistics, encoded once (engines/style_cache.py)."""
        return self.styles.stats(model, path, size)

    def adopt_style(self, model: AdaINModel, path: Path | str, size: int, stats: StyleStats) -> None:
        """Statistics another worker encoded with the same weights: this one need not encode the image."""
        self.styles.adopt(model, path, size, stats)

    def stylizer(self, model: AdaINModel, backend: str, height: int, width: int, batch: int, device: str,
                 precision: str, inner: tuple[int, int] | None = None) -> Stylizer:
        """The engine for frames of this size; a handful of sizes are kept (a batch of phone and camera clips)."""
        key = (id(model), backend, height, width, batch, device, precision, inner)
        if key not in self._engines:
            if len(self._engines) >= 4:
                self._engines.pop(next(iter(self._engines)))
            self._engines[key] = make_stylizer(model, backend, height, width, batch=batch, device=device,
                                               precision=precision, inner=inner)
        return self._engines[key]
