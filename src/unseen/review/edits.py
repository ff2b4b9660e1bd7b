"""What a person does to a plan on the review page, as functions from one plan to the next.

Plans are immutable, so every edit returns a new one and the page's undo is
a stack of old plans.  What a plan cannot do raises `PlanError`, in words the
page shows.  Photos' regions and videos' tracks share the verbs (add, move,
delete, leave visible, cover again); tracks also split, shorten and merge.
Tracks are merged only by hand: grouping them by who is in them would need
face embeddings, which unseen never computes.  A box a person draws is cut
to the picture; one that is drawn is always covered (``manual``), so leaving
it visible is refused: deleting it says the same thing more plainly.
"""

from __future__ import annotations

from collections.abc import Mapping

from ..errors import PlanError
from ..plan import Box, Decision, FrameBox, Media, Plan, Region, Track

PERSON = "person"  # the source of every region or track a person drew
MAX_REASON = 200


def clipped(media: Media, box: Box) -> Box:
    """``box`` cut to the picture; an empty or outside box is an error."""
    x0, y0 = max(0, min(box[0], box[2])), max(0, min(box[1], box[3]))
    x1, y1 = min(media.width, max(box[0], box[2])), min(media.height, max(box[1], box[3]))
    if x1 - x0 < 2 or y1 - y0 < 2:
        raise PlanError("the box is empty or outside the picture")
    return x0, y0, x1, y1


def free_id(plan: Plan, base: str) -> str:
    taken = {r.id for r in plan.regions} | {t.id for t in plan.tracks}
    n = 1
    while f"{base}{n}" in taken:
        n += 1
    return f"{base}{n}"


def add_region(plan: Plan, box: Box) -> tuple[Plan, str]:
    """A box a person drew on a photo: always covered."""
    ident = free_id(plan, "m")
    region = Region(id=ident, kind="manual", box=clipped(plan.media, box), source=PERSON, score=None)
    return plan.with_regions([region]), ident


def accept(plan: Plan, candidate: Region) -> tuple[Plan, str]:
    """A candidate under the detection threshold, taken into the plan and covered."""
    ident = free_id(plan, "c")
    return plan.with_regions([candidate.model_copy(update={"id": ident, "decision": "cover"})]), ident


def move_region(plan: Plan, ident: str, box: Box) -> Plan:
    region = _region(plan, ident)
    moved = region.model_copy(update={"box": clipped(plan.media, box)})
    return plan.model_copy(update={"regions": [moved if r.id == ident else r for r in plan.regions]})


def remove(plan: Plan, ident: str) -> Plan:
    """Drop a region or track: what it covered stays visible unless another box covers it."""
    _find(plan, ident)
    return plan.model_copy(
        update={
            "regions": [r for r in plan.regions if r.id != ident],
            "tracks": [t for t in plan.tracks if t.id != ident],
        }
    )


def decide(plan: Plan, ident: str, decision: Decision, reason: str | None = None) -> Plan:
    """Leave a region or track visible (``keep``, with the person's reason) or cover it again."""
    found = _find(plan, ident)
    if decision == "keep" and found.kind == "manual":
        raise PlanError(f"{ident} is a box drawn by hand and is always covered; delete it instead")
    why = (reason or "").strip()[:MAX_REASON] if decision == "keep" else ""
    update = {"decision": decision, "reason": why or None}
    return plan.model_copy(
        update={
            "regions": [r.model_copy(update=update) if r.id == ident else r for r in plan.regions],
            "tracks": [t.model_copy(update=update) if t.id == ident else t for t in plan.tracks],
        }
    )


def add_track(plan: Plan, boxes: Mapping[int, Box]) -> tuple[Plan, str]:
    """A box a person drew on one frame of a video, with the frames it was carried to."""
    ident = free_id(plan, "m")
    rows = _rows(plan.media, boxes)
    track = Track(id=ident, kind="manual", source=PERSON, score=None, boxes=rows)
    return plan.with_tracks([track]), ident


def retrack(plan: Plan, ident: str, boxes: Mapping[int, Box]) -> Plan:
    """A track with its boxes on ``boxes``' frames replaced (or added, where it had none)."""
    track = _track(plan, ident)
    rows = {f: (x0, y0, x1, y1) for f, x0, y0, x1, y1 in track.per_frame()}
    rows.update({f: clipped(plan.media, b) for f, b in boxes.items()})
    return _replace(
        plan, ident, [track.model_copy(update={"fill": "none", "boxes": _rows(plan.media, rows)})]
    )


def split(plan: Plan, ident: str, frame: int) -> tuple[Plan, str]:
    """Two tracks: frames before ``frame`` keep the id, the rest get a new one."""
    track = _track(plan, ident)
    rows = track.per_frame()
    before, after = [r for r in rows if r[0] < frame], [r for r in rows if r[0] >= frame]
    if not before or not after:
        raise PlanError(f"{ident} runs from frame {rows[0][0]} to {rows[-1][0]}: split it inside that span")
    other = free_id(plan, f"{ident}.")
    parts = [
        _part(track, ident, before),
        _part(track, other, after),
    ]
    return _replace(plan, ident, parts), other


def trim(plan: Plan, ident: str, first: int, last: int) -> Plan:
    """Shorten a track to the frames from ``first`` to ``last``."""
    track = _track(plan, ident)
    rows = [r for r in track.per_frame() if first <= r[0] <= last]
    if not rows:
        raise PlanError(f"{ident} has no frame between {first} and {last}")
    return _replace(plan, ident, [_part(track, ident, rows)])


def merge(plan: Plan, ident: str, other: str) -> Plan:
    """One track from two, chosen by a person: where both have a box, the box holding both.

    It is covered if either was (covering is the safe side) and keeps the
    first one's id.
    """
    if ident == other:
        raise PlanError("choose two different tracks to merge")
    a, b = _track(plan, ident), _track(plan, other)
    rows: dict[int, Box] = {}
    for f, x0, y0, x1, y1 in [*a.per_frame(), *b.per_frame()]:
        old = rows.get(f)
        rows[f] = (x0, y0, x1, y1) if old is None else _union(old, (x0, y0, x1, y1))
    scores = [s for s in (a.score, b.score) if s is not None]
    both_cover = a.decision == "cover" or b.decision == "cover"
    merged = a.model_copy(
        update={
            "kind": "manual" if "manual" in (a.kind, b.kind) else a.kind,
            "score": max(scores) if scores else None,
            "decision": "cover" if both_cover else "keep",
            "reason": None if both_cover else a.reason,
            "fill": "none",
            "boxes": _rows(plan.media, rows),
            "detected": sorted(set(a.detected) | set(b.detected)),
        }
    )
    kept = [merged if t.id == ident else t for t in plan.tracks if t.id != other]
    return plan.model_copy(update={"tracks": kept})


def _part(track: Track, ident: str, rows: list[FrameBox]) -> Track:
    frames = {r[0] for r in rows}
    return track.model_copy(
        update={
            "id": ident,
            "fill": "none",
            "boxes": rows,
            "detected": [f for f in track.detected if f in frames],
        }
    )


def _rows(media: Media, boxes: Mapping[int, Box]) -> list[FrameBox]:
    rows = []
    for f in sorted(boxes):
        if not 0 <= f < media.frames:
            raise PlanError(f"frame {f} is outside the video (0..{media.frames - 1})")
        x0, y0, x1, y1 = boxes[f]
        rows.append((f, x0, y0, x1, y1))
    if not rows:
        raise PlanError("a track needs at least one box")
    return rows


def _union(a: Box, b: Box) -> Box:
    return min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3])


def _replace(plan: Plan, ident: str, parts: list[Track]) -> Plan:
    tracks: list[Track] = []
    for t in plan.tracks:
        tracks.extend(parts if t.id == ident else [t])
    return plan.model_copy(update={"tracks": tracks})


def _find(plan: Plan, ident: str) -> Region | Track:
    items: list[Region | Track] = [*plan.regions, *plan.tracks]
    for item in items:
        if item.id == ident:
            return item
    raise PlanError(f"no region or track {ident} in the plan")


def _region(plan: Plan, ident: str) -> Region:
    found = _find(plan, ident)
    if not isinstance(found, Region):
        raise PlanError(f"{ident} is a track, not a region")
    return found


def _track(plan: Plan, ident: str) -> Track:
    found = _find(plan, ident)
    if not isinstance(found, Track):
        raise PlanError(f"{ident} is a region, not a track")
    return found
