"""``--fast`` resolved once: the one `Profile` object that every stage reads instead of the flag.

Measured choices (docs/tuning.md, docs/video.md): photos run CenterFace at
full size and on the mirror image, YuNet and a 2x zoom on tiles around small
faces; ``fast`` drops the zoom.  Video runs CenterFace (int8) at up to
1280 px on every second frame and, on the frames between, only around the
faces being tracked; ``fast`` at 960 px on every third frame, with the tracker
bridging the rest, and a faster x264 preset.  Where ``yuface`` does not
install, every plan runs without YuNet (`detect.installed`).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal

from .detect import AUDIT, FAST, PHOTO, VIDEO, VIDEO_FAST, Plan, installed
from .settings import Settings


@dataclass(frozen=True)
class Profile:
    name: Literal["default", "fast"]
    photo: Plan
    video: Plan
    detect_every: int  # video: full detection on every n-th frame (and at every cut)
    between: bool  # video: on the frames between, detection around the faces being tracked
    x264_preset: str
    targets_every_s: float  # video: persons, plates and text found at least this often (seconds)
    audit: Plan = AUDIT  # the self-check's face audit; the same as `unseen check`'s

    def without(self, backend: str) -> Profile:
        """The same profile with no pass of ``backend`` in any of its plans."""
        return replace(
            self,
            photo=self.photo.without(backend),
            video=self.video.without(backend),
            audit=self.audit.without(backend),
        )


DEFAULT = Profile("default", PHOTO, VIDEO, 2, True, "veryfast", 0.2)
FAST_PROFILE = Profile("fast", FAST, VIDEO_FAST, 3, False, "superfast", 0.4)


def resolve(settings: Settings) -> Profile:
    base = FAST_PROFILE if settings.fast else DEFAULT
    if not installed("yunet"):
        base = base.without("yunet")
    if settings.detect_every is None or settings.detect_every == base.detect_every:
        return base
    return replace(base, detect_every=settings.detect_every)
