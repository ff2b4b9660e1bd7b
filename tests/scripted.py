"""A detector backend for tests, registered by name: it returns the boxes a test gives it.

Pipeline tests that need known regions use it, so they do not depend on
CenterFace's recall.  ``SCRIPT`` holds (x0, y0, x1, y1, score) rows, returned
for every image in the pixels of the image handed over (the pipeline maps
them back when it shrank the image); ``scripted-audit`` does the same from its
own ``AuditScripted.SCRIPT``, so an audit can see a face the finding missed;
``none`` finds nothing (a quiet audit).
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from unseen.datatypes import Detections
from unseen.detect import BACKENDS, Pass, Plan
from unseen.profiles import DEFAULT, Profile
from unseen.settings import Settings


@BACKENDS.register("scripted")
class Scripted:
    SCRIPT: ClassVar[list[tuple[float, float, float, float, float]]] = []

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def detect(self, rgb: np.ndarray, threshold: float) -> Detections:
        rows = [r for r in self.SCRIPT if r[4] >= threshold]
        boxes = np.asarray([r[:4] for r in rows], np.float32).reshape(-1, 4)
        return Detections.from_boxes(boxes, [r[4] for r in rows], "scripted")


@BACKENDS.register("scripted-audit")
class AuditScripted(Scripted):
    """The same, with a script of its own: an audit that sees what the finding pass did not."""

    SCRIPT: ClassVar[list[tuple[float, float, float, float, float]]] = []


@BACKENDS.register("none")
class Nothing:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def detect(self, rgb: np.ndarray, threshold: float) -> Detections:
        return Detections.empty()


def scripted_profile(audit: str = "none") -> Profile:
    """The default profile with the scripted detector finding and ``audit`` auditing."""
    finds = Plan(passes=(Pass("scripted", 1.0, 0.1),))
    audits = Plan(passes=(Pass(audit, 1.0, 0.5),))
    return Profile("default", finds, finds, 1, False, DEFAULT.x264_preset, DEFAULT.targets_every_s, audits)
