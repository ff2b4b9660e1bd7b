"""Carry a box a person set on one frame of a video to the frames before and after it.

The patch of picture under the box is looked for in the next frame, in a
small window around where it was (normalised cross-correlation on small grey
copies of the frames), and so on frame by frame in both directions.  It
follows an area of the picture, whatever that shows; it never compares faces
or tells people apart.  It stops where the patch is lost (a cut, something
passing in front), at either end of the clip, or where the caller says the
box has rejoined what it was correcting.  The box keeps its size, and grows
by the grey copies' pixel size so rounding never uncovers an edge.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from ..plan import Box

MIN_SCORE = 0.5  # a weaker best match means the patch is lost
MAX_TEMPLATE = 24  # template side, in sampled pixels: bigger boxes are sampled more sparsely
Stop = Callable[[int, Box], bool]


@dataclass(frozen=True)
class GreyFrames:
    """Every frame of a clip as small grey pictures: ``frames[n]`` is frame n, ``scale`` their size
    over the picture's."""

    frames: npt.NDArray[np.uint8]  # (N, h, w); a memory map in the review's private folder
    scale: float
    width: int  # the picture's size
    height: int


def follow(clip: GreyFrames, start: int, box: Box, stop: Stop | None = None) -> dict[int, Box]:
    """``box`` on frame ``start`` and where its patch went, frame by frame, both ways."""
    found = {start: box}
    for step in (1, -1):
        found.update(_one_way(clip, start, box, step, stop))
    return found


def _one_way(clip: GreyFrames, start: int, box: Box, step: int, stop: Stop | None) -> dict[int, Box]:
    s = clip.scale
    x0, y0 = box[0] * s, box[1] * s
    tw, th = max(2, round((box[2] - box[0]) * s)), max(2, round((box[3] - box[1]) * s))
    sparse = max(1, math.ceil(max(tw, th) / MAX_TEMPLATE))
    pad = math.ceil(sparse / s) + 1
    reach = max(3, round(0.5 * max(tw, th)))
    x, y = round(x0), round(y0)
    template = _patch(clip.frames[start], x, y, tw, th, sparse)
    out: dict[int, Box] = {}
    frame = start + step
    while template is not None and 0 <= frame < len(clip.frames):
        picture = clip.frames[frame]
        moved = _match(picture, template, x, y, tw, th, reach, sparse)
        if moved is None:
            break
        x, y = moved
        carried = (
            max(0, math.floor(x / s) - pad),
            max(0, math.floor(y / s) - pad),
            min(clip.width, math.ceil((x + tw) / s) + pad),
            min(clip.height, math.ceil((y + th) / s) + pad),
        )
        if carried[2] - carried[0] < 2 or carried[3] - carried[1] < 2:
            break
        if stop is not None and stop(frame, carried):
            break
        out[frame] = carried
        template = _patch(picture, x, y, tw, th, sparse)
        frame += step
    return out


def _patch(picture: np.ndarray, x: int, y: int, w: int, h: int, sparse: int) -> np.ndarray | None:
    if x < 0 or y < 0 or x + w > picture.shape[1] or y + h > picture.shape[0]:
        return None
    patch = picture[y : y + h : sparse, x : x + w : sparse].astype(np.float32)
    patch -= patch.mean()
    norm = float(np.sqrt((patch * patch).sum()))
    return patch / norm if norm > 1e-3 else None  # a flat patch has nothing to follow


def _match(
    picture: np.ndarray, template: np.ndarray, x: int, y: int, w: int, h: int, reach: int, sparse: int
) -> tuple[int, int] | None:
    """Where the template's patch sits now: the best-correlated position within ``reach``."""
    ax0, ay0 = max(0, x - reach), max(0, y - reach)
    ax1, ay1 = min(picture.shape[1], x + w + reach), min(picture.shape[0], y + h + reach)
    area = picture[ay0:ay1, ax0:ax1].astype(np.float32)
    th, tw = template.shape
    span_y, span_x = (th - 1) * sparse + 1, (tw - 1) * sparse + 1
    if area.shape[0] < span_y or area.shape[1] < span_x:
        return None
    windows = np.lib.stride_tricks.sliding_window_view(area, (span_y, span_x))[:, :, ::sparse, ::sparse]
    n = th * tw
    sums = windows.sum(axis=(2, 3))
    squares = np.einsum("ijkl,ijkl->ij", windows, windows)
    spread = np.sqrt(np.maximum(squares - sums * sums / n, 1e-6))
    score = np.einsum("ijkl,kl->ij", windows, template) / spread
    best = np.unravel_index(int(np.argmax(score)), score.shape)
    if float(score[best]) < MIN_SCORE:
        return None
    return ax0 + int(best[1]), ay0 + int(best[0])
