"""The pixel checks on their own: block sums, a crowd's regions, and a video's sampled windows.

`unseen.verify.cover` judges every covered box of every written photo and of
every sampled video frame.  Its sums take shortcuts (16-bit sums of bytes,
OpenCV's summed-area table, block sums instead of differences), and a
sampled crowd window is kept whole rather than pixel by pixel.  These tests
hold the shortcuts to the plain arithmetic, written out region by region in
`reference`, and show that a single bare face in a crowd still fails, by its
place, whichever way its window was kept.
"""

from __future__ import annotations

import numpy as np
import pytest

from unseen.cover import cover
from unseen.errors import VerificationError
from unseen.verify import video as verify_video
from unseen.verify.cover import BLOCK, CHANGED_SHARE, LOSSY_TOLERANCE, block_means, check_covered
from unseen.verify.video import SAMPLES, PixelsLost, Sampler, _check_sample

NONE = np.zeros((0, 4), np.int64)


def plain_means(values: np.ndarray, bh: int, bw: int) -> np.ndarray:
    h, w = values.shape[0] // bh * bh, values.shape[1] // bw * bw
    blocks = values[:h, :w].astype(np.int64).reshape(h // bh, bh, w // bw, bw, *values.shape[2:])
    means: np.ndarray = blocks.sum(axis=(1, 3)) / (bh * bw)
    return means


@pytest.mark.parametrize(
    ("shape", "bh", "bw", "dtype"),
    [
        ((720, 1280, 3), 8, 8, np.uint8),  # the cover check's: 16-bit sums
        ((37, 53, 3), 8, 8, np.uint8),  # partial blocks cut at both edges
        ((35, 61, 4), 16, 16, np.uint8),  # 256 bytes a block
        ((257, 40), 257, 1, np.uint8),  # 257 bytes a block: the most 16 bits hold
        ((40, 257), 1, 257, np.uint8),
        ((258, 40), 258, 1, np.uint8),  # one more: 32-bit sums
        ((360, 640), 20, 20, np.uint8),  # the cut detector's
        ((64, 96, 3), 8, 8, np.int16),  # differences, negative too
    ],
)
@pytest.mark.parametrize("fill", ["random", "extreme"])
def test_block_means_are_the_plain_means(
    shape: tuple[int, ...], bh: int, bw: int, dtype: type, fill: str
) -> None:
    rng = np.random.default_rng(bh * bw)
    if fill == "extreme":  # every sum at its largest (white) or, for differences, its lowest
        values = np.full(shape, 255 if dtype == np.uint8 else -255, dtype)
    else:
        values = rng.integers(0 if dtype == np.uint8 else -255, 256, shape).astype(dtype)
    assert np.array_equal(block_means(values, bh, bw), plain_means(values, bh, bw))
    view = values[::-1, ::2]  # not contiguous, as the cut detector hands it over, and reversed
    assert np.array_equal(block_means(view, bh, bw), plain_means(view, bh, bw))


def _block_gap_mean(diff: np.ndarray, bh: int, bw: int) -> float:
    """Mean over ``bh`` x ``bw`` blocks (from the corner, partial ones cut) of each block's mean
    absolute colour difference, summed plainly."""
    gaps = [
        np.abs(diff[y : y + bh, x : x + bw].reshape(-1, diff.shape[-1]).mean(axis=0)).mean()
        for y in range(0, diff.shape[0] - bh + 1, bh)
        for x in range(0, diff.shape[1] - bw + 1, bw)
    ]
    return float(np.mean(gaps))


def reference(
    decoded: np.ndarray, original: np.ndarray, intended: np.ndarray, boxes: np.ndarray, tolerance: int
) -> int | None:
    """The index of the first region the cover check must fail, judged region by region in plain
    loops: under 90 % of its pixels moved from the face by more than ``tolerance``, or its output
    over ``tolerance`` from the cover and nearer the face than twice that.  Block means lie on
    the picture's 8-pixel grid; a region holding no whole block is judged on blocks of its own."""
    out, face, cov = (a[..., :3].astype(np.int64) for a in (decoded, original, intended))
    for i, (x0, y0, x1, y1) in enumerate(boxes.tolist()):
        box = np.s_[y0:y1, x0:x1]
        changed = (np.abs(out[box] - face[box]) > tolerance).any(axis=-1).mean()
        gx0, gy0 = -(-x0 // BLOCK) * BLOCK, -(-y0 // BLOCK) * BLOCK
        gx1, gy1 = x1 // BLOCK * BLOCK, y1 // BLOCK * BLOCK
        if gx1 > gx0 and gy1 > gy0:
            grid = np.s_[gy0:gy1, gx0:gx1]
            to_cover = _block_gap_mean(out[grid] - cov[grid], BLOCK, BLOCK)
            to_face = _block_gap_mean(out[grid] - face[grid], BLOCK, BLOCK)
        else:
            bh, bw = min(BLOCK, y1 - y0), min(BLOCK, x1 - x0)
            to_cover = _block_gap_mean(out[box] - cov[box], bh, bw)
            to_face = _block_gap_mean(out[box] - face[box], bh, bw)
        if changed < CHANGED_SHARE or (to_cover > tolerance and to_cover * 2 > to_face):
            return i
    return None


def crowd(seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A textured 720p frame, 300 overlapping face boxes over most of it, and the frame covered."""
    rng = np.random.default_rng(seed)
    frame = rng.integers(0, 256, (720, 1280, 3), dtype=np.uint8)
    corners = rng.integers(0, (1280 - 64, 720 - 64), (300, 2))
    sides = rng.integers(3, 96, (300, 2))  # some too small to hold one 8x8 block
    boxes = np.concatenate([corners, np.minimum(corners + sides, (1280, 720))], axis=1)
    covered = cover(frame, boxes, "fill", rng)
    return frame, boxes, covered


def verdict(*args: object, **kwargs: object) -> str:
    try:
        check_covered(*args, **kwargs)  # type: ignore[arg-type]
    except VerificationError as exc:
        return str(exc)
    return "pass"


@pytest.mark.parametrize("lossless", [False, True])
@pytest.mark.parametrize("bare", [[137], [250, 12], [5, 299]])
def test_bare_faces_in_a_crowd_fail_the_check_by_the_first_place(lossless: bool, bare: list[int]) -> None:
    frame, boxes, covered = crowd()
    tolerance = 0 if lossless else LOSSY_TOLERANCE
    assert verdict(covered, frame, covered, boxes, lossless=lossless) == "pass"
    written = covered.copy()
    for i in bare:  # the faces back, over their neighbours' covers too
        x0, y0, x1, y1 = boxes[i].tolist()
        written[y0:y1, x0:x1] = frame[y0:y1, x0:x1]
    first = reference(written, frame, covered, boxes, tolerance)
    assert first is not None and first <= min(bare)
    x0, y0, x1, y1 = boxes[first].tolist()
    assert verdict(written, frame, covered, boxes, lossless=lossless).startswith(
        f"region {x0},{y0}-{x1},{y1} is not covered"
    )


@pytest.mark.parametrize(("off", "passes"), [(LOSSY_TOLERANCE, False), (LOSSY_TOLERANCE + 1, True)])
def test_a_pixel_counts_as_changed_only_past_the_tolerance(off: int, passes: bool) -> None:
    face = np.full((64, 64, 3), 100, np.uint8)
    written = face + np.uint8(off)  # what the encoder left: the cover, `off` levels from the face
    found = verdict(written, face, written, np.array([[8, 8, 56, 56]]), lossless=False)
    assert (found == "pass") == passes, found


@pytest.mark.parametrize(("off", "passes"), [(LOSSY_TOLERANCE, True), (LOSSY_TOLERANCE + 1, False)])
def test_an_output_passes_within_the_tolerance_of_the_cover_however_near_the_face(
    off: int, passes: bool
) -> None:
    face = np.full((64, 64, 3), 100, np.uint8)
    written = face + np.uint8(10)  # changed from the face, yet under twice the cover's distance
    meant = written + np.uint8(off)
    found = verdict(written, face, meant, np.array([[8, 8, 56, 56]]), lossless=False)
    assert (found == "pass") == passes, found


def test_a_region_off_the_picture_shows_nothing_and_one_across_its_edge_is_judged_inside() -> None:
    frame, boxes, covered = crowd(5)
    off = np.array([[1280, 100, 1300, 140], [-30, 50, 0, 90], [600, 720, 640, 720]])
    assert verdict(covered, frame, covered, np.concatenate([boxes, off]), lossless=False) == "pass"
    written = covered.copy()  # across each corner, the part inside is the face, left bare
    written[700:, 1260:], written[:20, :30] = frame[700:, 1260:], frame[:20, :30]
    for across, named in (([1260, 700, 1300, 760], "1260,700-1280,720"), ([-10, -40, 30, 20], "0,0-30,20")):
        found = verdict(written, frame, covered, np.array([across]), lossless=False)
        assert found.startswith(f"region {named} is not covered"), found


def _with_a_tie(frame: np.ndarray, covered: np.ndarray, box: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``frame`` and ``covered`` with a flat face (level 121) and a flat cover (100) in ``box``."""
    frame, covered = frame.copy(), covered.copy()
    x0, y0, x1, y1 = box.tolist()
    frame[y0:y1, x0:x1], covered[y0:y1, x0:x1] = 121, 100
    return frame, covered


def _variants(frame: np.ndarray, covered: np.ndarray, boxes: np.ndarray) -> list[np.ndarray]:
    """The covered frame as written; with the last face put back; with the first region (see
    `_with_a_tie`) exactly at the check's tie, 7 levels off the cover and 14 off the face (twice
    as near the cover: it passes); and one level past it (it fails)."""
    bare = covered.copy()
    x0, y0, x1, y1 = boxes[-1].tolist()
    bare[y0:y1, x0:x1] = frame[y0:y1, x0:x1]
    x0, y0, x1, y1 = boxes[0].tolist()
    tie, past = covered.copy(), covered.copy()
    tie[y0:y1, x0:x1], past[y0:y1, x0:x1] = 107, 108
    return [covered, bare, tie, past]


@pytest.mark.parametrize("spread", ["crowd", "sparse"])
def test_a_window_kept_whole_or_pixel_by_pixel_gets_the_same_verdicts(
    spread: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    frame, boxes, covered = crowd(1)
    if spread == "sparse":  # two faces far apart: a window mostly of picture
        boxes = np.array([[40, 40, 90, 100], [1100, 600, 1180, 700]], np.int64)
        covered = cover(frame, boxes, "fill", np.random.default_rng(2))
    frame, covered = _with_a_tie(frame, covered, boxes[0])
    expected = [
        reference(w, frame, covered, boxes, LOSSY_TOLERANCE) for w in _variants(frame, covered, boxes)
    ]
    assert [e is None for e in expected] == [True, False, True, False]
    said: dict[int, list[str]] = {}
    for whole in (verify_video.WHOLE, 0):  # 0: every window pixel by pixel
        monkeypatch.setattr(verify_video, "WHOLE", whole)
        sampler = Sampler(24)
        buffers = frame.copy(), covered.copy()
        sampler.keep(0, *buffers, boxes, NONE)
        (sample,) = sampler.samples
        # Kept whole only where the boxes fill most of the window (and never at WHOLE 0).
        assert (sample.mask is None) == (spread == "crowd" and whole > 0)
        for buffer in buffers:  # the decoder and the cover reuse their frames' buffers
            buffer[:] = 0
        said[whole] = []
        for written in _variants(frame, covered, boxes):
            try:
                _check_sample(written, sample)
                said[whole].append("pass")
            except PixelsLost as exc:
                said[whole].append(str(exc))
    first, second = said.values()
    assert first == second
    for found, first_failing in zip(first, expected, strict=True):
        if first_failing is None:
            assert found == "pass"
        else:
            x0, y0, x1, y1 = boxes[first_failing].tolist()
            assert found.startswith(f"frame 0: region {x0},{y0}-{x1},{y1} is not covered"), found


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


@pytest.mark.parametrize(
    ("stated", "estimate"),
    [
        (0, 1),  # no frame count and no duration: every boxed frame at first, then wider
        (0, 18_000),  # MKV, WebM, MPEG-TS: a count from the duration
        (0, 108_060),  # two joined recordings an hour apart on one clock: an hour claimed
        (18_000, 18_000),  # MP4: the count stated
    ],
)
def test_a_clip_keeps_a_bounded_spread_of_samples_whatever_its_count_claims(
    stated: int, estimate: int
) -> None:
    """Ten minutes at 30 frames a second, a face in every frame: some samples over the whole clip,
    never more than twice the number wanted (a crowd window of a 2560x1920 frame is 28 MiB)."""
    frame = np.zeros((64, 64, 3), np.uint8)
    regions = np.array([[0, 0, 64, 64]], np.int64)  # the whole frame: a window kept whole
    sampler = Sampler.of(stated, estimate)
    for index in range(30 * 60 * 10):
        if sampler.wants(index, regions, NONE):
            sampler.keep(index, frame, frame, regions, NONE)
        assert len(sampler.samples) <= 2 * SAMPLES
        if index == 59 and not stated:  # as much as the joined clip really holds
            assert len(sampler.samples) >= 4
    indices = [s.index for s in sampler.samples]
    assert len(indices) >= SAMPLES and indices[0] == 0 and indices[-1] > 0.9 * 30 * 60 * 10


def test_a_written_picture_smaller_than_meant_fails_the_check() -> None:
    frame, boxes, covered = crowd(6)
    with pytest.raises(VerificationError, match="the written picture is 640x360, not 1280x720"):
        check_covered(covered[:360, :640], frame, covered, boxes, lossless=False)
    sampler = Sampler(24)
    sampler.keep(0, frame, covered, boxes, NONE)
    with pytest.raises(VerificationError, match="frame 0 is 640x360, too small for its regions") as caught:
        _check_sample(np.ascontiguousarray(covered[:360, :640]), sampler.samples[0])
    assert not isinstance(caught.value, PixelsLost)  # not the encoder's bits: no pass without the cap
