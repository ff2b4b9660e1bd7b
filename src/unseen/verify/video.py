"""The self-check of a written video, run on the hidden temporary file before it is published.

It re-opens the file the way a player would and requires: one picture stream
(plus at most one sound stream), every frame decodable, exactly as many frames
as were read, the same first and last timestamps, the cover present in every
covered box and the picture unchanged in every kept box of a spread of
sampled frames, and no metadata that `unseen.meta.scan` can see.  Any miss
raises `VerificationError` and the file is never published.  The face audit
runs on the very frames `unseen check` samples; the faces it sees outside
kept boxes are returned, for the caller to cover in a further pass.
"""

from __future__ import annotations

import contextlib
import hashlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from .. import meta
from ..boxes import IntBoxes, union_mask
from ..datatypes import Detections
from ..errors import VerificationError
from ..media.video import VideoReader
from .audit import Audit, Beside, audited_frames
from .cover import BLOCK, check_covered, check_kept

SAMPLES = 24
WHOLE = 2  # a sampled window whose boxes cover more than 1/WHOLE of it is kept whole (`Sample`)


class PixelsLost(VerificationError):
    """A sampled frame's cover, or a kept box's picture, did not survive the encoder.

    Its own type, so that the caller can tell an encoder that spent too few bits
    (a further pass may help) from a file that is wrong in another way.
    """


@dataclass
class Sample:
    """One frame's covered pixels: what the faces looked like and what we meant to write there.

    Only the window of the frame that holds every box is checked, and only the
    pixels under the boxes are kept (with a packed mask of where they were), so
    a sampled frame costs memory and time in proportion to its boxes, not to
    the picture: a face in a 2560x1920 frame is checked on a small crop.  A
    window that is mostly boxes (a crowd) is kept whole instead, at most twice
    the memory: picking its pixels and placing them again took 25 ms of a 720p
    crowd frame, copying it 1 ms.  The checks read only the pixels under boxes.
    """

    index: int
    regions: IntBoxes  # in the window's pixels, as are ``kept``, ``mask`` and the pixels
    kept: IntBoxes
    window: tuple[int, int, int, int]  # x0, y0, x1, y1 in the frame; x0 and y0 on the checks' block grid
    mask: np.ndarray | None  # packed; None where the window is kept whole
    original: np.ndarray  # (N, C) pixels under the boxes, or the whole (H, W, C) window
    intended: np.ndarray

    def frames(self) -> tuple[np.ndarray, np.ndarray]:
        """The window of the original and intended frames (zero outside the boxes where only their
        pixels were kept)."""
        if self.mask is None:
            return self.original, self.intended
        x0, y0, x1, y1 = self.window
        shape = (y1 - y0, x1 - x0, self.original.shape[-1])
        where = np.flatnonzero(np.unpackbits(self.mask, count=shape[0] * shape[1]))
        original, intended = np.zeros(shape, np.uint8), np.zeros(shape, np.uint8)
        np.put(_whole_pixels(original), where, _whole_pixels(self.original))
        np.put(_whole_pixels(intended), where, _whole_pixels(self.intended))
        return original, intended


def window(boxes: IntBoxes, shape: tuple[int, ...]) -> tuple[int, int, int, int]:
    """The part of an (H, W) frame that holds every box, its corner on the cover check's block grid.

    On the grid, the crop's blocks are the frame's blocks, so the check's verdicts are the same.
    """
    h, w = shape[:2]
    x0, y0 = (np.clip(boxes[:, :2].min(0), 0, (w, h)) // BLOCK * BLOCK).tolist()
    x1, y1 = np.clip(boxes[:, 2:].max(0), (x0, y0), (w, h)).tolist()
    return int(x0), int(y0), int(x1), int(y1)


class Sampler:
    """Keeps the covered pixels of every n-th frame for the self-check after writing."""

    GUESS = 15  # the stride where the frame count is not known at all

    def __init__(self, total_estimate: int) -> None:
        self.stride = max(1, total_estimate // SAMPLES) if total_estimate else self.GUESS
        self.samples: list[Sample] = []
        self.kept: dict[int, IntBoxes] = {}  # every frame's kept boxes, for the audit

    @classmethod
    def of(cls, stated: int, estimate: int) -> Sampler:
        """The sampler of a clip whose container states ``stated`` frames (0: MKV, WebM and MPEG-TS
        state none) and whose duration and rate make ``estimate``.  An estimate samples no more
        sparsely than every `GUESS`-th frame: a join's leap in the clock can claim an hour for a
        minute, and past the count wanted `_thin` widens the stride itself."""
        return cls(stated or min(estimate, cls.GUESS * SAMPLES))

    def wants(self, index: int, regions: IntBoxes, kept: IntBoxes) -> bool:
        if len(kept):
            self.kept[index] = kept
        return bool(len(regions) or len(kept)) and index % self.stride == 0

    def keep(
        self, index: int, original: np.ndarray, covered: np.ndarray, regions: IntBoxes, kept: IntBoxes
    ) -> None:
        """Keep a frame's covered and kept pixels: ``original`` and ``covered`` are (H, W, 3) RGB."""
        boxes = np.concatenate([regions, kept])
        x0, y0, x1, y1 = frame = window(boxes, original.shape)
        shift = np.array([x0, y0, x0, y0])
        regions, kept = regions - shift, kept - shift
        mask = union_mask(boxes - shift, (y1 - y0, x1 - x0))
        if np.count_nonzero(mask) * WHOLE > mask.size:
            whole = (a[y0:y1, x0:x1].copy() for a in (original, covered))  # the frames' buffers live on
            self.samples.append(Sample(index, regions, kept, frame, None, *whole))
        else:
            # Whole pixels picked by their flat positions: a boolean index took 10 times as long
            # (20-50 ms a crowd frame at 720p, twice: here and in `Sample.frames`).
            where = np.flatnonzero(mask)
            original, covered = (_picked(a[y0:y1, x0:x1], where) for a in (original, covered))
            self.samples.append(Sample(index, regions, kept, frame, np.packbits(mask), original, covered))
        self._thin()

    def _thin(self) -> None:
        """Past twice the samples wanted, every other one goes and the stride doubles: a file whose
        frame count was a guess keeps a bounded number of samples over any length (a crowd window
        of a 2560x1920 frame holds up to 28 MiB).  Every stride divides the later ones, so those
        left are the ones the last stride would have picked from the start."""
        while len(self.samples) > 2 * SAMPLES:
            self.stride *= 2
            self.samples = [s for s in self.samples if s.index % self.stride == 0]


def _picked(image: np.ndarray, where: np.ndarray) -> np.ndarray:
    """The (N, C) pixels of an (H, W, C) uint8 ``image`` at the flat positions ``where``."""
    pixels: np.ndarray = _whole_pixels(np.ascontiguousarray(image)).take(where)
    return pixels.view(np.uint8).reshape(-1, image.shape[-1])


def _whole_pixels(a: np.ndarray) -> np.ndarray:
    """A view of contiguous uint8 ``a`` (..., C) as one item of C bytes per pixel, to pick or place
    whole pixels by flat position (on a copy, `np.put` would place them where no one looks)."""
    if a.dtype != np.uint8 or not a.flags.c_contiguous:
        raise ValueError("whole pixels are taken from contiguous uint8 arrays only")
    flat = a.reshape(-1, a.shape[-1])
    items: np.ndarray = flat.view(np.dtype((np.void, flat.shape[-1])))[:, 0]
    return items


@dataclass
class Expected:
    frames: int
    first_pts: int
    end_pts: int
    time_base: Fraction | None
    sampler: Sampler = field(repr=False)


@dataclass
class Verdicts:
    """What the audit said of each frame it judged in the last file written, by frame index: a
    digest of the frame's pixels and of the boxes left visible in it, and the faces it saw.

    A further pass writes the whole clip again, yet x264 looks only a few frames ahead, so the
    frames well before the first one a further pass changes come out byte for byte as before
    and decode to the same pixels.  The same audit on the same pixels says the same, so their
    verdicts are taken again rather than worked out again (in a long clip with one find near
    its end, most of the audit), and `unseen check` on the file still says what the audit said.
    A frame whose digest differs, however little, is audited again.
    """

    said: dict[int, tuple[bytes, Detections]] = field(default_factory=dict)
    reused: int = 0  # frames of the last file whose verdict was taken again

    @staticmethod
    def digest(rgb: np.ndarray, kept: np.ndarray) -> bytes:
        """SHA-256, which CPUs compute in hardware: 3.5 ms a 1080p frame here, BLAKE2b 6.6."""
        both = hashlib.sha256(np.ascontiguousarray(rgb).data)
        both.update(np.packbits(kept).tobytes())
        return both.digest()


def check_video(
    path: Path, expected: Expected, audit: Audit | None, verdicts: Verdicts | None = None
) -> list[tuple[int, Detections]]:
    """Raise `VerificationError` unless ``path`` is a complete, covered, clean video.

    Returns the faces the audit still sees, by frame.  With ``verdicts``, those of an earlier
    file are taken again for frames that decode to the same pixels, and this file's are kept.
    """
    try:
        frames, first, end, seen, leaks = _walk(path, expected, audit, verdicts)
    except av.error.FFmpegError as exc:
        raise VerificationError(f"output does not decode: {exc}") from exc
    if frames != expected.frames:
        raise VerificationError(f"output has {frames} frames, the input {expected.frames}")
    tb = float(expected.time_base or 0)
    tolerance = 0.002 + tb
    for name, want, got in (("start", expected.first_pts * tb, first), ("end", expected.end_pts * tb, end)):
        if abs(want - got) > tolerance:
            raise VerificationError(f"output {name}s at {got:.3f} s, the input at {want:.3f} s")
    if leaks:
        raise VerificationError("metadata left in output: " + ", ".join(map(str, leaks)))
    return seen


def _walk(
    path: Path, expected: Expected, audit: Audit | None, known: Verdicts | None
) -> tuple[int, float, float, list[tuple[int, Detections]], list[meta.Finding]]:
    """Decode every frame, checking sampled ones; returns frame count, first and end time, faces seen
    and the metadata `unseen.meta.scan` finds.

    The audit runs beside the decoding (`Beside`), and the metadata scan (exiftool, a process
    of its own) from the start, beside both: the file is whole and synced by then.  It used to
    run after the decoding, while the audit finished its last frames, and at the end of a
    ``--fast`` run it still kept a core idle for about half a second.
    """
    pending = {s.index: s for s in expected.sampler.samples}
    verdicts: list[tuple[int, Detections]] = []
    digests: dict[int, bytes] = {}  # of the frames audited afresh
    said = known.said if known is not None else {}
    count, first, end = 0, 0.0, 0.0
    with (
        ThreadPoolExecutor(1, "unseen-scan") as scanner,  # left last: waits for the scan
        VideoReader(path, fail=VerificationError, frame_threads=True) as reader,  # counts frames
        Beside(audit) if audit is not None else contextlib.nullcontext() as beside,
    ):
        scanned = scanner.submit(meta.scan, path)
        streams = reader.container.streams
        if len(streams.video) != 1 or len(streams.audio) > 1 or len(streams) > 2:
            raise VerificationError(f"output has unexpected streams: {[s.type for s in streams]}")
        to_audit = audited_frames(reader.frame_count) if beside is not None else set()
        for frame in reader.frames():
            time = float(frame.time or 0.0)
            first = time if count == 0 else first
            end = time + float((frame.duration or 0) * (frame.time_base or 0))
            sample = pending.pop(count, None)
            if sample is not None or count in to_audit:
                rgb = reader.rgb(frame)
                if beside is not None and count in to_audit:
                    kept = expected.sampler.kept.get(count, np.zeros((0, 4), np.int64))
                    mask = union_mask(kept, rgb.shape)
                    digest = Verdicts.digest(rgb, mask) if known is not None else b""
                    if count in said and said[count][0] == digest:
                        verdicts.append((count, said[count][1]))
                    else:
                        digests[count] = digest
                        verdicts += beside.put(count, rgb, mask)
                if sample is not None:
                    _check_sample(rgb, sample)
            count += 1
        if beside is not None:
            verdicts += beside.rest()
        leaks = scanned.result()
    verdicts.sort(key=lambda verdict: verdict[0])
    if known is not None:
        known.reused = len(verdicts) - len(digests)
        known.said = {index: (digests.get(index) or said[index][0], faces) for index, faces in verdicts}
    return count, first, end, [(index, faces) for index, faces in verdicts if len(faces)], leaks


def _check_sample(rgb: np.ndarray, s: Sample) -> None:
    original, intended = s.frames()
    x0, y0, x1, y1 = s.window
    decoded = rgb[y0:y1, x0:x1]
    if decoded.shape[:2] != original.shape[:2]:  # not the encoder's doing: no further pass helps
        raise VerificationError(
            f"frame {s.index} is {rgb.shape[1]}x{rgb.shape[0]}, too small for its regions ({x0},{y0}-{x1},{y1})"
        )
    try:
        check_covered(decoded, original, intended, s.regions, lossless=False, origin=(x0, y0))
        if len(s.kept):
            check_kept(
                decoded,
                original,
                s.kept,
                union_mask(s.regions, decoded.shape),
                lossless=False,
                origin=(x0, y0),
            )
    except VerificationError as exc:
        raise PixelsLost(f"frame {s.index}: {exc}") from exc
