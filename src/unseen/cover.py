"""Cover regions so that nothing of what was there can be recovered; styles are chosen by name.

Every style replaces the pixels rather than filtering them in place: even the
weaker ``pixelate`` and ``blur`` styles keep very little of the face (a few
cells, or a blur as wide as half the head) and then add fresh random noise, so
that deblurring or "unmosaic" models have no exact signal to invert.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import numpy.typing as npt

from .boxes import IntBoxes, union_mask
from .registry import Registry

U8Image = npt.NDArray[np.uint8]


CoverStyle = Callable[[U8Image, IntBoxes, np.random.Generator], None]
STYLES: Registry[CoverStyle] = Registry("cover style")


def cover(image: U8Image, boxes: IntBoxes, style: str, rng: np.random.Generator) -> U8Image:
    """A copy of ``image`` (H, W, C uint8) with every whole-pixel box (N, 4) replaced in ``style``."""
    paint = STYLES.get(style)
    out = image.copy()
    if len(boxes):
        paint(out, boxes, rng)
    return out


@STYLES.register("fill")
def _fill(out: U8Image, boxes: IntBoxes, rng: np.random.Generator) -> None:
    # One pass over the union of all boxes: a crowd's heads overlap, and covering
    # hundreds of them one by one would redo the same pixels many times.
    mask = union_mask(boxes, out.shape[:2])
    pixels = out[mask]
    out[mask] = _unlike(fill_noise(pixels.shape, rng), pixels)


@STYLES.register("pixelate")
def _pixelate(out: U8Image, boxes: IntBoxes, rng: np.random.Generator) -> None:
    _filtered(out, boxes, rng, lambda patch: _cells(patch, cells=4))


@STYLES.register("blur")
def _blur(out: U8Image, boxes: IntBoxes, rng: np.random.Generator) -> None:
    _filtered(out, boxes, rng, _wide_blur)


def _filtered(
    out: U8Image,
    boxes: IntBoxes,
    rng: np.random.Generator,
    keep_little: Callable[[npt.NDArray[np.float32]], npt.NDArray[np.float32]],
) -> None:
    """Replace each box by what ``keep_little`` leaves of it, plus fresh noise."""
    for x0, y0, x1, y1 in boxes.tolist():
        patch = out[y0:y1, x0:x1]
        if patch.size == 0:
            continue
        base = keep_little(patch.astype(np.float32))
        noise = rng.standard_normal(base.shape, dtype=np.float32) * np.float32(24.0)
        out[y0:y1, x0:x1] = _unlike(np.clip(base + noise, 0, 255).astype(np.uint8), patch)


def _unlike(filled: U8Image, original: U8Image) -> U8Image:
    """``filled`` as opaque pixels of which none equals ``original``'s."""
    # A pixel the fill happens to leave equal to the original would stay a
    # sample of the face; nudge such pixels so every one is replaced.
    if filled.shape[-1] == 4:
        filled[..., 3] = 255  # a transparent face region would show what lies under it
    filled[_same_pixels(filled[..., :3], original[..., :3]), :3] ^= np.uint8(0x40)
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
