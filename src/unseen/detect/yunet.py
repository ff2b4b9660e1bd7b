"""YuNet (libfacedetection, BSD-3) through the ``yuface`` wheel, weights compiled in."""

from __future__ import annotations

import warnings

import numpy as np

from ..datatypes import Detections
from ..errors import ModelError
from ..settings import Settings
from . import BACKENDS


@BACKENDS.register("yunet")
class YuNet:
    def __init__(self, settings: Settings) -> None:
        try:
            import yuface
        except ImportError as exc:  # wheels exist only for CPython <= 3.11 on x86-64/Windows
            raise ModelError(f"YuNet is unavailable: {exc}") from exc
        self._detect = yuface.detect

    def detect(self, rgb: np.ndarray, threshold: float) -> Detections:
        bgr = np.ascontiguousarray(rgb[:, :, ::-1])
        with warnings.catch_warnings():
            # yuface warns about every image over 960 px; we tile and scale on purpose.
            warnings.simplefilter("ignore", UserWarning)
            confs, boxes, marks = self._detect(bgr, conf=threshold)
        if len(confs) == 0:
            return Detections.empty()
        xywh = np.asarray(boxes, np.float32).reshape(-1, 4)
        xyxy = np.concatenate([xywh[:, :2], xywh[:, :2] + xywh[:, 2:]], axis=1)
        scores = np.asarray(confs, np.float32) / 100.0
        return Detections.from_boxes(xyxy, scores, "yunet", np.asarray(marks, np.float32))
