"""The self-check of a written photo, run on the hidden temporary file before it is published.

It re-opens the file the way a viewer would and requires: the format and the
frame count and size meant, every covered box changed from the original and
close to the cover, every box left visible by consent unchanged (where no
cover overlaps it), no metadata that `unseen.meta.scan` can see, and no face
that the audit (`unseen.verify.audit`) sees outside a kept box.  A cover or
metadata failure raises `VerificationError`; faces are returned, so the
caller can cover them in a further pass.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .. import meta
from ..boxes import IntBoxes, union_mask
from ..datatypes import Detections
from ..errors import VerificationError
from ..media import image as image_io
from .audit import Audit, missed
from .cover import check_covered, check_kept

LOSSLESS = ("png", "tiff", "bmp")


def check_photo(
    path: Path,
    fmt: str,
    originals: list[np.ndarray],
    intended: list[np.ndarray],
    covered: IntBoxes,
    kept: IntBoxes,
    audit: Audit | None,
) -> Detections:
    """Raise `VerificationError` unless ``path`` is clean and covered as meant; return faces still seen."""
    try:
        got_fmt, frames = image_io.decode(path)
    except image_io.CORRUPT as exc:
        raise VerificationError(f"output does not decode: {exc}") from exc
    if got_fmt != fmt:
        raise VerificationError(f"output is {got_fmt}, expected {fmt}")
    if len(frames) != len(originals):
        raise VerificationError(f"output has {len(frames)} frames, expected {len(originals)}")
    lossless = fmt in LOSSLESS
    mask = union_mask(covered, originals[0].shape)
    seen = []
    for index, (decoded, original, meant) in enumerate(zip(frames, originals, intended, strict=True)):
        if decoded.shape[:2] != original.shape[:2]:
            raise VerificationError(f"frame {index} is {decoded.shape[:2]}, expected {original.shape[:2]}")
        check_covered(decoded, original, meant, covered, lossless=lossless)
        check_kept(decoded, original, kept, mask, lossless=lossless)
        if audit is not None:
            seen.append(missed(audit.visible(decoded), union_mask(kept, mask.shape)))
    leaks = meta.scan(path)
    if leaks:
        raise VerificationError("metadata left in output: " + ", ".join(map(str, leaks)))
    return Detections.concat(seen)
