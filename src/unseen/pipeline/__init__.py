"""One file through the stages: read → find → plan → cover → write → verify.

`Protector.analyse` stops at the plan and writes it; `Protector.protect`
renders a plan it is given, or makes one in the same pass.  Photos, videos
and sound-only recordings each have their module (`photo`, `video`,
`audio`), side by side; this one picks by content, loads the models once and
turns errors into results.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path

import numpy as np

from .. import kinds
from ..datatypes import FileResult, FrameHook
from ..detect import FaceFinder
from ..detect.targets import TargetFinder
from ..errors import PlanError, UnsupportedError
from ..jobs import SUFFIX_FORMATS, Job, handled
from ..media import image as image_io
from ..media.audio import need_vocoder
from ..plan import Media, Plan, edited, match, sha256_of
from ..profiles import Profile, resolve
from ..settings import Settings
from ..verify.audit import Audit
from ..write import write_private
from . import audio, photo, video


class Protector:
    """Holds the loaded models for a run; ``protect(job)`` and ``analyse(job)`` handle one file each."""

    def __init__(
        self,
        settings: Settings,
        profile: Profile | None = None,
        finder: FaceFinder | None = None,
        *,
        record: bool = False,
        frames: FrameHook | None = None,
    ):
        """``record``: also keep the plan of a video protected without one (for a report); it holds
        a box per track and frame, so memory grows with the clip.  ``frames(input, written, total)``
        hears how far a video's pass has come, frame by frame."""
        if settings.audio == "disguise":
            need_vocoder()
        self.settings = settings
        self.record = record
        self.frames = frames
        self.profile = profile or resolve(settings)
        self.finder = finder or FaceFinder(settings, self.profile.photo)
        self.others = TargetFinder(settings)
        self._video_others: TargetFinder | None = None  # loaded with the first video
        self.audit = Audit(self.finder, settings, self.profile.audit)
        self.voice_rng = np.random.default_rng(settings.seed)

    def noise(self, digest: str) -> np.random.Generator:
        """The cover noise of one input, drawn from its content (and ``seed``).

        The same input is rendered the same way every time, so a plan rendered
        later covers exactly what ``protect`` alone covers, audit passes
        included.  The noise never depends on the pixels under a cover, and no
        one without the original can foresee it.
        """
        words = [int(digest[i : i + 16], 16) for i in range(0, 64, 16)]
        return np.random.default_rng([*words, self.settings.seed or 0])

    def protect(self, job: Job, plans: dict[str, Plan] | None = None) -> FileResult:
        """Write a protected copy of ``job.source``; with ``plans`` (by input SHA-256), render its plan.

        The result carries the plan as rendered, audit regions included (for a
        video protected without a plan, only when the Protector ``record``s).
        """
        return handled(job, lambda kind: self._protect(job, kind, plans), self.settings.max_pixels)

    def analyse(self, job: Job, *, write: bool = True) -> FileResult:
        """Find ``job.source``'s regions; the result carries the plan, also written to ``job.target``
        (owner-only) unless not to ``write``.  No media is written."""
        return handled(job, lambda kind: self._analyse(job, kind, write), self.settings.max_pixels)

    def _protect(self, job: Job, found: kinds.FileKind, plans: dict[str, Plan] | None) -> FileResult:
        if found.kind == "audio":  # no picture, so no plan: its voice is what identifies the speaker
            note = audio.protect_sound(job, found, self.settings, self.voice_rng)
            return FileResult(job.source, job.target, "protected", kind="audio", note=note)
        plan = None
        if plans is not None:
            plan = _plan_for(job.source, plans, found.kind)
            if found.kind == "video":
                # --cover boxes are drawn by the frames' times as the video is read, and added to
                # the plan after it (`video.protect_video`); a box outside the picture fails now.
                for box in self.settings.manual_boxes():
                    box.placed(plan.media.width, plan.media.height)
                plan = edited(plan, self.settings.keep)
            else:
                plan = edited(plan, self.settings.keep, self.settings.manual_boxes())
        if found.kind == "video":
            digest = sha256_of(job.source)
            record = video.Recording(digest, self._name(job.source)) if self.record else None
            rendered, faces, regions, told = video.protect_video(
                job, self._video_ctx(job, digest, record), plan
            )
            return FileResult(
                job.source,
                job.target,
                "protected",
                faces=faces,
                regions=regions,
                kind="video",
                plan=rendered,
                note=told,
            )
        picture = image_io.read(job.source)
        fmt = SUFFIX_FORMATS.get(job.target.suffix.lower())
        if fmt is None:
            raise UnsupportedError(job.source, f"cannot write an image as {job.target.suffix!r}")
        faces = 0
        if plan is None:
            plan, faces = self._photo_plan(job.source, picture)
        _fits(plan, picture)
        plan = photo.render(
            job,
            picture,
            plan,
            fmt,
            style=self.settings.style,
            jpeg_quality=self.settings.jpeg_quality,
            rng=self.noise(plan.media.sha256),
            audit=self.audit,
        )
        faces = faces or sum(r.kind == "face" for r in plan.regions)
        return FileResult(
            job.source, job.target, "protected", faces=faces, regions=len(plan.covered()), plan=plan
        )

    def _analyse(self, job: Job, found: kinds.FileKind, write: bool) -> FileResult:
        kinds.refuse_sound(job.source, found, "there is no picture to plan; protect disguises its voice")
        if found.kind == "video":
            digest = sha256_of(job.source)
            plan, faces = video.analyse_video(
                job, self._video_ctx(job, digest), digest, self._name(job.source)
            )
            regions = len(plan.tracks)
        else:
            plan, faces = self._photo_plan(job.source, image_io.read(job.source))
            regions = len(plan.regions)
        if write:
            write_private(job.target, plan.to_json().encode())
        return FileResult(
            job.source, job.target, "analysed", faces=faces, regions=regions, kind=found.kind, plan=plan
        )

    def _video_ctx(self, job: Job, digest: str, record: video.Recording | None = None) -> video.Ctx:
        return video.Ctx(
            self.settings,
            self.profile,
            self.finder,
            self._video_targets(),
            self.audit,
            self.noise(digest),
            self.voice_rng,
            progress=partial(self.frames, job.source) if self.frames is not None else None,
            record=record,
        )

    def _video_targets(self) -> TargetFinder:
        if self._video_others is None:
            self._video_others = TargetFinder(self.settings, video=True)
        return self._video_others

    def _photo_plan(self, source: Path, picture: image_io.Picture) -> tuple[Plan, int]:
        h, w = picture.frames[0].shape[:2]
        media = Media(
            sha256=sha256_of(source),
            kind="photo",
            width=w,
            height=h,
            frames=len(picture.frames),
            name=self._name(source),
        )
        plan, faces = photo.analyse(picture, self.finder, self.others, media, self.profile.name)
        return edited(plan, self.settings.keep, self.settings.manual_boxes()), faces

    def _name(self, source: Path) -> str | None:
        return source.name if self.settings.keep_names else None


def _plan_for(source: Path, plans: dict[str, Plan], kind: str) -> Plan:
    plan = match(plans, sha256_of(source))
    if (plan.media.kind == "video") != (kind == "video"):
        raise PlanError(f"the plan is for a {plan.media.kind}")
    return plan


def _fits(plan: Plan, picture: image_io.Picture) -> None:
    h, w = picture.frames[0].shape[:2]
    if (plan.media.width, plan.media.height) != (w, h):
        raise PlanError(
            f"the plan is for a {plan.media.width}x{plan.media.height} picture, this one is {w}x{h}"
        )
