"""What is found besides faces: persons, licence plates and text, each by its own backend.

`--targets` picks them (`unseen.settings.Target`).  Persons serve two
targets: ``heads`` covers the top of every person box whose head holds no
face region (people seen from behind or from above, whom a face detector
cannot see), ``persons`` the whole box.  Plates and text are opt-in: the only
plate detector that ships offline is a weak Haar cascade, and text covers
protest signs, which are often the point of a photo.  Each kind runs on the
whole image at a capped size (its backend tiles where it needs to); turning
the boxes into regions is `unseen.pipeline.targets`' job.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..datatypes import Detections
from ..settings import Settings
from . import Backend, make_backend, resized

Kind = str  # "person", "plate", "text": the region kinds the plan gives them


@dataclass(frozen=True)
class KindPass:
    """Run ``backend`` for region ``kind`` with boxes from ``threshold``, the long side capped at ``max_side``."""

    kind: Kind
    backend: str
    threshold: float
    max_side: int


PERSONS = KindPass("person", "ssdlite-person", 0.3, 1920)
PLATES = KindPass("plate", "haar-plate", 0.0, 1920)
TEXT = KindPass("text", "ppocr-text", 0.5, 1920)


def passes_for(targets: tuple[str, ...]) -> tuple[KindPass, ...]:
    """The passes ``targets`` need (none for faces alone)."""
    wanted = []
    if "heads" in targets or "persons" in targets:
        wanted.append(PERSONS)
    if "plates" in targets:
        wanted.append(PLATES)
    if "text" in targets:
        wanted.append(TEXT)
    return tuple(wanted)


class TargetFinder:
    """Loads the backends ``settings.targets`` need once; ``find(rgb)`` gives their boxes by kind."""

    def __init__(self, settings: Settings) -> None:
        self.targets = settings.targets
        self.passes = passes_for(settings.targets)
        self.backends: dict[str, Backend] = {
            p.backend: make_backend(p.backend, settings) for p in self.passes
        }

    def __bool__(self) -> bool:
        return bool(self.passes)

    def find(self, rgb: np.ndarray) -> dict[Kind, Detections]:
        rgb = rgb[..., :3]
        return {p.kind: self._run(p, rgb) for p in self.passes}

    def _run(self, p: KindPass, rgb: np.ndarray) -> Detections:
        longest = max(rgb.shape[:2])
        scale = min(1.0, p.max_side / longest)
        found = self.backends[p.backend].detect(resized(rgb, scale), p.threshold)
        return found.transformed(scale) if scale != 1.0 else found
