"""Box geometry in one place: overlap, suppression, the union of regions, growth from face to head.

Boxes are ``x0, y0, x1, y1`` in pixels (floats while they are estimates,
whole pixels once they are regions to cover).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import numpy.typing as npt

IntBoxes = npt.NDArray[np.int64]


def iou_matrix(a: np.ndarray, b: np.ndarray) -> npt.NDArray[np.float32]:
    """Pairwise intersection over union of two (N, 4) and (M, 4) box arrays."""
    return _iou(np.asarray(a)[:, None, :], np.asarray(b)[None, :, :])


def _iou(a: np.ndarray, b: np.ndarray) -> npt.NDArray[np.float32]:
    """Intersection over union of boxes ``a`` and ``b``, (..., 4) arrays that broadcast together.

    Coordinate by coordinate, in place where it can: reducing (N, M, 2) arrays
    with ``np.prod`` took 13 times as long, and a crowd frame matches hundreds
    of boxes against hundreds of tracks.
    """
    a, b = a.astype(np.float64, copy=False), b.astype(np.float64, copy=False)
    inter = np.minimum(a[..., 2], b[..., 2])
    inter -= np.maximum(a[..., 0], b[..., 0])
    np.maximum(inter, 0, out=inter)
    high = np.minimum(a[..., 3], b[..., 3])
    high -= np.maximum(a[..., 1], b[..., 1])
    np.maximum(high, 0, out=high)
    inter *= high
    union = (a[..., 2] - a[..., 0]) * (a[..., 3] - a[..., 1]) + (b[..., 2] - b[..., 0]) * (
        b[..., 3] - b[..., 1]
    )
    union -= inter
    np.maximum(union, 1e-6, out=union)
    inter /= union
    out: npt.NDArray[np.float32] = inter.astype(np.float32)
    return out


def nms(boxes: np.ndarray, scores: np.ndarray, iou: float) -> npt.NDArray[np.intp]:
    """Indices of the boxes kept, best score first: a box goes when a kept better one overlaps it above ``iou``.

    Only pairs whose spans across overlap are compared (a sweep along x), and
    only those above ``iou`` reach the greedy loop.  Comparing each kept box
    with all the rest cost 50-100 ms on a crowd frame's 800 candidates, as much
    as the network that found them.
    """
    order = np.argsort(-scores, kind="stable")
    ranked = np.asarray(boxes, np.float64)[order]
    first, second = _side_by_side(ranked)
    close = _iou(ranked[first], ranked[second]) > iou
    beaten: dict[int, list[int]] = {}
    for i, j in zip(first[close].tolist(), second[close].tolist(), strict=True):
        better, worse = min(i, j), max(i, j)
        beaten.setdefault(better, []).append(worse)
    gone = [False] * len(ranked)
    keep: list[int] = []
    for i in range(len(ranked)):
        if gone[i]:
            continue
        keep.append(i)
        for j in beaten.get(i, ()):
            gone[j] = True
    return order[np.asarray(keep, np.intp)]


def _side_by_side(boxes: np.ndarray) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.intp]]:
    """Every pair of rows whose x spans overlap, each pair once: the only pairs that can overlap at all."""
    by_x = np.argsort(boxes[:, 0], kind="stable")
    ends = np.searchsorted(boxes[by_x, 0], boxes[by_x, 2], side="left")
    counts = np.maximum(ends - np.arange(1, len(boxes) + 1), 0)
    first = np.repeat(np.arange(len(boxes)), counts)
    second = first + 1 + np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
    return by_x[first], by_x[second]


def union_mask(boxes: npt.ArrayLike, shape: tuple[int, ...]) -> npt.NDArray[np.bool_]:
    """True on every pixel of an (H, W) ``shape`` that lies in one of the whole-pixel ``boxes``."""
    mask = np.zeros(shape[:2], bool)
    for x0, y0, x1, y1 in np.asarray(boxes, np.int64).reshape(-1, 4).tolist():
        mask[max(0, y0) : max(0, y1), max(0, x0) : max(0, x1)] = True
    return mask


def overlap_share(boxes: npt.ArrayLike, mask: npt.NDArray[np.bool_]) -> npt.NDArray[np.float64]:
    """For each whole-pixel box, the share of its pixels that ``mask`` holds (1.0 for an empty box).

    Box by box, on the box's own pixels: the audit asks this of every frame it
    looks at, mostly with no box at all, and a summed-area table of the whole
    mask took 0.1 s a time at 2560x1920.
    """
    b = np.asarray(boxes, np.int64).reshape(-1, 4)
    h, w = mask.shape[:2]
    share = np.ones(len(b))
    for i, (x0, y0, x1, y1) in enumerate(np.clip(b, 0, [w, h, w, h]).tolist()):
        if x1 > x0 and y1 > y0:
            share[i] = mask[y0:y1, x0:x1].mean()
    return share


def covered_share(boxes: npt.ArrayLike, covers: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """For each whole-pixel box, the share of its pixels inside the union of ``covers`` (1.0 for an
    empty box).  Works box by box, on the box's own pixels: a video asks this every frame, and a
    mask of the whole frame (`overlap_share`) cost 20 ms a time at 720p."""
    b = np.asarray(boxes, np.int64).reshape(-1, 4)
    c = np.asarray(covers, np.int64).reshape(-1, 4)
    share = np.ones(len(b))
    for i, (x0, y0, x1, y1) in enumerate(b.tolist()):
        if x1 <= x0 or y1 <= y0:
            continue
        near = c[(c[:, 0] < x1) & (c[:, 2] > x0) & (c[:, 1] < y1) & (c[:, 3] > y0)]
        size = [x1 - x0, y1 - y0, x1 - x0, y1 - y0]
        local = np.clip(near - [x0, y0, x0, y0], 0, size)
        share[i] = union_mask(local, (y1 - y0, x1 - x0)).mean()
    return share


@dataclass(frozen=True)
class HeadGeometry:
    """How far a tight face box grows to cover the head, as shares of the box size.

    Detector boxes run from brow to chin; hair, ears and the top of the head
    lie above and beside them, so the growth is biased upwards.  ``margin`` adds
    whole pixels, because a one-pixel misplacement of a 10 px box already
    uncovers a tenth of the face.  The defaults were measured on dev.jsonl
    (see docs/tuning.md).
    """

    side: float = 0.25
    top: float = 0.40
    bottom: float = 0.20
    margin: float = 2.0

    def seen_at(self, scale: float) -> HeadGeometry:
        """The same growth for boxes a detector found in a picture shrunk by ``scale``: the margin
        is in the detector's pixels, one of which is ``1 / scale`` of the picture's."""
        return replace(self, margin=self.margin / min(1.0, scale))


def grow_heads(
    faces: np.ndarray,
    width: int,
    height: int,
    geometry: HeadGeometry = HeadGeometry(),
    landmarks: np.ndarray | None = None,
) -> IntBoxes:
    """Face boxes (N, 4) grown into whole-pixel head boxes, clipped to the image.

    With the faces' (N, 5, 2) ``landmarks``, a turned face's head also grows on the side away
    from its nose, by as much as the nose lies off the box's centre (at most half the box): the
    box follows the face, while the ear and the back of the head lie behind it.  On the 264 dev
    photos that protected 8 faces more (0.9676 → 0.9695) for 3 % more area (4.81 → 4.95);
    on a clip, an ear 30-56 px beside a face turned to 0.43 was what the audit found
    (docs/video.md).  Landmarks that are not known (NaN) leave the box as the geometry grows it.
    """
    g = geometry
    boxes = np.asarray(faces, np.float64).reshape(-1, 4)
    w, h = (boxes[:, 2] - boxes[:, 0])[:, None], (boxes[:, 3] - boxes[:, 1])[:, None]
    grown = boxes + np.hstack([-g.side * w, -g.top * h, g.side * w, g.bottom * h])
    grown += np.array([-g.margin, -g.margin, g.margin, g.margin])
    if landmarks is not None and len(boxes):
        nose = np.asarray(landmarks, np.float64).reshape(-1, 5, 2)[:, 2, 0]
        with np.errstate(invalid="ignore", divide="ignore"):
            turn = np.nan_to_num(np.clip((nose - (boxes[:, 0] + boxes[:, 2]) / 2) / w[:, 0], -0.5, 0.5))
        grown[:, 0] -= np.clip(turn, 0, None) * w[:, 0]
        grown[:, 2] += np.clip(-turn, 0, None) * w[:, 0]
    return outward(grown, width, height)


def outward(boxes: np.ndarray, width: int, height: int) -> IntBoxes:
    """Float boxes rounded outwards to whole pixels (never a pixel less), clipped to the image."""
    return clip_boxes(np.hstack([np.floor(boxes[:, :2]), np.ceil(boxes[:, 2:])]), width, height)


def clip_boxes(boxes: npt.ArrayLike, width: int, height: int) -> IntBoxes:
    """Whole-pixel boxes clipped to a ``width`` x ``height`` image."""
    b = np.asarray(boxes, np.float64).reshape(-1, 4)
    clipped: IntBoxes = np.clip(b, 0, [width, height, width, height]).astype(np.int64)
    return clipped


def areas(boxes: IntBoxes) -> npt.NDArray[np.int64]:
    wh = np.clip(boxes[:, 2:] - boxes[:, :2], 0, None)
    out: npt.NDArray[np.int64] = wh[:, 0] * wh[:, 1]
    return out


@dataclass(frozen=True)
class PersonHead:
    """Where to cover a head in a person box, as shares of the box.

    Measured on dev.jsonl (docs/targets.md): of 1,843 faces at least 12 px
    that fall in the top of a person box, the head (the face grown as
    `HeadGeometry` grows it) is a median 0.36 of the box width, but its
    centre strays up to 0.3 box widths either side (arms, bags, a neighbour
    in the same box) and its top lies from half a head above the box top to
    half a head below.  A band across the top of the box, 0.8 of its width
    and as tall as wide, starting a fifth of that above the box, covers at
    least 70 % of 62 % of those heads, at 2.9 times a head's area.
    """

    width: float = 0.8
    height: float = 1.0  # the head's height in head widths
    top: float = -0.2  # the head's top edge below the box top, in head heights (negative: above)
    tallest: float = 0.45  # a head never covers more of the box height than this


def person_heads(persons: np.ndarray, width: int, height: int, g: PersonHead = PersonHead()) -> IntBoxes:
    """Person boxes (N, 4) turned into whole-pixel head boxes, clipped to the image."""
    b = np.asarray(persons, np.float64).reshape(-1, 4)
    pw, ph = b[:, 2] - b[:, 0], b[:, 3] - b[:, 1]
    hw = np.minimum(g.width * pw, g.tallest * ph / g.height)
    hh = hw * g.height
    cx = (b[:, 0] + b[:, 2]) / 2
    y0 = b[:, 1] + g.top * hh
    heads = np.stack([cx - hw / 2, y0, cx + hw / 2, y0 + hh], axis=1)
    return outward(heads, width, height)


def grown(boxes: np.ndarray, share: float, width: int, height: int) -> IntBoxes:
    """Boxes grown by ``share`` of their size on every side, whole pixels, clipped."""
    b = np.asarray(boxes, np.float64).reshape(-1, 4)
    pad = np.tile((b[:, 2:] - b[:, :2]) * share, 2) * np.array([-1, -1, 1, 1])
    out = b + pad
    return outward(out, width, height)
