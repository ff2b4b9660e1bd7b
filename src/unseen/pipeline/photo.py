"""Photos: analyse (find faces, grow them into head regions, add the other targets, make the plan)
and render it.

Rendering covers every region the plan marks ``cover`` (and every manual
one), leaves ``keep`` regions untouched except where a covered region
overlaps them (cover wins), writes the file under a hidden name and runs the
self-check (`unseen.verify.photo`).  Faces the audit still sees in the
written file are added to the plan as ``audit`` regions and covered in a
further pass; a file that still shows one after that fails.  Animated
GIF/WebP frames are few and show the same scene, so one region list serves
them all.
"""

from __future__ import annotations

import numpy as np

from ..boxes import areas, grow_heads
from ..cover import cover
from ..datatypes import Detections
from ..detect import FaceFinder
from ..detect.targets import TargetFinder
from ..errors import VerificationError
from ..jobs import Job
from ..media import image as image_io
from ..meta import pixels
from ..plan import ManualBox, Media, Plan, Region, cover_arguments
from ..verify.audit import Audit, StillVisible
from ..verify.photo import check_photo
from ..write import staged, write_bytes
from .targets import Found, regions_of

AUDIT_PASSES = 2


def analyse(
    picture: image_io.Picture, finder: FaceFinder, others: TargetFinder, media: Media, profile: str
) -> tuple[Plan, int]:
    """The plan of a photo, and the most faces found in one frame."""
    found = [finder.find(f) for f in picture.frames]
    regions = _regions(Detections.concat(found), media, "r", [])
    if others:
        faces = np.array([r.box for r in regions], np.int64).reshape(-1, 4)
        by_kind = [others.find(f) for f in picture.frames]
        merged = {k: Detections.concat([d[k] for d in by_kind]) for k in by_kind[0]}
        for part in regions_of(merged, faces, others.targets, media.width, media.height):
            regions += _as_regions(part, "r", len(regions) + 1)
    return Plan(media=media, profile=profile, regions=regions), max(len(d) for d in found)


def _as_regions(part: Found, prefix: str, start: int) -> list[Region]:
    """One region per box of ``part``, numbered from ``start``."""
    return [
        Region(
            id=f"{prefix}{start + n}",
            kind=part.kind,
            box=(int(x0), int(y0), int(x1), int(y1)),
            source=part.rows.sources[n],
            score=round(float(part.rows.scores[n]), 3),
        )
        for n, (x0, y0, x1, y1) in enumerate(part.boxes.tolist())
    ]


def _regions(faces: Detections, media: Media, prefix: str, taken: list[Region]) -> list[Region]:
    """Face regions: each face grown into its head, numbered after ``taken``."""
    heads = grow_heads(faces.xyxy, media.width, media.height, landmarks=faces.landmarks)
    shown = areas(heads) > 0
    return _as_regions(Found("face", faces.take(shown), heads[shown]), prefix, len(taken) + 1)


def render(
    job: Job,
    picture: image_io.Picture,
    plan: Plan,
    fmt: str,
    *,
    style: str,
    jpeg_quality: int,
    rng: np.random.Generator,
    audit: Audit | None,
) -> Plan:
    """Cover, write and check ``job.target``; returns the plan as finally rendered (audit regions added)."""
    for _attempt in range(AUDIT_PASSES + 1):
        boxes, kept = plan.covered(), plan.kept()
        covered = [cover(f, boxes, style, rng) for f in picture.frames]
        data = pixels.encoded(job.source, picture, covered, fmt, jpeg_quality)
        try:
            with staged(job.target) as temp:
                write_bytes(temp, data)
                seen = check_photo(temp, fmt, picture.frames, covered, boxes, kept, audit)
                if len(seen):
                    raise StillVisible([(0, seen)])
            return plan
        except StillVisible:
            found = [r for r in plan.regions if r.source == "audit"]
            plan = plan.with_regions(_regions(seen.labelled("audit"), plan.media, "a", found))
    hints = ManualBox.over(
        grow_heads(seen.xyxy, plan.media.width, plan.media.height, landmarks=seen.landmarks)
    )
    raise VerificationError(
        f"a face is still visible after {AUDIT_PASSES} further passes; nothing was written."
        + (f" Cover it by hand with {cover_arguments(hints)}" if hints else "")
    )
