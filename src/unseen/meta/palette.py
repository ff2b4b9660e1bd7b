"""Colour table entries no pixel uses: what `check` counts as held in them.

Viewers never draw such an entry, so it can hold anything (text as colours),
and `strip` blanks every one.  `check` names them only where they hold
something: an entry that is black, or the grey its index stands for on an even
ramp from black to white (what a greyscale picture's table holds, used levels
or not), says nothing, so a plain greyscale GIF is not called unclean.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt


def holding(colours: npt.NDArray[np.uint8], unused: npt.NDArray[np.bool_]) -> npt.NDArray[np.bool_]:
    """Which of the (N, 3) ``colours`` are unused and hold something other than black or the ramp."""
    count = len(colours)
    ramp = np.round(np.arange(count) * 255 / max(1, count - 1)).astype(np.uint8)
    plain = ~colours.any(axis=1) | (colours == ramp[:, None]).all(axis=1)
    held: npt.NDArray[np.bool_] = unused[:count] & ~plain
    return held
