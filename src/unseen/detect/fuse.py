"""Merge the boxes of several passes into one box per face.

Boxes that overlap a better-scoring box by more than ``iou`` are taken as the
same face; the kept box grows to their union so that one detector's tighter
box never shrinks what another saw.  Boxes that barely overlap are all kept:
for covering, a duplicate costs a little area, a dropped face costs a person.
"""

from __future__ import annotations

import numpy as np

from ..boxes import iou_matrix
from ..datatypes import Detections


def fuse(found: Detections, iou: float = 0.45) -> Detections:
    if len(found) < 2:
        return found
    order = np.argsort(-found.scores, kind="stable")
    boxes = found.xyxy[order]
    overlap = iou_matrix(boxes, boxes)
    taken = np.zeros(len(order), bool)
    kept, merged = [], []
    own = np.eye(len(order), dtype=bool)  # a degenerate box has IoU 0 even with itself
    for i in range(len(order)):
        if taken[i]:
            continue
        group = np.nonzero(~taken & ((overlap[i] > iou) | own[i]))[0]
        taken[group] = True
        kept.append(order[i])
        members = boxes[group]
        merged.append(np.concatenate([members[:, :2].min(0), members[:, 2:].max(0)]))
    result = found.take(np.asarray(kept, np.intp))
    return Detections(
        np.asarray(merged, np.float32), result.scores, result.landmarks, result.sources, result.ids
    )
