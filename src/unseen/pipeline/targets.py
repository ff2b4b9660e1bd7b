"""What each target covers: the one place where found boxes become regions beyond faces.

* ``persons``: the whole person box, a little grown (build and clothing can
  identify someone).
* ``heads`` (without ``persons``): the head of every person box whose head
  area is not already mostly covered by a face region: people seen from
  behind, from above or in deep profile, whom the face detectors miss.
* ``plates`` and ``text``: their boxes, a little grown (a box cut tight
  leaves the edge of a character).

Photos and videos both go through `regions_of`, so a frame of a video covers
what a photo of it would.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..boxes import IntBoxes, areas, covered_share, grown, person_heads
from ..datatypes import Detections
from ..plan import RegionKind

# The plan's id prefix of each kind's video tracks (a photo's regions are all r1, r2, ...).
PREFIX = {"face": "t", "head": "h", "person": "p", "plate": "l", "text": "x"}
# A head estimate this much inside face regions already is covered by them.
HEAD_COVERED = 0.5
GROW = {"person": 0.05, "plate": 0.15, "text": 0.05}


@dataclass(frozen=True)
class Found:
    """Regions of one ``kind``: ``boxes`` (whole pixels) row by row with ``rows`` of the detections."""

    kind: RegionKind
    rows: Detections
    boxes: IntBoxes


def regions_of(
    found: dict[str, Detections], faces: IntBoxes, targets: tuple[str, ...], width: int, height: int
) -> list[Found]:
    """The regions ``targets`` ask for, from the boxes found by kind and the face regions ``faces``."""
    out = []
    persons = found.get("person")
    if persons is not None and len(persons):
        if "persons" in targets:
            out.append(Found("person", persons, grown(persons.xyxy, GROW["person"], width, height)))
        elif "heads" in targets:
            heads = person_heads(persons.xyxy, width, height)
            share = covered_share(heads, faces)
            bare = share < HEAD_COVERED
            out.append(Found("head", persons.take(bare), heads[bare]))
    boxed: tuple[RegionKind, ...] = ("plate", "text")
    for kind in boxed:
        rows = found.get(kind)
        if rows is not None and len(rows):
            out.append(Found(kind, rows, grown(rows.xyxy, GROW[kind], width, height)))
    return [kept for kept in map(_nonempty, out) if len(kept.boxes)]


def _nonempty(f: Found) -> Found:
    """``f`` less the boxes that clipping to the picture left empty."""
    keep = areas(f.boxes) > 0
    return Found(f.kind, f.rows.take(keep), f.boxes[keep])
