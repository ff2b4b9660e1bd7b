"""The face audit: detectors run on what was written, the same way for `unseen check` and for protect.

`unseen check` knows nothing of plans, so it must tell unseen's own covers
from faces by looking: a detector that sees a face-like pattern where a
cover's noise meets the background is firing on the cover, not on a person.
`Audit.visible` therefore drops a detection when three quarters of its box lie
on pixels that look like cover noise (grey-centred, high-frequency, with
channels that do not move together, which natural textures rarely are; on
the dev photos' outputs 98 % of covered 4x4 blocks and 2 % of others pass
that test), unless one of its landmarks (eyes, nose, mouth corners) lies off
the noise.  A face covered only in part still counts: a box moved a little
low leaves the eyes out of it, and the face's box then lay two thirds on the
cover (from the eye line, 0.70-0.73), which is how `check` called such a
picture clean while the bar was 60 % and had no exception.  A detector firing on
a cover puts its landmarks on the cover: on the 264 dev photos' outputs and a
1080p clip's, no detection lies mostly on a cover at all.

protect's self-check calls the same `Audit.visible` on the decoded output,
so the two commands cannot disagree; what it finds outside a region left
visible by consent is covered in a further pass.
"""

from __future__ import annotations

from collections.abc import Iterator
from types import TracebackType

import numpy as np
import numpy.typing as npt

from ..boxes import overlap_share
from ..datatypes import Detections
from ..detect import FaceFinder, Plan
from ..inorder import InOrder
from ..settings import Settings

# A detection whose box lies at least this much on cover noise is taken for the cover itself (unless a
# landmark lies off it).  0.6 until 2026-12-06: a face covered from the eye line down lies 0.70-0.73
# on its cover, its eyes on the cover's edge, and passed; no detection on the dev photos' outputs
# or the scorer's clip's lies over 0.6 on a cover at all.
ON_COVER = 0.75
NOISE_BLOCK = 4
_LUMA = np.array([299, 587, 114], np.int32)  # BT.601, in thousandths


class Audit:
    """``visible(rgb)``: the faces a viewer of ``rgb`` would see, unseen's own covers left out."""

    def __init__(self, finder: FaceFinder, settings: Settings, plan: Plan) -> None:
        self.finder = finder.with_plan(plan, settings)
        self._loaded, self._plan, self._settings = finder, plan, settings

    def lanes(self, wanted: int) -> tuple[int, Audit]:
        """How many frames at once (at most ``wanted``, at most a core each), and this audit on
        sessions sized for that many callers: each calling thread works beside the session's own
        pool, so the pool is smaller by the extra lanes.  The verdicts are the same: the networks
        give the same bits on any number of threads (checked on the dev photos)."""
        lanes = max(1, min(wanted, self._settings.threads))
        if lanes == 1:
            return 1, self
        share = self._settings.replace(threads=self._settings.threads - lanes + 1)
        return lanes, Audit(self._loaded, share, self._plan)

    def visible(self, rgb: np.ndarray) -> Detections:
        faces = self.finder.find(rgb)
        if not len(faces):
            return faces
        on_cover = noise_share(_pixels(faces), rgb) >= ON_COVER
        for i in np.nonzero(on_cover)[0]:
            on_cover[i] = not features_shown(faces.landmarks[i], rgb)
        return faces.take(~on_cover)


class Beside:
    """The audit of a video's frames in threads of their own, beside the thread that decodes them.

    Alone, the audit's networks kept about one core of two busy while decoding
    waited for them.  With one frame at a time on every core, still about 1.6
    of two: onnxruntime's threads wait for each other at every layer, and
    YuNet held the interpreter while it ran (`detect.yunet`: no longer on
    Linux).  So up to `LANES` frames are
    audited side by side (`Audit.lanes`), as the pass detects (self-checks on
    2 cores: a 42-frame 988 px clip 4.3-4.9 → 4.0-4.2 s, a 14-frame 2560 px
    one 8.4-8.8 → 7.4-7.5 s).
    `put` hands over a frame (at most one more than the lanes wait, each a whole
    RGB frame) and gives back the verdicts that are ready, in frame order, as
    `rest` does at the end: (frame, faces outside the ``kept`` mask, if any).
    Leaving the block early (an error, Ctrl-C) waits for the frames being audited.
    """

    LANES = 2

    def __init__(self, audit: Audit) -> None:
        lanes, self.audit = audit.lanes(self.LANES)
        self.work = InOrder[tuple[int, Detections]](lanes, lanes + 1, "unseen-audit")

    def __enter__(self) -> Beside:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.work.stop()

    def put(
        self, index: int, rgb: np.ndarray, kept: npt.NDArray[np.bool_] | None = None
    ) -> list[tuple[int, Detections]]:
        return self.work.put(self._unkept, index, rgb, kept)

    def rest(self) -> Iterator[tuple[int, Detections]]:
        return self.work.rest()

    def _unkept(
        self, index: int, rgb: np.ndarray, kept: npt.NDArray[np.bool_] | None
    ) -> tuple[int, Detections]:
        faces = self.audit.visible(rgb)
        return index, faces if kept is None else missed(faces, kept)


def missed(faces: Detections, kept: npt.NDArray[np.bool_]) -> Detections:
    """The faces that do not lie (mostly) in a region left visible on purpose."""
    return faces.take(overlap_share(_pixels(faces), kept) < 0.5)


def _pixels(faces: Detections) -> npt.NDArray[np.int64]:
    """The whole pixels each face box touches."""
    xyxy = faces.xyxy
    return np.hstack([np.floor(xyxy[:, :2]), np.ceil(xyxy[:, 2:])]).astype(np.int64)


def noise_share(boxes: npt.NDArray[np.int64], rgb: np.ndarray) -> npt.NDArray[np.float64]:
    """For each whole-pixel box, the share of its pixels that `cover_noise` marks in ``rgb``.

    Each box is judged on a window around it rather than on a mask of the
    whole picture (most of a 2560x1920 frame's audit time went there): the
    window starts on the block grid and reaches a block past the box, so
    every block under the box sees the same pixels and neighbours as in the
    whole picture, and `cover_noise` counts in whole numbers, so it gives
    them the same verdicts.
    """
    b = NOISE_BLOCK
    h, w = rgb.shape[:2]
    share = np.ones(len(boxes))
    for i, (x0, y0, x1, y1) in enumerate(np.clip(boxes, 0, [w, h, w, h]).tolist()):
        if x1 <= x0 or y1 <= y0:
            continue
        wx, wy = x0 // b * b, y0 // b * b
        crop = rgb[wy : min(h, -(-y1 // b) * b + b), wx : min(w, -(-x1 // b) * b + b)]
        share[i] = cover_noise(crop)[y0 - wy : y1 - wy, x0 - wx : x1 - wx].mean()
    return share


def features_shown(landmarks: npt.NDArray[np.float32], rgb: np.ndarray) -> bool:
    """Whether any of a face's (5, 2) landmarks lies off the cover: a third or more of the 3 x 3
    blocks around it not marked by `cover_noise` (one block alone is not enough: an eye's own
    texture passes for noise now and then, and an eye on a cover's edge has the edge's blocks
    below it: with a cover from the eye line down, the upper eyes, brows and forehead show).  Judged on a window, as in `noise_share`; NaN lies nowhere."""
    b = NOISE_BLOCK
    h, w = rgb.shape[:2]
    for x, y in landmarks[np.isfinite(landmarks).all(axis=1)].astype(np.int64).tolist():
        if not (0 <= x < w and 0 <= y < h):
            continue
        x0, y0 = max(0, (x // b - 1) * b), max(0, (y // b - 1) * b)
        x1, y1 = min(w, (x // b + 2) * b), min(h, (y // b + 2) * b)
        around = cover_noise(rgb[y0 : min(h, y1 + b), x0 : min(w, x1 + b)])[: y1 - y0, : x1 - x0]
        if 3 * int(around.sum()) <= 2 * around.size:
            return True
    return False


def cover_noise(rgb: np.ndarray) -> npt.NDArray[np.bool_]:
    """(H, W) mask of the pixels that look like a cover's noise, judged in 4 x 4 blocks.

    In whole numbers (luma in thousandths, block sums against thresholds times
    the block's pixels), so a block's verdict does not depend on where the
    picture it is judged in begins or ends: float sums rounded differently in a
    window than in the whole frame, and a block exactly on a threshold flipped.
    """
    b = NOISE_BLOCK
    h, w = rgb.shape[0] // b * b, rgb.shape[1] // b * b
    mask = np.zeros(rgb.shape[:2], bool)
    if not h or not w:
        return mask
    pixels = rgb[:h, :w, :3].astype(np.int32)
    luma = pixels @ _LUMA  # thousandths of a level
    across = np.abs(np.diff(luma, axis=1, append=luma[:, -1:]))
    down = np.abs(np.diff(luma, axis=0, append=luma[-1:]))
    colour = np.abs(pixels[..., 0] - pixels[..., 1]) + np.abs(pixels[..., 2] - pixels[..., 1])

    def blocks(a: np.ndarray) -> np.ndarray:
        sums: np.ndarray = a.reshape(h // b, b, w // b, b).sum(axis=(1, 3))
        return sums

    n = b * b  # mean > t  <=>  sum > t * n
    grey = blocks(luma)
    noisy = (
        (blocks(across) > 14_000 * n)
        & (blocks(down) > 14_000 * n)
        & (blocks(colour) > 10 * n)
        & (grey > 90_000 * n)
        & (grey < 166_000 * n)
    )
    mask[:h, :w] = noisy.repeat(b, 0).repeat(b, 1)
    return mask


VIDEO_SAMPLES = 16


def audited_frames(total: int) -> set[int]:
    """The frames of a ``total``-frame video that the audit looks at: about 16, first and last included."""
    step = max(1, total // VIDEO_SAMPLES)
    return set(range(0, total, step)) | {max(0, total - 1)}


class StillVisible(Exception):
    """Raised inside a `staged` write so that an output whose audit found faces is never published."""

    def __init__(self, seen: list[tuple[int, Detections]]) -> None:
        super().__init__(f"{len(seen)} frame(s) still show a face")
        self.seen = seen
