"""The pixel checks of every written file: covered boxes really covered, kept boxes really kept.

The cover check compares the decoded output with both what we meant to
write and the original: inside each region the output must be much closer
to the cover than to the face it replaced.  That holds for lossy formats too,
and fails if the cover never reached the file (wrong frame, wrong offset,
an encoder that smoothed it away).
"""

from __future__ import annotations

import cv2
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
    h, w = _same_size(decoded, original, intended)
    # Each region judged on its part in the picture; one with no pixel there (a tracked head's box
    # pushed off the edge) shows nothing.
    boxes = np.clip(np.asarray(regions, np.int64).reshape(-1, 4), 0, [w, h, w, h])
    boxes = boxes[(boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1])]
    if not len(boxes):
        return
    tolerance = 0 if lossless else LOSSY_TOLERANCE
    out, face, cover = (_rgb(a) for a in (decoded, original, intended))
    changed = _box_means(_moved(out, face, tolerance), boxes)
    # Blocks wholly inside each region; a region too small to hold one is judged on its own.
    inner = np.concatenate([-(-boxes[:, :2] // BLOCK), boxes[:, 2:] // BLOCK], axis=1)
    # A block's mean difference is the difference of its sums (the output's summed once), and a
    # region's gap the sum of its blocks' over their count: summed in integers, divided at the end,
    # so a verdict depends on the region's own pixels alone, never on the rounding of the rest.
    sums = block_sums(out, BLOCK, BLOCK)
    cells = BLOCK * BLOCK * out.shape[-1]
    to_cover, to_face = (
        _box_means(np.abs(sums - block_sums(a, BLOCK, BLOCK)).sum(axis=-1), inner) / cells
        for a in (cover, face)
    )
    for small in np.nonzero((inner[:, 2] <= inner[:, 0]) | (inner[:, 3] <= inner[:, 1]))[0]:
        x0, y0, x1, y1 = boxes[small]
        part = out[y0:y1, x0:x1].astype(np.int16)
        to_cover[small] = _gap(part - cover[y0:y1, x0:x1])
        to_face[small] = _gap(part - face[y0:y1, x0:x1])
    failed = np.nonzero((changed < CHANGED_SHARE) | ((to_cover > tolerance) & (to_cover * 2 > to_face)))[0]
    if len(failed):
        i = failed[0]
        x0, y0, x1, y1 = (boxes[i] + (origin * 2)).tolist()
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
    _same_size(decoded, original)
    for x0, y0, x1, y1 in np.asarray(kept, np.int64).reshape(-1, 4).tolist():
        visible = ~covered[y0:y1, x0:x1]
        if not visible.any():
            continue
        box = np.s_[y0:y1, x0:x1, :3]  # only the kept boxes in 16 bits, not the whole picture
        diff = np.abs(decoded[box].astype(np.int16) - original[box])[visible]
        worst = float(diff.max()) if lossless else float(diff.mean())
        if worst > (0 if lossless else LOSSY_TOLERANCE):
            ox, oy = origin
            raise VerificationError(
                f"kept region {x0 + ox},{y0 + oy}-{x1 + ox},{y1 + oy} was changed in the written file "
                f"({worst:.1f} levels off the original)"
            )


BLOCK = 8
# Sums of up to this many bytes fit 16 bits, which add twice as fast as the 32 a wider sum needs.
_NARROW = np.iinfo(np.uint16).max // 255


def block_means(values: np.ndarray, bh: int, bw: int) -> np.ndarray:
    """Mean of each ``bh`` x ``bw`` block of integer (H, W) or (H, W, C) ``values``; partial blocks cut."""
    means: np.ndarray = block_sums(values, bh, bw) / (bh * bw)
    return means


def block_sums(values: np.ndarray, bh: int, bw: int) -> np.ndarray:
    """Sum (int64) of each ``bh`` x ``bw`` block of integer (H, W) or (H, W, C) ``values``; partial
    blocks cut."""
    h, w = values.shape[0] // bh * bh, values.shape[1] // bw * bw
    if values.dtype == np.uint8 and bh * bw <= _NARROW:
        # Bytes in small blocks (the cover check's, three times a sampled frame): the rows of a
        # block added one by one in 16 bits, then its columns, 2.5 times as fast as the sums below.
        rows = values[0:h:bh, :w].astype(np.uint16)
        for i in range(1, bh):
            rows += values[i:h:bh, :w]
        narrow = rows[:, 0:w:bw].copy()
        for j in range(1, bw):
            narrow += rows[:, j:w:bw]
        return narrow.astype(np.int64)
    depth = values.shape[2:]
    cells = int(np.prod(depth, dtype=int))
    # Rows first, then columns: two sums over contiguous memory, much faster than one over axes (1, 3).
    wide = values[:h, :w].reshape(h // bh, bh, w * cells).sum(axis=1, dtype=np.int32)
    sums: np.ndarray = wide.reshape(h // bh, w // bw, bw, *depth).sum(axis=2, dtype=np.int64)
    return sums


def _gap(diff: np.ndarray) -> float:
    """The gap of one region too small for a whole block on the grid: the mean over its own blocks
    (as large as it allows, from its corner, partial ones cut) of each block's |mean difference|,
    averaged over the colours."""
    bh, bw = min(BLOCK, diff.shape[0]), min(BLOCK, diff.shape[1])
    return float(np.abs(block_means(diff, bh, bw)).mean(axis=-1).mean())


def _same_size(decoded: np.ndarray, *meant: np.ndarray) -> tuple[int, int]:
    """The picture's height and width; a written picture of another size than meant fails (its
    regions would otherwise fall outside it, and show nothing)."""
    h, w = decoded.shape[:2]
    for other in meant:
        if other.shape[:2] != (h, w):
            raise VerificationError(f"the written picture is {w}x{h}, not {other.shape[1]}x{other.shape[0]}")
    return h, w


def _rgb(image: np.ndarray) -> np.ndarray:
    """The colour planes of an 8-bit (H, W, 3 or 4) image, contiguous (copied only where they are not)."""
    if image.dtype != np.uint8:
        raise ValueError(f"the cover check takes 8-bit pictures, not {image.dtype}")
    return np.ascontiguousarray(image[..., :3])


def _moved(out: np.ndarray, face: np.ndarray, tolerance: int) -> np.ndarray:
    """Where any colour of ``out`` differs from ``face`` by more than ``tolerance`` (both (H, W, 3) bytes)."""
    apart = cv2.absdiff(out, face)  # |out - face| in bytes: no 16-bit copies of the frames
    most = np.maximum(np.maximum(apart[..., 0], apart[..., 1]), apart[..., 2])
    moved: np.ndarray = most > tolerance
    return moved


def _box_means(values: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """Mean of integer or boolean ``values`` (H, W) inside each box (x0, y0, x1, y1), at least one
    cell wide; the sums are exact."""
    if values.dtype == bool:
        # Counts fit 32 bits (`settings.MOST_PIXELS`); OpenCV makes this table,
        # made for every sampled frame at full size, at a tenth of the time of two cumulative sums.
        table = cv2.integral(values.view(np.uint8), sdepth=cv2.CV_32S)
    else:  # the blocks' gaps: a grid an eighth of the picture each way
        table = np.zeros((values.shape[0] + 1, values.shape[1] + 1), np.int64)
        table[1:, 1:] = np.cumsum(np.cumsum(values, axis=0, dtype=np.int64), axis=1, dtype=np.int64)
    x0, y0 = boxes[:, 0], boxes[:, 1]
    x1 = np.clip(np.maximum(boxes[:, 2], x0 + 1), 0, values.shape[1])
    y1 = np.clip(np.maximum(boxes[:, 3], y0 + 1), 0, values.shape[0])
    x0, y0 = np.minimum(x0, x1 - 1), np.minimum(y0, y1 - 1)
    sums = table[y1, x1] - table[y0, x1] - table[y1, x0] + table[y0, x0]
    means: np.ndarray = sums / ((y1 - y0) * (x1 - x0))
    return means
