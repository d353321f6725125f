"""Convert MediaPipe's selfie segmentation models (the person masks of --mask-mode) from the mediapipe wheel.

Run once; the converted files ship in engines/weights/ (person_square / person_landscape .safetensors, card:
engines/weights/person.md), so users need neither the wheel nor a TFLite runtime. To redo it:
    pip install --no-deps mediapipe==0.10.14 tflite==2.18.0 flatbuffers
    python tools/person_model.py            # writes both files into engines/weights/
"""
from __future__ import annotations

import argparse
import importlib.util
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from engines.person.segmenter import LANDSCAPE, SQUARE, WEIGHTS, WHEEL, SegmenterFile, convert  # noqa: E402
from engines.person.tflite_graph import TfliteError  # noqa: E402
from engines.zoo.files import WeightsError  # noqa: E402


def wheel_file(which: SegmenterFile) -> Path:
    """The .tflite inside the installed wheel, found without importing mediapipe (its dependencies are absent)."""
    spec = importlib.util.find_spec("mediapipe")
    if spec is None or not spec.submodule_search_locations:
        raise WeightsError(f"mediapipe is not installed: run 'pip install --no-deps {WHEEL} tflite==2.18.0 flatbuffers'")
    path = Path(list(spec.submodule_search_locations)[0]) / "modules" / "selfie_segmentation" / which.name
    if not path.is_file():
        raise WeightsError(f"{path} is missing; reinstall {WHEEL}")
    return path


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="Convert the mediapipe wheel's person segmenters for --mask-mode.")
    p.add_argument("--out-dir", type=Path, default=WEIGHTS, help="where to write them (default engines/weights)")
    a = p.parse_args(argv)
    if importlib.util.find_spec("tflite") is None:
        print("error: the tflite package is needed to read .tflite files: pip install tflite==2.18.0 flatbuffers",
              file=sys.stderr)
        return 2
    try:
        for which in (SQUARE, LANDSCAPE):
            out = a.out_dir / which.converted
            convert(wheel_file(which), which, out)
            print(f"wrote {out}")
    except (WeightsError, TfliteError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
