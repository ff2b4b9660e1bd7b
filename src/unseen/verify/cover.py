"""The pixel checks of every written file: covered boxes really covered, kept boxes really kept.

The cover check compares the decoded output with both what we meant to
write and the original: inside each region the output must be much closer
to the cover than to the face it replaced.  That holds for lossy formats too,
and fails if the cover never reached the file (wrong frame, wrong offset,
an encoder that smoothed it away).
"""

from __future__ import annotations

import numpy as np

from ..boxes import IntBoxes
from ..errors import VerificationError

# A region passes when at least this share of its pixels differ from the original.
CHANGED_SHARE = 0.9
# Lossy codecs move every pixel a little; a "changed" pixel must move by more than this.
LOSSY_TOLERANCE = 6


def check_covered(
    decoded: np.ndarray,
    original: np.ndarray,
    intended: np.ndarray,
    regions: IntBoxes,
    *,
    lossless: bool,
    origin: tuple[int, int] = (0, 0),
) -> None:
    """Raise unless every box (N, 4) of ``decoded`` is changed from ``original`` and close to ``intended``.

    The images may be a window of a frame whose corner lies at ``origin``; messages give frame pixels.

    Lossy codecs drop the cover's pixel noise, so the second test compares 8-pixel
    block means: they keep the cover's tone and still tell it apart from the face
    it replaced.  The work is done once per frame with summed-area tables, so a
    crowd of hundreds of overlapping regions costs no more than one.
    """
    if not len(regions):
        return
    tolerance = 0 if lossless else LOSSY_TOLERANCE
    out = decoded[..., :3].astype(np.int16)
    face = original[..., :3].astype(np.int16)
    cover = intended[..., :3].astype(np.int16)
    boxes = np.asarray(regions, np.int64).reshape(-1, 4)
    moved = np.abs(out - face) > tolerance
    changed = _box_means(moved[..., 0] | moved[..., 1] | moved[..., 2], boxes)
    # Blocks wholly inside each region; a region too small to hold one is judged on its own.
    inner = np.concatenate([-(-boxes[:, :2] // BLOCK), boxes[:, 2:] // BLOCK], axis=1)
    to_cover = _box_means(_block_gap(out - cover), inner)
    to_face = _box_means(_block_gap(out - face), inner)
    for small in np.nonzero((inner[:, 2] <= inner[:, 0]) | (inner[:, 3] <= inner[:, 1]))[0]:
        x0, y0, x1, y1 = boxes[small]
        to_cover[small] = _gap(out[y0:y1, x0:x1] - cover[y0:y1, x0:x1])
        to_face[small] = _gap(out[y0:y1, x0:x1] - face[y0:y1, x0:x1])
    for i, (x0, y0, x1, y1) in enumerate((boxes + (origin * 2)).tolist()):
        if changed[i] < CHANGED_SHARE or (to_cover[i] > tolerance and to_cover[i] * 2 > to_face[i]):
            raise VerificationError(
                f"region {x0},{y0}-{x1},{y1} is not covered in the written file "
                f"({changed[i]:.0%} of pixels changed; {to_cover[i]:.0f} levels off the cover, "
                f"{to_face[i]:.0f} off the face)"
            )


def check_kept(
    decoded: np.ndarray,
    original: np.ndarray,
    kept: IntBoxes,
    covered: np.ndarray,
    *,
    lossless: bool,
    origin: tuple[int, int] = (0, 0),
) -> None:
    """Raise unless every kept box of ``decoded`` still shows ``original`` where no cover overlaps it.

    ``covered`` is the (H, W) mask of covered pixels: where a kept box meets a
    covered one, cover wins.  Lossless output must match bit for bit; lossy
    output may move block means by no more than a codec does.  ``origin``: as
    for `check_covered`.
    """
    out = decoded[..., :3].astype(np.int16)
    face = original[..., :3].astype(np.int16)
    for x0, y0, x1, y1 in np.asarray(kept, np.int64).reshape(-1, 4).tolist():
        visible = ~covered[y0:y1, x0:x1]
        if not visible.any():
            continue
        diff = np.abs(out[y0:y1, x0:x1] - face[y0:y1, x0:x1])[visible]
        worst = float(diff.max()) if lossless else float(diff.mean())
        if worst > (0 if lossless else LOSSY_TOLERANCE):
            ox, oy = origin
            raise VerificationError(
                f"kept region {x0 + ox},{y0 + oy}-{x1 + ox},{y1 + oy} was changed in the written file "
                f"({worst:.1f} levels off the original)"
            )


BLOCK = 8


def block_means(values: np.ndarray, bh: int, bw: int) -> np.ndarray:
    """Mean of each ``bh`` x ``bw`` block of integer (H, W) or (H, W, C) ``values``; partial blocks cut."""
    h, w = values.shape[0] // bh * bh, values.shape[1] // bw * bw
    depth = values.shape[2:]
    cells = int(np.prod(depth, dtype=int))
    # Rows first, then columns: two sums over contiguous memory, much faster than one over axes (1, 3).
    rows = values[:h, :w].reshape(h // bh, bh, w * cells).sum(axis=1, dtype=np.int32)
    means: np.ndarray = rows.reshape(h // bh, w // bw, bw, *depth).sum(axis=2) / (bh * bw)
    return means


def _block_gap(diff: np.ndarray, bh: int = BLOCK, bw: int = BLOCK) -> np.ndarray:
    """|mean difference| of each ``bh`` x ``bw`` block of the grid (partial blocks at the edges cut)."""
    gap: np.ndarray = np.abs(block_means(diff, bh, bw)).mean(axis=-1)
    return gap


def _gap(diff: np.ndarray) -> float:
    """`_block_gap` for one small region, with blocks as large as it allows, aligned to its corner."""
    return float(_block_gap(diff, min(BLOCK, diff.shape[0]), min(BLOCK, diff.shape[1])).mean())


def _box_means(values: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """Mean of ``values`` (H, W) inside each box (x0, y0, x1, y1), at least one cell wide."""
    # A mask's counts fit 32-bit integers (pixels are capped well below 2**31), which sum four
    # times as fast as floats: this table is made for every sampled frame at full size.
    kind = np.int32 if values.dtype == bool else np.float64
    table = np.zeros((values.shape[0] + 1, values.shape[1] + 1), kind)
    table[1:, 1:] = np.cumsum(np.cumsum(values, axis=0, dtype=kind), axis=1, dtype=kind)
    x0, y0 = boxes[:, 0], boxes[:, 1]
    x1 = np.clip(np.maximum(boxes[:, 2], x0 + 1), 0, values.shape[1])
    y1 = np.clip(np.maximum(boxes[:, 3], y0 + 1), 0, values.shape[0])
    x0, y0 = np.minimum(x0, x1 - 1), np.minimum(y0, y1 - 1)
    sums = table[y1, x1] - table[y0, x1] - table[y1, x0] + table[y0, x0]
    means: np.ndarray = sums / ((y1 - y0) * (x1 - x0))
    return means
