"""Greedy non-maximum suppression and box overlap, shared by detectors and fusion."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt


def iou_matrix(a: np.ndarray, b: np.ndarray) -> npt.NDArray[np.float32]:
    """Pairwise intersection over union of two (N, 4) and (M, 4) box arrays."""
    tl = np.maximum(a[:, None, :2], b[None, :, :2])
    br = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.prod(np.clip(br - tl, 0, None), axis=2)
    area_a = np.prod(a[:, 2:] - a[:, :2], axis=1)
    area_b = np.prod(b[:, 2:] - b[:, :2], axis=1)
    union = area_a[:, None] + area_b[None, :] - inter
    iou: npt.NDArray[np.float32] = (inter / np.maximum(union, 1e-6)).astype(np.float32)
    return iou


def nms(boxes: np.ndarray, scores: np.ndarray, iou: float) -> npt.NDArray[np.intp]:
    """Indices of the boxes kept, best score first."""
    order = np.argsort(-scores, kind="stable")
    keep: list[int] = []
    while len(order):
        best = int(order[0])
        keep.append(best)
        rest = order[1:]
        if not len(rest):
            break
        overlap = iou_matrix(boxes[best : best + 1], boxes[rest])[0]
        order = rest[overlap <= iou]
    return np.asarray(keep, np.intp)
