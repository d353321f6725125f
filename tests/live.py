"""What the live app's tests share: the style files, the --stats reader, and the offline reference picture."""
from __future__ import annotations

import json

from engines.io.images import bgr_to_tensor, read_bgr, resize_short, tensor_to_bgr

from conftest import ROOT

STYLE_A, STYLE_B = str(ROOT / "tests/data/painting.jpg"), str(ROOT / "tests/data/windmill.jpg")


def read_stats(path):
    return [json.loads(line) for line in open(path)]


def reference(model, frame_bgr, style_path):
    """The frame stylized offline by the eager model (style encoded as the style bank does)."""
    stats = model.encode_style(bgr_to_tensor(resize_short(read_bgr(style_path), 512)))
    return tensor_to_bgr(model.stylize(bgr_to_tensor(frame_bgr), [stats]))
