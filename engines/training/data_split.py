"""Which training images no trainer sees: the held-out split that decoders are judged on.

A decoder judged on the pairs it was trained on looks better than it is; the list (about 10 % of each training
folder, crops kept with their original) is fixed in the repo so that every trainer skips the same files and
every comparison uses them. Files are matched by name, so a folder of one's own is used whole.
"""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

SPLIT_FILE = Path(__file__).resolve().parents[1] / "weights" / "heldout_split.txt"
SPLITS = ("train", "heldout", "all")


@lru_cache(maxsize=None)
def heldout_names(kind: str) -> frozenset[str]:
    """File names held out of the `kind` folder ('content' or 'style')."""
    lines = SPLIT_FILE.read_text().splitlines()
    return frozenset(line.split("/", 1)[1] for line in lines if line.startswith(f"{kind}/"))


def select(paths: list[Path], kind: str, split: str) -> list[Path]:
    """`paths` of a `kind` folder in `split`: 'train' leaves the held-out files out, 'heldout' keeps only
    them, 'all' keeps everything."""
    if split == "all":
        return list(paths)
    held = heldout_names(kind)
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; choose one of {', '.join(SPLITS)}")
    return [p for p in paths if (p.name in held) == (split == "heldout")]
