"""The cache folder: converted weights, compiled engines and style statistics, kept between runs.

`~/.cache/realtime-adain`, or `$REALTIME_ADAIN_CACHE`. The cache only saves time: a place that cannot be used
(a read-only home on a kiosk, a file in the way, a full disk) is said once and worked around.
"""
from __future__ import annotations

import logging
import os
import stat
import tempfile
from collections.abc import Callable
from pathlib import Path

from safetensors import SafetensorError

from engines.io.atomic_write import write_atomically


def cache_dir() -> Path:
    """Converted weights, compiled engines and style statistics live here (override with
    REALTIME_ADAIN_CACHE). The cache only saves time: a place that cannot be used (a read-only home on a
    kiosk, a file in the way) falls back to the temp folder, said once, instead of stopping the program."""
    path = Path(os.environ.get("REALTIME_ADAIN_CACHE") or Path.home() / ".cache" / "realtime-adain")
    try:
        path.mkdir(parents=True, exist_ok=True)
        if os.access(path, os.W_OK | os.X_OK):
            return path
        why = "not writable"
    except OSError as e:
        why = e.strerror or type(e).__name__
    fallback = _private_temp_folder()
    if path not in _TOLD:
        _TOLD.add(path)
        logging.getLogger("realtime-adain").warning("cache folder %s: %s; using %s", path, why, fallback)
    return fallback


_TOLD: set[Path] = set()
_OWN_TEMP: list[Path] = []


def _private_temp_folder() -> Path:
    """The temp folder's realtime-adain-UID, made private to this user; one that someone else owns or can
    write to (compiled engines are loaded from it, so another local user could plant one) is not used, and a
    fresh private folder of this process's own stands in."""
    path = Path(tempfile.gettempdir()) / f"realtime-adain-{os.getuid()}"
    try:
        path.mkdir(mode=0o700, exist_ok=True)
        st = path.lstat()
        if stat.S_ISDIR(st.st_mode) and st.st_uid == os.getuid() and not st.st_mode & 0o022:
            return path
    except OSError:
        pass
    if not _OWN_TEMP:
        _OWN_TEMP.append(Path(tempfile.mkdtemp(prefix="realtime-adain-")))
        logging.getLogger("realtime-adain").warning("%s is not this user's own private folder; not used", path)
    return _OWN_TEMP[0]


def save_to_cache(path: Path, write: Callable[[Path], None]) -> bool:
    """`write` a cache file atomically; a cache only saves time, so a failure (a full disk, a folder in the
    way) is said once and the program goes on without it. Whether it was saved."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomically(path, write)
        return True
    except (OSError, SafetensorError, RuntimeError) as e:  # torch's savers wrap OSError in RuntimeError
        if path.parent not in _TOLD:
            _TOLD.add(path.parent)
            logging.getLogger("realtime-adain").warning("not cached in %s: %s", path.parent,
                                                        getattr(e, "strerror", None) or e)
        return False
