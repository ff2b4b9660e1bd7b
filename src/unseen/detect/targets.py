"""What is found besides faces: persons, licence plates and text, each by its own backend.

`--targets` picks them (`unseen.settings.Target`).  Persons serve two
targets: ``heads`` covers the top of every person box whose head holds no
face region (people seen from behind or from above, whom a face detector
cannot see), ``persons`` the whole box.  Plates and text are opt-in: the only
plate detector that ships offline is a weak Haar cascade, and text covers
protest signs, which are often the point of a photo.  Each backend sizes and
tiles the picture itself; turning the boxes into regions is
`unseen.pipeline.targets`' job.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np

from ..datatypes import Detections
from ..settings import Settings
from . import Backend, make_backend

Kind = str  # "person", "plate", "text": the region kinds the plan gives them


@dataclass(frozen=True)
class KindPass:
    """Run ``backend`` for region ``kind``, keeping boxes from ``threshold`` (each backend sizes and
    tiles the picture itself); ``plate_shaped`` keeps only boxes a plate could be."""

    kind: Kind
    backend: str
    threshold: float
    plate_shaped: bool = False


# unseen.detect.persons.PERSON_THRESHOLD: photos without people stay below it.  Video frames get
# the whole picture only (`WholeFramePersons`): tiles cost more than they add there.
PERSONS = (KindPass("person", "ssdlite-person", 0.4),)
VIDEO_PERSONS = (KindPass("person", "ssdlite-person-whole", 0.4),)
# The Haar cascade alone found none of the 7 readable plates of EgoBlur's plate clip (slanted,
# blue characters); text detection found 4 of them.  A plate is text: plates run both, and keep
# the text boxes a plate could be (docs/targets.md).
PLATES = (KindPass("plate", "haar-plate", 0.0), KindPass("plate", "ppocr-text", 0.5, plate_shaped=True))
TEXT = (KindPass("text", "ppocr-text", 0.5),)
# A plate seen at a slant is nearly square, one seen straight on up to about 5:1; a text box
# wider than a quarter of the picture is a sign, not a plate.
PLATE_ASPECT = (0.7, 8.0)
PLATE_WIDTH = 0.25


def passes_for(targets: tuple[str, ...], *, video: bool = False) -> tuple[KindPass, ...]:
    """The passes ``targets`` need (none for faces alone), for photos or for ``video`` frames."""
    wanted: list[KindPass] = []
    if "heads" in targets or "persons" in targets:
        wanted += VIDEO_PERSONS if video else PERSONS
    if "plates" in targets:
        wanted += PLATES
    if "text" in targets:
        wanted += TEXT
    return tuple(wanted)


class TargetFinder:
    """Loads the backends ``settings.targets`` need once; ``find(rgb)`` gives their boxes by kind."""

    def __init__(self, settings: Settings, *, video: bool = False) -> None:
        self.targets = settings.targets
        self.passes = passes_for(settings.targets, video=video)
        self.backends: dict[str, Backend] = {
            p.backend: make_backend(p.backend, settings) for p in self.passes
        }
        # A video detects frames side by side; OpenCV's plate cascade is not safe to call from two
        # threads at once, so one frame at a time goes through these detectors.
        self.lock = threading.Lock()

    def __bool__(self) -> bool:
        return bool(self.passes)

    def kinds(self) -> set[Kind]:
        return {p.kind for p in self.passes}

    def find(self, rgb: np.ndarray) -> dict[Kind, Detections]:
        with self.lock:
            return self._find(rgb[..., :3])

    def _find(self, rgb: np.ndarray) -> dict[Kind, Detections]:
        runs: dict[tuple[str, float], Detections] = {}  # text for plates and for text: run once
        out: dict[Kind, list[Detections]] = {}
        for p in self.passes:
            key = (p.backend, p.threshold)
            if key not in runs:
                runs[key] = self.backends[p.backend].detect(rgb, p.threshold)
            found = runs[key]
            if p.plate_shaped:
                found = found.take(plate_shaped(found, rgb.shape[1]))
            out.setdefault(p.kind, []).append(found)
        return {kind: Detections.concat(parts) for kind, parts in out.items()}


def plate_shaped(found: Detections, width: int) -> np.ndarray:
    """Which boxes have a plate's shape and size in a picture ``width`` px wide."""
    wh = np.clip(found.xyxy[:, 2:] - found.xyxy[:, :2], 1e-3, None)
    aspect = wh[:, 0] / wh[:, 1]
    shaped: np.ndarray = (
        (aspect >= PLATE_ASPECT[0]) & (aspect <= PLATE_ASPECT[1]) & (wh[:, 0] <= PLATE_WIDTH * width)
    )
    return shaped
