"""A frozen TensorFlow graph's convolution chain as an ONNX graph, read without TensorFlow.

The person network ships as a TensorFlow ``GraphDef`` (`unseen.detect.persons`).
OpenCV's DNN module ran it at 25 ms a 300x300 view on two cores; onnxruntime
runs the same layers in half the time.  TensorFlow is never installed, so
this module reads the protocol buffer's wire format itself (five message types,
the fields the chain uses) and writes the layers as ONNX nodes, in NCHW:

* ``Conv2D`` and ``DepthwiseConv2dNative`` (``SAME`` padding as ONNX's
  ``SAME_UPPER``: TensorFlow puts an odd pad at the end too),
* ``FusedBatchNorm``, ``BiasAdd``, ``Relu6`` (a ``Clip``) and ``Add``,
* ``Identity`` (the ``read`` of a weight) as the node it reads.

Any other op on the way from the outputs to the input is an error, never a
silent gap.  onnxruntime then folds each batch norm and bias into its convolution.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from ..errors import ModelError

_FLOAT = 1  # TensorFlow's DataType number for float32
_EPSILON = 1e-4  # FusedBatchNorm's default, which a frozen graph may leave out


@dataclass
class Node:
    name: str
    op: str
    inputs: list[str] = field(default_factory=list)
    attrs: dict[str, bytes] = field(default_factory=dict)  # each AttrValue still encoded


def _varint(data: bytes, at: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        byte = data[at]
        at += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, at
        shift += 7


def _fields(data: bytes) -> Iterator[tuple[int, int | bytes]]:
    """(field number, value) of each field of an encoded message: ints for varints, bytes otherwise."""
    at = 0
    while at < len(data):
        key, at = _varint(data, at)
        number, kind = key >> 3, key & 7
        if kind == 0:
            value, at = _varint(data, at)
            yield number, value
        elif kind == 2:
            size, at = _varint(data, at)
            yield number, data[at : at + size]
            at += size
        elif kind in (1, 5):
            width = 8 if kind == 1 else 4
            yield number, data[at : at + width]
            at += width
        else:
            raise ModelError(f"person graph: unsupported protocol buffer wire type {kind}")


def nodes(graph: bytes) -> dict[str, Node]:
    """Every node of an encoded ``GraphDef`` by name."""
    found: dict[str, Node] = {}
    for number, value in _fields(graph):
        if number != 1 or not isinstance(value, bytes):
            continue
        node = Node("", "")
        for n, v in _fields(value):
            if n == 1 and isinstance(v, bytes):
                node.name = v.decode()
            elif n == 2 and isinstance(v, bytes):
                node.op = v.decode()
            elif n == 3 and isinstance(v, bytes):
                node.inputs.append(v.decode().lstrip("^"))
            elif n == 5 and isinstance(v, bytes):
                entry = dict(_fields(v))
                key, attr = entry.get(1, b""), entry.get(2, b"")
                if isinstance(key, bytes) and isinstance(attr, bytes):
                    node.attrs[key.decode()] = attr
        found[node.name] = node
    return found


def _attr(node: Node, name: str) -> dict[int, list[int | bytes]]:
    """An attribute's fields, each number with all its values (lists repeat fields)."""
    out: dict[int, list[int | bytes]] = {}
    for n, v in _fields(node.attrs.get(name, b"")):
        out.setdefault(n, []).append(v)
    return out


def _ints(node: Node, name: str) -> list[int]:
    """A list-of-ints attribute (``strides``, ``dilations``): packed or not."""
    listed = _attr(node, name).get(1, [])
    values: list[int] = []
    for item in listed:
        assert isinstance(item, bytes)
        for n, v in _fields(item):
            if n == 3 and isinstance(v, int):
                values.append(v)
            elif n == 3 and isinstance(v, bytes):  # packed
                at = 0
                while at < len(v):
                    number, at = _varint(v, at)
                    values.append(number)
    return values


def _text(node: Node, name: str) -> str:
    value = _attr(node, name).get(2, [b""])[0]
    return value.decode() if isinstance(value, bytes) else ""


def _float(node: Node, name: str, default: float) -> float:
    value = _attr(node, name).get(4)
    if not value or not isinstance(value[0], bytes):
        return default
    return float(struct.unpack("<f", value[0])[0])


def tensor(node: Node) -> np.ndarray:
    """The value of a ``Const`` node."""
    fields = _attr(node, "value").get(8)
    if not fields or not isinstance(fields[0], bytes):
        raise ModelError(f"person graph: {node.name} holds no tensor")
    dtype, shape, content, floats = 0, [], b"", []
    for n, v in _fields(fields[0]):
        if n == 1 and isinstance(v, int):
            dtype = v
        elif n == 2 and isinstance(v, bytes):
            for dn, dim in _fields(v):
                if dn == 2 and isinstance(dim, bytes):
                    size = dict(_fields(dim)).get(1, 0)
                    shape.append(size if isinstance(size, int) and size < 1 << 63 else -1)
        elif n == 4 and isinstance(v, bytes):
            content = v
        elif n == 5 and isinstance(v, bytes):
            floats.append(v)
    if dtype != _FLOAT:
        raise ModelError(f"person graph: {node.name} is not float32 (type {dtype})")
    if min(shape, default=0) < 0:
        raise ModelError(f"person graph: {node.name} has an unknown size")
    count = int(np.prod(shape, dtype=np.int64))
    if content:
        values = np.frombuffer(content, "<f4")
    else:  # float_val: TensorFlow leaves out a tail that repeats the last value (all of it for zeros)
        values = np.frombuffer(b"".join(floats), "<f4")
        tail = values[-1] if values.size else np.float32(0)
        values = np.concatenate([values, np.full(max(0, count - values.size), tail, np.float32)])
    if values.size != count:
        raise ModelError(f"person graph: {node.name} holds {values.size} values for shape {shape}")
    return np.asarray(values, np.float32).reshape(shape)


def to_onnx(graph: bytes, source: str, outputs: list[str], size: int) -> bytes:
    """The layers from the placeholder ``source`` (an NCHW 1x3x``size``x``size`` input) to ``outputs``."""
    found = nodes(graph)
    made: list[onnx.NodeProto] = []
    weights: list[onnx.TensorProto] = []
    names: dict[str, str] = {source: "input"}

    def const(name: str, value: np.ndarray) -> str:
        weights.append(numpy_helper.from_array(np.ascontiguousarray(value, np.float32), name))
        return name

    def value_of(name: str) -> np.ndarray:
        node = found[_port0(name)]
        while node.op == "Identity":
            node = found[_port0(node.inputs[0])]
        if node.op != "Const":
            raise ModelError(f"person graph: {name} should be a constant, is {node.op}")
        return tensor(node)

    def build(name: str) -> str:
        name = _port0(name)
        if name in names:
            return names[name]
        node = found.get(name)
        if node is None:
            raise ModelError(f"person graph: no node {name!r}")
        if node.op == "Identity":
            names[name] = build(node.inputs[0])
            return names[name]
        out = name
        if node.op in ("Conv2D", "DepthwiseConv2dNative"):
            x = build(node.inputs[0])
            w = value_of(node.inputs[1])  # HWIO, or HW C multiplier for depthwise
            if _text(node, "data_format") not in ("", "NHWC"):
                raise ModelError(f"person graph: {name} is not NHWC")
            strides = _ints(node, "strides")[1:3] or [1, 1]
            dilations = _ints(node, "dilations")[1:3] or [1, 1]
            pad = {"SAME": "SAME_UPPER", "VALID": "VALID"}.get(_text(node, "padding"))
            if pad is None or (pad == "SAME_UPPER" and dilations != [1, 1]):
                raise ModelError(f"person graph: {name} has padding the converter does not know")
            if node.op == "Conv2D":
                kernel, group = w.transpose(3, 2, 0, 1), 1
            else:
                h, k, channels, multiplier = w.shape
                kernel = w.transpose(2, 3, 0, 1).reshape(channels * multiplier, 1, h, k)
                group = channels
            made.append(
                helper.make_node(
                    "Conv",
                    [x, const(f"{name}/kernel", kernel)],
                    [out],
                    strides=strides,
                    dilations=dilations,
                    auto_pad=pad,
                    group=group,
                    kernel_shape=list(kernel.shape[2:]),
                )
            )
        elif node.op == "FusedBatchNorm":
            if _attr(node, "is_training").get(5, [0])[0]:
                raise ModelError(f"person graph: {name} is a training-time batch norm")
            x = build(node.inputs[0])
            scale, offset, mean, variance = (const(n, value_of(n)) for n in node.inputs[1:5])
            made.append(
                helper.make_node(
                    "BatchNormalization",
                    [x, scale, offset, mean, variance],
                    [out],
                    epsilon=_float(node, "epsilon", _EPSILON),
                )
            )
        elif node.op == "BiasAdd":
            x = build(node.inputs[0])
            bias = value_of(node.inputs[1]).reshape(-1, 1, 1)
            made.append(helper.make_node("Add", [x, const(f"{name}/bias", bias)], [out]))
        elif node.op == "Relu6":
            x = build(node.inputs[0])
            low, high = const(f"{name}/low", np.array(0.0)), const(f"{name}/high", np.array(6.0))
            made.append(helper.make_node("Clip", [x, low, high], [out]))
        elif node.op == "Add" or node.op == "AddV2":
            a, b = build(node.inputs[0]), build(node.inputs[1])
            made.append(helper.make_node("Add", [a, b], [out]))
        else:
            raise ModelError(f"person graph: {name} is a {node.op}, which the converter does not know")
        names[name] = out
        return out

    ends = [build(o) for o in outputs]
    model = helper.make_model(
        helper.make_graph(
            made,
            "ssdlite-person",
            [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 3, size, size])],
            [helper.make_tensor_value_info(e, TensorProto.FLOAT, None) for e in ends],
            weights,
        ),
        opset_imports=[helper.make_opsetid("", 13)],
        ir_version=8,  # what onnxruntime 1.17, the oldest unseen allows, reads (opset 13 needs 7)
    )
    return bytes(model.SerializeToString())


def _port0(name: str) -> str:
    """A node's name from an input reference: its first output, the only one the chain reads."""
    node, _, port = name.partition(":")
    if port not in ("", "0"):
        raise ModelError(
            f"person graph: {name} reads output {port} of a node, which the converter does not know"
        )
    return node
