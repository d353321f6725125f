"""Where the person is in a frame: MediaPipe's selfie segmentation, converted once and run on PyTorch.

The models come from the Apache-2.0 wheel `mediapipe==0.10.14` (`mediapipe/modules/selfie_segmentation/`):
a square one (256x256 input) and a landscape one (144x256), both MobileNetV3-like with fp16 weights. They
are converted by `tools/person_model.py` into the safetensors files shipped in engines/weights/ (graph
description in the metadata, weights as in the source), so that using masks needs neither the 36 MB wheel,
which exists for CPython 3.11 only, nor its dependency pins. See engines/weights/person.md.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file
from torch import Tensor, nn

from engines.person.tflite_graph import GraphSpec, TfliteGraph, read_tflite
from engines.zoo.files import WEIGHTS_DIR, WeightsError

WEIGHTS = WEIGHTS_DIR
WHEEL = "mediapipe==0.10.14"


@dataclass(frozen=True)
class SegmenterFile:
    name: str        # in the wheel's mediapipe/modules/selfie_segmentation/
    sha256: str      # of that .tflite
    converted: str   # in engines/weights/


SQUARE = SegmenterFile("selfie_segmentation.tflite",
                       "9ee168ec7c8f2a16c56fe8e1cfbc514974cbbb7e434051b455635f1bd1462f5c",
                       "person_square.safetensors")
LANDSCAPE = SegmenterFile("selfie_segmentation_landscape.tflite",
                          "a77d03f4659b9f6b6c1f5106947bf40e99d7655094b6527f214ea7d451106edd",
                          "person_landscape.safetensors")


def convert(tflite_path: Path, expected: SegmenterFile, out: Path) -> None:
    """The wheel's .tflite -> a safetensors file holding its graph and weights."""
    digest = hashlib.sha256(Path(tflite_path).read_bytes()).hexdigest()
    if digest != expected.sha256:
        raise WeightsError(f"{tflite_path}: checksum {digest[:12]}... is not {WHEEL}'s {expected.name}")
    spec, consts = read_tflite(tflite_path)
    tensors = {str(i): torch.from_numpy(a.copy()) for i, a in consts.items()}
    save_file(tensors, str(out), metadata={"graph": spec.to_json(), "source": f"{WHEEL} {expected.name}",
                                           "sha256": expected.sha256, "license": "Apache-2.0"})


class PersonSegmenter(nn.Module):
    """BGR uint8 frame (H, W, 3) -> person probability (H, W) float32 in [0, 1] at the frame's size.

    Frames are squeezed to the model's input as MediaPipe feeds it (RGB in [0, 1], aspect not kept): pick
    the model whose input is nearest the frame's shape (`for_frame`).
    """

    def __init__(self, which: SegmenterFile = SQUARE, path: Path | None = None) -> None:
        super().__init__()
        path = path or WEIGHTS / which.converted
        try:
            with safe_open(str(path), "pt") as f:
                spec = GraphSpec.from_json((f.metadata() or {})["graph"])
                tensors = {int(k): f.get_tensor(k) for k in f.keys()}
        except (OSError, KeyError, ValueError, SafetensorError) as e:
            raise WeightsError(f"cannot read the person segmenter {path}: {e}") from None
        self.graph = TfliteGraph(spec, tensors).eval()
        self.in_h, self.in_w = spec.input_shape[1:3]

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    def forward(self, rgb: Tensor) -> Tensor:
        """rgb float (N, 3, in_h, in_w) in [0, 1] -> probability (N, 1, in_h, in_w)."""
        return self.graph(rgb)

    @torch.inference_mode()
    def numpy(self, frame: np.ndarray) -> np.ndarray:
        # resizing with OpenCV on the CPU: a third of the time torch's antialiased resize took here
        small = cv2.resize(frame, (self.in_w, self.in_h), interpolation=cv2.INTER_AREA)
        x = torch.from_numpy(np.ascontiguousarray(small[:, :, ::-1])).to(self.device)
        p = self(x.permute(2, 0, 1)[None].float() / 255.0)[0, 0].float().cpu().numpy()
        h, w = frame.shape[:2]
        return np.clip(cv2.resize(p, (w, h), interpolation=cv2.INTER_LINEAR), 0.0, 1.0)


def for_frame(height: int, width: int) -> SegmenterFile:
    """The landscape model (256x144, the one MediaPipe meant for video calls, and a third faster here) for
    frames wider than about 7:6: a 4:3 webcam is squeezed by the same 4:3 into either model."""
    return LANDSCAPE if width / height > 1.15 else SQUARE
