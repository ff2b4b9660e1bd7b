"""The self-check of a written video, run on the hidden temporary file before it is published.

It re-opens the file the way a player would and requires: one picture stream
(plus at most one sound stream), every frame decodable, exactly as many frames
as were read, the same first and last timestamps, the cover present in every
region of a spread of sampled frames, and no metadata that `unseen.meta.scan`
can see.  Any miss raises `VerificationError` and the file is never published.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from .. import meta
from ..cover import union_mask
from ..errors import VerificationError
from ..types import Region
from ..verify import check_covered
from .video_out import Look, to_rgb

SAMPLES = 24


@dataclass
class Sample:
    """One frame's covered pixels: what the faces looked like and what we meant to write there.

    Only the pixels under the regions are kept (with a packed mask of where they
    were), so a sampled frame costs memory in proportion to its covered area.
    """

    index: int
    regions: list[Region]
    shape: tuple[int, ...]
    mask: np.ndarray
    original: np.ndarray
    intended: np.ndarray

    def frames(self) -> tuple[np.ndarray, np.ndarray]:
        """Full-size original and intended frames, zero outside the regions."""
        mask = (
            np.unpackbits(self.mask, count=self.shape[0] * self.shape[1]).reshape(self.shape[:2]).astype(bool)
        )
        original, intended = np.zeros(self.shape, np.uint8), np.zeros(self.shape, np.uint8)
        original[mask], intended[mask] = self.original, self.intended
        return original, intended


class Sampler:
    """Keeps the covered pixels of every n-th frame for the self-check after writing."""

    def __init__(self, total_estimate: int) -> None:
        self.stride = max(1, total_estimate // SAMPLES) if total_estimate else 15
        self.samples: list[Sample] = []

    def wants(self, index: int, regions: list[Region]) -> bool:
        return bool(regions) and index % self.stride == 0

    def keep(self, index: int, original: np.ndarray, covered: np.ndarray, regions: list[Region]) -> None:
        """Keep a frame's covered pixels: ``original`` and ``covered`` are (H, W, 3) RGB."""
        mask = union_mask(regions, original.shape)
        packed = np.packbits(mask)
        self.samples.append(Sample(index, regions, original.shape, packed, original[mask], covered[mask]))


@dataclass
class Expected:
    frames: int
    first_pts: int
    end_pts: int
    time_base: Fraction | None
    sampler: Sampler = field(repr=False)


def check_video(path: Path, expected: Expected) -> None:
    """Raise `VerificationError` unless ``path`` is a complete, covered, clean video."""
    try:
        frames, first, end = _walk(path, expected)
    except av.error.FFmpegError as exc:
        raise VerificationError(f"output does not decode: {exc}") from exc
    if frames != expected.frames:
        raise VerificationError(f"output has {frames} frames, the input {expected.frames}")
    tb = float(expected.time_base or 0)
    tolerance = 0.002 + tb
    for name, want, got in (("start", expected.first_pts * tb, first), ("end", expected.end_pts * tb, end)):
        if abs(want - got) > tolerance:
            raise VerificationError(f"output {name}s at {got:.3f} s, the input at {want:.3f} s")
    leaks = meta.scan(path)
    if leaks:
        raise VerificationError("metadata left in output: " + ", ".join(map(str, leaks)))


def _walk(path: Path, expected: Expected) -> tuple[int, float, float]:
    """Decode every frame, checking sampled regions; returns frame count, first and end time."""
    pending = {s.index: s for s in expected.sampler.samples}
    count, first, end = 0, 0.0, 0.0
    with av.open(str(path)) as out:
        if len(out.streams.video) != 1 or len(out.streams.audio) > 1 or len(out.streams) > 2:
            raise VerificationError(f"output has unexpected streams: {[s.type for s in out.streams]}")
        out.streams.video[0].thread_type = "AUTO"
        for frame in out.decode(video=0):
            if frame.is_corrupt:
                raise VerificationError(f"output frame {count} is corrupt")
            time = float(frame.time or 0.0)
            first = time if count == 0 else first
            end = time + float((frame.duration or 0) * (frame.time_base or 0))
            sample = pending.pop(count, None)
            if sample is not None:
                _check_sample(to_rgb(frame, Look.of(frame)), sample)
            count += 1
    return count, first, end


def _check_sample(rgb: np.ndarray, s: Sample) -> None:
    original, intended = s.frames()
    try:
        check_covered(rgb, original, intended, s.regions, lossless=False)
    except VerificationError as exc:
        raise VerificationError(f"frame {s.index}: {exc}") from exc
