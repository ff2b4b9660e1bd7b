"""One review: the files, their plans as a person edits them, undo, and Apply.

The page never holds the truth: every edit is sent here, applied to the plan
by `unseen.review.edits`, checked by the plan's own model and kept with the
plan before it for undo.  Apply saves each plan (owner-only, in a folder
beside the outputs' folder, so the review can be resumed or rerun with
``protect --plan``) and renders it through the very pipeline ``protect
--plan`` runs, self-check included.  Files are known to the page by random
ids, never by their paths.
"""

from __future__ import annotations

import queue
import secrets
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, ValidationError

from ..boxes import iou_matrix
from ..datatypes import FileKind, FileResult
from ..errors import PlanError, UnseenError
from ..jobs import Job, handled
from ..media import image as image_io
from ..pipeline import Protector
from ..plan import Box, Plan, Region, Schedule, Track, load_files, match, sha256_of
from ..write import write_private
from . import attention, carry, edits, previews
from .candidates import candidates as find_candidates

REJOINED = 0.6  # a carried correction stops where it overlaps the track's own box this much
CONTACT_FRAMES = 60  # at most this many frames of one video on the contact sheet


class Edit(BaseModel):
    """One edit the page asks for; which fields count depends on ``op``."""

    model_config = ConfigDict(extra="forbid")

    op: Literal["add", "box", "delete", "keep", "cover", "accept", "split", "trim", "merge"]
    id: str | None = None
    box: tuple[int, int, int, int] | None = None
    frame: int | None = None
    reason: str | None = None
    first: int | None = None
    last: int | None = None
    other: str | None = None


@dataclass
class File:
    """A file under review."""

    key: str
    job: Job
    plan: Plan
    first: Plan  # as found, before any edit: what the exposure summary compares against
    candidates: list[Region]
    previews: previews.Previews
    plan_path: Path
    analysis_s: float
    seen: bool = False
    result: FileResult | None = None
    _index: dict[int, list[tuple[Track, Box]]] | None = field(default=None, repr=False)
    _schedule: Schedule | None = field(default=None, repr=False)

    @property
    def name(self) -> str:
        return self.job.source.name

    def at(self, frame: int) -> list[tuple[Track, Box]]:
        """The tracks with a box on ``frame``."""
        if self._index is None:
            index: dict[int, list[tuple[Track, Box]]] = {}
            for t in self.plan.tracks:
                for f, x0, y0, x1, y1 in t.per_frame():
                    index.setdefault(f, []).append((t, (x0, y0, x1, y1)))
            self._index = index
        return self._index.get(frame, [])

    def covers(self, frame: int) -> np.ndarray:
        """The boxes the plan covers on ``frame``."""
        if self.plan.media.kind == "photo":
            return self.plan.covered()
        if self._schedule is None:
            self._schedule = Schedule(self.plan)
        return self._schedule.at(frame)[0]

    def set_plan(self, plan: Plan) -> None:
        self.plan = plan
        self._index = self._schedule = None


class Session:
    """The review's files and state; thread-safe, since the server answers from a thread pool."""

    def __init__(
        self,
        protector: Protector,
        plans_dir: Path,
        plan_jobs: list[Job],
        *,
        given: dict[str, Plan] | None = None,
        report: Path | None = None,
    ) -> None:
        self.protector = protector
        self.settings = protector.settings
        self.plans_dir = plans_dir
        self.plan_targets = {j.source: j.target for j in plan_jobs}
        self.given = given
        self.report = report
        self.store = previews.Store()
        self.files: dict[str, File] = {}
        self.failed: list[FileResult] = []
        self.lock = threading.RLock()
        self.history: list[tuple[str, Plan, list[Region]]] = []
        self.applying = False
        # The plans an earlier review saved in this folder, by input: saved over, not beside.
        self.saved = _saved(plans_dir)
        # The plan files this review may save over: its own saves and those earlier ones.
        self.written: set[Path] = set(self.saved.values())
        self.progress = (0, 0)
        self.started = time.perf_counter()
        self.tasks: queue.Queue[str] = queue.Queue()  # what the page asks the main thread to do

    def __enter__(self) -> Session:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        """Remove every preview (original pixels) from the disk."""
        self.store.close()

    # -- finding -------------------------------------------------------------------------------

    def add(self, job: Job) -> FileResult:
        """Analyse one input (or take its plan from ``given``) and make its previews."""
        started = time.perf_counter()
        if self.given is not None:
            result = handled(job, lambda kind: self._resumed(job), self.protector.settings.max_pixels)
        else:
            result = self.protector.analyse(job, write=False)
        plan = result.plan
        if plan is None:
            self.failed.append(result)
            return result
        prepared = handled(
            job,
            lambda kind: self._prepare(job, plan, time.perf_counter() - started),
            self.protector.settings.max_pixels,
        )
        if prepared.error:
            self.failed.append(prepared)
        return prepared

    def _resumed(self, job: Job) -> FileResult:
        assert self.given is not None
        plan = match(self.given, sha256_of(job.source))
        kind: FileKind = "video" if plan.media.kind == "video" else "image"
        return FileResult(
            job.source, None, "analysed", kind=kind, regions=len(plan.regions) + len(plan.tracks), plan=plan
        )

    def _prepare(self, job: Job, plan: Plan, analysis_s: float) -> FileResult:
        key = secrets.token_urlsafe(9)
        folder = self.store.folder(key)
        found: list[Region] = []
        if plan.media.kind == "video":
            shots = previews.video(folder, job.source, plan.media.frames, plan.media.width, plan.media.height)
            if shots.count != plan.media.frames:
                raise PlanError(f"the plan counts {plan.media.frames} frames, the video has {shots.count}")
        else:
            picture = image_io.read(job.source)
            frame = picture.frames[0]
            if (frame.shape[1], frame.shape[0]) != (plan.media.width, plan.media.height):
                raise PlanError("the plan is for a picture of another size")
            shots = previews.photo(folder, frame)
            p = self.protector
            found = find_candidates(p.finder, self.settings, p.profile.photo, frame[..., :3], plan)
        # One plan file per input, also for two inputs of the same bytes.
        target = self.saved.setdefault(plan.media.sha256, self.plan_targets[job.source])
        with self.lock:
            self.files[key] = File(key, job, plan, plan, found, shots, target, analysis_s)
        kind: FileKind = "video" if plan.media.kind == "video" else "image"
        return FileResult(
            job.source, None, "analysed", kind=kind, regions=len(plan.regions) + len(plan.tracks)
        )

    # -- what the page reads -------------------------------------------------------------------

    def file(self, key: str) -> File:
        found = self.files.get(key)
        if found is None:
            raise KeyError(key)
        return found

    def state(self) -> dict[str, Any]:
        with self.lock:
            return {
                "files": [self._summary(f) for f in self.files.values()],
                "failed": [{"name": r.input.name, "error": r.error} for r in self.failed],
                "applying": self.applying,
                "progress": list(self.progress),
                "applied": any(f.result is not None for f in self.files.values()),
                "plans": str(self.plans_dir),
                "report": str(self.report) if self.report is not None else None,
            }

    def _summary(self, f: File) -> dict[str, Any]:
        r = f.result
        status = r.status if r is not None else ("reviewed" if f.seen else "to review")
        return {
            "key": f.key,
            "name": f.name,
            "kind": f.plan.media.kind,
            "status": status,
            "error": r.error if r is not None else None,
            "regions": len(f.plan.regions) + len(f.plan.tracks),
            "visible": sum(r.decision == "keep" for r in f.plan.regions)
            + sum(t.decision == "keep" for t in f.plan.tracks),
            "candidates": len(f.candidates),
        }

    def detail(self, key: str) -> dict[str, Any]:
        with self.lock:
            f = self.file(key)
            f.seen = True
            m = f.plan.media
            return {
                **self._summary(f),
                "width": m.width,
                "height": m.height,
                "frames": m.frames,
                "fps": m.fps,
                "start": m.start or 0.0,  # the first frame's time on the file's clock, as --cover counts
                "scale": f.previews.scale,
                "regions": [r.model_dump() for r in f.plan.regions],
                "candidates": [c.model_dump() for c in f.candidates],
                "tracks": [_track_card(t) for t in f.plan.tracks],
                "locked": f.result is not None and f.result.status == "protected",
            }

    def boxes(self, key: str, frame: int) -> list[dict[str, Any]]:
        """A video frame's boxes, with whether a detector saw each there."""
        with self.lock:
            f = self.file(key)
            return [
                {
                    "id": t.id,
                    "box": list(box),
                    "kind": t.kind,
                    "source": t.source,
                    "score": t.score,
                    "decision": t.decision,
                    "reason": t.reason,
                    "seen": frame in t.detected,
                }
                for t, box in f.at(frame)
            ]

    def covered_jpeg(self, key: str, frame: int) -> bytes:
        with self.lock:
            f = self.file(key)
            boxes = f.covers(frame)
        return f.previews.covered(frame, boxes, self.settings.style)

    def thumb(self, key: str, ident: str) -> bytes:
        """A crop of a region, candidate or track (as it is now, or as found if deleted since)."""
        with self.lock:
            f = self.file(key)
            frame, box = _where(f, ident)
        return f.previews.crop(frame, box)

    def queue(self) -> list[dict[str, Any]]:
        with self.lock:
            items = [
                i
                for f in self.files.values()
                if not _locked(f)
                for i in attention.queue(f.key, f.plan, f.candidates)
            ]
            names = {f.key: f.name for f in self.files.values()}
        items.sort(key=lambda i: -i.risk)
        return [{**_item(i), "name": names[i.file], "risk": round(i.risk, 2)} for i in items]

    def exposure(self) -> dict[str, Any]:
        with self.lock:
            visible = [
                _item(i) for f in self.files.values() for i in attention.exposure(f.key, f.first, f.plan)
            ]
            sheet = []
            for f in self.files.values():
                m = f.plan.media
                step = max(1, round(m.fps or 1), -(-m.frames // CONTACT_FRAMES))
                frames = [0] if m.kind == "photo" else list(range(0, m.frames, step))
                sheet.append({"key": f.key, "name": f.name, "frames": frames})
        return {"visible": visible, "sheet": sheet}

    # -- edits ---------------------------------------------------------------------------------

    def edit(self, key: str, change: Edit) -> None:
        with self.lock:
            if self.applying:
                raise PlanError("Apply is running: wait for it to finish")
            f = self.file(key)
            if _locked(f):
                raise PlanError("this file is written already; its plan can no longer change")
            before = (f.plan, f.candidates)
            plan, found = self._changed(f, change)
            try:
                plan = Plan.model_validate(plan.model_dump())
            except ValidationError as exc:
                raise PlanError(exc.errors()[0]["msg"]) from exc
            f.set_plan(plan)
            f.candidates = found
            self.history.append((key, *before))

    def undo(self) -> str | None:
        """Take back the last edit of any file; returns that file's id."""
        with self.lock:
            if self.applying:  # the edits stay undoable for the files that Apply does not write
                return None
            while self.history:
                key, plan, found = self.history.pop()
                f = self.files[key]
                if not _locked(f):
                    f.set_plan(plan)
                    f.candidates = found
                    return key
            return None

    def _changed(self, f: File, c: Edit) -> tuple[Plan, list[Region]]:
        plan, found, video = f.plan, f.candidates, f.plan.media.kind == "video"
        if c.op == "add":
            box = edits.clipped(plan.media, _need(c.box, "box"))
            if not video:
                return edits.add_region(plan, box)[0], found
            frame = _need(c.frame, "frame")
            return edits.add_track(plan, self._carried(f, frame, box, None))[0], found
        ident = _need(c.id, "id")
        if c.op == "accept":
            candidate = next((k for k in found if k.id == ident), None)
            if candidate is None:
                raise PlanError(f"no candidate {ident}")
            return edits.accept(plan, candidate)[0], [k for k in found if k.id != ident]
        if c.op == "box":
            box = edits.clipped(plan.media, _need(c.box, "box"))
            if not video:
                return edits.move_region(plan, ident, box), found
            frame = _need(c.frame, "frame")
            track = next((t for t in plan.tracks if t.id == ident), None)
            if track is None:
                raise PlanError(f"no track {ident}")
            return edits.retrack(plan, ident, self._carried(f, frame, box, track)), found
        if c.op == "delete":
            return edits.remove(plan, ident), found
        if c.op in ("keep", "cover"):
            return edits.decide(plan, ident, "keep" if c.op == "keep" else "cover", c.reason), found
        if c.op == "split":
            return edits.split(plan, ident, _need(c.frame, "frame"))[0], found
        if c.op == "trim":
            return edits.trim(plan, ident, _need(c.first, "first"), _need(c.last, "last")), found
        return edits.merge(plan, ident, _need(c.other, "other")), found

    def _carried(self, f: File, frame: int, box: Box, track: Track | None) -> dict[int, Box]:
        """``box`` on ``frame`` and the frames the tracker carries it to.

        A correction of a track stops where it meets the track's own box again,
        and stays within the track's frames when it was made inside them.
        """
        grey = f.previews.grey
        if grey is None or not 0 <= frame < f.plan.media.frames:
            raise PlanError(f"frame {frame} is outside the video")
        if track is None:
            return carry.follow(grey, frame, box)
        own = {r[0]: r[1:] for r in track.per_frame()}
        inside = min(own) <= frame <= max(own)

        def stop(n: int, carried: Box) -> bool:
            if n not in own:
                return inside
            a = np.asarray([carried], np.float32)
            b = np.asarray([own[n]], np.float32)
            return float(iou_matrix(a, b)[0, 0]) >= REJOINED

        return carry.follow(grey, frame, box, stop)

    # -- apply ---------------------------------------------------------------------------------

    def start_apply(self) -> None:
        with self.lock:
            if not self.applying:
                self.applying = True
                self.progress = (0, sum(not _locked(f) for f in self.files.values()))
                self.tasks.put("apply")

    def finish(self) -> None:
        """The page is done: `work` returns and the review ends."""
        self.tasks.put("done")

    def work(self) -> None:
        """Carry out what the page asks for and takes long (Apply), in the calling thread, until
        the page says it is done.  The main thread calls it, so Ctrl-C stops a render the way it
        stops ``protect`` (no half-written file is left)."""
        while True:
            try:
                task = self.tasks.get(timeout=0.25)
            except queue.Empty:
                continue
            if task == "done":
                return
            self._apply()

    def _apply(self) -> None:
        todo = [f for f in self.files.values() if not _locked(f)]
        try:
            for n, f in enumerate(todo, start=1):
                f.result = self._render(f)
                with self.lock:
                    self.progress = (n, len(todo))
        finally:
            with self.lock:
                self.applying = False

    def _render(self, f: File) -> FileResult:
        """Save the plan beside the outputs' folder, then render it as ``protect --plan`` would."""
        try:
            self.plans_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
            # Saved again only over its own save or the plan an earlier review saved for this input: a
            # file another program put there since the start (the names were free then) is not replaced.
            write_private(f.plan_path, f.plan.to_json().encode(), replace=f.plan_path in self.written)
            self.written.add(f.plan_path)
        except (UnseenError, OSError) as exc:
            return FileResult.of_error(
                f.job.source, exc if isinstance(exc, UnseenError) else PlanError(str(exc)), "other"
            )
        return self.protector.protect(f.job, {f.plan.media.sha256: f.plan})

    def analysis_seconds(self) -> dict[Path, float]:
        """Seconds spent finding each file's regions, for the report."""
        return {f.job.source: f.analysis_s for f in self.files.values()}

    def results(self) -> list[FileResult]:
        """Every input's result: rendered, failed, or not written because Apply never ran for it."""
        out = list(self.failed)
        for f in self.files.values():
            out.append(
                f.result
                or FileResult(
                    f.job.source,
                    None,
                    "failed",
                    error="not written: the review ended before Apply",
                    plan=f.plan,
                )
            )
        return out


def _saved(plans_dir: Path) -> dict[str, Path]:
    """The plan files already in the review's plan folder, by their input's SHA-256.

    A review run again into the same outputs saves each input's plan over the
    one there: beside it, under a new random name, the folder would hold two
    plans for one input, which ``--plan`` refuses (`plan.load_files`).
    """
    if not plans_dir.is_dir() or not any(plans_dir.rglob("*.json")):
        return {}
    return {digest: file for digest, (file, _plan) in load_files(plans_dir).items()}


def _need(value: Any, name: str) -> Any:
    if value is None:
        raise PlanError(f"this edit needs a {name}")
    return value


def _locked(f: File) -> bool:
    return f.result is not None and f.result.status == "protected"


def _track_card(t: Track) -> dict[str, Any]:
    rows = t.per_frame()
    seen = set(t.detected)
    return {
        "id": t.id,
        "kind": t.kind,
        "source": t.source,
        "score": t.score,
        "decision": t.decision,
        "reason": t.reason,
        "first": rows[0][0],
        "last": rows[-1][0],
        "count": len(rows),
        "filled": sum(r[0] not in seen for r in rows) if t.detected else 0,
        "keys": sorted(seen) if seen else [b[0] for b in t.boxes] if t.fill == "linear" else [],
    }


def _where(f: File, ident: str) -> tuple[int, Box]:
    """A frame that shows ``ident`` well (the largest box a detector saw) and its box there."""
    for r in [*f.plan.regions, *f.candidates, *f.first.regions]:
        if r.id == ident:
            return 0, r.box
    for t in [*f.plan.tracks, *f.first.tracks]:
        if t.id == ident:
            rows = [r for r in t.per_frame() if r[0] in set(t.detected)] or t.per_frame()
            best = max(rows, key=lambda r: (r[3] - r[1]) * (r[4] - r[2]))
            return best[0], (best[1], best[2], best[3], best[4])
    raise KeyError(ident)


def _item(i: attention.Item) -> dict[str, Any]:
    return {
        "key": i.file,
        "target": i.target,
        "frame": i.frame,
        "why": i.why,
        "box": list(i.box) if i.box else None,
    }
