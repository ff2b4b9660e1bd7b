"""Colour table entries no pixel uses: which they are, and what `check` counts as held in them.

Viewers never draw such an entry, so it can hold anything (text as colours),
and `strip` and `protect` blank every one.  `check` names them only where they hold
something: an entry that is black says nothing, and nor do the unused entries of
a table whose unused entries all hold the grey their index stands for on an even
ramp from black to white (what a greyscale picture's table holds, used levels or
not), so a plain greyscale GIF is not called unclean.  (Black and the ramp mixed
would spell a bit an entry.)
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
    indices: npt.NDArray[np.uint8] = np.unique(_decode(path, picture))
    return indices


def decoded(path: Path, picture: bytes) -> npt.NDArray[np.uint8]:
    """Every palette index of such a picture, row by row as shown (`drawn`; a two-colour picture
    Pillow reads as mode "1" as 0 and 1): what a GIF frame's data is written anew from."""
    return _decode(path, picture).astype(np.uint8)


def _decode(path: Path, picture: bytes) -> npt.NDArray[np.generic]:
    """The picture's pixels as Pillow reads them (`drawn`)."""
    try:
        with image_io.open_image(path, picture) as img:
            pixels: npt.NDArray[np.generic] = np.asarray(img)
    except image_io.CORRUPT as exc:  # the message may name the buffer's address: one word for all runs
        raise NotClean(f"image data does not decode ({type(exc).__name__})") from exc
    except InputError as exc:
        raise NotClean(exc.why) from exc
    return pixels


def holding(colours: npt.NDArray[np.uint8], unused: npt.NDArray[np.bool_]) -> npt.NDArray[np.bool_]:
    """Which of the (N, 3) ``colours`` are unused and hold something other than black or the ramp."""
    count = len(colours)
    unused = unused[:count]
    ramp = np.round(np.arange(count) * 255 / max(1, count - 1)).astype(np.uint8)
    # Black or the ramp, each unused entry on its own, would let a table spell a bit an entry: the
    # ramp says nothing only where every unused entry follows it.
    greys = (colours == ramp[:, None]).all(axis=1)
    plain = ~colours.any(axis=1) | (greys if greys[unused].all() else np.zeros(count, bool))
    held: npt.NDArray[np.bool_] = unused & ~plain
    return held
