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
from ..errors import VerificationError
from ..types import Region
from ..verify import check_covered
from .video_out import Look, to_rgb

SAMPLES = 24


@dataclass
class Sample:
    """One region of one frame: what the face looked like and what we meant to write there."""

    index: int
    region: Region
    original: np.ndarray
    intended: np.ndarray


class Sampler:
    """Keeps the covered regions of every n-th frame, cropped, so the check costs little memory."""

    def __init__(self, total_estimate: int) -> None:
        self.stride = max(1, total_estimate // SAMPLES) if total_estimate else 15
        self.samples: list[Sample] = []

    def offer(self, index: int, original: np.ndarray, covered: np.ndarray, regions: list[Region]) -> None:
        if index % self.stride:
            return
        for r in regions:
            sl = np.s_[r.y0 : r.y1, r.x0 : r.x1]
            self.samples.append(Sample(index, r, original[sl].copy(), covered[sl].copy()))


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
    pending: dict[int, list[Sample]] = {}
    for s in expected.sampler.samples:
        pending.setdefault(s.index, []).append(s)
    count, first, end = 0, 0.0, 0.0
    with av.open(str(path)) as out:
        if len(out.streams.video) != 1 or len(out.streams.audio) > 1 or len(out.streams) > 2:
            raise VerificationError(f"output has unexpected streams: {[s.type for s in out.streams]}")
        for frame in out.decode(video=0):
            if frame.is_corrupt:
                raise VerificationError(f"output frame {count} is corrupt")
            time = float(frame.time or 0.0)
            first = time if count == 0 else first
            end = time + float((frame.duration or 0) * (frame.time_base or 0))
            for s in pending.pop(count, []):
                _check_sample(frame, s)
            count += 1
    return count, first, end


def _check_sample(frame: av.VideoFrame, s: Sample) -> None:
    r = s.region
    decoded = to_rgb(frame, Look.of(frame))[r.y0 : r.y1, r.x0 : r.x1]
    local = Region(0, 0, r.x1 - r.x0, r.y1 - r.y0, r.reason)
    try:
        check_covered(decoded, s.original, s.intended, [local], lossless=False)
    except VerificationError as exc:
        raise VerificationError(f"frame {s.index}: {exc}") from exc
