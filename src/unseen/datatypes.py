"""The few data types every stage speaks.

`Detections` holds boxes as arrays (one row per face) so that stages can
filter, scale and merge them without Python loops.  Boxes are always
``x0, y0, x1, y1`` in pixels of the image they were found in.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import numpy.typing as npt

from .errors import InputError, UnseenError, UnsupportedError, VerificationError
from .plan import Plan

FloatArray = npt.NDArray[np.float32]
IntArray = npt.NDArray[np.int64]
Status = Literal[
    "protected", "analysed", "stripped", "skipped", "clean", "failed", "refused", "unverified", "dirty"
]
FileKind = Literal["image", "video", "audio", "other"]


@dataclass(frozen=True)
class Detections:
    """Boxes found in one image, with where each came from.

    ``landmarks`` is (N, 5, 2) and holds NaN where a detector gives none.
    ``sources`` names the detector pass that produced each row (``centerface@1x``).
    ``ids`` is the track each row belongs to, -1 for a plain detection.
    """

    xyxy: FloatArray
    scores: FloatArray
    landmarks: FloatArray
    sources: tuple[str, ...]
    ids: IntArray = field(default_factory=lambda: np.zeros(0, np.int64))

    def __post_init__(self) -> None:
        n = len(self.xyxy)
        if self.xyxy.shape != (n, 4) or self.scores.shape != (n,):
            raise ValueError("xyxy must be (N, 4) and scores (N,)")
        if self.landmarks.shape != (n, 5, 2) or len(self.sources) != n:
            raise ValueError("landmarks must be (N, 5, 2) and one source per row")
        if len(self.ids) != n:
            if len(self.ids):
                raise ValueError("one id per row")
            object.__setattr__(self, "ids", np.full(n, -1, np.int64))

    @classmethod
    def empty(cls) -> Detections:
        return cls(
            np.zeros((0, 4), np.float32),
            np.zeros(0, np.float32),
            np.zeros((0, 5, 2), np.float32),
            (),
        )

    @classmethod
    def from_boxes(
        cls,
        xyxy: npt.ArrayLike,
        scores: npt.ArrayLike,
        source: str,
        landmarks: npt.ArrayLike | None = None,
    ) -> Detections:
        boxes = np.asarray(xyxy, np.float32).reshape(-1, 4)
        n = len(boxes)
        marks = (
            np.full((n, 5, 2), np.nan, np.float32)
            if landmarks is None
            else np.asarray(landmarks, np.float32).reshape(n, 5, 2)
        )
        return cls(boxes, np.asarray(scores, np.float32).reshape(n), marks, (source,) * n)

    @classmethod
    def concat(cls, parts: list[Detections]) -> Detections:
        parts = [p for p in parts if len(p)]
        if not parts:
            return cls.empty()
        return cls(
            np.concatenate([p.xyxy for p in parts]),
            np.concatenate([p.scores for p in parts]),
            np.concatenate([p.landmarks for p in parts]),
            tuple(s for p in parts for s in p.sources),
            np.concatenate([p.ids for p in parts]),
        )

    def __len__(self) -> int:
        return len(self.xyxy)

    def take(self, index: npt.NDArray[np.bool_] | npt.NDArray[np.intp]) -> Detections:
        rows = np.arange(len(self))[index]
        return Detections(
            self.xyxy[rows],
            self.scores[rows],
            self.landmarks[rows],
            tuple(self.sources[i] for i in rows),
            self.ids[rows],
        )

    def transformed(self, scale: float, dx: float = 0.0, dy: float = 0.0) -> Detections:
        """Map boxes found in a resized/cropped view back: ``p / scale + (dx, dy)``."""
        shift = np.array([dx, dy], np.float32)
        xyxy = self.xyxy / scale + np.tile(shift, 2)
        return Detections(xyxy, self.scores, self.landmarks / scale + shift, self.sources, self.ids)

    def mirrored(self, width: float) -> Detections:
        """Map boxes found in the left-right mirror image of a ``width``-px picture back (and forth).

        Landmarks keep their meaning: the mirrored left eye is the right one.
        """
        x0, y0, x1, y1 = self.xyxy.T
        xyxy = np.stack([width - x1, y0, width - x0, y1], axis=1)
        marks = self.landmarks[:, [1, 0, 2, 4, 3]].copy()
        marks[..., 0] = width - marks[..., 0]
        return Detections(xyxy, self.scores, marks, self.sources, self.ids)

    def labelled(self, source: str) -> Detections:
        """The same rows, all credited to ``source``."""
        return Detections(self.xyxy, self.scores, self.landmarks, (source,) * len(self), self.ids)

    @property
    def sizes(self) -> FloatArray:
        """Geometric mean of box width and height, the scorer's notion of face size."""
        wh = np.clip(self.xyxy[:, 2:] - self.xyxy[:, :2], 0, None)
        sizes: FloatArray = np.sqrt(wh[:, 0] * wh[:, 1]).astype(np.float32)
        return sizes


# (input, frames written, frames in all): how far a video's pass has come.
FrameHook = Callable[[Path, int, int], None]


@dataclass
class FileResult:
    """What happened to one input file.  The CLI turns these into lines and exit codes."""

    input: Path
    output: Path | None
    status: Status
    faces: int = 0
    regions: int = 0
    seconds: float = 0.0
    error: str | None = None
    kind: FileKind = "image"
    findings: list[str] = field(default_factory=list)
    note: str | None = None  # how the output was made: "rewritten", "remuxed", "re-encoded: <why>"
    plan: Plan | None = None  # the plan analysed or rendered (audit regions included), for review and report

    @classmethod
    def of_error(cls, source: Path, exc: UnseenError, kind: FileKind) -> FileResult:
        """The result of a file that raised ``exc``: refused, unverified or failed, with a one-line reason."""
        why = exc.why if isinstance(exc, InputError) else str(exc)
        why = " ".join(why.split())  # one line, whatever a library put in its message (libheif: "\n")
        status: Status = (
            "refused"
            if isinstance(exc, UnsupportedError)
            else "unverified"
            if isinstance(exc, VerificationError)
            else "failed"
        )
        return cls(source, None, status, error=why, kind=kind)

    def to_json(self, *, with_paths: bool = True) -> dict[str, object]:
        data: dict[str, object] = {
            "status": self.status,
            "kind": self.kind,
            "faces": self.faces,
            "regions": self.regions,
            "seconds": round(self.seconds, 3),
        }
        if with_paths:
            data["path"] = str(self.input)
            data["output"] = str(self.output) if self.output else None
        if self.error:
            data["error"] = self.error
        if self.findings:
            data["findings"] = self.findings
        if self.note:
            data["note"] = self.note
        return data
