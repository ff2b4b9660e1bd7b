"""CenterFace (MobileNetV2 CenterNet, MIT) run with our own onnxruntime code.

The published graph declares a fixed 32x32 input, so the loader rewrites the
input and output dims to symbolic ones in memory before building the session.
It also lists every weight as a graph input as well, which makes onnxruntime
treat the weights as values a caller might override: it then skips constant
folding and operator fusion, and runs the network at half speed.  Weights that
are not real inputs are taken out of the input list.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import numpy as np
import onnx

from ..boxes import nms
from ..datatypes import Detections, FloatArray
from ..settings import Settings
from . import BACKENDS
from .quantise import PIXEL_PLANES, committed_ranges, convertible, pixels_in, quantised
from .runtime import infer, padded_size, padding_step, session
from .weights import model_path

_STRIDE = 4
_OUTPUTS = ("537", "538", "539", "540")


def graph(path: Path) -> onnx.ModelProto:
    """The published graph with its weights out of the input list and any input size allowed."""
    model = onnx.load(str(path))
    weights = {w.name for w in model.graph.initializer}
    inputs = [i for i in model.graph.input if i.name not in weights]
    del model.graph.input[:]
    model.graph.input.extend(inputs)
    tensors = [model.graph.input[0], *(o for o in model.graph.output if o.name in _OUTPUTS)]
    for tensor in tensors:
        dims = tensor.type.tensor_type.shape.dim
        for i, name in enumerate(("n", "c" if tensor is tensors[0] else "k", "h", "w")):
            if i == 1:
                continue
            dims[i].ClearField("dim_value")
            dims[i].dim_param = name
    return model


STRIDE = 32  # the network's coarsest stride: its input sides are multiples of it


def blob(rgb: np.ndarray, step: int = STRIDE) -> FloatArray:
    """The network's input for ``rgb``: planes first, zero-padded to a multiple of ``step`` each way
    (`STRIDE`, or more: see `runtime.CUDA_STEP`)."""
    h, w = rgb.shape[:2]
    out = np.zeros((1, 3, *padded_size(h, w, step)), np.float32)
    out[0, :, :h, :w] = rgb.transpose(2, 0, 1)
    return out


def pixels(rgb: np.ndarray) -> np.ndarray:
    """The int8 graph's input for ``rgb`` (`quantise.pixels_in`): its bytes, rows first, a blank fourth
    plane, zero-padded to a multiple of 32 each way."""
    if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f"expected 8-bit RGB, got {rgb.dtype} {rgb.shape}")  # never wrapped or truncated
    h, w = rgb.shape[:2]
    out = np.zeros((1, *padded_size(h, w, STRIDE), PIXEL_PLANES), np.uint8)
    out[0, :h, :w, :3] = rgb
    return out


@cache
def _int8_graph() -> bytes:
    """The int8 graph, quantised once per process (`unseen.detect.quantise`)."""
    model = quantised(convertible(graph(model_path("centerface"))), committed_ranges())
    return bytes(pixels_in(model).SerializeToString())


@BACKENDS.register("centerface")
class CenterFace:
    """``detect(rgb)`` on the image as given: resizing and tiling happen outside."""

    def __init__(self, settings: Settings) -> None:
        self.session = session(self._model(settings), settings)
        self.input = self.session.get_inputs()[0].name
        self.takes_pixels = self.session.get_inputs()[0].type == "tensor(uint8)"  # the int8 graph
        # On CUDA, `runtime.CUDA_STEP`: the wider border moves scores near the right and bottom
        # edges a little; recall on the dev photos is the same.
        self.step = padding_step(settings, STRIDE)

    @staticmethod
    def _model(settings: Settings) -> bytes:
        return bytes(graph(model_path("centerface")).SerializeToString())

    def detect(self, rgb: np.ndarray, threshold: float) -> Detections:
        heat, scale, offset, marks = infer(
            self.session,
            list(_OUTPUTS),
            {self.input: pixels(rgb) if self.takes_pixels else blob(rgb, self.step)},
        )
        h, w = rgb.shape[:2]
        return _decode(heat[0, 0], scale[0], offset[0], marks[0], threshold, (w, h))


@BACKENDS.register("centerface-int8")
class CenterFaceInt8(CenterFace):
    """The same network in 8-bit integers: a third to a half of the time, the same recall.

    Integer convolutions are a saving on CPUs.  onnxruntime's CUDA provider
    runs few of them and would hand the rest to the CPU, so ``--device cuda``
    gets the float graph under this name.
    """

    @staticmethod
    def _model(settings: Settings) -> bytes:
        return _int8_graph() if settings.device == "cpu" else CenterFace._model(settings)


def _decode(
    heat: FloatArray,
    scale: FloatArray,
    offset: FloatArray,
    marks: FloatArray,
    threshold: float,
    size: tuple[int, int],
) -> Detections:
    # Only local maxima of the heat map are face centres (CenterNet's decoding): their
    # neighbours are the same face one stride off, and would only feed the NMS below.
    ys, xs = np.nonzero((heat > threshold) & (heat >= _max3x3(heat)))
    if len(ys) == 0:
        return Detections.empty()
    bh = np.exp(scale[0, ys, xs]) * _STRIDE
    bw = np.exp(scale[1, ys, xs]) * _STRIDE
    cx = (xs + offset[1, ys, xs] + 0.5) * _STRIDE
    cy = (ys + offset[0, ys, xs] + 0.5) * _STRIDE
    x0, y0 = cx - bw / 2, cy - bh / 2
    boxes = np.stack([x0, y0, x0 + bw, y0 + bh], axis=1)
    boxes = np.clip(boxes, 0, [size[0], size[1], size[0], size[1]])
    lm = marks[:, ys, xs].T.reshape(-1, 5, 2)[:, :, ::-1]  # stored as (dy, dx) pairs
    lm = lm * np.stack([bw, bh], 1)[:, None, :] + np.stack([x0, y0], 1)[:, None, :]
    scores = heat[ys, xs]
    keep = nms(boxes, scores, 0.3)
    return Detections.from_boxes(boxes[keep], scores[keep], "centerface", lm[keep])


def _max3x3(heat: FloatArray) -> FloatArray:
    """Each cell's maximum over its 3x3 neighbourhood."""
    padded = np.pad(heat, 1, mode="constant", constant_values=-np.inf)
    rows = np.maximum(np.maximum(padded[:-2], padded[1:-1]), padded[2:])
    out: FloatArray = np.maximum(np.maximum(rows[:, :-2], rows[:, 1:-1]), rows[:, 2:])
    return out
