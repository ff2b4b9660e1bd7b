"""The audit's test for unseen's own cover, judged box by box, says what it says on the whole picture."""

from __future__ import annotations

import numpy as np
import pytest

from unseen.boxes import overlap_share
from unseen.cover import cover
from unseen.verify.audit import cover_noise, noise_share


@pytest.mark.parametrize("seed", range(3))
def test_noise_share_of_a_box_is_its_share_of_the_whole_pictures_noise(
    astronaut: np.ndarray, seed: int
) -> None:
    rng = np.random.default_rng(seed)
    h, w = astronaut.shape[:2]
    picture = astronaut[: h - seed, : w - 2 * seed]  # sides that are not whole blocks too
    h, w = picture.shape[:2]
    corner = rng.integers(-20, max(h, w), (60, 2))
    boxes = np.concatenate([corner, corner + rng.integers(1, 120, (60, 2))], 1)
    covered = cover(picture, boxes[::3], "fill", rng)  # covers that some boxes straddle
    whole = overlap_share(boxes, cover_noise(covered))
    assert 0 < (whole > 0.6).sum() < len(boxes)  # both verdicts occur
    assert noise_share(boxes, covered).tolist() == whole.tolist()
