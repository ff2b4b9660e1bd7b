"""What the review page does to plans, without a browser: edits, carrying a box, the queue, the summary.

The page only sends edits; these functions decide what they do to a plan, so
they carry the review's rules: a box drawn by hand is always covered, tracks
merge only by hand, a carried box follows pixels and stops where it loses
them, and whatever a person uncovers shows up before Apply.
"""

from __future__ import annotations

import numpy as np
import pytest

from unseen.errors import PlanError
from unseen.plan import Media, Plan, Region, Track
from unseen.review import attention, carry, edits

PHOTO = Media(sha256="a" * 64, kind="photo", width=200, height=100, frames=1)
VIDEO = Media(sha256="b" * 64, kind="video", width=200, height=100, frames=20, fps=10.0)


def region(ident: str, box: tuple[int, int, int, int], score: float | None = 0.9) -> Region:
    return Region(id=ident, kind="face", box=box, source="centerface@1x", score=score)


def track(ident: str, first: int, last: int, x: int = 10, detected: list[int] | None = None) -> Track:
    boxes = [(f, x, 10, x + 20, 30) for f in range(first, last + 1)]
    seen = list(range(first, last + 1)) if detected is None else detected
    return Track(id=ident, kind="face", source="centerface@1x", score=0.8, boxes=boxes, detected=seen)


def test_a_drawn_box_is_cut_to_the_picture_and_always_covered() -> None:
    plan = Plan(media=PHOTO, profile="default", regions=[region("r1", (10, 10, 40, 40))])
    plan, ident = edits.add_region(plan, (180, -5, 260, 30))
    drawn = plan.regions[-1]
    assert (ident, drawn.kind, drawn.box) == ("m1", "manual", (180, 0, 200, 30))
    with pytest.raises(PlanError, match="always covered"):
        edits.decide(plan, "m1", "keep", "no")
    with pytest.raises(PlanError, match="outside"):
        edits.add_region(plan, (250, 10, 300, 40))
    kept = edits.decide(plan, "r1", "keep", "  the speaker  ")
    assert kept.regions[0].decision == "keep" and kept.regions[0].reason == "the speaker"
    assert edits.decide(kept, "r1", "cover").regions[0].reason is None
    assert [r.id for r in edits.remove(kept, "r1").regions] == ["m1"]
    with pytest.raises(PlanError, match="r7"):
        edits.remove(kept, "r7")


def test_tracks_split_shorten_and_merge_by_hand() -> None:
    plan = Plan(media=VIDEO, profile="default", tracks=[track("t1", 0, 9), track("t2", 8, 15, x=50)])
    split, other = edits.split(plan, "t1", 4)
    assert [(t.id, t.boxes[0][0], t.boxes[-1][0]) for t in split.tracks[:2]] == [("t1", 0, 3), (other, 4, 9)]
    assert split.tracks[1].detected == [4, 5, 6, 7, 8, 9]
    with pytest.raises(PlanError, match="inside"):
        edits.split(plan, "t1", 0)
    short = edits.trim(plan, "t2", 10, 12)
    assert [b[0] for b in short.tracks[1].boxes] == [10, 11, 12]
    merged = edits.merge(plan, "t1", "t2")
    (one,) = merged.tracks
    assert [b[0] for b in one.boxes] == list(range(16))
    assert one.boxes[8][1:] == (10, 10, 70, 30), "where both have a box, the box holding both"
    kept = edits.decide(plan, "t2", "keep", "agreed")
    assert edits.merge(kept, "t1", "t2").tracks[0].decision == "cover", "covering is the safe side"
    moved = edits.retrack(plan, "t1", {3: (100, 50, 130, 80), 12: (100, 50, 130, 80)})
    rows = {b[0]: b[1:] for b in moved.tracks[0].boxes}
    assert rows[3] == (100, 50, 130, 80) and rows[12] == (100, 50, 130, 80) and rows[2] == (10, 10, 30, 30)


def moving_square(frames: int = 20, cut: int | None = None) -> carry.GreyFrames:
    rng = np.random.default_rng(1)
    background = rng.integers(0, 255, (100, 200)).astype(np.uint8)
    square = (np.indices((16, 16)).sum(0) // 4 % 2 * 255).astype(np.uint8)
    clip = np.empty((frames, 100, 200), np.uint8)
    for i in range(frames):
        if cut is not None and i >= cut:  # another shot: the square is gone
            clip[i] = rng.integers(0, 255, (100, 200))
            continue
        clip[i] = background
        clip[i, 40:56, 20 + 5 * i : 36 + 5 * i] = square
    return carry.GreyFrames(clip, 1.0, 200, 100)


def test_a_box_is_carried_forwards_and_backwards_with_what_it_covers() -> None:
    found = carry.follow(moving_square(), 8, (60, 40, 76, 56))
    assert sorted(found) == list(range(20))
    for i, (x0, y0, x1, y1) in found.items():
        assert x0 <= 20 + 5 * i and x1 >= 36 + 5 * i and y0 <= 40 and y1 >= 56, (i, found[i])


def test_a_carried_box_stops_where_the_picture_changes_and_where_told() -> None:
    found = carry.follow(moving_square(cut=12), 8, (60, 40, 76, 56))
    assert max(found) == 11 and min(found) == 0, "a cut loses the patch"
    stopped = carry.follow(moving_square(), 8, (60, 40, 76, 56), stop=lambda n, box: n > 10)
    assert max(stopped) == 10


def test_the_queue_puts_likely_misses_first() -> None:
    plan = Plan(
        media=VIDEO,
        profile="default",
        tracks=[track("t1", 0, 19), track("t2", 3, 5), track("t3", 0, 19, detected=[0, 19]),
                track("t4", 0, 19).model_copy(update={"score": 0.2})],
    )  # fmt: skip
    items = attention.queue("f", plan, [region("k1", (5, 5, 20, 20), score=0.1)])
    assert [i.target for i in items][:3] == ["k1", "t2", "t3"]
    assert "t1" not in {i.target for i in items}, "a long, steady, confident track needs no special look"
    assert any(i.target == "t4" and "low" in i.why for i in items)


def test_the_summary_lists_everything_left_visible_and_why() -> None:
    first = Plan(
        media=PHOTO,
        profile="default",
        regions=[region("r1", (10, 10, 40, 40)), region("r2", (50, 10, 90, 40))],
    )
    now = edits.remove(edits.decide(first, "r1", "keep", "agreed"), "r2")
    items = {i.target: i.why for i in attention.exposure("f", first, now)}
    assert items == {"r1": "left visible: agreed", "r2": "found by a detector, deleted in review"}
    clip = Plan(media=VIDEO, profile="default", tracks=[track("t1", 0, 19)])
    shortened = edits.trim(clip, "t1", 5, 14)
    whys = [i.why for i in attention.exposure("f", clip, shortened)]
    assert whys == ["found by a detector, uncovered in review: frames 0–4",
                    "found by a detector, uncovered in review: frames 15–19"]  # fmt: skip
