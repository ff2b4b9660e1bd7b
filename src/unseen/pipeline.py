"""One file through the stages: read → detect → cover → write → verify."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Literal

import numpy as np

from .cover import cover, head_regions
from .detect import FaceFinder
from .errors import InputError, UnseenError, UnsupportedError, VerificationError
from .jobs import SUFFIX_FORMATS, VIDEO_SUFFIXES, Job
from .media import image as image_io
from .settings import Settings
from .types import Detections, FileResult, Region, Status
from .verify import check_image
from .write import staged, write_bytes


class Protector:
    """Holds the loaded models for a run; ``protect(job)`` handles one file."""

    def __init__(self, settings: Settings, finder: FaceFinder | None = None) -> None:
        self.settings = settings
        self.finder = finder or FaceFinder(settings)
        self.rng = np.random.default_rng(settings.seed)

    def protect(self, job: Job) -> FileResult:
        started = time.perf_counter()
        kind: Literal["image", "video"] = "video" if job.source.suffix.lower() in VIDEO_SUFFIXES else "image"
        try:
            if kind == "video":
                from .media.video import protect_video

                result: FileResult = protect_video(job, self.settings, self.finder, self.rng)
            else:
                result = self._protect_image(job)
        except UnseenError as exc:
            status = _status_of(exc)
            why = exc.why if isinstance(exc, InputError) else str(exc)
            result = FileResult(job.source, None, status, error=why, kind=kind)
        result.seconds = time.perf_counter() - started
        return result

    def _protect_image(self, job: Job) -> FileResult:
        picture = image_io.read(job.source)
        fmt = SUFFIX_FORMATS.get(job.target.suffix.lower())
        if fmt is None:
            raise UnsupportedError(job.source, f"cannot write an image as {job.target.suffix!r}")
        faces, regions, covered = self.cover_frames(picture.frames)
        data = image_io.encode(picture, covered, fmt, self.settings.jpeg_quality)
        with staged(job.target) as temp:
            write_bytes(temp, data)
            check_image(temp, fmt, picture.frames, covered, regions)
        return FileResult(job.source, job.target, "protected", faces=faces, regions=len(regions))

    def cover_frames(self, frames: list[np.ndarray]) -> tuple[int, list[Region], list[np.ndarray]]:
        """Detect on every frame and cover the union of all frames' regions on each.

        Animated GIF/WebP frames are few and show the same scene, so one region
        list for all is simpler and safer than per-frame lists.
        """
        found = [self.finder.find(f) for f in frames]
        h, w = frames[0].shape[:2]
        regions = head_regions(Detections.concat(found), w, h, extra_boxes=self.settings.extra_boxes)
        covered = [cover(f, regions, self.settings.style, self.rng) for f in frames]
        return max(len(d) for d in found), regions, covered


def _status_of(exc: UnseenError) -> Status:
    if isinstance(exc, UnsupportedError):
        return "refused"
    if isinstance(exc, VerificationError):
        return "unverified"
    return "failed"


def protect_path(source: Path, target: Path, settings: Settings | None = None) -> FileResult:
    """Library entry point for one file: ``protect_path(Path('in.jpg'), Path('out/safe.jpg'))``."""
    from .jobs import plan

    settings = settings or Settings()
    (job,) = plan([source], target, out_format=settings.format, keep_names=settings.keep_names)
    return Protector(settings).protect(job)
