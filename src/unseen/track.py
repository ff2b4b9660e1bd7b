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

import numpy as np

from .boxes import iou_matrix
from .datatypes import Detections, FloatArray

ESTIMATE = "track"  # the source of a box the tracker worked out rather than a detector found


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
    score: float = 0.0  # the best detection's
    source: str = ""  # the detector pass of the best detection

    @property
    def last(self) -> int:
        return self.frames[-1]

    def predicted(self, frame: int) -> FloatArray:
        return self.boxes[-1] + self.velocity * (frame - self.last)

    def observe(self, frame: int, box: FloatArray, score: float = 0.0, source: str = "") -> None:
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
        if score >= self.score or not self.source:
            self.score, self.source = score, source


class Tracker:
    """``update(frame, boxes)`` once per detected frame; ``boxes_at(frame)`` for covering."""

    def __init__(self, motion: Motion = Motion(), min_iou: float = 0.1) -> None:
        self.motion = motion
        self.min_iou = min_iou
        self.tracks: list[Track] = []
        self._next_id = 0

    @property
    def begun(self) -> int:
        """How many tracks were begun: the ids given so far are 0 to this less one."""
        return self._next_id

    def update(self, frame: int, found: Detections, *, cut: bool = False) -> Detections:
        """Join this frame's detections to the open tracks; returns them with their track ids."""
        if cut:
            for t in self.tracks:
                t.open = False
        for t in self.tracks:
            if t.open and frame - t.last > self.motion.max_gap:
                t.open = False
        live = [t for t in self.tracks if t.open]
        boxes = found.xyxy
        ids = np.full(len(found), -1, np.int64)
        for ti, bi in _match(live, boxes, frame, self.min_iou):
            live[ti].observe(frame, boxes[bi], float(found.scores[bi]), found.sources[bi])
            ids[bi] = live[ti].id
        for bi in np.nonzero(ids < 0)[0].tolist():
            track = Track(self._next_id)
            self._next_id += 1
            track.observe(frame, boxes[bi], float(found.scores[bi]), found.sources[bi])
            self.tracks.append(track)
            ids[bi] = track.id
        return Detections(found.xyxy, found.scores, found.landmarks, found.sources, ids)

    def boxes_at(self, frame: int) -> Detections:
        """Every face to cover in ``frame``: detected, interpolated or extrapolated.

        Each row carries its track's id and best score; a detection keeps its
        detector's name as source, a worked-out box has source ``"track"``.

        A crowd keeps a thousand tracks alive, so each track only says where its
        estimate starts and how it moves (`_Estimates`), and the boxes are then
        worked out for all tracks at once.
        """
        estimates = _Estimates()
        for t in self.tracks:
            estimates.add(t, frame, self.motion)
        return estimates.detections(self.motion)

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
    # Per coordinate, not np.linalg.norm over an (N, M, 2) array: a crowd has ~1000 x 700 pairs.
    dist = np.hypot(
        centres_p[:, 0, None] - centres_b[None, :, 0], centres_p[:, 1, None] - centres_b[None, :, 1]
    )
    dist /= size_p[:, None]
    score = np.where((score < min_iou) & (dist < 0.5), min_iou * (1 - dist), score)
    pairs = []
    used_t: set[int] = set()
    used_b: set[int] = set()
    # Only pairs that could match are sorted: a crowd gives a million, of which a few hundred count.
    candidates_t, candidates_b = np.nonzero(score >= min_iou / 2)
    order = np.argsort(-score[candidates_t, candidates_b], kind="stable")
    for ti, bi in zip(candidates_t[order].tolist(), candidates_b[order].tolist(), strict=True):
        if ti in used_t or bi in used_b:
            continue
        pairs.append((ti, bi))
        used_t.add(ti)
        used_b.add(bi)
    return pairs


class _Estimates:
    """Where each track's face is in one frame, gathered as rows before the arithmetic.

    Every estimate is a box ``start`` moved ``steps`` frames at ``velocity``:
    on the line between two detections that is the box itself; beyond a
    track's ends it is the whole area swept on the way (``swept``).  Estimates
    that are not detections grow on every side by the face's speed and jitter
    and by the distance to the nearest detection, because guessing a position
    wrong by a few pixels uncovers part of a face.  Hand-held shake moves a
    face by a few pixels every frame whatever its size, so the jitter term is
    in pixels; the distance term is a share of the size.
    """

    def __init__(self) -> None:
        self.tracks: list[Track] = []
        self.start: list[FloatArray] = []
        self.velocity: list[FloatArray] = []
        self.steps: list[float] = []
        self.swept: list[bool] = []
        self.distance: list[float] = []
        self.jitter: list[float] = []

    def add(self, t: Track, frame: int, m: Motion) -> None:
        i = bisect_left(t.frames, frame)
        if i < len(t.frames) and t.frames[i] == frame:
            self._row(t, t.boxes[i], _STILL, 0, False, 0, 0.0)
        elif 0 < i < len(t.frames):
            f0, f1 = t.frames[i - 1], t.frames[i]
            velocity = (t.boxes[i] - t.boxes[i - 1]) / np.float32(f1 - f0)
            self._row(t, t.boxes[i - 1], velocity, frame - f0, False, min(frame - f0, f1 - frame), t.jitter)
        elif i == len(t.frames) and frame - t.last <= m.post:
            self._row(t, t.boxes[-1], t.velocity, frame - t.last, True, frame - t.last, t.jitter)
        elif i == 0 and t.frames[0] - frame <= m.pre:
            start = t.start_velocity if t.start_velocity is not None else t.velocity
            d = t.frames[0] - frame
            self._row(t, t.boxes[0], np.negative(start, dtype=np.float32), d, True, d, t.jitter)

    def _row(
        self,
        track: Track,
        start: FloatArray,
        velocity: FloatArray,
        steps: int,
        swept: bool,
        distance: int,
        jitter: float,
    ) -> None:
        self.tracks.append(track)
        self.start.append(start)
        self.velocity.append(velocity)
        self.steps.append(steps)
        self.swept.append(swept)
        self.distance.append(distance)
        self.jitter.append(jitter)

    def detections(self, m: Motion) -> Detections:
        boxes = self.boxes(m)
        scores = np.asarray([t.score for t in self.tracks], np.float32)
        sources = tuple(
            t.source if d == 0 else ESTIMATE for t, d in zip(self.tracks, self.distance, strict=True)
        )
        ids = np.asarray([t.id for t in self.tracks], np.int64)
        return Detections(boxes, scores, np.full((len(boxes), 5, 2), np.nan, np.float32), sources, ids)

    def boxes(self, m: Motion) -> FloatArray:
        if not self.start:
            return np.zeros((0, 4), np.float32)
        start, velocity = np.stack(self.start), np.stack(self.velocity)
        distance = np.asarray(self.distance, np.float32)
        moved = start + velocity * np.asarray(self.steps, np.float32)[:, None]
        hull = np.concatenate([np.minimum(start, moved)[:, :2], np.maximum(start, moved)[:, 2:]], axis=1)
        box = np.where(np.asarray(self.swept)[:, None], hull, moved)
        size = np.sqrt(np.maximum(1.0, (box[:, 2] - box[:, 0]) * (box[:, 3] - box[:, 1])))
        pad = (
            m.speed_pad * np.abs(velocity).max(axis=1)
            + m.jitter_pad * np.asarray(self.jitter, np.float32)
            + np.minimum(m.max_grow, m.grow * distance) * size
        )
        pad = np.where(distance > 0, pad, 0.0)  # a detection is used as found
        out: FloatArray = (box + pad[:, None] * np.array([-1, -1, 1, 1], np.float32)).astype(np.float32)
        return out


_STILL = np.zeros(4, np.float32)
