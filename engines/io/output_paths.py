"""Where a tool may write: never over one of its own inputs, never over work an earlier run left.

Every file a tool writes (the result, and the temporary NAME.partial.EXT it grows in) is checked against every
file it reads (content, styles, masks, the input video) before any work, in this one place: a video named
clip.partial.mp4 stylized to clip.mp4 was once the temporary file of its own output and was destroyed.
"""
from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path


class OutputPathError(ValueError):
    """The output would destroy an input or an earlier result; one line for the user."""


def same_file(a: Path, b: Path) -> bool:
    """The same file, also through links or another spelling of the path."""
    try:
        return os.path.samefile(a, b)
    except OSError:  # one of them does not exist (yet): compare the paths it would have
        return Path(a).resolve() == Path(b).resolve()


def check_outputs(outputs: Iterable[Path], inputs: Iterable[Path | str], keep_existing: bool = False) -> None:
    """Refuse before any work if an output is one of the inputs, or (with `keep_existing`) already exists.

    `outputs` holds every path the tool will write, temporary ones included.
    """
    inputs = [Path(p) for p in inputs]
    for out in outputs:
        out = Path(out)
        for src in inputs:
            if same_file(out, src):
                raise OutputPathError(f"writing {out} would overwrite the input {src}; choose another output name")
        if keep_existing and out.exists():
            raise OutputPathError(f"{out} exists (from an earlier run?); move it away or pass --overwrite")
