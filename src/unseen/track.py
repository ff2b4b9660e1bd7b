"""Follow faces from frame to frame, so that a face stays covered where the detector misses it.

One visible frame is enough to recognise someone, and per-frame detection
flickers: a face turns, blurs or shrinks below the detector's reach for a frame
or two.  The tracker joins detections into tracks (constant-velocity
prediction plus overlap matching) and `Tracker.boxes_at` then answers, for a
frame, where every track's face is:

* between two detections of a track, on the line joining them;
* up to ``post`` frames after a track's last detection, and ``pre`` frames
  before its first, where it was heading or coming from.  Looking backwards
  needs the caller to hold frames back (a look-ahead buffer) until they are
  ``pre`` frames old;
* every estimate that is not a detection grows with the distance to the
  nearest detection and with the face's speed, because guessing a position
  wrong by a few pixels uncovers part of a face.

At a scene cut every track stops taking new detections (a face in the new shot
that happens to sit where an old one was is a different track), but coverage
in frames near the cut still comes from both sides: covering a patch of
background for a few frames costs little, an exposed face costs a person.
"""

from __future__ import annotations

from bisect import bisect_left
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import numpy.typing as npt

from .detect.nms import iou_matrix
from .types import FloatArray


@dataclass(frozen=True)
class Motion:
    """How far coverage reaches beyond detections, in frames, and how estimates widen.

    ``grow`` is the share of the face size added on every side per frame away
    from the nearest detection (capped at ``max_grow``); ``speed_pad`` is how
    many frames of the face's own motion are added on every side, and
    ``jitter_pad`` how many times its measured jitter.
    """

    pre: int = 8
    post: int = 12
    max_gap: int = 12
    grow: float = 0.04
    max_grow: float = 0.6
    speed_pad: float = 1.5
    jitter_pad: float = 1.5

    @classmethod
    def at(cls, fps: float, pre_s: float = 0.3, post_s: float = 0.4, gap_s: float = 0.4) -> Motion:
        """Reaches given in seconds, as frames at ``fps`` (at least two frames each)."""
        pre, post, gap = (max(2, round(s * fps)) for s in (pre_s, post_s, gap_s))
        growth = 0.04 * 30 / max(fps, 1.0)  # the same growth per second at any frame rate
        return cls(pre=pre, post=post, max_gap=gap, grow=growth)

    def limited(self, lookahead: int) -> Motion:
        """Backward reach and gap bridging can look only as far ahead as the frames held back."""
        return replace(self, pre=min(self.pre, lookahead), max_gap=min(self.max_gap, lookahead))


@dataclass
class Track:
    """One face over time: its detections (frame, box) and its latest velocity (per frame)."""

    id: int
    frames: list[int] = field(default_factory=list)
    boxes: list[FloatArray] = field(default_factory=list)
    velocity: FloatArray = field(default_factory=lambda: np.zeros(4, np.float32))
    start_velocity: FloatArray | None = None
    jitter: float = 0.0  # how far detections land from the constant-velocity prediction, px
    open: bool = True

    @property
    def last(self) -> int:
        return self.frames[-1]

    def predicted(self, frame: int) -> FloatArray:
        return self.boxes[-1] + self.velocity * (frame - self.last)

    def observe(self, frame: int, box: FloatArray) -> None:
        if self.frames:
            step = (box - self.boxes[-1]) / max(1, frame - self.last)
            miss = float(np.abs(box - self.predicted(frame)).max())
            if self.start_velocity is None:
                self.velocity = self.start_velocity = step.astype(np.float32)
            else:
                # Smoothed so that one jittery detection does not fling the prediction.
                self.velocity = (0.5 * self.velocity + 0.5 * step).astype(np.float32)
                self.jitter = 0.7 * self.jitter + 0.3 * miss
        self.frames.append(frame)
        self.boxes.append(box.astype(np.float32))


class Tracker:
    """``update(frame, boxes)`` once per detected frame; ``boxes_at(frame)`` for covering."""

    def __init__(self, motion: Motion = Motion(), min_iou: float = 0.1) -> None:
        self.motion = motion
        self.min_iou = min_iou
        self.tracks: list[Track] = []
        self._next_id = 0

    def update(self, frame: int, boxes: FloatArray, *, cut: bool = False) -> list[Track]:
        """Join this frame's face boxes (N, 4) to the open tracks; returns the open tracks."""
        if cut:
            for t in self.tracks:
                t.open = False
        for t in self.tracks:
            if t.open and frame - t.last > self.motion.max_gap:
                t.open = False
        live = [t for t in self.tracks if t.open]
        unmatched = set(range(len(boxes)))
        for ti, bi in _match(live, boxes, frame, self.min_iou):
            live[ti].observe(frame, boxes[bi])
            unmatched.discard(bi)
        for bi in sorted(unmatched):
            track = Track(self._next_id)
            self._next_id += 1
            track.observe(frame, boxes[bi])
            self.tracks.append(track)
        return [t for t in self.tracks if t.open]

    def boxes_at(self, frame: int) -> FloatArray:
        """Every face box (M, 4) to cover in ``frame``: detected, interpolated or extrapolated."""
        found = [b for t in self.tracks if (b := self._box(t, frame)) is not None]
        return np.asarray(found, np.float32).reshape(-1, 4)

    def forget(self, before: int) -> None:
        """Drop what no frame from ``before`` on can need; keeps memory flat on long clips."""
        keep_after = before - max(self.motion.post, self.motion.max_gap)
        kept = []
        for t in self.tracks:
            if t.last < keep_after and not t.open:
                continue
            cut = max(0, bisect_left(t.frames, before) - 1)
            del t.frames[:cut], t.boxes[:cut]
            kept.append(t)
        self.tracks = kept

    def _box(self, t: Track, frame: int) -> FloatArray | None:
        m = self.motion
        i = bisect_left(t.frames, frame)
        if i < len(t.frames) and t.frames[i] == frame:
            return t.boxes[i]
        if 0 < i < len(t.frames):
            # Between two detections: a straight line, widened by the motion between them.
            f0, f1 = t.frames[i - 1], t.frames[i]
            b0, b1 = t.boxes[i - 1], t.boxes[i]
            share = (frame - f0) / (f1 - f0)
            speed = (b1 - b0) / (f1 - f0)
            return _widened(b0 + share * (b1 - b0), speed, t.jitter, min(frame - f0, f1 - frame), m)
        if i == len(t.frames) and frame - t.last <= m.post:
            return _swept(t.boxes[-1], t.velocity, t.jitter, frame - t.last, m)
        if i == 0 and t.frames[0] - frame <= m.pre:
            start = t.start_velocity if t.start_velocity is not None else t.velocity
            return _swept(t.boxes[0], np.negative(start, dtype=np.float32), t.jitter, t.frames[0] - frame, m)
        return None


def _match(tracks: list[Track], boxes: FloatArray, frame: int, min_iou: float) -> list[tuple[int, int]]:
    """Greedy one-to-one matching on overlap with each track's predicted box.

    Small fast faces may not overlap their prediction at all, so a centre within
    half a face size of the prediction also counts, ranked below any overlap.
    """
    if not tracks or not len(boxes):
        return []
    predicted = np.stack([t.predicted(frame) for t in tracks])
    score = iou_matrix(predicted, boxes)
    centres_p = (predicted[:, :2] + predicted[:, 2:]) / 2
    centres_b = (boxes[:, :2] + boxes[:, 2:]) / 2
    size_p = np.sqrt(np.prod(np.clip(predicted[:, 2:] - predicted[:, :2], 1, None), axis=1))
    dist = np.linalg.norm(centres_p[:, None] - centres_b[None], axis=2) / size_p[:, None]
    score = np.where((score < min_iou) & (dist < 0.5), min_iou * (1 - dist), score)
    pairs = []
    used_t: set[int] = set()
    used_b: set[int] = set()
    for flat in np.argsort(-score, axis=None):
        ti, bi = divmod(int(flat), len(boxes))
        if score[ti, bi] < min_iou / 2:
            break
        if ti in used_t or bi in used_b:
            continue
        pairs.append((ti, bi))
        used_t.add(ti)
        used_b.add(bi)
    return pairs


def _widened(
    box: FloatArray, speed: npt.NDArray[np.floating[Any]], jitter: float, distance: int, m: Motion
) -> FloatArray:
    """``box`` grown on every side by its motion per frame, its jitter and the distance to a detection.

    Hand-held shake moves a face by a few pixels every frame whatever its size,
    so the jitter term is in pixels; the distance term is a share of the size.
    """
    size = float(np.sqrt(max(1.0, (box[2] - box[0]) * (box[3] - box[1]))))
    shift = float(np.abs(speed).max())
    pad = m.speed_pad * shift + m.jitter_pad * jitter + min(m.max_grow, m.grow * distance) * size
    return np.asarray(box + np.array([-pad, -pad, pad, pad], np.float32), np.float32)


def _swept(box: FloatArray, velocity: FloatArray, jitter: float, distance: int, m: Motion) -> FloatArray:
    """The area a face may cover ``distance`` frames away at ``velocity``: both ends and between."""
    moved = box + velocity * distance
    hull = np.concatenate([np.minimum(box[:2], moved[:2]), np.maximum(box[2:], moved[2:])])
    return _widened(hull.astype(np.float32), velocity, jitter, distance, m)
