"""Text regions: PP-OCRv4's detection network (a DBNet, Apache-2.0) with our own onnxruntime code.

Only the detection half of PP-OCR runs.  unseen covers text so that a sign, a
badge or a number cannot identify anyone; it never reads it, so the
recognition network is neither shipped nor run.

What the network wants (the facts of RapidOCR's config for this file): BGR,
each channel as ``(x / 255 - 0.5) / 0.5``, the short side at least 736 px and
both sides multiples of 32; out comes a text probability map of the input's
size.  The post-processing here is our own, after DBNet's recipe: binarise at
0.3, take each connected region (regions under 3 px across are specks),
score it by the mean probability inside its minimum-area rectangle, grow that
rectangle by ``area * 1.6 / perimeter`` on every side (the network marks a
shrunk core of each text line) and report the axis-aligned box around it.

Choices, measured on 2 cores shared with other work (times are the best of
three; a busy machine doubled them):

* BGR, as PaddleOCR trains on OpenCV's decoded images.  RGB gave nearly the
  same boxes (62 against 60 on 13 WIDER photos) but put three on a shirt
  where BGR put none.  ImageNet's mean and deviation instead of 0.5/0.5:
  no better either (same sign boxes, 4 boxes instead of 2 on a face).
* Scoring by the minimum-area rectangle rather than by the region's own
  pixels (whose mean is near 1 by construction: each is above 0.3): an
  irregular blob of foliage scores lower over its rectangle than a line of
  text does.  On two frames of EgoBlur's parking-lot clip at 2560 px the
  licence plates scored 0.82-0.93 and came first; foliage and building
  edges 0.35-0.83.
* The long side is capped at 2560 px (`MAX_SIDE`): a 2560 x 1920 frame
  takes 1.2-1.6 s, and at 1920 px (0.5-0.8 s) the plate of a car 4 m away
  was lost.  Smaller pictures run at their size or, under 736 px on the
  short side, larger: 0.17 s for 512 x 512, 0.13-0.2 s for 1024 x 687,
  0.55 s for 1920 x 1080.
* No dilation of the binary map: the rendered sign of the tests is covered
  whole without it, and dilation only joins neighbouring words.

What it finds, at threshold 0.5: the rendered sign's three lines, every
glyph pixel inside a box, nothing else in the photo; nothing on a flat or a
noise picture; on facenet-pytorch's street clip "ROYAL", "OPERA", "HOUSE",
"Welcome" and the crest above them (a logo on a jacket missed).  Plates
read by eye in frames 0, 12 and 23 of the parking-lot clip: 4 of 7 covered
(the near SUV's and the near car's, twice each; the small plate of a dark
SUV, 35 px wide, missed twice, and a plate cut by the frame's edge).
False boxes: foliage, kerbs and building edges in that clip (8-11 a frame
at 2560 px), and in a 988 px close-up interview two on the face (0.83),
which a face cover hides anyway.  ``threshold`` is the box score threshold;
RapidOCR's config uses 0.5.  At 0.8 those three frames keep one false box
(0.80) and every text box named here (0.81-0.93), with no margin: for
covering, a spare box costs less than a missed one.
"""

from __future__ import annotations

import cv2
import numpy as np

from ..datatypes import Detections
from ..settings import Settings
from . import BACKENDS
from .runtime import infer, padded_size, padding_step, session
from .weights import model_path

MAX_SIDE = 2560  # long side of the network's input at most; larger photos are shrunk
MIN_SIDE = 736  # short side at least (the model's limit_side_len, limit_type min)
BINARY = 0.3  # probability at which a pixel counts as text
UNCLIP = 1.6  # how far each text core is grown: area * UNCLIP / perimeter
MIN_REGION = 3  # regions narrower than this (in map pixels) are dropped as specks
MAX_REGIONS = 1000  # the largest regions scored, at most
STRIDE = 32  # the network's input sides are multiples of it


@BACKENDS.register("ppocr-text")
class TextDetector:
    """``detect(rgb, threshold)``: text boxes in pixels of ``rgb``; it resizes for the network itself."""

    def __init__(self, settings: Settings) -> None:
        self.session = session(model_path("ppocr-det"), settings)
        self.input = self.session.get_inputs()[0].name
        # On CUDA each picture size costs a cuDNN set-up (`runtime.CUDA_STEP`): the resized picture
        # is then padded with black, where the network finds no text, to a few sizes.
        self.step = padding_step(settings, STRIDE)

    def detect(self, rgb: np.ndarray, threshold: float) -> Detections:
        h, w = rgb.shape[:2]
        size = input_size(w, h)
        # Resized (bilinear), BGR, (x - 127.5) / 127.5, NCHW float32, in one call.
        blob = cv2.dnn.blobFromImage(rgb[..., :3], 1 / 127.5, size, (127.5, 127.5, 127.5), swapRB=True)
        prob = infer(self.session, None, {self.input: padded(blob, self.step)})[0][0, 0, : size[1], : size[0]]
        boxes, scores = text_boxes(prob, threshold)
        boxes *= np.array([w / size[0], h / size[1]] * 2, np.float32)
        boxes = np.clip(boxes, 0, [w, h, w, h])
        return Detections.from_boxes(boxes, scores, "ppocr-text")


def input_size(width: int, height: int) -> tuple[int, int]:
    """The resized picture's (width, height): short side >= `MIN_SIDE`, long side <= `MAX_SIDE`, both
    multiples of `STRIDE`."""
    scale = max(1.0, MIN_SIDE / min(width, height))
    scale = min(scale, MAX_SIDE / max(width, height))
    return max(STRIDE, round(width * scale / STRIDE) * STRIDE), max(
        STRIDE, round(height * scale / STRIDE) * STRIDE
    )


def padded(blob: np.ndarray, step: int) -> np.ndarray:
    """``blob`` (NCHW) grown right and down to multiples of ``step`` with black (-1 after scaling)."""
    h, w = blob.shape[2:]
    ph, pw = padded_size(h, w, step)
    if (ph, pw) == (h, w):
        return blob
    out = np.full((*blob.shape[:2], ph, pw), -1.0, blob.dtype)
    out[:, :, :h, :w] = blob
    return out


def text_boxes(prob: np.ndarray, threshold: float) -> tuple[np.ndarray, np.ndarray]:
    """Boxes (N, 4) in pixel edges of ``prob``, and their scores, for regions scoring at least ``threshold``."""
    binary = (prob > BINARY).astype(np.uint8)
    count, labels, stats, _ = cv2.connectedComponentsWithStats(binary, connectivity=8)
    regions = [
        i
        for i in range(1, count)
        if min(stats[i, cv2.CC_STAT_WIDTH], stats[i, cv2.CC_STAT_HEIGHT]) >= MIN_REGION
    ]
    regions = sorted(regions, key=lambda i: -stats[i, cv2.CC_STAT_AREA])[:MAX_REGIONS]
    boxes, scores = [], []
    for i in regions:
        x, y, w, h = (int(v) for v in stats[i, :4])
        inside = (labels[y : y + h, x : x + w] == i).astype(np.uint8)
        points = cv2.findNonZero(inside)
        (cx, cy), (rw, rh), angle = cv2.minAreaRect(points)
        # minAreaRect runs through pixel centres; the region reaches half a pixel beyond them.
        rw, rh = rw + 1, rh + 1
        rect = np.zeros_like(inside)
        cv2.fillPoly(rect, [np.round(cv2.boxPoints(((cx, cy), (rw, rh), angle))).astype(np.int32)], 1)
        score = float(prob[y : y + h, x : x + w][rect > 0].mean())
        if score < threshold:
            continue
        grow = rw * rh * UNCLIP / (2 * (rw + rh))
        corners = cv2.boxPoints(((cx, cy), (rw + 2 * grow, rh + 2 * grow), angle))
        corners += np.array([x + 0.5, y + 0.5], np.float32)
        boxes.append([*corners.min(0), *corners.max(0)])
        scores.append(score)
    return np.asarray(boxes, np.float32).reshape(-1, 4), np.asarray(scores, np.float32)
