"""Person boxes from SSDLite-MobileNetV2 (one class, person), run by onnxruntime.

The model is a TensorFlow Object Detection API frozen graph; TensorFlow itself
is never used.  `unseen.detect.tfgraph` reads the graph's layers from the
feature extractor's input to the twelve box predictor convolutions and writes
them as an ONNX graph in memory, with the weights from the ``.pb``; the
graph's pre- and post-processing (a ``while`` loop that resizes, and the
anchor generator, box decoder and NMS) are done here in numpy.

Every number below was read from the graph's own constants, not from a
config file: 300x300 input resized without keeping the aspect ratio, RGB
scaled by 2/255 minus 1, feature maps 19, 10, 5, 3, 2, 1 (1917 anchors, the
graph's own assertion), scales 0.2 to 0.95 with ratios 1, 2, 0.5, 3, 0.3333
and an interpolated scale for ratio 1, a reduced first layer (0.1 at 1; 0.2 at
2 and 0.5), box coder scales 10, 10, 5, 5, sigmoid scores with the
background column dropped.  ``tests/test_persons.py`` checks them against the
``.pb``.

One 300x300 view of the whole picture misses small people: the astronaut's
upper body pasted on a 1600x1000 canvas is found from 250 px tall, not at
200.  So `SSDLitePersons.detect` runs the whole image and then overlapping
square tiles (neighbours share at least a quarter) of about 1/2 of the short
side (`TILES`), and merges the boxes; with tiles of 1/2 and 1/3 the same figure
is found from 80 px tall.  A tile that cuts a person yields a box of the part it saw;
such a box, near an inner edge of its tile and mostly inside a box no edge
cut, is dropped before the NMS.

Measured on the 2-core machine (other work running) for a 1280x853 photo, with
OpenCV's DNN module then: whole image alone 36 ms; with the 1/2 tiles (the
default) 9 views, 250 ms; with the 1/3 tiles too, 24 views, 620 ms: on every
photo and on a video frame every 0.2 s, the 1/3 tiles cost more than they add.
On the 264 dev photos (WIDER FACE, street photos with masks) at 0.4, the share of
annotated faces lying in a person box grows with the tiles from 0.35 to 0.54
to 0.60 (faces of 32 px and more: 0.70, 0.84, 0.87), and the share of boxes
holding no annotated face from 5% to 12% to 19% (backs, legs cut by a tile,
posters).  Photos without people (scikit-image's coffee, rocket, a cell
micrograph; noise) score under 0.4; on the dev photos, 0.3 to 0.4 mixes
partly seen people with posters and feet.

Until 2026-12-03 OpenCV's DNN module ran the graph: 25 ms a view on two
threads, 45 on one.  onnxruntime runs the same layers in 12-16 and 19 ms (a
photo's nine views: 256 -> 134 ms, and 431 -> 187 ms on one thread).  Its
outputs equal OpenCV's to 2e-5 on every feature map but the last (1x1), where
OpenCV's placement of TensorFlow's ``SAME`` padding differs by up to 0.4 in
a logit and onnxruntime's agrees with the graph's own rule (the centre tap;
`tests/test_persons.py` works it out by hand).

Tried and dropped: the whole image alone (see above); batches of 4 to 22
views (slower per view on 2 cores than one at a time with OpenCV, no faster
with onnxruntime); dropping only boxes that touch a tile's edge (the network
often stops a cut person's box short of it).
"""

from __future__ import annotations

from functools import cache

import cv2
import numpy as np

from ..boxes import nms
from ..datatypes import Detections, FloatArray
from ..errors import ModelError
from ..settings import Settings
from . import BACKENDS, tfgraph
from .runtime import infer, session
from .weights import model_path

# Non-person photos score under 0.4 (coffee 0.27, a cell micrograph 0.38); see the module docstring.
PERSON_THRESHOLD = 0.4

SIZE = 300
_INPUT = "FeatureExtractor/MobilenetV2/MobilenetV2/input"
_GRIDS = (19, 10, 5, 3, 2, 1)
_PREDICTORS = [
    f"BoxPredictor_{i}/{head}" for i in range(6) for head in ("BoxEncodingPredictor", "ClassPredictor")
]
_RATIOS = (1.0, 2.0, 0.5, 3.0, 0.3333)
_MIN_SCALE, _MAX_SCALE = 0.2, 0.95
_BOX_SCALES = np.array([10.0, 10.0, 5.0, 5.0], np.float32)  # y, x, h, w
# TF's own NMS within one view, and the merge across views.
_VIEW_IOU = 0.6
_MERGE_IOU = 0.5
# Tiles: side = short side / n, at least this overlap between neighbours, and no tile under
# half the network's input (upscaling further shows nothing new).
TILES = (2,)
_OVERLAP = 0.25
_MIN_TILE = SIZE // 2
# A tile's box within this share of the tile's side from an inner edge was cut by it; such a box is
# dropped where a box that was not cut holds this share of it.  Measured on the dev photos at 0.3:
# 12% fewer boxes, 2% fewer faces in a box, than dropping only boxes within 0.02 held half.
_EDGE = 0.1
_CUT_INSIDE = 0.4


@cache
def onnx_graph() -> bytes:
    """The ONNX graph of the feature extractor and the box predictors, made once per process."""
    pb = model_path("ssdlite-person").read_bytes()
    return tfgraph.to_onnx(pb, _INPUT, [f"{p}/BiasAdd" for p in _PREDICTORS], SIZE)


@cache
def anchors() -> FloatArray:
    """(1917, 4) anchors as normalised cy, cx, h, w, in the order of the predictor rows."""
    scales = [*np.linspace(_MIN_SCALE, _MAX_SCALE, len(_GRIDS)).tolist(), 1.0]
    layers = []
    for i, grid in enumerate(_GRIDS):
        if i == 0:
            shapes = [(0.1, 1.0), (scales[0], 2.0), (scales[0], 0.5)]
        else:
            shapes = [(scales[i], r) for r in _RATIOS] + [(float(np.sqrt(scales[i] * scales[i + 1])), 1.0)]
        scale, ratio = np.array(shapes, np.float32).T
        size = np.stack([scale / np.sqrt(ratio), scale * np.sqrt(ratio)], 1)  # h, w
        centre = (np.arange(grid, dtype=np.float32) + 0.5) / grid
        cy, cx = np.meshgrid(centre, centre, indexing="ij")
        cells = np.stack([cy.ravel(), cx.ravel()], 1)
        layers.append(
            np.concatenate(
                [np.repeat(cells, len(shapes), 0), np.tile(size, (len(cells), 1))], 1, dtype=np.float32
            )
        )
    out: FloatArray = np.concatenate(layers)
    return out


def views(width: int, height: int, tiles: tuple[int, ...] = TILES) -> list[tuple[int, int, int, int]]:
    """The whole image, then square tiles of 1/n of the short side for each n, overlapping."""
    out = [(0, 0, width, height)]
    short = min(width, height)
    for n in tiles:
        side = int(np.ceil(short / (n - _OVERLAP * (n - 1))))
        if side < _MIN_TILE or side >= short:
            continue
        for y in _starts(height, side):
            out.extend((x, y, x + side, y + side) for x in _starts(width, side))
    return out


def _starts(length: int, side: int) -> list[int]:
    """Evenly spread offsets of ``side``-long windows covering ``length`` with the minimum overlap."""
    count = int(np.ceil((length - side) / (side * (1 - _OVERLAP)) - 1e-9)) + 1
    return [int(v) for v in np.linspace(0, length - side, count).round()]


def decode(encodings: FloatArray, logits: FloatArray, threshold: float) -> tuple[FloatArray, FloatArray]:
    """Boxes (normalised x0, y0, x1, y1) and scores of one view's rows above ``threshold``, after NMS."""
    scores = 1 / (1 + np.exp(-logits[:, 1]))
    rows = np.nonzero(scores >= threshold)[0]
    if not len(rows):
        return np.zeros((0, 4), np.float32), np.zeros(0, np.float32)
    prior = anchors()[rows]
    ty, tx, th, tw = (encodings[rows] / _BOX_SCALES).T
    cy, cx = ty * prior[:, 2] + prior[:, 0], tx * prior[:, 3] + prior[:, 1]
    h, w = np.exp(th) * prior[:, 2], np.exp(tw) * prior[:, 3]
    boxes = np.clip(np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], 1), 0, 1)
    keep = nms(boxes, scores[rows], _VIEW_IOU)
    return boxes[keep].astype(np.float32), scores[rows][keep].astype(np.float32)


@BACKENDS.register("ssdlite-person")
class SSDLitePersons:
    """``detect(rgb)`` on the whole image and on its tiles; ``tiles=()`` for the whole image alone."""

    def __init__(self, settings: Settings, tiles: tuple[int, ...] = TILES) -> None:
        # OpenCV's thread count (its resize here) is process-wide: set when the backend loads, from
        # the same setting the onnxruntime sessions take.
        cv2.setNumThreads(settings.threads)
        self.session = session(onnx_graph(), settings)
        self.outputs = [o.name for o in self.session.get_outputs()]
        self.tiles = tiles

    def detect(self, rgb: np.ndarray, threshold: float) -> Detections:
        h, w = rgb.shape[:2]
        windows = views(w, h, self.tiles)
        outputs = [self.predict(_square(rgb[y0:y1, x0:x1])) for x0, y0, x1, y1 in windows]
        return merge(windows, outputs, threshold, (w, h))

    def predict(self, square: np.ndarray) -> tuple[FloatArray, FloatArray]:
        """(1917, 4) box encodings and (1917, 2) class logits of a 300x300 RGB ``square``.

        One view at a time: batches of 4 to 22 views ran slower per view on 2 cores with OpenCV,
        and no faster with onnxruntime.
        """
        blob = (square.transpose(2, 0, 1)[None].astype(np.float32) - 127.5) / 127.5
        out = infer(self.session, self.outputs, {"input": blob})
        encodings = np.concatenate([_rows(head, 4) for head in out[0::2]])
        logits = np.concatenate([_rows(head, 2) for head in out[1::2]])
        if len(encodings) != len(anchors()) or len(logits) != len(anchors()):
            raise ModelError(f"person network: {len(encodings)} predictions for {len(anchors())} anchors")
        return encodings, logits


def merge(
    windows: list[tuple[int, int, int, int]],
    outputs: list[tuple[FloatArray, FloatArray]],
    threshold: float,
    size: tuple[int, int],
) -> Detections:
    """One set of boxes in image pixels from the network's outputs for each of ``windows``."""
    found = [_placed(*decode(*out, threshold), win, size) for out, win in zip(outputs, windows, strict=True)]
    xyxy = np.concatenate([f[0] for f in found])
    scores = np.concatenate([f[1] for f in found])
    cut = np.concatenate([f[2] for f in found])
    # A tile's box that stops at an inner edge of the tile is part of a person; where a box that
    # no edge cut holds most of it, that box stands for both.
    keep = ~cut | (_inside_share(xyxy, xyxy[~cut]) < _CUT_INSIDE)
    xyxy, scores = xyxy[keep], scores[keep]
    best = nms(xyxy, scores, _MERGE_IOU)
    return Detections.from_boxes(xyxy[best], scores[best], "ssdlite-person")


def _rows(head: np.ndarray, width: int) -> FloatArray:
    """One predictor output, 1CHW with C = anchors x ``width``, as (cells x anchors, ``width``).

    The graph's rows run cell by cell (row-major), then anchor by anchor within a cell.
    """
    rows: FloatArray = np.asarray(head[0], np.float32).transpose(1, 2, 0).reshape(-1, width)
    return rows


def _placed(
    boxes: FloatArray, scores: FloatArray, window: tuple[int, int, int, int], size: tuple[int, int]
) -> tuple[FloatArray, FloatArray, np.ndarray]:
    """Normalised boxes of ``window`` in image pixels, their scores, and which stop at an inner edge of it."""
    x0, y0, x1, y1 = window
    inner = np.array([x0 > 0, y0 > 0, x1 < size[0], y1 < size[1]])
    edge = np.concatenate([boxes[:, :2] <= _EDGE, boxes[:, 2:] >= 1 - _EDGE], 1)
    cut = (edge & inner).any(1)
    placed = boxes * np.array([x1 - x0, y1 - y0] * 2, np.float32) + np.array([x0, y0] * 2, np.float32)
    return placed.astype(np.float32), scores, cut


def _inside_share(a: FloatArray, b: FloatArray) -> FloatArray:
    """For each box of ``a``, the largest share of its area inside one box of ``b``."""
    if not len(b):
        return np.zeros(len(a), np.float32)
    tl = np.maximum(a[:, None, :2], b[None, :, :2])
    br = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.prod(np.clip(br - tl, 0, None), axis=2)
    area = np.prod(a[:, 2:] - a[:, :2], axis=1)[:, None]
    share: FloatArray = (inter / np.maximum(area, 1e-6)).max(1).astype(np.float32)
    return share


def _square(rgb: np.ndarray) -> np.ndarray:
    """``rgb`` resized to the network's input, averaging pixels where it shrinks."""
    shrink = min(rgb.shape[:2]) >= SIZE
    return cv2.resize(rgb, (SIZE, SIZE), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)


@BACKENDS.register("ssdlite-person-whole")
class WholeFramePersons(SSDLitePersons):
    """The whole picture only, for video: on the score clip with `--fast`, the tiles of a frame
    every 0.4 s took a 12 s clip from 35 to 80 s, for people the tracker and the next frames see
    anyway as they come closer (docs/targets.md)."""

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings, tiles=())
