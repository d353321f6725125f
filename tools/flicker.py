"""Flicker of a stylized video: mean warping error between consecutive frames (realtime/video/flicker.py).

    python tools/flicker.py original.mp4 stylized.mp4
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from realtime.video.flicker import frames, warping_error  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="Mean warping error between consecutive stylized frames (lower = less flicker).")
    p.add_argument("original", type=Path, help="the input video")
    p.add_argument("stylized", type=Path, help="the stylized video (same frames)")
    a = p.parse_args(argv)
    try:
        err = warping_error(frames(a.original), frames(a.stylized))
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"warping error {err:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
