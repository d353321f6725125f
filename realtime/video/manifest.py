"""What a batch has done, kept in its output folder so that a re-run with the same inputs and options skips it.

out_dir/.batch-manifest.json holds each file done and each part of a long file done, with a digest of the
options it was made with (style files' contents included) and the input's identity (path, size, time).
"""
from __future__ import annotations

import argparse
import hashlib
import json
from pathlib import Path

from engines.io.atomic_write import write_atomically

MANIFEST = ".batch-manifest.json"
# what each file is made with: changing any of these makes a done file due again
JOB_OPTIONS = ("style", "weights", "alpha", "preserve_color", "mask_video", "mask_mode", "size", "scale", "backend",
               "precision", "device", "model", "model_weights", "vgg", "decoder", "crf", "codec", "batch",
               "stabilize", "style_size", "fp16", "model_scale")


def options_key(a: argparse.Namespace) -> str:
    """A digest of the options each file is made with, style files' contents included."""
    d = {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(a).items() if k in JOB_OPTIONS}
    h = hashlib.sha256(json.dumps(d, sort_keys=True, default=str).encode())
    for s in a.style:
        h.update(Path(s).read_bytes())
    return h.hexdigest()[:20]


def input_key(path: Path) -> str:
    st = path.stat()
    return f"{path.resolve()}|{st.st_size}|{st.st_mtime_ns}"


class Manifest:
    """out_dir/.batch-manifest.json: the files and the parts of files done, with what they were made with;
    replaced whole (write_atomically) after each, so an interruption at any moment leaves a consistent one."""

    def __init__(self, out_dir: Path) -> None:
        self.path = out_dir / MANIFEST
        self.done: dict[str, dict] = {}
        self.parts: dict[str, dict] = {}
        if self.path.is_file():
            try:
                data = json.loads(self.path.read_text())
                self.done, self.parts = data.get("done", {}), data.get("parts", {})
            except (OSError, ValueError):
                pass  # unreadable (never half-written): everything is due again

    def is_done(self, key: str, options: str, output: Path) -> bool:
        entry = self.done.get(key)
        return bool(entry) and entry.get("options") == options and output.is_file()

    def part_done(self, part_key: str, options: str, output: Path) -> bool:
        entry = self.parts.get(part_key)
        return bool(entry) and entry.get("options") == options and output.is_file()

    def mark_done(self, key: str, entry: dict) -> None:
        self.done[key] = entry
        self.parts = {k: v for k, v in self.parts.items() if not k.startswith(key + "#")}
        self._save()

    def mark_part(self, part_key: str, entry: dict) -> None:
        self.parts[part_key] = entry
        self._save()

    def _save(self) -> None:
        data = json.dumps({"version": 1, "done": self.done, "parts": self.parts}, indent=1).encode()
        write_atomically(self.path, lambda tmp: tmp.write_bytes(data))
