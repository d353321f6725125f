"""Regenerate person_reference.npz: MediaPipe's own selfie segmentation (landscape model) of astronaut.jpg.

Needs the full mediapipe wheel with its dependencies (not project dependencies; run once in a separate
environment):
    python3.11 -m venv /tmp/mpenv && /tmp/mpenv/bin/pip install mediapipe==0.10.14
    /tmp/mpenv/bin/python tests/data/make_person_reference.py
The picture is given at the model's input size (256x144), so MediaPipe neither resizes its input nor its mask,
and the PyTorch port of the same graph (engines/person/segmenter.py) must reproduce this mask.
"""
from pathlib import Path

import cv2
import mediapipe as mp
import numpy as np

here = Path(__file__).resolve().parent
bgr = cv2.resize(cv2.imread(str(here / "astronaut.jpg")), (256, 144), interpolation=cv2.INTER_AREA)
with mp.solutions.selfie_segmentation.SelfieSegmentation(model_selection=1) as seg:
    mask = seg.process(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)).segmentation_mask
np.savez_compressed(here / "person_reference.npz", input=bgr, mask=mask.astype(np.float32))
print("mask", mask.shape, "mean", float(mask.mean()))
