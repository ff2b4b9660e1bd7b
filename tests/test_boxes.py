"""Box geometry: the sweep-based suppression keeps exactly what the plain greedy rule keeps; box shares of a mask."""

from __future__ import annotations

import numpy as np
import pytest

from unseen.boxes import HeadGeometry, grow_heads, iou_matrix, nms, overlap_share


def greedy(boxes: np.ndarray, scores: np.ndarray, iou: float) -> list[int]:
    """The rule itself: best first; a box goes when a kept one overlaps it above ``iou``."""
    keep: list[int] = []
    for i in np.argsort(-scores, kind="stable").tolist():
        if all(iou_matrix(boxes[[k]], boxes[[i]])[0, 0] <= iou for k in keep):
            keep.append(i)
    return keep


@pytest.mark.parametrize("seed", range(6))
def test_suppression_matches_the_greedy_rule(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = [0, 1, 2, 40, 300, 600][seed]
    corner = rng.uniform(0, 400, (n, 2))
    size = rng.uniform(0, 50, (n, 2))
    if seed % 2:  # a grid: equal corners, equal scores, empty boxes
        corner, size = np.round(corner / 25) * 25, np.round(size / 25) * 25
    boxes = np.concatenate([corner, corner + size], 1).astype(np.float32)
    scores = np.round(rng.uniform(0, 1, n), 1).astype(np.float32)
    assert nms(boxes, scores, 0.3).tolist() == greedy(boxes, scores, 0.3)


def test_overlap_of_whole_pixel_boxes() -> None:
    boxes = np.array([[0, 0, 10, 10], [5, 5, 15, 15], [20, 20, 30, 30]], np.int64)
    expected = [[1, 25 / 175, 0], [25 / 175, 1, 0], [0, 0, 1]]
    assert np.allclose(iou_matrix(boxes, boxes), expected)


@pytest.mark.parametrize("seed", range(4))
def test_overlap_share_is_the_share_of_each_boxs_pixels(seed: int) -> None:
    rng = np.random.default_rng(seed)
    mask = rng.random((37, 53)) < 0.3
    corner = rng.integers(-10, 60, (30, 2))
    boxes = np.concatenate([corner, corner + rng.integers(-3, 25, (30, 2))], 1)
    boxes[0] = [5, 5, 5, 9]  # empty
    for box, share in zip(boxes.tolist(), overlap_share(boxes, mask).tolist(), strict=True):
        x0, y0, x1, y1 = np.clip(box, 0, [53, 37, 53, 37])
        pixels = mask[y0:y1, x0:x1]
        assert share == (pixels.mean() if pixels.size else 1.0)


def test_a_head_grows_by_a_margin_in_the_detectors_pixels() -> None:
    """A box found in a 960 px view of a 1280 px frame is placed to a detector's pixel, a third
    more of the frame's: the margin follows (--fast had faces covered to 84-89 % at their edge)."""
    plain, shrunk = HeadGeometry(), HeadGeometry().seen_at(0.75)
    assert shrunk.margin == pytest.approx(plain.margin / 0.75)
    assert HeadGeometry().seen_at(2.0) == plain  # a zoom places boxes no worse than the picture
    face = np.array([[100.0, 100.0, 140.0, 150.0]])
    grown, wider = grow_heads(face, 1280, 720, plain), grow_heads(face, 1280, 720, shrunk)
    assert (wider[:, :2] <= grown[:, :2]).all() and (wider[:, 2:] >= grown[:, 2:]).all()
    assert (wider != grown).any()


def test_a_turned_face_grows_its_head_on_the_side_away_from_its_nose() -> None:
    # A 100 px face whose nose lies 40 px right of the box centre looks to its right: its ear and the
    # back of its head lie left of the box, which grows 40 px further there.  A frontal face, and
    # one whose landmarks are not known, grow as the geometry alone says; the turn counts at most
    # half the box.
    face = np.array([[400.0, 300.0, 500.0, 420.0]] * 4)
    marks = np.full((4, 5, 2), np.nan)
    marks[:3, :, 1] = 350.0
    marks[0, 2, 0], marks[1, 2, 0], marks[2, 2, 0] = 490.0, 450.0, 350.0  # right, centre, far left
    plain = grow_heads(face, 1280, 720)
    turned = grow_heads(face, 1280, 720, landmarks=marks)
    assert turned[0].tolist() == [plain[0][0] - 40, *plain[0][1:].tolist()]
    assert turned[1].tolist() == plain[1].tolist() and turned[3].tolist() == plain[3].tolist()
    assert turned[2].tolist() == [*plain[2][:2].tolist(), plain[2][2] + 50, plain[2][3]]
