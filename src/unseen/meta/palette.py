"""Colour table entries no pixel uses: which they are, and what `check` counts as held in them.

Viewers never draw such an entry, so it can hold anything (text as colours),
and `strip` blanks every one.  `check` names them only where they hold
something: an entry that is black, or the grey its index stands for on an even
ramp from black to white (what a greyscale picture's table holds, used levels
or not), says nothing, so a plain greyscale GIF is not called unclean.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import numpy.typing as npt

from ..errors import InputError
from ..media import image as image_io
from .findings import NotClean


def drawn(path: Path, picture: bytes) -> npt.NDArray[np.uint8]:
    """The palette indices a picture made in memory from ``path``'s parts draws (one image of its
    own: a PNG's or an animation frame's data, a GIF frame on a canvas of its size), decoded under
    the pixel cap; `NotClean` where it does not decode or is over the cap."""
    try:
        with image_io.open_image(path, picture) as img:
            indices: npt.NDArray[np.uint8] = np.unique(np.asarray(img))
    except image_io.CORRUPT as exc:
        raise NotClean(f"image data does not decode ({exc})") from exc
    except InputError as exc:
        raise NotClean(exc.why) from exc
    return indices


def holding(colours: npt.NDArray[np.uint8], unused: npt.NDArray[np.bool_]) -> npt.NDArray[np.bool_]:
    """Which of the (N, 3) ``colours`` are unused and hold something other than black or the ramp."""
    count = len(colours)
    ramp = np.round(np.arange(count) * 255 / max(1, count - 1)).astype(np.uint8)
    plain = ~colours.any(axis=1) | (colours == ramp[:, None]).all(axis=1)
    held: npt.NDArray[np.bool_] = unused[:count] & ~plain
    return held
