"""Files that appear whole or not at all, even with several processes writing the same one.

Caches (converted weights, compiled engines, style statistics) are filled by whichever program needs them
first, and batch jobs run side by side (`parallel tools/video.py ...`): with one shared temporary name, one
process would rename another's half-written file or find its own gone. So each writer has its own temporary
name, and the last rename wins with a complete file.
"""
from __future__ import annotations

import itertools
import os
from collections.abc import Callable
from pathlib import Path

_NEXT = itertools.count()  # with the process id: a name no other writer, thread or call uses


def write_atomically(path: Path, write: Callable[[Path], None]) -> None:
    """`write(tmp)` to a temporary name beside `path`, then rename it over `path`; no temporary is left behind."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}-{next(_NEXT)}.tmp")
    try:
        write(tmp)
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)
