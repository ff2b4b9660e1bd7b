"""``unseen check``: what in a file could still identify someone.

Two questions per file: what metadata is left (our container parsers and,
when installed, exiftool, each finding naming the tool that saw it), and
whether a face is still visible (the detectors on the decoded picture; for a
video, on frames sampled across it).  The face pass uses stricter thresholds
than ``protect``: it should fire on faces a person would recognise, not on the
noise of a cover.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Literal

import av
import numpy as np

from . import meta
from .detect import FaceFinder, Pass, Plan
from .errors import InputError, UnseenError, UnsupportedError
from .media import image as image_io
from .meta import families
from .settings import Settings
from .types import Detections, FileResult, Status

Kind = Literal["image", "video", "other"]

# Thresholds measured on the astronaut photo: both fire on the bare face, neither on its cover.
CHECK_PLAN = Plan(passes=(Pass("centerface", 1.0, 0.5, 1920), Pass("yunet", 1.0, 0.7, 1600)))
VIDEO_SAMPLES = 16


class Checker:
    """Loads the detectors once (unless ``faces`` is False); ``check(path)`` judges one file."""

    def __init__(self, settings: Settings | None = None, *, faces: bool = True, use_exiftool: bool = True):
        self.finder = FaceFinder(settings or Settings(), CHECK_PLAN) if faces else None
        self.use_exiftool = use_exiftool

    def check(self, path: Path) -> FileResult:
        started = time.perf_counter()
        result = self._check(path)
        result.seconds = time.perf_counter() - started
        return result

    def _check(self, path: Path) -> FileResult:
        try:
            family: str | None = families.identify(path)
        except UnsupportedError:
            family = None  # a kind unseen refuses to clean (RAW, PDF...) can still be scanned
        except InputError as exc:
            return FileResult(path, None, "failed", error=exc.why, kind="other")
        kind: Kind = "video" if family == families.VIDEO else "image" if family else "other"
        findings = [str(f) for f in meta.scan(path, use_exiftool=self.use_exiftool)]
        if family is None and not findings:
            return FileResult(path, None, "failed", error="not a picture or video unseen can read", kind=kind)
        faces = 0
        if self.finder is not None and family is not None:
            try:
                boxes = list(self._faces(path, family))
            except (UnseenError, OSError, ValueError, av.error.FFmpegError) as exc:
                if not findings:
                    return FileResult(path, None, "failed", error=f"cannot look for faces: {exc}", kind=kind)
                boxes = [f"pixels not checked for faces ({exc})"]
            faces = sum(b.startswith("face") for b in boxes)
            findings += boxes
        status: Status = "dirty" if findings else "clean"
        return FileResult(path, None, status, faces=faces, kind=kind, findings=findings)

    def _faces(self, path: Path, family: str) -> Iterator[str]:
        assert self.finder is not None
        frames = _video_frames(path) if family == families.VIDEO else enumerate(image_io.read(path).frames)
        for index, rgb in frames:
            yield from _describe(self.finder.find(rgb), index, family == families.VIDEO)


def _describe(dets: Detections, index: int, is_video: bool) -> Iterator[str]:
    where = f", frame {index}" if is_video else ""
    for (x0, y0, x1, y1), score in zip(dets.xyxy.round().astype(int), dets.scores, strict=True):
        yield f"face at {x0},{y0}-{x1},{y1} (score {score:.2f}{where}) (detector)"


def _video_frames(path: Path) -> Iterator[tuple[int, np.ndarray]]:
    """About ``VIDEO_SAMPLES`` frames spread over the whole video, first and last included."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        total = stream.frames or _estimate_frames(container, stream)
        step = max(1, total // VIDEO_SAMPLES)
        last = None
        for index, frame in enumerate(container.decode(stream)):
            last = (index, frame)
            if index % step == 0:
                yield index, frame.to_ndarray(format="rgb24")
        if last is not None and last[0] % step:
            yield last[0], last[1].to_ndarray(format="rgb24")


def _estimate_frames(container: av.container.InputContainer, stream: av.video.stream.VideoStream) -> int:
    seconds = float(stream.duration * stream.time_base) if stream.duration and stream.time_base else 0.0
    seconds = seconds or (container.duration or 0) / av.time_base
    rate = float(stream.average_rate or stream.guessed_rate or 25)
    return max(1, int(seconds * rate))
