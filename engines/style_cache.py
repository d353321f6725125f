"""Styles as precomputed statistics: each style image encoded once per model, kept in memory and on disk.

A style is fully described at run time by the mean and std of its relu4_1 features (two vectors of 512 floats
for the full model, 128 for the lite one). They are cached as safetensors (never pickle), keyed by the image
file's content, the size it is encoded at and the model (layout and weights), so a restart, a second kiosk or
the next video file never re-encodes, the models keep their statistics side by side, and new weights never
reuse stale statistics. The live app's style bank and the video job's model cache both go through here.
"""
from __future__ import annotations

import hashlib
from pathlib import Path

from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from engines.backends import check_style_memory
from engines.io.images import bgr_to_tensor, read_short
from engines.model.network import AdaINModel, StyleStats
from engines.zoo.cache import cache_dir, save_to_cache
from engines.zoo.files import weights_fingerprint


class StyleCache:
    """`stats(model, path, size)`; `encoded` counts the images this cache had to run the encoder on."""

    def __init__(self) -> None:
        self._memory: dict[tuple[str, int, str], StyleStats] = {}
        self._model_keys: dict[int, tuple[AdaINModel, str]] = {}
        self.encoded = 0

    def model_key(self, model: AdaINModel) -> str:
        """Layout and weights: statistics of another model or other weights are never reused."""
        known = self._model_keys.get(id(model))
        if known is None or known[0] is not model:
            known = self._model_keys[id(model)] = (model, f"{model.encoder.layout.name}-{weights_fingerprint(model)}")
        return known[1]

    def _key(self, model: AdaINModel, path: Path, size: int) -> tuple[str, int, str]:
        return self.model_key(model), size, hashlib.sha256(Path(path).read_bytes()).hexdigest()[:24]

    def stats(self, model: AdaINModel, path: Path | str, size: int) -> StyleStats:
        """The statistics of the image at `path` with its shorter side at `size` (0: as it is). Raises ImageError
        for an unreadable image and BackendError for one too large to encode in free memory."""
        image = read_short(path, size)  # an unreadable file says so here, cached or not
        key = self._key(model, Path(path), size)
        if key in self._memory:
            return self._memory[key]
        disk = cache_dir() / "styles" / f"{key[0]}-{key[1]}-{key[2]}.safetensors"
        stats = None
        if disk.is_file():
            try:
                t = load_file(str(disk))
                stats = StyleStats(t["mean"], t["std"])
            except (SafetensorError, OSError, KeyError):
                disk.unlink(missing_ok=True)
        if stats is None:
            check_style_memory(model, *image.shape[:2])
            stats = model.encode_style(bgr_to_tensor(image))
            self.encoded += 1
            tensors = {"mean": stats.mean.contiguous(), "std": stats.std.contiguous()}
            save_to_cache(disk, lambda tmp: save_file(tensors, str(tmp)))  # the style is in hand either way
        stats = stats.to(model.device)
        self._memory[key] = stats
        return stats

    def adopt(self, model: AdaINModel, path: Path | str, size: int, stats: StyleStats) -> None:
        """Statistics encoded elsewhere with the same weights (another batch worker): not encoded here again."""
        self._memory[self._key(model, Path(path), size)] = stats.to(model.device)
