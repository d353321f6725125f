"""Shared fixtures: small random-weight networks for speed, the real ones where a test needs them."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
SHARED_TRAIN = ROOT.parent / "shared" / "data" / "train"

# the README's command runs two test workers (pytest-xdist), one per core: a thread each, not two each
torch.set_num_threads(1 if os.environ.get("PYTEST_XDIST_WORKER") else 2)


@pytest.fixture(scope="session")
def vgg16_encoder():
    from engines.zoo.hed_vgg16 import vgg16_encoder as load

    return load()


@pytest.fixture(scope="session")
def shipped_model():
    from engines.zoo.registry import resolve

    return resolve("full").eval()


@pytest.fixture(scope="session")
def shipped_lite():
    from engines.zoo.registry import resolve

    return resolve("lite").eval()


@pytest.fixture(scope="session")
def shipped_micro():
    from engines.zoo.registry import resolve

    return resolve("micro").eval()


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    """A 90-frame painted pan (tests/media.py's make_video), made once per test module."""
    from media import make_video

    return make_video(tmp_path_factory.mktemp("clip") / "clip.mp4", frames=90)


@pytest.fixture
def random_model():
    from engines.model.network import AdaINModel
    from engines.model.vgg import VGG16, Decoder, Encoder

    torch.manual_seed(0)
    return AdaINModel(Encoder(VGG16), Decoder(VGG16)).eval()


@pytest.fixture
def x_display():
    """A virtual X screen (Debian's Xvfb) for window tests, on a display number Xvfb picks itself (-displayfd);
    the README's test command installs Xvfb where apt-get can, and elsewhere these tests skip, saying so."""
    if shutil.which("Xvfb") is None:
        pytest.skip("Xvfb not installed (Debian package xvfb; the README's test command installs it where "
                    "apt-get can)")
    read, write = os.pipe()
    xvfb = subprocess.Popen(["Xvfb", "-displayfd", str(write), "-screen", "0", "1024x768x24", "-nolisten", "tcp"],
                            pass_fds=(write,), stderr=subprocess.DEVNULL)
    os.close(write)
    with os.fdopen(read) as f:
        number = f.readline().strip()  # written once the server accepts clients
    try:
        if not number:
            pytest.fail("Xvfb did not start")
        yield f":{number}"
    finally:
        xvfb.terminate()
        xvfb.wait(timeout=10)


@pytest.fixture
def folders(tmp_path):
    """Tiny content/style training folders (with one corrupt file, which training must skip)."""
    import cv2

    for kind, n in (("content", 3), ("style", 3)):
        d = tmp_path / kind
        d.mkdir()
        for i in range(n):
            cv2.imwrite(str(d / f"{i}.png"), make_photo(48, 56, seed=i + (10 if kind == "style" else 0)))
    (tmp_path / "content" / "broken.jpg").write_text("not an image")
    return tmp_path


def webcam(*args: str, env: dict | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    """The live app as a user starts it, from the repository root."""
    return subprocess.run([sys.executable, "-m", "realtime.webcam", *args], capture_output=True, text=True,
                          timeout=timeout, cwd=ROOT, env=env)


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    """Peak signal-to-noise ratio of uint8 pictures (or stacks of them), in dB."""
    mse = np.mean((np.asarray(a, np.float64) - b) ** 2)
    return 10 * np.log10(255**2 / max(mse, 1e-12))


def make_photo(h: int, w: int, seed: int = 0) -> np.ndarray:
    """A synthetic BGR 'photo': smooth gradients, shapes and noise, so statistics are not degenerate."""
    import cv2

    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    img = np.stack([xx * 255 / max(w - 1, 1), yy * 255 / max(h - 1, 1), (xx + yy) * 127 / max(h + w, 1)], -1)
    img = img.astype(np.float32)
    for _ in range(4):
        c = tuple(int(v) for v in rng.integers(0, 255, 3))
        cv2.circle(img, (int(rng.integers(0, w)), int(rng.integers(0, h))), int(rng.integers(4, max(5, min(h, w) // 3))), c, -1)
    img += rng.normal(0, 8, img.shape)
    return img.clip(0, 255).astype(np.uint8)
