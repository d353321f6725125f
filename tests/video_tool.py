"""What the video tool's tests share: tools/video.py run as a user runs it."""
from __future__ import annotations

import subprocess
import sys

from conftest import ROOT

STYLE = str(ROOT / "tests/data/painting.jpg")


def video(*args, timeout=600):
    """tools/video.py with the lite model unless a test asks for another (auto takes the full one offline)."""
    model = [] if "--model" in args else ["--model", "lite"]
    return subprocess.run([sys.executable, str(ROOT / "tools/video.py"), *args, *model, "--quiet"], capture_output=True,
                          text=True, timeout=timeout)
