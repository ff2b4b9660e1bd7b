"""The audit's test for unseen's own cover, judged box by box, says what it says on the whole picture."""

from __future__ import annotations

import numpy as np
import pytest

from unseen.boxes import overlap_share
from unseen.cover import cover
from unseen.detect import FaceFinder
from unseen.profiles import resolve
from unseen.settings import Settings
from unseen.verify.audit import Audit, cover_noise, noise_share


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


# A 4 x 4 block that looks like noise but for its mean luma, exactly 90 levels (the grey floor) in real
# numbers; float32 sums put it just above 90 in a 16 px row and just below in a 4 px window.
ON_THE_FLOOR = [
    [[105, 107, 108], [91, 61, 143], [134, 113, 73], [126, 93, 69]],
    [[121, 51, 101], [62, 43, 87], [87, 87, 44], [62, 44, 121]],
    [[47, 122, 65], [74, 70, 93], [78, 96, 80], [114, 135, 57]],
    [[53, 65, 63], [115, 109, 99], [141, 126, 141], [86, 92, 83]],
]


@pytest.mark.parametrize("fill", [0, 100])
def test_a_block_exactly_on_a_threshold_gets_one_verdict_wherever_it_is_judged(fill: int) -> None:
    """Mean luma exactly 90 is not cover noise (the floor is strict) in the whole picture and in a box's
    window alike: the verdicts are counted in whole numbers (found by a reviewer: a flip in float32)."""
    picture = np.full((4, 16, 3), fill, np.uint8)
    picture[:, 12:] = ON_THE_FLOOR
    box = np.array([[12, 0, 16, 4]])
    assert overlap_share(box, cover_noise(picture)).tolist() == noise_share(box, picture).tolist() == [0.0]


def test_the_audit_sees_the_same_on_any_number_of_threads(astronaut: np.ndarray) -> None:
    """Protect's self-check and `unseen check` may run the audit on sessions of different sizes (two
    frames or files at once, another machine's cores): its networks must give the same bits."""
    picture = np.ascontiguousarray(np.tile(astronaut, (2, 3, 1)))  # several faces, over 960 px
    seen = []
    for threads in (1, 2, 3):
        settings = Settings(threads=threads)
        plan = resolve(settings).audit  # without YuNet where it does not install
        faces = Audit(FaceFinder(settings, plan), settings, plan).visible(picture)
        seen.append((faces.xyxy.tobytes(), faces.scores.tobytes(), faces.sources))
    assert len(seen[0][2]) >= 6 and seen[1] == seen[0] and seen[2] == seen[0]
