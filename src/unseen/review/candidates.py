"""Candidates: what the photo's detectors saw just under their thresholds, for a person to judge.

The thresholds were tuned to cover as many faces as possible without covering
half the picture; the faces they still miss mostly score a little under
them.  The review page shows these as dashed boxes that one key accepts.
They are not in the plan, so nothing is covered unless a person says so.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from ..boxes import areas, grow_heads, iou_matrix
from ..detect import FaceFinder
from ..detect import Plan as Passes
from ..plan import Plan, Region
from ..settings import Settings

SHARE = 0.5  # candidates score from half a pass's threshold up to it
OVERLAP = 0.2  # a candidate this close to a region is the same face


def lowered(passes: Passes, share: float = SHARE) -> Passes:
    """The same whole-picture passes at ``share`` of their thresholds (no zoom: it is the costly part)."""
    return Passes(
        passes=tuple(
            replace(p, threshold=p.threshold * share, big_threshold=p.big_threshold * share)
            for p in passes.passes
        )
    )


def candidates(
    finder: FaceFinder, settings: Settings, passes: Passes, rgb: np.ndarray, plan: Plan
) -> list[Region]:
    """Head boxes found by ``passes`` lowered, away from every region already in ``plan``."""
    found = finder.with_plan(lowered(passes), settings).find(rgb)
    heads = grow_heads(found.xyxy, plan.media.width, plan.media.height, landmarks=found.landmarks)
    taken = np.asarray([r.box for r in plan.regions], np.float32).reshape(-1, 4)
    near = iou_matrix(heads.astype(np.float32), taken).max(axis=1) if len(taken) else np.zeros(len(heads))
    if len(taken):
        centres = (heads[:, :2] + heads[:, 2:]) / 2
        inside = (
            (centres[:, None, 0] >= taken[None, :, 0])
            & (centres[:, None, 0] <= taken[None, :, 2])
            & (centres[:, None, 1] >= taken[None, :, 1])
            & (centres[:, None, 1] <= taken[None, :, 3])
        ).any(axis=1)
        near = np.where(inside, 1.0, near)
    keep = np.nonzero((near < OVERLAP) & (areas(heads) > 0))[0]
    order = keep[np.argsort(-found.scores[keep], kind="stable")]
    return [
        Region(
            id=f"k{n}",
            kind="face",
            box=(int(heads[i, 0]), int(heads[i, 1]), int(heads[i, 2]), int(heads[i, 3])),
            source=found.sources[i],
            score=round(float(found.scores[i]), 3),
        )
        for n, i in enumerate(order.tolist(), start=1)
    ]
