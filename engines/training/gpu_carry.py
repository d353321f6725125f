"""What a lent GPU machine needs carried to it (it reaches no network and a call carries at most 64 MiB): the
converted encoders in fp16, and the training images as JPEG at the best quality that fits the budget."""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import cv2
import torch
from safetensors.torch import load_file, save_file

from engines.io.images import ImageError, list_images, read_short
from engines.training.data_split import select
from engines.zoo.cache import cache_dir
from engines.zoo.hed_vgg16 import HED_CONVS
from engines.zoo.registry import encoder_by_name


def tree_bytes(root: Path) -> int:
    """What travels besides .gpu/: the files git tracks or would add."""
    names = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=root, capture_output=True,
                           check=True).stdout.split(b"\0")
    return sum((root / n.decode()).stat().st_size for n in names if n and (root / n.decode()).is_file())


def carry_cache(carry: Path, encoders: list[str]) -> None:
    """The converted encoders, fp16 (they load into fp32 modules), where engines.zoo.cache looks for them."""
    cache = carry / "cache"
    cache.mkdir(parents=True, exist_ok=True)
    for name in encoders:
        encoder_by_name(name)  # converted once here, from the installed wheel
    for f in cache_dir().glob("*.safetensors"):
        if f.name.startswith("vgg19_imagenet_") and "vgg19" in encoders:
            save_file({k: v.half() for k, v in load_file(str(f)).items()}, str(cache / f.name))
        if f.name.startswith("vgg16_hed_") and "vgg16-hed" in encoders:  # only the convs up to relu4_1
            keep = [f"{n}.{p}" for n in list(HED_CONVS)[:8] for p in ("weight", "bias")]
            t = load_file(str(f))
            save_file({k: t[k].to(torch.float16) for k in keep}, str(cache / f.name))


def pack_images(dest: Path, folders: dict[str, str], budget: int, side: int = 512) -> tuple[int, int]:
    """The training split of each folder (by kind: content, style) as JPEGs of shorter side `side` in dest/kind,
    at the best quality that fits `budget` bytes: (quality, bytes used)."""
    for quality in (90, 85, 80, 75, 70):
        used = 0
        for kind, folder in folders.items():
            out = dest / kind
            shutil.rmtree(out, ignore_errors=True)
            out.mkdir(parents=True)
            for p in select(list_images(folder), kind, "train"):
                ok, buf = cv2.imencode(".jpg", read_short(p, side), [cv2.IMWRITE_JPEG_QUALITY, quality])
                (out / (p.stem + ".jpg")).write_bytes(buf.tobytes())
                used += buf.size
        if used <= budget:
            return quality, used
    raise ImageError(f"the training images do not fit in {budget >> 20} MiB even at JPEG quality 70")
