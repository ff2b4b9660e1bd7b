"""The tracker on box sequences: gaps, the frames before a face's first detection and after its
last, scene cuts, and flat memory on long runs."""

from __future__ import annotations

import numpy as np

from unseen.datatypes import Detections
from unseen.track import ESTIMATE, Motion, Tracker

MOTION = Motion(pre=6, post=6, max_gap=8)


def path_box(frame: int, x0: float = 20.0, speed: float = 4.0, size: float = 30.0) -> np.ndarray:
    """A face moving right at ``speed`` px per frame, with a little vertical jitter."""
    x = x0 + speed * frame
    y = 50.0 + (3.0 if frame % 2 else -3.0)
    return np.array([x, y, x + size, y + size], np.float32)


def detected(boxes: object) -> Detections:
    """Boxes as one frame's detections, score 0.9, as the detector would hand them over."""
    xyxy = np.asarray(boxes, np.float32).reshape(-1, 4)
    return Detections.from_boxes(xyxy, np.full(len(xyxy), 0.9), "centerface@1x")


def covers(found: Detections, target: np.ndarray) -> bool:
    """True when one of the boxes found holds all of ``target``."""
    boxes = found.xyxy
    return bool(np.any((boxes[:, :2] <= target[:2]).all(1) & (boxes[:, 2:] >= target[2:]).all(1)))


def run(frames: range, seen: set[int], motion: Motion = MOTION) -> Tracker:
    tracker = Tracker(motion)
    for f in frames:
        boxes = path_box(f)[None] if f in seen else np.zeros((0, 4), np.float32)
        tracker.update(f, detected(boxes))
    return tracker


def test_gaps_between_detections_are_covered() -> None:
    seen = {f for f in range(40) if f % 4 == 0 or f in (21, 22)}
    tracker = run(range(40), seen)
    assert len(tracker.tracks) == 1, "one face must stay one track across its misses"
    for f in range(40):
        assert covers(tracker.boxes_at(f), path_box(f)), f"frame {f} left the face exposed"


def test_coverage_reaches_before_the_first_and_after_the_last_detection() -> None:
    seen = set(range(10, 20))
    tracker = run(range(40), seen)
    for f in range(10 - MOTION.pre, 20 + MOTION.post):
        assert covers(tracker.boxes_at(f), path_box(f)), f"frame {f} left the face exposed"
    assert len(tracker.boxes_at(10 - MOTION.pre - 1)) == 0
    assert len(tracker.boxes_at(20 + MOTION.post + 1)) == 0


def test_two_faces_keep_two_tracks() -> None:
    tracker = Tracker(MOTION)
    for f in range(20):
        a, b = path_box(f), path_box(f, x0=200.0, speed=-3.0)
        tracker.update(f, detected(np.stack([a, b]) if f % 3 else a[None]))
    assert len(tracker.tracks) == 2
    for f in range(20):
        boxes = tracker.boxes_at(f)
        assert covers(boxes, path_box(f)) and covers(boxes, path_box(f, x0=200.0, speed=-3.0))


def test_a_scene_cut_starts_new_tracks() -> None:
    tracker = Tracker(MOTION)
    here, there = np.array([[10, 10, 40, 40]], np.float32), np.array([[30, 12, 60, 42]], np.float32)
    for f in range(5):
        tracker.update(f, detected(here))
    tracker.update(5, detected(there), cut=True)
    assert len(tracker.tracks) == 2, "a face after a cut must not continue a face before it"
    # Near the cut both shots' faces stay covered: over-covering a frame costs less than a miss.
    assert covers(tracker.boxes_at(5), there[0]) and covers(tracker.boxes_at(5), here[0])
    assert covers(tracker.boxes_at(4), there[0])


def test_memory_stays_flat_on_a_long_run() -> None:
    tracker = Tracker(MOTION)
    rng = np.random.default_rng(0)
    for f in range(3000):
        # A face appears every 50 frames and lives for 30.
        boxes = [path_box(f % 50, x0=float(rng.uniform(0, 10))) for _ in range(1) if f % 50 < 30]
        tracker.update(f, detected(boxes))
        tracker.forget(f - MOTION.pre)
    stored = sum(len(t.frames) for t in tracker.tracks)
    assert len(tracker.tracks) <= 2 and stored <= 2 * (MOTION.pre + MOTION.max_gap + 2)


def test_reaches_scale_with_frame_rate() -> None:
    slow, fast = Motion.at(10), Motion.at(60)
    assert slow.pre < fast.pre and slow.post < fast.post
    assert Motion.at(60).limited(5).pre == 5 and Motion.at(60).limited(5).max_gap == 5


def test_tracks_speak_the_detections_type_with_ids_and_sources() -> None:
    tracker = Tracker(MOTION)
    a, b = path_box(0), path_box(0, x0=200.0)
    given = tracker.update(0, detected([a, b]))
    assert given.ids.tolist() == [0, 1]
    tracker.update(1, detected([path_box(1)]))
    at_1 = tracker.boxes_at(1)
    assert sorted(at_1.ids.tolist()) == [0, 1]
    by_id = dict(zip(at_1.ids.tolist(), at_1.sources, strict=True))
    assert by_id[0] == "centerface@1x", "a detected box keeps its detector's name"
    assert by_id[1] == ESTIMATE, "a box the tracker worked out says so"
    assert np.allclose(at_1.scores, 0.9), "each row carries its track's best score"
