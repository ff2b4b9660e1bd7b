"""Turn face boxes into head regions and cover them so nothing can be recovered.

Every style replaces the pixels rather than filtering them in place: even the
weaker ``pixelate`` and ``blur`` styles keep very little of the face (a few
cells, or a blur as wide as half the head) and then add fresh random noise, so
that deblurring or "unmosaic" models have no exact signal to invert.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from .settings import Style
from .types import Detections, Region

U8Image = npt.NDArray[np.uint8]


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


def head_regions(
    faces: Detections,
    width: int,
    height: int,
    geometry: HeadGeometry = HeadGeometry(),
    extra_boxes: tuple[tuple[int, int, int, int], ...] = (),
) -> list[Region]:
    """Grow each face box into the head region to cover, plus manual x,y,w,h boxes."""
    g = geometry
    boxes = faces.xyxy.astype(np.float64)
    w, h = (boxes[:, 2] - boxes[:, 0])[:, None], (boxes[:, 3] - boxes[:, 1])[:, None]
    grown = boxes + np.hstack([-g.side * w, -g.top * h, g.side * w, g.bottom * h])
    grown += np.array([-g.margin, -g.margin, g.margin, g.margin])
    manual = np.array([(x, y, x + bw, y + bh) for x, y, bw, bh in extra_boxes], np.float64).reshape(-1, 4)
    limits = [width, height, width, height]
    edges = np.clip(np.hstack([np.floor(grown[:, :2]), np.ceil(grown[:, 2:])]), 0, limits).astype(int)
    manual_edges = np.clip(manual, 0, limits).astype(int)
    regions = [Region(x0, y0, x1, y1, "face") for x0, y0, x1, y1 in edges.tolist()]
    regions += [Region(x0, y0, x1, y1, "manual") for x0, y0, x1, y1 in manual_edges.tolist()]
    return [r for r in regions if r.area > 0]


def cover(image: U8Image, regions: list[Region], style: Style, rng: np.random.Generator) -> U8Image:
    """A copy of ``image`` (H, W, C uint8) with every region replaced."""
    out = image.copy()
    if style == "fill":
        # One pass over the union of all regions: a crowd's heads overlap, and covering
        # hundreds of them one by one would redo the same pixels many times.
        mask = union_mask(regions, image.shape[:2])
        pixels = out[mask]
        out[mask] = _unlike(fill_noise(pixels.shape, rng), pixels)
        return out
    for r in regions:
        patch = out[r.y0 : r.y1, r.x0 : r.x1]
        if patch.size == 0:
            continue
        base = (
            _cells(patch.astype(np.float32), cells=4)
            if style == "pixelate"
            else _wide_blur(patch.astype(np.float32))
        )
        noise = rng.standard_normal(base.shape, dtype=np.float32) * np.float32(24.0)
        out[r.y0 : r.y1, r.x0 : r.x1] = _unlike(np.clip(base + noise, 0, 255).astype(np.uint8), patch)
    return out


def union_mask(regions: list[Region], shape: tuple[int, ...]) -> npt.NDArray[np.bool_]:
    """True on every pixel of an (H, W) ``shape`` that lies in some region."""
    mask = np.zeros(shape[:2], bool)
    for r in regions:
        mask[r.y0 : r.y1, r.x0 : r.x1] = True
    return mask


def _unlike(filled: U8Image, original: U8Image) -> U8Image:
    """``filled`` as opaque pixels of which none equals ``original``'s."""
    # A pixel the fill happens to leave equal to the original would stay a
    # sample of the face; nudge such pixels so every one is replaced.
    filled[_same_pixels(filled, original)] ^= np.uint8(0x40)
    if filled.shape[-1] == 4:
        filled[..., 3] = 255  # a transparent face region would show what lies under it
    return filled


def fill_noise(shape: tuple[int, ...], rng: np.random.Generator) -> U8Image:
    """The ``fill`` style's noise: uniform grey levels 64..191 (mean 128, sd 37) per channel.

    Drawn as bytes, four times faster than Gaussian floats, which matters when
    a crowd covers half of every video frame.
    """
    return rng.integers(64, 192, shape, dtype=np.uint8)


def _same_pixels(a: U8Image, b: U8Image) -> npt.NDArray[np.bool_]:
    """Where every channel of ``a`` equals ``b``'s; channel by channel, which beats ``all(axis=-1)``."""
    equal = a == b
    same: npt.NDArray[np.bool_] = equal[..., 0].copy()
    for channel in range(1, a.shape[-1]):
        same &= equal[..., channel]
    return same


def _cells(patch: npt.NDArray[np.float32], cells: int) -> npt.NDArray[np.float32]:
    """A mosaic of at most ``cells`` cells across the shorter side, computed from the patch mean."""
    h, w = patch.shape[:2]
    step = max(1, min(h, w) // cells)
    out = np.empty_like(patch)
    for y in range(0, h, step):
        for x in range(0, w, step):
            out[y : y + step, x : x + step] = patch[y : y + step, x : x + step].mean(axis=(0, 1))
    return out


def _wide_blur(patch: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    """A box blur as wide as half the patch, run three times (close to a Gaussian)."""
    h, w = patch.shape[:2]
    out = patch
    for axis, size in ((0, h), (1, w)):
        k = max(3, size // 2) | 1
        for _ in range(3):
            pad = [(0, 0)] * out.ndim
            pad[axis] = (k // 2, k // 2)
            padded = np.pad(out, pad, mode="edge")
            csum = np.cumsum(padded, axis=axis, dtype=np.float64)
            csum = np.concatenate([np.zeros_like(np.take(csum, [0], axis=axis)), csum], axis=axis)
            hi = np.take(csum, np.arange(k, k + out.shape[axis]), axis=axis)
            lo = np.take(csum, np.arange(0, out.shape[axis]), axis=axis)
            out = ((hi - lo) / k).astype(np.float32)
    return out
