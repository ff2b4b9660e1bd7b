"""The person detector on the real model: what it finds, what it leaves, and that its constants are the graph's.

The photo is scikit-image's astronaut (one person, upper body); ``coffee``
and noise hold nobody.  The graph's constants are read from the ``.pb`` with a
few lines of protobuf wire decoding, so the check needs no TensorFlow.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from functools import cache

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from skimage import data as skdata
from skimage.transform import resize

from conftest import FACE
from unseen.detect import make_backend, tfgraph
from unseen.detect.persons import (
    _BOX_SCALES,
    _INPUT,
    _PREDICTORS,
    PERSON_THRESHOLD,
    SIZE,
    TILES,
    SSDLitePersons,
    anchors,
    onnx_graph,
    views,
)
from unseen.detect.weights import model_path
from unseen.settings import Settings

# The astronaut from the top of her hair to the bottom of the photo and from the left edge to
# her right elbow, x0, y0, x1, y1 in the 512 px photo (by eye).
BODY = (0, 15, 380, 512)


@pytest.fixture(scope="module")
def persons() -> SSDLitePersons:
    backend = make_backend("ssdlite-person", Settings(threads=2))
    assert isinstance(backend, SSDLitePersons)
    return backend


def share_inside(box: np.ndarray, region: tuple[int, int, int, int]) -> float:
    """The share of ``region`` that ``box`` covers."""
    x0, y0 = max(box[0], region[0]), max(box[1], region[1])
    x1, y1 = min(box[2], region[2]), min(box[3], region[3])
    area = (region[2] - region[0]) * (region[3] - region[1])
    return float(max(0.0, x1 - x0) * max(0.0, y1 - y0) / area)


def test_the_astronaut_is_one_person_box_over_most_of_her_body(persons: SSDLitePersons) -> None:
    found = persons.detect(skdata.astronaut(), PERSON_THRESHOLD)
    assert len(found) == 1, "the tiles' boxes of parts of her are merged into the whole-image one"
    assert found.scores[0] > 0.8
    assert share_inside(found.xyxy[0], BODY) > 0.8
    assert share_inside(found.xyxy[0], FACE) == 1.0
    assert set(found.sources) == {"ssdlite-person"}


@pytest.mark.parametrize("name", ["coffee", "noise", "grey"])
def test_no_person_where_there_is_none(persons: SSDLitePersons, name: str) -> None:
    rng = np.random.default_rng(0)
    images = {
        "coffee": skdata.coffee(),
        "noise": rng.integers(0, 256, (720, 1280, 3), np.uint8),
        "grey": np.full((600, 800, 3), 128, np.uint8),
    }
    assert len(persons.detect(images[name], PERSON_THRESHOLD)) == 0


def test_tiles_find_small_people_the_whole_image_misses(persons: SSDLitePersons) -> None:
    small = (resize(skdata.astronaut(), (150, 150), anti_aliasing=True) * 255).astype(np.uint8)
    canvas = np.full((1000, 1600, 3), 200, np.uint8)
    places = [(100, 120), (700, 400), (1300, 780)]
    for x, y in places:
        canvas[y : y + 150, x : x + 150] = small
    whole = SSDLitePersons(Settings(threads=2), tiles=())
    assert len(whole.detect(canvas, PERSON_THRESHOLD)) == 0
    found = persons.detect(canvas, PERSON_THRESHOLD)
    assert len(found) == 3
    for x, y in places:
        assert max(share_inside(box, (x, y, x + 150, y + 150)) for box in found.xyxy) > 0.6


def test_the_tiles_cover_the_image_and_overlap() -> None:
    windows = views(1280, 853)
    assert windows[0] == (0, 0, 1280, 853)
    covered = np.zeros((853, 1280), np.int64)
    for x0, y0, x1, y1 in windows[1:]:
        assert x1 - x0 == y1 - y0 and min(x0, y0) >= 0 and x1 <= 1280 and y1 <= 853
        covered[y0:y1, x0:x1] += 1
    assert covered.min() >= len(TILES), "every pixel is in a tile of each size"
    assert views(320, 240) == [(0, 0, 320, 240)], "no tile smaller than half the network's input"


# The graph's own constants, by node name: the preprocessor's scaling and resize, the anchor
# generator's per-layer aspect ratios and scales, the box decoder's scales.
def test_the_anchors_and_box_coder_are_the_graphs() -> None:
    consts = graph_constants()
    assert consts["Preprocessor/mul/x"] == pytest.approx([2 / 255])
    assert consts["Preprocessor/sub/y"] == pytest.approx([1.0])
    assert consts["Preprocessor/map/while/ResizeImage/stack"].tolist() == [SIZE, SIZE]
    assert consts["MultipleGridAnchorGenerator/assert_equal/x"].tolist() == [len(anchors())]
    decoder = [consts[f"Postprocessor/Decode/truediv{s}/y"][0] for s in ("", "_1", "_2", "_3")]
    assert decoder == pytest.approx(_BOX_SCALES.tolist())
    sizes = anchors()[:, 2:]
    start = 0
    for layer, grid in enumerate((19, 10, 5, 3, 2, 1)):
        ratios = consts[f"MultipleGridAnchorGenerator/Sqrt{'_' + str(layer) if layer else ''}/x"]
        scales = consts[f"MultipleGridAnchorGenerator/truediv_{14 + layer}/x"]
        expected = np.stack([scales / np.sqrt(ratios), scales * np.sqrt(ratios)], 1)
        assert sizes[start : start + len(ratios)] == pytest.approx(expected, rel=1e-4)
        start += grid * grid * len(ratios)
    assert start == len(anchors())


def test_scores_are_the_sigmoid_of_the_person_column() -> None:
    ops = graph_ops()
    assert ops["Postprocessor/convert_scores"] == "Sigmoid"
    assert graph_constants()["Postprocessor/Slice/begin"].tolist() == [0, 0, 1], "background column dropped"


def test_the_onnx_graph_is_the_feature_extractor_and_the_predictors_only() -> None:
    """What onnxruntime runs: one 1x3x300x300 input, the twelve predictor outputs in order, and
    only the layer kinds of the chain between them (no TensorFlow pre- or post-processing)."""
    model = onnx.load_from_string(onnx_graph())
    assert model.ir_version == 8, "onnxruntime 1.17, the oldest allowed, reads IR 9 at most"
    assert [i.name for i in model.graph.input] == ["input"]
    dims = [d.dim_value for d in model.graph.input[0].type.tensor_type.shape.dim]
    assert dims == [1, 3, SIZE, SIZE]
    assert [o.name for o in model.graph.output] == [f"{p}/BiasAdd" for p in _PREDICTORS]
    ops = Counter(n.op_type for n in model.graph.node)
    assert set(ops) == {"Conv", "BatchNormalization", "Clip", "Add"}
    tf_ops = Counter(graph_ops()[n.output[0]] for n in model.graph.node if n.op_type == "Conv")
    assert tf_ops == {"Conv2D": 55, "DepthwiseConv2dNative": 33}, "every convolution of the chain, once"
    pb = model_path("ssdlite-person")
    assert not list(pb.parent.glob("*.pbtxt")) and not list(pb.parent.glob("ssdlite*.onnx")), (
        "nothing written"
    )


# Two depthwise convolutions whose TensorFlow ``SAME`` padding is uneven: the last stride-2 layer
# (2x2 -> 1x1: TensorFlow pads one row and column at the end only) and the 1x1 map's predictor
# (stride 1: one on each side, so only the kernel's centre meets the pixel).
DEPTHWISE = {
    "FeatureExtractor/MobilenetV2/layer_19_2_Conv2d_5_3x3_s2_128_depthwise/depthwise": (
        "FeatureExtractor/MobilenetV2/layer_19_1_Conv2d_5_1x1_64/Relu6",
        lambda x, w: np.einsum("cij,ijc->c", x, w[:2, :2]),
    ),
    "BoxPredictor_5/ClassPredictor_depthwise/depthwise": (
        "FeatureExtractor/MobilenetV2/layer_19_2_Conv2d_5_3x3_s2_128/Relu6",
        lambda x, w: x[:, 0, 0] * w[1, 1],
    ),
}


@pytest.mark.parametrize("layer", sorted(DEPTHWISE))
def test_same_padding_is_tensorflows(layer: str) -> None:
    """The converted layer's output is the sum TensorFlow's padding rule gives, worked out by hand
    from the ``.pb``'s weights (read by this file's own decoder, not the converter's)."""
    source, by_hand = DEPTHWISE[layer]
    pb = model_path("ssdlite-person").read_bytes()
    session = ort.InferenceSession(
        tfgraph.to_onnx(pb, _INPUT, [source, layer], SIZE), providers=["CPUExecutionProvider"]
    )
    square = skdata.astronaut()[:SIZE, :SIZE]
    blob = (square.transpose(2, 0, 1)[None].astype(np.float32) - 127.5) / 127.5
    x, y = session.run(None, {"input": blob})
    weights = graph_constants()[layer.replace("/depthwise", "/depthwise_weights")].reshape(3, 3, -1)
    assert np.abs(x).max() > 0.1, "the layer sees something"
    assert y[0, :, 0, 0] == pytest.approx(by_hand(x[0], weights), abs=1e-4)


@cache
def _graph() -> dict[str, tuple[str, dict[str, bytes]]]:
    """Each node of the frozen graph: its op and its attributes, still encoded."""
    nodes = {}
    for field, node in _fields(model_path("ssdlite-person").read_bytes()):
        if field != 1:  # GraphDef.node
            continue
        parts = list(_fields(node))
        name = next(v for f, v in parts if f == 1).decode()
        op = next(v for f, v in parts if f == 2).decode()
        attrs = {}
        for f, entry in parts:
            if f == 5:  # NodeDef.attr, a map entry of key (1) and AttrValue (2)
                kv = dict(_fields(entry))
                attrs[kv[1].decode()] = kv.get(2, b"")
        nodes[name] = (op, attrs)
    return nodes


def graph_ops() -> dict[str, str]:
    return {name: op for name, (op, _) in _graph().items()}


def graph_constants() -> dict[str, np.ndarray]:
    """The value of every small float or int32 constant."""
    out = {}
    for name, (op, attrs) in _graph().items():
        if op != "Const" or "value" not in attrs:
            continue
        tensor = dict(_fields(dict(_fields(attrs["value"]))[8]))  # AttrValue.tensor
        dtype = {1: np.float32, 3: np.int32}.get(_varint(tensor.get(1, b"\0"), 0)[0])
        if dtype is None:
            continue
        if 4 in tensor:  # tensor_content
            out[name] = np.frombuffer(tensor[4], dtype)
        elif 5 in tensor:  # float_val, packed
            out[name] = np.frombuffer(tensor[5], np.float32)
        elif 7 in tensor:  # int_val, varints (two's complement in 64 bits)
            out[name] = np.array(list(_varints(tensor[7])), np.int32)
    return out


def _fields(buf: bytes) -> Iterator[tuple[int, bytes]]:
    """(field number, raw value) of each field of one protobuf message; a varint keeps its encoding."""
    i = 0
    while i < len(buf):
        key, i = _varint(buf, i)
        kind = key & 7
        if kind == 0:
            start, (_, i) = i, _varint(buf, i)
            yield key >> 3, buf[start:i]
        elif kind in (1, 5):
            size = 8 if kind == 1 else 4
            yield key >> 3, buf[i : i + size]
            i += size
        elif kind == 2:
            size, i = _varint(buf, i)
            yield key >> 3, buf[i : i + size]
            i += size
        else:
            raise ValueError(f"protobuf wire type {kind}")


def _varint(buf: bytes, i: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        byte = buf[i]
        i += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if byte < 0x80:
            return value, i


def _varints(buf: bytes) -> Iterator[int]:
    i = 0
    while i < len(buf):
        value, i = _varint(buf, i)
        yield value - (1 << 64) if value >= 1 << 63 else value
