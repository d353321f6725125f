"""An engine behind one interface: frames of one size in, stylized frames out, whatever the backend."""
from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from engines.backends.base import EngineSpec
from engines.model.network import StyleStats


class Stylizer:
    """Frames of one size in, stylized frames out: `stylizer(frames, style, alpha, color)`."""

    def __init__(self, spec: EngineSpec, run: Callable[..., Tensor], build_seconds: float, cache_file: Path | None,
                 why: str = "") -> None:
        self.spec = spec
        self._run = run
        self.build_seconds = build_seconds
        self.cache_file = cache_file
        self.why = why  # why this backend and precision were chosen, for the start-up line
        self._device = torch.device(spec.device)
        self._pinned: Tensor | None = None
        self._pinned_out: Tensor | None = None
        self._scalars: dict[float, Tensor] = {}
        self._style_src: tuple[Tensor, Tensor] | None = None  # held, so identity comparison is safe
        self._style: tuple[Tensor, Tensor] | None = None
        self._whole: Tensor | None = None  # the region "everything", made once

    def _blank(self) -> tuple[np.ndarray, StyleStats]:
        c = self.spec.channels
        return (np.zeros((self.spec.batch, self.spec.height, self.spec.width, 3), np.uint8),
                StyleStats(torch.zeros(c), torch.ones(c)))

    def warmup(self, runs: int = 2) -> None:
        """JIT profiling runs and allocator growth happen here, not on the first live frames."""
        frames, style = self._blank()
        for _ in range(runs):
            self(frames, style)
        self._style_src = None

    def rate(self, runs: int = 3) -> float:
        """Frames a second of the engine alone (median of `runs`, after warmup): what a size costs here."""
        frames, style = self._blank()
        times = []
        for _ in range(runs):
            t0 = time.perf_counter()
            self(frames, style)
            times.append(time.perf_counter() - t0)
        self._style_src = None
        return self.spec.batch / sorted(times)[len(times) // 2]

    @property
    def backend(self) -> str:
        return self.spec.backend

    def _style_tensors(self, style: StyleStats) -> tuple[Tensor, Tensor]:
        src = self._style_src
        if src is None or src[0] is not style.mean or src[1] is not style.std:  # uploaded once per switch
            self._style = (style.mean.float().to(self._device), style.std.float().to(self._device))
            self._style_src = (style.mean, style.std)
        return self._style

    def __call__(self, frames: np.ndarray, style: StyleStats, alpha: float = 1.0, color: float = 0.0,
                 region: np.ndarray | None = None) -> np.ndarray:
        """frames: uint8 (H, W, 3) or (N, H, W, 3) BGR of exactly the engine's size and batch; region: uint8
        (H, W) or (N, H, W), 255 where to paint and 0 where to keep the photo (None: the whole frame)."""
        single = frames.ndim == 3
        batch = frames[None] if single else frames
        expected = (self.spec.batch, self.spec.height, self.spec.width, 3)
        if batch.shape != expected:
            raise ValueError(f"this {self.backend} engine was built for frames {expected}, got {batch.shape}")
        x = torch.from_numpy(np.ascontiguousarray(batch))
        if self._device.type == "cuda":  # pinned host buffer, non-blocking uint8 upload
            if self._pinned is None:
                self._pinned = torch.empty(expected, dtype=torch.uint8).pin_memory()
            self._pinned.copy_(x)
            x = self._pinned.to(self._device, non_blocking=True)
        mean, std = self._style_tensors(style)
        r = self._region(region, expected[:3])
        with torch.inference_mode():
            out = self._run(x, mean, std, self._scalar(alpha), self._scalar(color), r)
        if isinstance(out, Tensor):
            if self._device.type == "cuda":  # uint8 download into a pinned buffer
                if self._pinned_out is None:
                    self._pinned_out = torch.empty(expected, dtype=torch.uint8).pin_memory()
                self._pinned_out.copy_(out, non_blocking=True)
                torch.cuda.current_stream(self._device).synchronize()
                out = self._pinned_out.numpy().copy()  # callers may keep frames (writer queues)
            else:
                out = out.numpy()
        return out[0] if single else out

    def _region(self, region: np.ndarray | None, shape: tuple[int, int, int]) -> Tensor:
        if region is None:
            if self._whole is None:
                self._whole = torch.full(shape, 255, dtype=torch.uint8, device=self._device)
            return self._whole
        r = region[None] if region.ndim == 2 else region
        if r.shape != shape or r.dtype != np.uint8:
            raise ValueError(f"the region must be uint8 {shape[1:]} like the frames, got {r.dtype} {region.shape}")
        return torch.from_numpy(np.ascontiguousarray(r)).to(self._device)

    def _scalar(self, value: float) -> Tensor:
        """alpha / colour weight as device tensors, made once per distinct value (keys move in 0.1 steps)."""
        t = self._scalars.get(value)
        if t is None:
            if len(self._scalars) > 64:
                self._scalars.clear()
            t = self._scalars[value] = torch.tensor([value], dtype=torch.float32, device=self._device)
        return t
