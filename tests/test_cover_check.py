"""The pixel checks on their own: block sums, a crowd's regions, and a video's sampled windows.

`unseen.verify.cover` judges every covered box of every written photo and of
every sampled video frame; its sums take shortcuts (16-bit sums of bytes,
OpenCV's summed-area table), and a sampled crowd window is kept whole rather
than pixel by pixel.  These tests hold the shortcuts to the plain arithmetic
and show that a single bare face in a crowd still fails, whichever way its
window was kept.
"""

from __future__ import annotations

import numpy as np
import pytest

from unseen.cover import cover
from unseen.errors import VerificationError
from unseen.verify.cover import block_means, check_covered
from unseen.verify.video import PixelsLost, Sampler, _check_sample


def plain_means(values: np.ndarray, bh: int, bw: int) -> np.ndarray:
    h, w = values.shape[0] // bh * bh, values.shape[1] // bw * bw
    blocks = values[:h, :w].astype(np.int64).reshape(h // bh, bh, w // bw, bw, *values.shape[2:])
    means: np.ndarray = blocks.sum(axis=(1, 3)) / (bh * bw)
    return means


@pytest.mark.parametrize(
    ("shape", "block", "dtype"),
    [
        ((720, 1280, 3), 8, np.uint8),  # the cover check's: 16-bit sums
        ((37, 53, 3), 8, np.uint8),  # partial blocks cut at both edges
        ((35, 61, 4), 16, np.uint8),  # 256 bytes a block: the most 16 bits hold
        ((360, 640), 20, np.uint8),  # the cut detector's: too many bytes a block for 16 bits
        ((64, 96, 3), 8, np.int16),  # differences, negative too
    ],
)
def test_block_means_are_the_plain_means(shape: tuple[int, ...], block: int, dtype: type) -> None:
    rng = np.random.default_rng(block)
    info = np.iinfo(dtype)
    values = rng.integers(max(info.min, -255), 256, shape).astype(dtype)
    values.flat[::7] = info.max if dtype == np.uint8 else -255  # sums at their largest
    assert np.array_equal(block_means(values, block, block), plain_means(values, block, block))
    view = values[::2, 1::2]  # not contiguous, as the cut detector hands it over
    assert np.array_equal(block_means(view, block, block), plain_means(view, block, block))


def crowd(seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A textured 720p frame, 300 overlapping face boxes over most of it, and the frame covered."""
    rng = np.random.default_rng(seed)
    frame = rng.integers(0, 256, (720, 1280, 3), dtype=np.uint8)
    corners = rng.integers(0, (1280 - 64, 720 - 64), (300, 2))
    sides = rng.integers(6, 96, (300, 2))  # a few too small to hold one 8x8 block
    boxes = np.concatenate([corners, np.minimum(corners + sides, (1280, 720))], axis=1)
    covered = cover(frame, boxes, "fill", rng)
    return frame, boxes, covered


@pytest.mark.parametrize("lossless", [False, True])
def test_one_bare_face_in_a_crowd_fails_the_check_by_its_place(lossless: bool) -> None:
    frame, boxes, covered = crowd()
    check_covered(covered, frame, covered, boxes, lossless=lossless)
    bare = 137
    x0, y0, x1, y1 = boxes[bare].tolist()
    alone = [i for i, b in enumerate(boxes.tolist()) if b[0] < x1 and x0 < b[2] and b[1] < y1 and y0 < b[3]]
    written = covered.copy()
    written[y0:y1, x0:x1] = frame[y0:y1, x0:x1]  # the face back, over its neighbours' covers too
    with pytest.raises(VerificationError, match="is not covered") as caught:
        check_covered(written, frame, covered, boxes, lossless=lossless)
    # The first failing region is named, in frame pixels: the bare face or one it overlaps.
    named = [f"region {a},{b}-{c},{d} " for a, b, c, d in boxes[alone].tolist()]
    assert any(n in str(caught.value) for n in named)
    assert f"region {x0},{y0}-{x1},{y1} " in str(caught.value) or min(alone) < bare


def test_a_crowd_window_kept_whole_and_a_sparse_one_catch_the_same_bare_face() -> None:
    frame, boxes, covered = crowd(1)
    # Two faces far apart: a window mostly of picture, kept pixel by pixel.
    sparse = np.array([[40, 40, 90, 100], [1100, 600, 1180, 700]], np.int64)
    covered_sparse = cover(frame, sparse, "fill", np.random.default_rng(2))
    none = np.zeros((0, 4), np.int64)
    for regions, kept_as in ((boxes, covered), (sparse, covered_sparse)):
        sampler = Sampler(24)
        buffers = frame.copy(), kept_as.copy()
        sampler.keep(0, *buffers, regions, none)
        (sample,) = sampler.samples
        assert (sample.mask is None) == (regions is boxes)  # whole only where the boxes fill it
        for buffer in buffers:  # the decoder and the cover reuse their frames' buffers
            buffer[:] = 0
        written = kept_as.copy()
        _check_sample(written, sample)
        x0, y0, x1, y1 = regions[-1].tolist()
        bare = written.copy()
        bare[y0:y1, x0:x1] = frame[y0:y1, x0:x1]
        with pytest.raises(PixelsLost, match="frame 0: region"):
            _check_sample(bare, sample)


def test_a_kept_box_changed_in_a_sampled_crowd_frame_fails() -> None:
    frame, boxes, _ = crowd(3)
    kept = np.array([[600, 300, 700, 420]], np.int64)
    regions = boxes[(boxes[:, 2] <= 600) | (boxes[:, 0] >= 700) | (boxes[:, 3] <= 300) | (boxes[:, 1] >= 420)]
    written = cover(frame, regions, "fill", np.random.default_rng(4))
    sampler = Sampler(24)
    sampler.keep(0, frame, written, regions, kept)
    (sample,) = sampler.samples
    _check_sample(written, sample)
    spoiled = written.copy()
    spoiled[300:420, 600:700] = 255 - spoiled[300:420, 600:700]
    with pytest.raises(PixelsLost, match="kept region 600,300-700,420 was changed"):
        _check_sample(spoiled, sample)
