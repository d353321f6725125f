"""Export the whole frame graph (uint8 BGR frames -> stylized frames) as an ONNX file.

Inputs: frames uint8 (N, H, W, 3) BGR; style_mean, style_std float32 (C,) with C = 512 (full) or 128 (lite);
alpha, color float32 (1,). Output: stylized uint8 (N, H, W, 3) BGR. The style is
an input, so one file serves every style (statistics from
engines.model.AdaINModel.encode_style).

    python tools/export_onnx.py --size 1280x720 -o adain_720p.onnx
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from engines.backends import EngineSpec  # noqa: E402
from engines.backends.onnx import export_onnx  # noqa: E402
from engines.model.frame_graph import FrameGraph  # noqa: E402
from engines.options import add_model_args, check_folder_of, count, frame_size, load_model  # noqa: E402
from engines.zoo.files import WeightsError  # noqa: E402


@torch.no_grad()  # scoped to the call: a caller in the same process keeps autograd
def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="Export the AdaIN frame graph (preprocess, encoder, AdaIN, decoder, "
                                            "postprocess) to ONNX for fixed-size frames.")
    p.add_argument("--size", type=frame_size, default=(512, 512), help="frame WIDTHxHEIGHT (default 512x512)")
    p.add_argument("--batch", type=count, default=1, help="frames per call (default 1)")
    p.add_argument("-o", "--output", type=Path, required=True, help="the .onnx file to write")
    add_model_args(p)
    a = p.parse_args(argv)
    try:
        check_folder_of(a.output, "ONNX file")
        model, _ = load_model(a, "cpu")
        w, h = a.size
        graph = FrameGraph(model, h, w).eval()
        export_onnx(graph, EngineSpec("onnx", h, w, a.batch, channels=model.style_width), a.output)
        # check the file against the PyTorch graph before calling it done
        import onnxruntime as ort

        sess = ort.InferenceSession(str(a.output), providers=["CPUExecutionProvider"])
        frames = np.random.default_rng(0).integers(0, 256, (a.batch, h, w, 3), dtype=np.uint8)
        c = model.style_width
        feeds = {"frames": frames, "style_mean": np.full(c, 2.0, np.float32), "style_std": np.full(c, 3.0, np.float32),
                 "alpha": np.ones(1, np.float32), "color": np.zeros(1, np.float32),
                 "region": np.full((a.batch, h, w), 255, np.uint8)}
        feeds["region"][:, :, w // 2:] = 0  # half painted: the region input is checked too
        got = sess.run(None, feeds)[0]
        want = graph(*(torch.from_numpy(v) for v in feeds.values())).numpy()
        err = int(np.abs(got.astype(int) - want).max())
    except (WeightsError, ValueError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"wrote {a.output} ({a.output.stat().st_size / 2**20:.1f} MB); max difference to PyTorch {err} grey level(s)")
    return 0 if err <= 2 else 1


if __name__ == "__main__":
    sys.exit(main())
