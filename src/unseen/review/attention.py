"""Where review time goes first, and what will stay visible: computed from the plans, no pixels.

A false box costs a covered patch of background; a missed face exposes a
person.  So the attention queue is ordered by how likely a miss hides behind
an item, not by file order: candidates just under the detection threshold,
very short tracks (a face that flashes through), tracks with frames filled in
by tracking rather than seen, then low scores.  (Persons with no face found
will join the queue once a person detector exists.)

The exposure summary lists, before Apply, everything that will be left
uncovered by a person's choice: regions and tracks left visible, with the
reason given, and detected regions or frames that a delete, split or shorten
has uncovered.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..plan import Box, Plan, Region, Schedule

LOW_SCORE = 0.4
SHORT_S = 0.5  # a track seen for less than this is very short
MIN_SHORT_FRAMES = 6
COVERED_SHARE = 0.9  # a box counts as covered when this much of it lies inside one covered box


@dataclass(frozen=True)
class Item:
    """One entry of the queue or the summary: a file's region or track, and a frame to show."""

    file: str
    target: str
    frame: int
    why: str
    risk: float = 0.0
    box: Box | None = None


def queue(file: str, plan: Plan, candidates: list[Region]) -> list[Item]:
    """One file's items for the attention queue, riskiest first."""
    items = [
        Item(file, c.id, 0, f"possible face just under the threshold (score {c.score or 0:.2f})", 0.9, c.box)
        for c in candidates
    ]
    for r in plan.regions:
        if r.kind == "face" and r.score is not None and r.score < LOW_SCORE:
            items.append(Item(file, r.id, 0, f"low detector score {r.score:.2f}", 0.6 - r.score / 2, r.box))
    fps = plan.media.fps or 30.0
    for t in plan.tracks:
        if t.kind != "face":
            continue
        rows = t.per_frame()
        middle = rows[len(rows) // 2]
        box = (middle[1], middle[2], middle[3], middle[4])
        short = max(MIN_SHORT_FRAMES, round(SHORT_S * fps))
        if len(rows) < short:
            why = f"seen in only {len(rows)} frame(s): a face that flashes through"
            items.append(Item(file, t.id, middle[0], why, 0.85, box))
        filled = len(rows) - len(set(t.detected))
        if t.detected and filled > 0:
            share = filled / len(rows)
            why = f"{filled} of {len(rows)} frames filled in by tracking, not seen by a detector"
            items.append(Item(file, t.id, _first_filled(t.detected, rows), why, 0.6 + 0.25 * share, box))
        if t.score is not None and t.score < LOW_SCORE:
            items.append(
                Item(file, t.id, middle[0], f"low detector score {t.score:.2f}", 0.6 - t.score / 2, box)
            )
    return sorted(items, key=lambda i: -i.risk)


def _first_filled(detected: list[int], rows: list[tuple[int, int, int, int, int]]) -> int:
    seen = set(detected)
    return next((r[0] for r in rows if r[0] not in seen), rows[0][0])


def exposure(file: str, first: Plan, now: Plan) -> list[Item]:
    """What ``now`` leaves visible that a detector found in ``first``, and everything left visible."""
    items = [
        Item(file, r.id, 0, _visible(r.reason), box=r.box)
        for r in now.regions
        if r.decision == "keep" and r.kind != "manual"
    ]
    covered = now.covered().tolist()
    kept = {r.id for r in now.regions if r.decision == "keep"}
    for r in first.regions:
        if r.kind == "face" and r.decision == "cover" and r.id not in kept and not _inside(r.box, covered):
            items.append(Item(file, r.id, 0, "found by a detector, deleted in review", box=r.box))
    for t in now.tracks:
        if t.decision == "keep" and t.kind != "manual":
            rows = t.per_frame()
            middle = rows[len(rows) // 2]
            span = f"frames {rows[0][0]}–{rows[-1][0]}"
            items.append(Item(file, t.id, middle[0], f"{_visible(t.reason)} ({span})", box=middle[1:]))
    if first.tracks:
        items += _uncovered_frames(file, first, now)
    return items


def _visible(reason: str | None) -> str:
    return f"left visible: {reason}" if reason else "left visible (no reason given)"


def _uncovered_frames(file: str, first: Plan, now: Plan) -> list[Item]:
    """Runs of frames where a detected track of ``first`` is covered by nothing in ``now``."""
    schedule = Schedule(now)
    kept = {t.id for t in now.tracks if t.decision == "keep"}
    items = []
    for t in first.tracks:
        if t.kind != "face" or t.decision != "cover" or t.id in kept:
            continue
        bare = []
        for f, x0, y0, x1, y1 in t.per_frame():
            if not _inside((x0, y0, x1, y1), schedule.at(f)[0].tolist()):
                bare.append((f, (x0, y0, x1, y1)))
        for run in _runs(bare):
            (f0, box), f1 = run[0], run[-1][0]
            why = f"found by a detector, uncovered in review: frames {f0}–{f1}"
            items.append(Item(file, t.id, f0, why, box=box))
    return items


def _runs(frames: list[tuple[int, Box]]) -> list[list[tuple[int, Box]]]:
    runs: list[list[tuple[int, Box]]] = []
    for item in frames:
        if runs and item[0] == runs[-1][-1][0] + 1:
            runs[-1].append(item)
        else:
            runs.append([item])
    return runs


def _inside(box: Box, covers: list[list[int]]) -> bool:
    x0, y0, x1, y1 = box
    area = max(1, (x1 - x0) * (y1 - y0))
    for c in covers:
        w, h = min(x1, c[2]) - max(x0, c[0]), min(y1, c[3]) - max(y0, c[1])
        if w > 0 and h > 0 and w * h >= COVERED_SHARE * area:
            return True
    return False
