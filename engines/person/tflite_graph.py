"""A TensorFlow Lite graph run as a PyTorch module, for the few small models the project takes from wheels.

The person segmenter comes as a .tflite file. Running it on PyTorch instead of a TFLite runtime keeps one
inference stack (the same devices, no wheel pinned to one Python, none of mediapipe's dependency pins), and
the graph needs only a dozen operators. `read_tflite` turns the file into a plain description (operators in
order, constant tensors) once, offline; `TfliteGraph` runs that description. Layouts: TFLite is NHWC, this
module is NCHW throughout; weights are transposed when the module is built.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

# TFLite's fused activations (ActivationFunctionType) and paddings (Padding; the custom transposed
# convolution stores the C API's TfLitePadding, where 1 is SAME and 2 VALID)
_ACTIVATIONS = {0: None, 1: "RELU", 3: "RELU6"}
_SAME, _VALID = "SAME", "VALID"


@dataclass
class Op:
    kind: str                 # CONV_2D, DEPTHWISE_CONV_2D, ADD, ... (custom: Convolution2DTransposeBias)
    inputs: list[int]         # tensor indices
    output: int
    options: dict = field(default_factory=dict)  # padding, stride, activation, out_shape (NHWC)


@dataclass
class GraphSpec:
    ops: list[Op]
    input: int
    output: int
    input_shape: list[int]    # NHWC, as the file states it

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> "GraphSpec":
        d = json.loads(text)
        return cls([Op(**o) for o in d["ops"]], d["input"], d["output"], d["input_shape"])


SUPPORTED = {"CONV_2D", "DEPTHWISE_CONV_2D", "ADD", "MUL", "RELU", "HARD_SWISH", "LOGISTIC", "AVERAGE_POOL_2D",
             "MEAN", "RESIZE_BILINEAR", "Convolution2DTransposeBias"}
_NCHW_AXIS = {0: 0, 1: 2, 2: 3, 3: 1}  # an NHWC axis -> the same axis here


class TfliteError(ValueError):
    pass


def read_tflite(path: Path) -> tuple[GraphSpec, dict[int, np.ndarray]]:
    """The graph and its constant tensors (DEQUANTIZE of fp16 constants folded: the arrays keep their fp16)."""
    import tflite  # conversion only: the runtime reads the converted file

    buf = Path(path).read_bytes()
    model = tflite.Model.GetRootAsModel(buf, 0)
    if model.SubgraphsLength() != 1:
        raise TfliteError(f"{path}: {model.SubgraphsLength()} subgraphs, expected 1")
    g = model.Subgraphs(0)
    builtin = {v: k for k, v in vars(tflite.BuiltinOperator).items() if not k.startswith("_")}

    def opname(op) -> str:
        code = model.OperatorCodes(op.OpcodeIndex())
        b = max(code.BuiltinCode(), code.DeprecatedBuiltinCode())
        return code.CustomCode().decode() if b == tflite.BuiltinOperator.CUSTOM else builtin[b]

    def shape(i: int) -> list[int]:
        return g.Tensors(i).ShapeAsNumpy().tolist()

    consts: dict[int, np.ndarray] = {}
    dtypes = {tflite.TensorType.FLOAT32: np.float32, tflite.TensorType.FLOAT16: np.float16,
              tflite.TensorType.INT32: np.int32}
    for i in range(g.TensorsLength()):
        t = g.Tensors(i)
        data = model.Buffers(t.Buffer()).DataAsNumpy()
        if isinstance(data, np.ndarray) and data.size:
            if t.Type() not in dtypes:
                raise TfliteError(f"{path}: constant {t.Name().decode()} has unsupported type {t.Type()}")
            consts[i] = np.frombuffer(data.tobytes(), dtypes[t.Type()]).reshape(shape(i))

    ops: list[Op] = []
    for k in range(g.OperatorsLength()):
        op = g.Operators(k)
        kind = opname(op)
        ins = op.InputsAsNumpy().tolist()
        out = op.OutputsAsNumpy().tolist()[0]
        if kind == "DEQUANTIZE":  # fp16 weights stored as fp16: keep the constant under the output's index
            consts[out] = consts[ins[0]]
            continue
        if kind not in SUPPORTED:
            raise TfliteError(f"{path}: operator {kind} is not supported")
        options = _options(tflite, kind, op) | {"out_shape": shape(out)}
        if kind == "MEAN":  # the axes are a constant input
            options["axes"] = sorted(_NCHW_AXIS[int(a) % 4] for a in consts[ins[1]].reshape(-1))
        ops.append(Op(kind, ins, out, options))
    used = {i for o in ops for i in o.inputs}
    consts = {i: a for i, a in consts.items() if i in used}
    inp, outp = g.InputsAsNumpy().tolist(), g.OutputsAsNumpy().tolist()
    if len(inp) != 1 or len(outp) != 1:
        raise TfliteError(f"{path}: {len(inp)} inputs and {len(outp)} outputs, expected one of each")
    return GraphSpec(ops, inp[0], outp[0], shape(inp[0])), consts


def _options(tflite, kind: str, op) -> dict:
    """The operator's options as plain values."""
    def builtin(cls):
        o, table = cls(), op.BuiltinOptions()
        if table is not None:
            o.Init(table.Bytes, table.Pos)
        return o

    padding = {tflite.Padding.SAME: _SAME, tflite.Padding.VALID: _VALID}
    if kind == "CONV_2D" or kind == "DEPTHWISE_CONV_2D":
        o = builtin(tflite.Conv2DOptions if kind == "CONV_2D" else tflite.DepthwiseConv2DOptions)
        if o.DilationWFactor() != 1 or o.DilationHFactor() != 1:
            raise TfliteError(f"dilated {kind} is not supported")
        if kind == "DEPTHWISE_CONV_2D" and o.DepthMultiplier() not in (0, 1):
            raise TfliteError("depthwise convolution with a depth multiplier is not supported")
        return {"padding": padding[o.Padding()], "stride": [o.StrideH(), o.StrideW()],
                "activation": _activation(o.FusedActivationFunction())}
    if kind in ("ADD", "MUL"):
        o = builtin(tflite.AddOptions if kind == "ADD" else tflite.MulOptions)
        return {"activation": _activation(o.FusedActivationFunction()) if op.BuiltinOptions() else None}
    if kind == "AVERAGE_POOL_2D":
        o = builtin(tflite.Pool2DOptions)
        return {"padding": padding[o.Padding()], "stride": [o.StrideH(), o.StrideW()],
                "filter": [o.FilterHeight(), o.FilterWidth()], "activation": _activation(o.FusedActivationFunction())}
    if kind == "MEAN":
        return {"keep_dims": bool(builtin(tflite.ReducerOptions).KeepDims())}
    if kind == "RESIZE_BILINEAR":
        o = builtin(tflite.ResizeBilinearOptions)
        if o.AlignCorners() == o.HalfPixelCenters():
            raise TfliteError("RESIZE_BILINEAR without half-pixel centres is not supported")
        return {"align_corners": bool(o.AlignCorners())}
    if kind == "Convolution2DTransposeBias":  # MediaPipe's custom op: TfLiteTransposeConvParams, three int32
        pad, stride_w, stride_h = np.frombuffer(op.CustomOptionsAsNumpy().tobytes()[:12], np.int32).tolist()
        return {"padding": {1: _SAME, 2: _VALID}[pad], "stride": [stride_h, stride_w]}
    return {}


def _activation(code: int) -> str | None:
    if code not in _ACTIVATIONS:
        raise TfliteError(f"fused activation {code} is not supported")
    return _ACTIVATIONS[code]


def _same_pad(size: int, kernel: int, stride: int) -> tuple[int, int]:
    """TFLite's SAME padding (before, after) of one axis: the extra pixel goes after."""
    out = -(-size // stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


class TfliteGraph(nn.Module):
    """The operators of a `GraphSpec` in order; NCHW float in, NCHW float out."""

    def __init__(self, spec: GraphSpec, consts: dict[int, Tensor]) -> None:
        super().__init__()
        self.spec = spec
        self.params = nn.ParameterDict()  # weights in PyTorch's layouts, keyed by tensor index
        for op in spec.ops:
            if op.kind in ("CONV_2D", "DEPTHWISE_CONV_2D", "Convolution2DTransposeBias"):
                w = consts[op.inputs[1]].float()  # (out, kh, kw, in); depthwise (1, kh, kw, channels)
                w = w.permute(3, 0, 1, 2) if op.kind == "DEPTHWISE_CONV_2D" else w.permute(0, 3, 1, 2)
                if op.kind == "Convolution2DTransposeBias":  # conv_transpose2d wants (in, out, kh, kw)
                    w = w.transpose(0, 1)
                self._keep(op.inputs[1], w)
                self._keep(op.inputs[2], consts[op.inputs[2]].float())
            else:
                for i in op.inputs:
                    if i in consts and op.kind in ("ADD", "MUL"):
                        self._keep(i, self._nchw(consts[i].float()))
        unknown = [op.kind for op in spec.ops if op.kind not in SUPPORTED]
        if unknown:
            raise TfliteError(f"operators not supported: {sorted(set(unknown))}")

    @staticmethod
    def _nchw(t: Tensor) -> Tensor:
        return t.permute(0, 3, 1, 2) if t.dim() == 4 else t

    def _keep(self, index: int, t: Tensor) -> None:
        self.params[str(index)] = nn.Parameter(t.contiguous(), requires_grad=False)

    def forward(self, x: Tensor) -> Tensor:
        values: dict[int, Tensor] = {self.spec.input: x}
        for op in self.spec.ops:
            values[op.output] = self._run(op, [values.get(i) if i in values else self.params.get(str(i))
                                               for i in op.inputs])
        return values[self.spec.output]

    def _run(self, op: Op, args: list[Tensor | None]) -> Tensor:
        o, kind = op.options, op.kind
        oh, ow = o["out_shape"][1:3]
        if kind in ("CONV_2D", "DEPTHWISE_CONV_2D"):
            x, w, b = args
            if o["padding"] == _SAME:
                (t, bo), (le, r) = (_same_pad(x.shape[2], w.shape[2], o["stride"][0]),
                                    _same_pad(x.shape[3], w.shape[3], o["stride"][1]))
                x = F.pad(x, (le, r, t, bo))
            groups = x.shape[1] if kind == "DEPTHWISE_CONV_2D" else 1
            return _act(F.conv2d(x, w, b, stride=o["stride"], groups=groups), o["activation"])
        if kind == "Convolution2DTransposeBias":
            x, w, b = args
            y = F.conv_transpose2d(x, w, b, stride=o["stride"])
            top, left = ((_same_pad(oh, w.shape[2], o["stride"][0])[0], _same_pad(ow, w.shape[3], o["stride"][1])[0])
                         if o["padding"] == _SAME else (0, 0))
            return y[:, :, top:top + oh, left:left + ow]
        if kind in ("ADD", "MUL"):
            a, b = args
            return _act(a + b if kind == "ADD" else a * b, o["activation"])
        if kind == "AVERAGE_POOL_2D":
            (x,) = args
            if o["padding"] != _VALID:
                raise TfliteError("AVERAGE_POOL_2D with SAME padding is not supported")
            return _act(F.avg_pool2d(x, o["filter"], o["stride"]), o["activation"])
        if kind == "MEAN":
            if not o["keep_dims"]:
                raise TfliteError("MEAN that drops dimensions is not supported")
            return args[0].mean(dim=o["axes"], keepdim=True)
        if kind == "RESIZE_BILINEAR":
            return F.interpolate(args[0], size=(oh, ow), mode="bilinear", align_corners=o["align_corners"])
        (x,) = args[:1]
        return {"RELU": F.relu, "HARD_SWISH": F.hardswish, "LOGISTIC": torch.sigmoid}[kind](x)


def _act(x: Tensor, name: str | None) -> Tensor:
    if name == "RELU":
        return F.relu(x)
    if name == "RELU6":
        return F.relu6(x)
    return x
