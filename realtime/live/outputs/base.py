"""Where the live picture goes besides the window: one small interface for every output.

The loop hands each output every frame (`send`) and closes them all at the end; an output may also hand
keys back (`pressed`: the browser view's buttons). Which outputs exist and the flags that open them:
realtime/live/outputs/__init__.py.
"""
from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np


@dataclass(frozen=True)
class ViewState:
    """What the controls are set to, as an output may show it."""
    style: str = ""
    style_index: int = 0
    styles: int = 0
    alpha: float = 1.0
    mask: str = "whole"
    style_path: str = ""


@dataclass(frozen=True)
class OutFrame:
    """One output frame: `shown` as the window shows it without the HUD (original and stylized side by side
    while frozen), `stylized` the picture alone, `time` (monotonic) when it left the model."""
    shown: np.ndarray
    stylized: np.ndarray
    time: float
    state: ViewState = field(default_factory=ViewState)


class Output:
    """An output of the live loop. `stage` names the --stats stage its time is counted in."""

    stage = "send"

    def send(self, frame: OutFrame) -> None:
        raise NotImplementedError

    def pressed(self) -> list[str]:
        """Key characters this output's user pressed since the last call, oldest first."""
        return []

    def close(self) -> None:
        pass


@dataclass
class Engine:
    """What an output opened after the engine is built may size itself to; `fps`, the rate the loop can keep
    (the source's, or the engine's if slower), is measured only when an output asks."""
    width: int
    height: int
    measure_fps: Callable[[], float]

    @cached_property
    def fps(self) -> float:
        return self.measure_fps()


@dataclass(frozen=True)
class OutputKind:
    """One output the live app offers: its flags, a check said before the model loads (a missing package), and
    how it opens: `opens_early` ones (a port in use) before the engine build, with `engine` None; the others
    after. `open` returns None where the flags do not ask for it. `errors`: its one-line failures."""
    name: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    open: Callable[[argparse.Namespace, Engine | None], Output | None]
    check: Callable[[argparse.Namespace], None] = lambda a: None
    opens_early: bool = False
    errors: tuple[type[Exception], ...] = ()
