"""The disguised voice: its pitch contour must differ from the original's and not be a constant
multiple of it (so that shifting the pitch back does not undo the disguise)."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import needs_voice, pitch_change
from unseen.media.audio import RATE, Disguiser, Voice

# Every test here runs the WORLD vocoder: the voice extra (pyworld), installed on CPython 3.11 in CI.
pytestmark = needs_voice


def vowel(seconds: float, f0_from: float, f0_to: float) -> np.ndarray:
    """A sung vowel: harmonics of a gliding F0, shaped by three formant bumps."""
    t = np.arange(int(seconds * RATE)) / RATE
    f0 = f0_from * (f0_to / f0_from) ** (t / seconds)
    phase = 2 * np.pi * np.cumsum(f0) / RATE
    out = np.zeros_like(t)
    for k in range(1, 40):
        freq = k * f0
        gain = sum(
            np.exp(-(((freq - fc) / 120) ** 2)) * a for fc, a in ((600, 1.0), (1200, 0.6), (2600, 0.3))
        )
        out += np.where(freq < RATE / 2, gain * np.sin(k * phase), 0.0)
    return 0.3 * out / np.abs(out).max()


def disguised(x: np.ndarray, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    d = Disguiser(Voice.draw(rng), rng)
    # Fed in uneven pieces, the way decoded frames arrive.
    pieces = [d.push(p) for p in np.array_split(x, 37)]
    return np.concatenate([*pieces, d.flush()])


def test_disguise_keeps_length_and_sound() -> None:
    x = vowel(2.5, 110, 220)
    y = disguised(x, 1)
    assert len(y) == len(x)
    assert 0.2 < np.sqrt(np.mean(y**2)) / np.sqrt(np.mean(x**2)) < 5
    assert np.abs(y).max() <= 1.0


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_pitch_contour_is_changed_and_not_a_constant_shift(seed: int) -> None:
    x = vowel(5.0, 100, 240)  # longer than one processing chunk, so a seam is crossed
    change = pitch_change(x, disguised(x, seed), RATE)
    assert change.voiced > 0.6, "the disguised vowel should stay voiced"
    # Moved: by at least two semitones on average.
    assert abs(change.median) > 2
    # Not a constant ratio: the log-pitch of the output does not follow the input's with slope 1.
    assert change.slope < 0.8
    assert change.spread > 1.0


def test_voices_differ_per_file() -> None:
    a, b = Voice.draw(np.random.default_rng(1)), Voice.draw(np.random.default_rng(2))
    assert a != b
    assert abs(a.semitones) >= 3 and abs(b.semitones) >= 3
