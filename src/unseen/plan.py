"""The plan: every region a run covers or leaves visible, as a document a person can read and edit.

``unseen analyse`` writes one plan per input; ``unseen protect --plan`` renders
from it; ``unseen protect`` alone makes one in memory and renders it in the
same pass.  A photo's plan lists regions, a video's plan lists tracks (a box
per frame, or keyframes with the rule that fills the frames between them).
Every box is the area that gets covered (a face box already grown into its
head), in pixels of the upright picture, so what a person sees in the plan
is what is covered.

A plan holds no pixels and, unless asked, no file name; but it says where
people are in a picture, so it is written readable by its owner only and must
never be shared with the outputs.  The JSON Schema (``plan.schema.json``
beside this module) is generated from these models by ``tools/write_schema.py``.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Annotated, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from .boxes import IntBoxes, areas
from .errors import PlanError, UsageError

FORMAT: Literal["unseen-plan"] = "unseen-plan"
VERSION: Literal[1] = 1
SCHEMA_PATH = Path(__file__).with_name("plan.schema.json")

# face: a face found, grown into its head; head: the head of a person box no face was found in;
# person, plate, text: what --targets adds; manual: a box a person drew (always covered).
RegionKind = Literal["face", "head", "person", "plate", "text", "manual"]
Decision = Literal["cover", "keep"]
Id = Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]{1,40}$")]
Box = tuple[int, int, int, int]
# The lowest frame rate a plan may give: a frame every 1000 s (1e-300 was read as it was).  A
# plan's rate is for a person to read: time spans are placed by the frames' own times (`Shown`).
MIN_FPS = 0.001
FrameBox = tuple[int, int, int, int, int]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Region(_Model):
    """One area of a photo: covered unless its decision is ``keep`` (a ``manual`` area is always covered)."""

    id: Id
    kind: RegionKind
    box: Box = Field(description="x0, y0, x1, y1 in pixels of the upright image: the area covered")
    source: str = Field(description="who found it: a detector pass (centerface@1x), 'audit', or 'person'")
    score: float | None = Field(description="the detector's confidence; null for a person's box")
    decision: Decision = "cover"
    reason: str | None = Field(
        None, description="why a region is left visible (consent), in the user's words"
    )


class Track(_Model):
    """One face, head, person, plate, text or manual area through a video."""

    id: Id
    kind: RegionKind
    source: str
    score: float | None = Field(description="best detector confidence along the track")
    decision: Decision = "cover"
    reason: str | None = None
    fill: Literal["none", "linear"] = Field(
        "none",
        description="frames between two listed boxes: 'none' covers only the listed frames, "
        "'linear' covers every frame between them on the line joining the boxes",
    )
    boxes: list[FrameBox] = Field(description="[frame, x0, y0, x1, y1] by rising frame index")
    detected: list[int] = Field(
        default_factory=list,
        description="frames where a detector saw it; the rest were filled in by tracking",
    )

    def per_frame(self) -> list[FrameBox]:
        """One box for every frame the track covers: with ``linear`` fill, those between the keyframes too."""
        if self.fill == "none" or len(self.boxes) < 2:
            return list(self.boxes)
        out = []
        for frame in range(self.boxes[0][0], self.boxes[-1][0] + 1):
            box = _between(self.boxes, frame)
            assert box is not None
            out.append((frame, box[0], box[1], box[2], box[3]))
        return out


class Media(_Model):
    sha256: Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]
    kind: Literal["photo", "video"]
    width: Annotated[int, Field(gt=0)]
    height: Annotated[int, Field(gt=0)]
    frames: Annotated[int, Field(ge=1)]
    fps: Annotated[float, Field(ge=MIN_FPS, allow_inf_nan=False)] | None = Field(
        None, description="average frame rate of a video"
    )
    name: str | None = Field(None, description="the input's file name, only with --keep-names")
    start: Annotated[float, Field(ge=0, allow_inf_nan=False)] | None = Field(
        None,
        description="when a video's first frame is shown, in seconds from the file's start as a player "
        "counts (later than 0 where the sound starts first); --cover spans count on that clock",
    )


class Plan(_Model):
    format: Literal["unseen-plan"] = FORMAT
    version: Literal[1] = VERSION
    media: Media
    profile: str = Field(description="the detection profile that found the regions: default or fast")
    regions: list[Region] = Field(default_factory=list)
    tracks: list[Track] = Field(default_factory=list)

    @model_validator(mode="after")
    def _consistent(self) -> Plan:
        m = self.media
        ids = [r.id for r in self.regions] + [t.id for t in self.tracks]
        if len(set(ids)) != len(ids):
            raise ValueError("region and track ids must be unique")
        if m.kind == "photo" and self.tracks:
            raise ValueError("a photo's plan has regions, not tracks")
        if m.kind == "video" and self.regions:
            raise ValueError("a video's plan has tracks, not regions")
        for r in self.regions:
            _check_box(r.id, r.box, m)
        for t in self.tracks:
            frames = [b[0] for b in t.boxes]
            if not frames or frames != sorted(set(frames)):
                raise ValueError(f"track {t.id}: boxes must be listed by rising frame, one per frame")
            if frames[0] < 0 or frames[-1] >= m.frames:
                raise ValueError(f"track {t.id}: frames must lie in 0..{m.frames - 1}")
            for frame, *box in t.boxes:
                _check_box(f"{t.id} frame {frame}", (box[0], box[1], box[2], box[3]), m)
        return self

    def covered(self) -> IntBoxes:
        """A photo's boxes to cover: every ``cover`` region and every manual one."""
        return _array(r.box for r in self.regions if r.decision == "cover" or r.kind == "manual")

    def kept(self) -> IntBoxes:
        """A photo's boxes left visible by consent (where they meet a covered box, cover wins)."""
        return _array(r.box for r in self.regions if r.decision == "keep" and r.kind != "manual")

    def with_regions(self, regions: Iterable[Region]) -> Plan:
        return self.model_copy(update={"regions": [*self.regions, *regions]})

    def with_tracks(self, tracks: Iterable[Track]) -> Plan:
        return self.model_copy(update={"tracks": [*self.tracks, *tracks]})

    def to_json(self) -> str:
        return self.model_dump_json(indent=1, exclude_none=False) + "\n"


def _check_box(what: str, box: Box, m: Media) -> None:
    x0, y0, x1, y1 = box
    if not (0 <= x0 < x1 <= m.width and 0 <= y0 < y1 <= m.height):
        raise ValueError(f"{what}: box {list(box)} is empty or outside the {m.width}x{m.height} picture")


def _array(boxes: Iterable[Box]) -> IntBoxes:
    return np.asarray(list(boxes), np.int64).reshape(-1, 4)


class Schedule:
    """A video plan's boxes frame by frame: ``at(frame)`` gives the boxes to cover and to keep."""

    def __init__(self, plan: Plan) -> None:
        self._listed: dict[int, tuple[list[Box], list[Box]]] = defaultdict(lambda: ([], []))
        self._lines: list[tuple[bool, list[FrameBox]]] = []
        for t in plan.tracks:
            cover = t.decision == "cover" or t.kind == "manual"
            if t.fill == "linear" and len(t.boxes) > 1:
                self._lines.append((cover, t.boxes))
                continue
            for frame, *box in t.boxes:
                self._listed[frame][0 if cover else 1].append((box[0], box[1], box[2], box[3]))

    def at(self, frame: int) -> tuple[IntBoxes, IntBoxes]:
        cover, keep = self._listed.get(frame, ([], []))
        cover, keep = list(cover), list(keep)
        for is_cover, keys in self._lines:
            box = _between(keys, frame)
            if box is not None:
                (cover if is_cover else keep).append(box)
        return _array(cover), _array(keep)


def _between(keys: list[FrameBox], frame: int) -> Box | None:
    """The box on the line between the keyframes around ``frame``, grown to whole pixels."""
    frames = [k[0] for k in keys]
    if not frames[0] <= frame <= frames[-1]:
        return None
    i = int(np.searchsorted(frames, frame))
    if frames[i] == frame:
        return keys[i][1], keys[i][2], keys[i][3], keys[i][4]
    a, b = np.asarray(keys[i - 1][1:], float), np.asarray(keys[i][1:], float)
    box = a + (b - a) * (frame - frames[i - 1]) / (frames[i] - frames[i - 1])
    return int(np.floor(box[0])), int(np.floor(box[1])), int(np.ceil(box[2])), int(np.ceil(box[3]))


@dataclass(frozen=True)
class Shown:
    """When each frame of a video is on screen, in seconds from the file's start, as a player counts.

    Frame i is shown from ``starts[i]`` until ``ends[i]``: the next frame's start, as a player
    shows it (the last frame until its own duration ends).  A time span is placed by these
    times, never by the average frame rate: a phone's clip runs at a rate that varies, and
    seconds over the average rate fell on other frames (a box meant from 1 s left a badge
    visible in 10 of the 25 frames after it, where a clip ran at 5 then 25 frames a second).
    """

    starts: np.ndarray
    ends: np.ndarray

    @property
    def end(self) -> float:
        """When the last frame leaves the screen."""
        return float(self.ends[-1]) if len(self.ends) else 0.0

    def frames(self, span: tuple[float, float]) -> np.ndarray:
        """The indices of the frames on screen at any time in ``span`` (`ManualBox.on_screen`)."""
        t0, t1 = span
        return np.flatnonzero((self.starts <= t1) & ((self.ends > t0) | (self.starts >= t0)))


@dataclass(frozen=True)
class ManualBox:
    """A person's ``--cover x,y,w,h`` (``@t0-t1``: only from t0 to t1 seconds of a video)."""

    x: int
    y: int
    w: int
    h: int
    span: tuple[float, float] | None = None

    @classmethod
    def parse(cls, text: str) -> ManualBox:
        box, _, span = text.partition("@")
        try:
            x, y, w, h = (int(v) for v in box.split(","))
            times = tuple(float(v) for v in span.split("-")) if span else None
        except ValueError:
            raise UsageError(f"{text!r} is not x,y,w,h or x,y,w,h@t0-t1") from None
        if w <= 0 or h <= 0:
            raise UsageError(f"{text!r}: width and height must be positive")
        if times is not None and (len(times) != 2 or not 0 <= times[0] <= times[1] < math.inf):
            raise UsageError(f"{text!r}: the time span must be t0-t1 seconds with 0 <= t0 <= t1, both finite")
        return cls(x, y, w, h, (times[0], times[1]) if times else None)

    @classmethod
    def over(cls, boxes: IntBoxes, span: tuple[float, float] | None = None) -> list[ManualBox]:
        """Manual boxes over those of ``boxes`` (pixel corners) that have an area, from ``span``'s seconds."""
        whole = np.asarray(boxes, np.int64).reshape(-1, 4)
        return [cls(x0, y0, x1 - x0, y1 - y0, span) for x0, y0, x1, y1 in whole[areas(whole) > 0].tolist()]

    def spec(self) -> str:
        """The ``--cover`` argument that gives this box back (`parse`)."""
        box = f"{self.x},{self.y},{self.w},{self.h}"
        return box if self.span is None else f"{box}@{self.span[0]!r}-{self.span[1]!r}"

    def placed(self, width: int, height: int) -> Box:
        """The box's corners cut to a ``width`` x ``height`` picture; a `PlanError` when it lies
        wholly outside, since a person asked for something the picture cannot hold."""
        x0, y0 = max(0, self.x), max(0, self.y)
        x1, y1 = min(width, self.x + self.w), min(height, self.y + self.h)
        if x0 >= x1 or y0 >= y1:
            raise PlanError(
                f"--cover {self.x},{self.y},{self.w},{self.h} lies outside the {width}x{height} picture"
            )
        return x0, y0, x1, y1

    def on_screen(self, start: float, end: float) -> bool:
        """Whether the box is drawn on a frame shown from ``start`` until ``end`` seconds.

        A span ``t0-t1`` holds both its ends, and a frame is covered where its time on screen
        meets the span: the frame still showing at t0, though it began before, as much as one
        that begins at t1, so that the box is on screen all through the span.  A frame of no
        length (two frames at one time) is judged by its start.  `Shown.frames` is the same rule.
        """
        if self.span is None:
            return True
        t0, t1 = self.span
        return start <= t1 and (end > t0 or start >= t0)


def cover_arguments(boxes: Iterable[ManualBox]) -> str:
    """``boxes`` as the ``--cover`` arguments a person would type to cover them."""
    return " ".join(f"--cover {box.spec()}" for box in boxes)


def edited(
    plan: Plan, keep: Iterable[str] = (), cover: Iterable[ManualBox] = (), shown: Shown | None = None
) -> Plan:
    """``plan`` with the regions or tracks named in ``keep`` left visible and ``cover`` boxes added.

    A box reaching past the picture is cut to it; one wholly outside, a time
    span outside the video or an unknown id is an error, since a person asked
    for something the plan cannot do.  A video's time span becomes the frames
    ``shown`` in it: its frames' times, which only reading the video gives.
    """
    m = plan.media
    wanted = set(keep)
    known = {r.id for r in plan.regions} | {t.id for t in plan.tracks}
    unknown = sorted(wanted - known)
    if unknown:
        raise PlanError(f"--keep: no region or track {', '.join(unknown)} in the plan")
    regions = [r.model_copy(update={"decision": "keep"}) if r.id in wanted else r for r in plan.regions]
    tracks = [t.model_copy(update={"decision": "keep"}) if t.id in wanted else t for t in plan.tracks]
    for n, box in enumerate(cover, start=1):
        x0, y0, x1, y1 = box.placed(m.width, m.height)
        ident = _free_id(f"m{n}", known)
        known.add(ident)
        if m.kind == "photo":
            if box.span is not None:
                raise PlanError("--cover x,y,w,h@t0-t1: a time span applies to videos only")
            regions.append(Region(id=ident, kind="manual", box=(x0, y0, x1, y1), source="person", score=None))
            continue
        if box.span is None:
            first, last = 0, m.frames - 1
        else:
            assert shown is not None, "a time span is placed by the frames' times"
            first, last = span_frames(box, shown)
        keys = (
            [(first, x0, y0, x1, y1), (last, x0, y0, x1, y1)] if last > first else [(first, x0, y0, x1, y1)]
        )
        tracks.append(Track(id=ident, kind="manual", source="person", score=None, fill="linear", boxes=keys))
    return plan.model_copy(update={"regions": regions, "tracks": tracks})


def span_frames(box: ManualBox, shown: Shown) -> tuple[int, int]:
    """The first and last of the frames ``shown`` that ``box``'s time span reaches; a `PlanError`
    when the clip ends before the span begins (or its picture begins after the span ends, where
    the sound starts first), since a box that covers nothing must not be counted as covered."""
    assert box.span is not None
    reached = shown.frames(box.span)
    if not len(reached) and len(shown.starts) and box.span[1] < shown.starts[0]:
        raise PlanError(
            f"--cover {box.spec()}: the picture begins after it, at {shown.starts[0]:.2f} s (the sound starts first)"
        )
    if not len(reached):
        raise PlanError(
            f"--cover {box.spec()}: the video ends before it ({len(shown.starts)} frames, {shown.end:.2f} s)"
        )
    return int(reached[0]), int(reached[-1])


def plan_fps(rate: float | Fraction | None) -> float | None:
    """A video's frame rate as its plan gives it: None where unknown, or too low for a plan (a
    damaged or crafted file's), rather than refusing the file."""
    return float(rate) if rate and float(rate) >= MIN_FPS else None


def _free_id(base: str, taken: set[str]) -> str:
    ident, n = base, 1
    while ident in taken:
        n += 1
        ident = f"{base}-{n}"
    return ident


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def load(path: Path) -> Plan:
    """Read and validate a plan; any problem is a `PlanError` that names the file and the fault."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise PlanError(f"plan {path}: cannot be read ({exc})") from exc
    try:
        return Plan.model_validate_json(text)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "plan"
        more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
        raise PlanError(f"plan {path}: {where}: {first['msg']}{more}") from exc


def load_all(where: Path) -> dict[str, Plan]:
    """Plans by their input's SHA-256: one file, or every ``*.json`` in a folder."""
    return {digest: plan for digest, (_file, plan) in load_files(where).items()}


def load_files(where: Path) -> dict[str, tuple[Path, Plan]]:
    """Plans by their input's SHA-256, each with its file.

    Two plans for one input are refused, naming both: which one to render is
    the person's choice (an edited copy beside the plan it was made from),
    and taking the one that sorts last could leave uncovered what they added.
    """
    files = sorted(where.rglob("*.json")) if where.is_dir() else [where]
    if not files:
        raise PlanError(f"no plan (*.json) in {where}")
    plans: dict[str, tuple[Path, Plan]] = {}
    for file in files:
        plan = load(file)
        if (earlier := plans.get(plan.media.sha256)) is not None:
            raise PlanError(
                f"plans {earlier[0]} and {file} are both for one input; move one of them out of {where}"
            )
        plans[plan.media.sha256] = (file, plan)
    return plans


def match(plans: dict[str, Plan], digest: str) -> Plan:
    """The plan made for the input whose SHA-256 is ``digest``, or a `PlanError` saying none was."""
    plan = plans.get(digest)
    if plan is None:
        if len(plans) == 1:
            raise PlanError("the plan was made for another file (its SHA-256 differs)")
        raise PlanError("no plan was made for this file (no plan has its SHA-256)")
    return plan


def schema() -> dict[str, object]:
    return Plan.model_json_schema()


def schema_text() -> str:
    return json.dumps(schema(), indent=2, sort_keys=True) + "\n"
