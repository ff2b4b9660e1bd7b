"""Checks every written file must pass before it counts as done.

The cover check compares the decoded output with both what we meant to
write and the original: inside each region the output must be much closer
to the cover than to the face it replaced.  That holds for lossy formats too,
and fails if the cover never reached the file (wrong frame, wrong offset,
an encoder that smoothed it away).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from . import meta
from .errors import VerificationError
from .media import image as image_io
from .types import Region

# A region passes when at least this share of its pixels differ from the original.
CHANGED_SHARE = 0.9
# Lossy codecs move every pixel a little; a "changed" pixel must move by more than this.
LOSSY_TOLERANCE = 6


def check_image(
    path: Path,
    fmt: str,
    originals: list[np.ndarray],
    intended: list[np.ndarray],
    regions: list[Region],
) -> None:
    """Raise `VerificationError` unless ``path`` is a clean, correctly covered image."""
    try:
        got_fmt, frames = image_io.decode(path)
    except (OSError, ValueError, SyntaxError) as exc:
        raise VerificationError(f"output does not decode: {exc}") from exc
    if got_fmt != fmt:
        raise VerificationError(f"output is {got_fmt}, expected {fmt}")
    if len(frames) != len(originals):
        raise VerificationError(f"output has {len(frames)} frames, expected {len(originals)}")
    for index, (decoded, original, meant) in enumerate(zip(frames, originals, intended, strict=True)):
        if decoded.shape[:2] != original.shape[:2]:
            raise VerificationError(f"frame {index} is {decoded.shape[:2]}, expected {original.shape[:2]}")
        check_covered(decoded, original, meant, regions, lossless=fmt in ("png", "tiff", "bmp"))
    leaks = meta.scan(path)
    if leaks:
        raise VerificationError("metadata left in output: " + ", ".join(map(str, leaks)))


def check_covered(
    decoded: np.ndarray,
    original: np.ndarray,
    intended: np.ndarray,
    regions: list[Region],
    *,
    lossless: bool,
) -> None:
    tolerance = 0 if lossless else LOSSY_TOLERANCE
    for r in regions:
        sl = np.s_[r.y0 : r.y1, r.x0 : r.x1, :3]
        out = decoded[sl].astype(np.int16)
        face = original[sl].astype(np.int16)
        cover = intended[sl].astype(np.int16)
        changed = (np.abs(out - face) > tolerance).any(axis=-1).mean()
        # Lossy codecs drop the cover's pixel noise, so compare block means: they keep the
        # cover's tone and still tell it apart from the face it replaced.
        to_cover = np.abs(_coarse(out) - _coarse(cover)).mean()
        to_face = np.abs(_coarse(out) - _coarse(face)).mean()
        if changed < CHANGED_SHARE or (to_cover > tolerance and to_cover * 2 > to_face):
            raise VerificationError(
                f"region {r.x0},{r.y0}-{r.x1},{r.y1} is not covered in the written file "
                f"({changed:.0%} of pixels changed; {to_cover:.0f} levels off the cover, "
                f"{to_face:.0f} off the face)"
            )


def _coarse(patch: np.ndarray, block: int = 8) -> np.ndarray:
    """Means of ``block``-pixel squares (smaller for regions under a block wide)."""
    h, w = patch.shape[:2]
    bh, bw = min(block, h), min(block, w)
    h, w = h - h % bh, w - w % bw
    tiles = patch[:h, :w].reshape(h // bh, bh, w // bw, bw, -1)
    means: np.ndarray = tiles.mean(axis=(1, 3))
    return means
