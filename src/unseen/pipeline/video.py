"""Videos: decode → detect → track → (plan) → cover → encode, in one streaming pass.

Frames wait in a short look-ahead buffer before they are covered, so that a
face first detected a few frames later is covered in those earlier frames too
(see `unseen.track`).  The buffer has a fixed length, so the frames held do not
grow with the length of the clip; what the detectors found is kept for a
further pass (`Detected`): about 1 KB a frame in which they found something
(100 MB for two hours of faces in every frame at 30 fps), nothing for a frame
in which they found nothing.  Detection runs in worker threads, up to
`IN_FLIGHT` frames at once ahead of the rest: onnxruntime releases the interpreter
while it works, so decoding, covering and encoding use the cores it leaves idle.  Sound goes
through `unseen.media.audio` in the same pass.

The same pass serves three commands: ``protect`` (find and cover), ``analyse``
(find and record the plan, write no media) and ``protect --plan`` (cover what
a plan lists, find nothing).  Each track's box in a frame is grown into its
head region before it is recorded or covered, so a plan lists exactly what is
covered.  After writing, the self-check (`unseen.verify.video`) decodes the
output; faces its audit still sees are covered in a further pass over the
whole file, and a file that still shows one fails.  A sampled frame whose
cover did not survive an encoder held to the input's bitrate gets a further
pass without that cap (a larger file, never a weaker cover).
"""

from __future__ import annotations

import copy
from array import array
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from fractions import Fraction
from functools import cache, partial

import av
import numpy as np

from ..boxes import HeadGeometry, IntBoxes, areas, grow_heads, union_mask
from ..cover import cover, fill_noise
from ..datatypes import Detections
from ..detect import FaceFinder, areas_around
from ..detect.targets import TargetFinder
from ..errors import InputError, UnsupportedError, VerificationError
from ..jobs import Job
from ..media.audio import AudioOut
from ..media.video import Look, VideoReader, planar_mask, planar_to_rgb, planes, rgb_to_planar, to_planar
from ..media.video_out import Outbox, OutputKind, VideoEncoder, open_output, output_kind
from ..meta import video as meta_video
from ..plan import (
    ManualBox,
    Media,
    Plan,
    RegionKind,
    Schedule,
    Shown,
    Track,
    cover_arguments,
    edited,
    plan_fps,
    span_frames,
)
from ..profiles import Profile
from ..settings import Settings
from ..track import ESTIMATE, Motion, Tracker
from ..verify.audit import Audit, StillVisible
from ..verify.cover import block_means
from ..verify.video import Expected, PixelsLost, Sampler, Verdicts, check_video
from ..write import staged, sync_file
from .targets import PREFIX, Found, regions_of

Progress = Callable[[int, int], None]

LOOKAHEAD_S = 0.4
MAX_BUFFER_BYTES = 1 << 30
# Detections still running while older frames leave the buffer; two smooth out uneven frames.
# They run side by side, on one session whose pool leaves a core to each extra caller (`_Run.__init__`).
IN_FLIGHT = 2
# Further passes over a file whose output the audit still finds a face in, and how long
# (in seconds, each way) a face seen in one sampled frame is covered around it.  Three, where a
# photo takes two: a further pass draws new covers on every frame around each find, and the
# audit's false finds beside covers (a headlight, a tree) move with them; on EgoBlur's plates
# clip, whose covers were drawn a few frames' detections further ahead, the third pass was the
# one that cleared them (docs/video.md).  Only a file that would otherwise fail pays for it.
AUDIT_PASSES = 3
AUDIT_REACH_S = 1.0
UNKNOWN_LENGTH = 10**9  # frame count of a plan made before the clip's end is known
TARGETS_SIDE = 2560  # longest side of the frames the other targets' detectors see
AREAS_SHARE = 0.6  # frames whose tracked faces' areas cover more than this are left to the tracker


@dataclass
class Held:
    """A decoded frame waiting in the look-ahead buffer, packed as the encoder takes it (its time is
    the earliest waiting when it leaves: `meta.video.Stamps`)."""

    index: int
    planar: np.ndarray


@dataclass
class Ctx:
    """What one video run needs besides its file: options, profile, models, noise."""

    settings: Settings
    profile: Profile
    finder: FaceFinder
    others: TargetFinder  # heads, persons, plates, text: what --targets adds to faces
    audit: Audit
    rng: np.random.Generator  # the cover's noise
    voice: np.random.Generator  # the voice disguise's parameters, never stored
    progress: Progress | None = None
    record: Recording | None = None  # keep the plan of a file protected without one


@dataclass(frozen=True)
class Recording:
    """What the plan of a video protected without one needs besides its tracks (for a report)."""

    digest: str
    name: str | None


def protect_video(job: Job, ctx: Ctx, plan: Plan | None = None) -> tuple[Plan | None, int, int, str | None]:
    """Cover every face in every frame of ``job.source`` (or what ``plan`` lists) and write ``job.target``.

    Returns the plan rendered, audit tracks included (None when the faces
    were found in the same pass, unless ``ctx.record`` asks to keep it), the
    most faces found in one frame, how many regions were covered, and what a
    person should know of the input's times (`meta.video.Joins.note`).
    """
    extra: list[Track] = []
    # What the detectors found, frame by frame, in the first pass: a further pass feeds it to the
    # trackers again instead of running the detectors, so it covers the same boxes (and the
    # audit's) at the cost of decoding, covering and encoding alone.
    found: dict[int, Detected] = {}
    capped, passes, further = True, 0, 0
    verdicts = Verdicts()  # the audit's, of the last file written: taken again where a frame is unchanged
    while True:
        run, seen, lost = _write(job, ctx, plan, extra, found, verdicts, replay=passes > 0, capped=capped)
        passes += 1
        if lost is not None:
            # The size cap starved the encoder until a sampled frame's cover (or a kept face) no longer
            # held: the next pass spends the bits the picture needs, at the cost of a larger file.  It
            # is not one of the audit's further passes, and it happens once: without the cap, `_write`
            # raises the failure itself.
            capped = False
            continue
        if not seen:
            manual = ctx.settings.manual_boxes()
            if plan is None and ctx.record is not None:
                plan = _recorded(run, ctx, ctx.record.digest, ctx.record.name)
                known = {t.id for t in plan.tracks}  # protect ignores a --keep id no track has
                plan = edited(plan, [k for k in ctx.settings.keep if k in known], manual, run.shown())
            elif plan is not None:  # the --cover boxes it was given, at the frames they were drawn on
                plan = edited(plan, (), manual, run.shown())
            told = run.reader.joins.note()
            if plan is not None:
                plan = plan.with_tracks(extra)
                return plan, run.most_faces, sum(t.decision == "cover" for t in plan.tracks), told
            return None, run.most_faces, run.regions(), told
        if further == AUDIT_PASSES:
            break
        further += 1
        reach = max(1, round(AUDIT_REACH_S * float(run.rate or 30)))
        for frame, faces in seen:
            heads = grow_heads(faces.xyxy, run.width, run.height)
            for n, (x0, y0, x1, y1) in enumerate(heads[areas(heads) > 0].tolist()):
                first, last = max(0, frame - reach), min(run.written - 1, frame + reach)
                extra.append(
                    Track(
                        id=f"a{len(extra) + 1}-{frame}-{n}",
                        kind="face",
                        source="audit",
                        score=None,
                        fill="linear",
                        boxes=[(first, x0, y0, x1, y1), (last, x0, y0, x1, y1)],
                    )
                )
    listed = seen[:5]
    where = ", ".join(f"frame {frame}" for frame, _ in listed)
    hints = []
    starts = run.shown().starts
    for frame, faces in listed:
        seconds = float(starts[frame])
        span = (round(max(0.0, seconds - AUDIT_REACH_S), 2), round(seconds + AUDIT_REACH_S, 2))
        hints += ManualBox.over(
            grow_heads(faces.xyxy, run.width, run.height, landmarks=faces.landmarks), span
        )
    raise VerificationError(
        f"a face is still visible after {AUDIT_PASSES} further passes ({where}); nothing was written."
        + (f" Cover those places by hand with {cover_arguments(hints)}" if hints else "")
    )


def analyse_video(job: Job, ctx: Ctx, digest: str, name: str | None) -> tuple[Plan, int]:
    """The plan of ``job.source``: every track's covered box in every frame; nothing is written."""
    with VideoReader(job.source) as reader:
        run = _Run(job, ctx, reader, None, None, [], recorder=_Recorder())
        run.all_frames(None)
    plan = _recorded(run, ctx, digest, name)
    return edited(plan, ctx.settings.keep, ctx.settings.manual_boxes(), run.shown()), run.most_faces


def _recorded(run: _Run, ctx: Ctx, digest: str, name: str | None) -> Plan:
    """The tracks a pass with a recorder covered, as a plan."""
    media = Media(
        sha256=digest,
        kind="video",
        width=run.width,
        height=run.height,
        frames=run.written,
        fps=plan_fps(run.rate),
        name=name,
        start=round(run.starts[0], 6) if run.starts else None,
    )
    assert run.recorder is not None
    return Plan(media=media, profile=ctx.profile.name, tracks=run.recorder.tracks())


def _write(
    job: Job,
    ctx: Ctx,
    plan: Plan | None,
    extra: list[Track],
    found: dict[int, Detected],
    verdicts: Verdicts,
    *,
    replay: bool,
    capped: bool = True,
) -> tuple[_Run, list[tuple[int, Detections]], PixelsLost | None]:
    """One pass: the output is published only if the self-check passes and the audit sees no face.

    Returns the pass, the faces the audit still sees, and the pixel check's failure when the
    encoder's size cap may be to blame (``capped`` and the cap applied); any other failure raises.
    """
    kind = output_kind(job.target, job.source)
    # Decoding errors are the reader's and the self-check's; what FFmpeg refuses here is the encoder or
    # the muxer refusing what they were given, most often a damaged index's frame times.
    because = "its frames could not be encoded or written"
    try:
        with (
            meta_video.blamed_on(job.source, because),
            VideoReader(job.source) as reader,
            staged(job.target) as temp,
        ):
            with open_output(temp, kind) as out:
                recorder = _Recorder() if plan is None and ctx.record is not None else None
                run = _Run(
                    job, ctx, reader, plan, (out, kind), extra, recorder, found, replay=replay, capped=capped
                )
                expected = run.all_frames(ctx.settings.audio)
            _reached(ctx.settings.manual_boxes(), run)
            sync_file(temp)
            seen = check_video(temp, expected, ctx.audit, verdicts)
            if seen:
                raise StillVisible(seen)
    except StillVisible:
        return run, seen, None
    except PixelsLost as exc:
        if run.encoder is None or not run.encoder.capped:
            raise
        return run, [], exc
    return run, [], None


def _reached(boxes: tuple[ManualBox, ...], run: _Run) -> None:
    """A `PlanError` for a ``--cover`` whose time span begins after the clip ends: its frames'
    times are known only now, and a box that covered nothing must not be counted as covered."""
    shown = run.shown()
    for box in boxes:
        if box.span is not None:
            span_frames(box, shown)


@dataclass(frozen=True)
class Detected:
    """What the detectors found in one frame: faces, the other targets by kind, and whether it
    began a shot."""

    cut: bool
    faces: Detections
    others: dict[str, Detections]


@dataclass
class _Recorder:
    """Collects every track's covered box frame by frame, for ``analyse``."""

    boxes: dict[str, list[tuple[int, int, int, int, int]]] = field(default_factory=dict)
    kinds: dict[str, RegionKind] = field(default_factory=dict)
    detected: dict[str, list[int]] = field(default_factory=dict)
    best: dict[str, tuple[float, str]] = field(default_factory=dict)

    def add(self, frame: int, part: Found, ids: list[str]) -> None:
        found = part.rows
        for row, (x0, y0, x1, y1) in enumerate(part.boxes.tolist()):
            if x1 <= x0 or y1 <= y0:
                continue
            ident = ids[row]
            self.kinds[ident] = part.kind
            self.boxes.setdefault(ident, []).append((frame, x0, y0, x1, y1))
            if found.sources[row] != ESTIMATE:
                self.detected.setdefault(ident, []).append(frame)
                score = float(found.scores[row])
                if score >= self.best.get(ident, (-1.0, ""))[0]:
                    self.best[ident] = (score, found.sources[row])

    def tracks(self) -> list[Track]:
        out = []
        for ident in sorted(self.boxes, key=_id_order):
            score, source = self.best.get(ident, (0.0, ESTIMATE))
            out.append(
                Track(
                    id=ident,
                    kind=self.kinds[ident],
                    source=source,
                    score=round(score, 3),
                    boxes=self.boxes[ident],
                    detected=self.detected.get(ident, []),
                )
            )
        return out


def _id_order(ident: str) -> tuple[str, int]:
    """t2 before t10: a kind's prefix, then its number."""
    return ident[0], int(ident[1:])


def _ids(kind: RegionKind, found: Detections) -> list[str]:
    """The plan ids of tracked rows: the kind's prefix and the track's number."""
    return [f"{PREFIX[kind]}{i + 1}" for i in found.ids.tolist()]


class _Run:
    """The state of one file's pass: buffer, tracker or plan, encoders, counters."""

    def __init__(
        self,
        job: Job,
        ctx: Ctx,
        reader: VideoReader,
        plan: Plan | None,
        output: tuple[av.container.OutputContainer, OutputKind] | None,
        extra: list[Track],
        recorder: _Recorder | None = None,
        found: dict[int, Detected] | None = None,
        *,
        replay: bool = False,
        capped: bool = True,
    ) -> None:
        """``found`` collects what the detectors find frame by frame or, to ``replay`` it, holds it;
        ``capped``: the default quality is held to the input's bitrate (`VideoEncoder`)."""
        self.job, self.ctx, self.reader, self.output, self.recorder = job, ctx, reader, output, recorder
        self.found, self.replay, self.capped = found, replay, capped
        self.settings = ctx.settings
        # Every pass draws the cover's noise from where the first began, so a further pass writes the
        # frames before its new covers as the first did, and their audit's verdicts hold (`Verdicts`).
        self.rng = copy.deepcopy(ctx.rng)
        vin = reader.stream
        self.rate = meta_video.frame_rate(vin)
        self.total = int(vin.frames or 0)
        self.width, self.height = vin.codec_context.width, vin.codec_context.height
        self.schedule = Schedule(plan) if plan is not None else None
        self.extra = extra
        self.extra_schedule: Schedule | None = None  # made once the picture's size is known
        # The --cover boxes, cut to the picture once its size is known, each drawn on the frames
        # on screen in its time span (`ManualBox.on_screen`), by the times the frames are written
        # with: a plan lists frames, and only reading the clip tells which frames a span holds.
        self.manual: list[tuple[ManualBox, tuple[int, int, int, int]]] = []
        self.timed = any(box.span is not None for box in self.settings.manual_boxes())
        self.kept_ids = (
            {t.id for t in plan.tracks if t.decision == "keep"} if plan else set(self.settings.keep)
        )
        self.every = ctx.profile.detect_every
        # Frames side by side rather than one frame at a time on every core: onnxruntime's threads
        # wait for each other at every layer, and for the main thread, which decodes and encodes on
        # the same cores (the scorer's clip on 2 cores: 22-23 s instead of 24-27, 8 % fewer CPU
        # seconds).  onnxruntime runs one session from several threads at once, each calling
        # thread working beside the session's own pool, so the pool is smaller by the extra
        # callers (on 2 cores: none).  The other targets' detectors are serialised (`TargetFinder`).
        self.workers = max(1, min(IN_FLIGHT, self.settings.threads))
        share = self.settings.replace(threads=self.settings.threads - self.workers + 1)
        self.finder = ctx.finder.with_plan(ctx.profile.video, share)
        self.others = ctx.others
        # The other targets are found on the detections that fall every `targets_every_s`: a
        # person, a plate or a sign crosses less of the picture in that time than the tracker
        # bridges, and their detectors cost more than the face pass.
        steps = max(1, int(ctx.profile.targets_every_s * float(self.rate or 30) / self.every))
        self.others_every = self.every * steps
        self.audio: AudioOut | None = None  # made after the picture stream, which players expect first
        self.encoder: VideoEncoder | None = None
        self.outbox = Outbox()  # encoding and writing, beside the decoding and covering of later frames
        self.look: Look | None = None
        self.screen: np.ndarray | None = None
        self.detect_side = 0  # longest side of the frames handed to the detector
        self.heads = HeadGeometry()  # how a face box grows to its head (`_start`)
        fps = float(self.rate or 30)
        frame_bytes = max(1, self.width * self.height * 3)
        lookahead = max(self.every, min(round(LOOKAHEAD_S * fps), MAX_BUFFER_BYTES // frame_bytes))
        self.tracker = Tracker(Motion.at(fps).limited(lookahead))
        self.kind_trackers = {
            k: Tracker(Motion.at(fps).limited(lookahead)) for k in sorted(ctx.others.kinds())
        }
        # The newest detections are still running when the oldest frame leaves, so the buffer
        # holds that many detection steps more than the tracker's look-ahead.  A plan needs none.
        self.hold = 0 if self.schedule is not None else lookahead + IN_FLIGHT * self.every
        if self.timed:  # a frame is on screen until the next one's time: it must have been decoded
            self.hold = max(self.hold, 1)
        if meta_video.reorders_by_packet_times(reader.container, vin):
            # Enough frames to put their times back in order (`stamps`).  Only here: the hold sets
            # how far ahead the trackers know the detections when a frame's covers are drawn, so
            # raising it for every file changed the covers of every clip under 16 frames of look-ahead
            # (EgoBlur's plates clip then failed its audit after two further passes).
            self.hold = max(self.hold, min(meta_video.REORDER, MAX_BUFFER_BYTES // frame_bytes))
        self.stamps = meta_video.Stamps()  # each frame leaving the buffer takes the earliest time
        self.cuts = CutDetector()
        self.buffer: deque[Held] = deque()
        self.pending: deque[tuple[int, bool, Future[tuple[Detections, dict[str, Detections]]]]] = deque()
        self.sampler = Sampler.of(self.total, reader.frame_count)
        self.decoded = self.written = self.most_faces = 0
        self.first_pts: int | None = None
        self.origin: Fraction | None = None  # where a player's clock reads 0, in seconds (`_origin`)
        self.end_pts = 0
        self.time_base = vin.time_base or Fraction(1, 90_000)  # as the encoder takes it (`_start`)
        # When each frame written is on screen, in seconds from the first (`shown`).
        self.starts, self.ends = array("d"), array("d")
        self.ain: av.audio.stream.AudioStream | None = None

    def all_frames(self, audio: str | None) -> Expected:
        source = self.reader.container
        if audio not in (None, "drop") and self.output is not None and source.streams.audio:
            self.ain = source.streams.audio[0]
            if self.ain.codec_context is None:  # a sample description FFmpeg cannot read
                raise UnsupportedError(
                    self.job.source,
                    f"stream {self.ain.index} is in a codec FFmpeg cannot read (corrupt?); "
                    "--audio drop leaves the sound out",
                )
        streams = [self.reader.stream] + ([self.ain] if self.ain is not None else [])
        early: list[av.AudioFrame] = []  # sound before the first picture waits for the streams to exist
        detector = ThreadPoolExecutor(self.workers, "unseen-detect")
        try:
            for frame in self.reader.decoded(streams):
                if isinstance(frame, av.VideoFrame):
                    self._take(frame, detector)
                else:
                    early.append(frame)
                if self.audio is not None:
                    for sound in early:
                        self.outbox.put(partial(self.audio.push, sound))
                    early.clear()
            self._settle(keep=0)
            while self.buffer:
                self._emit(self.buffer.popleft())
            if self.encoder is not None:
                self.outbox.put(self.encoder.close)
            if self.audio is not None:
                self.outbox.put(self.audio.close)
            self.outbox.finish()
        finally:  # on an error or Ctrl-C, the frames and detections still queued are dropped, not run
            try:
                self.outbox.stop()  # first: the container closes after this, and a second Ctrl-C may come
            finally:
                detector.shutdown(cancel_futures=True)
        if self.look is None:
            raise InputError(self.job.source, "the video has no frames")
        return Expected(
            self.written, self.first_pts or 0, self.end_pts, self.reader.stream.time_base, self.sampler
        )

    def _take(self, frame: av.VideoFrame, detector: ThreadPoolExecutor) -> None:
        if self.look is None:
            self._start(frame)
        assert self.look is not None
        planar = to_planar(frame, self.look)
        index = self.decoded
        self.decoded += 1
        if self.schedule is None and self.replay:
            assert self.found is not None
            logged = self.found.get(index)
            if logged is not None:  # the trackers take it in frame order, as they took it first
                self.pending.append((index, logged.cut, _done((logged.faces, logged.others))))
        elif self.schedule is None:
            cut = self.cuts.is_cut(planes(planar, self.look)[0])
            full = cut or index % self.every == 0
            areas: list[tuple[int, int, int, int]] | None = None  # None: the whole frame
            if not full and self.ctx.profile.between:
                self._settle(keep=IN_FLIGHT)  # the tracker as up to date as the detections in flight allow
                areas = self._around_tracks(index)
            if full or areas:
                rgb = self.reader.rgb(frame, self.detect_side)
                others = None
                if self.others and (cut or index % self.others_every == 0):
                    # Plates and text need the detail the face pass does without.
                    others = self.reader.rgb(frame, min(max(self.width, self.height), TARGETS_SIDE))
                self.pending.append((index, cut, detector.submit(self._find, rgb, others, areas)))
        duration = frame.duration or _default_duration(self.reader.stream.time_base, self.rate)
        self.stamps.push(frame.pts, duration)
        self.buffer.append(Held(index, planar))
        while len(self.buffer) > self.hold:
            self._settle(keep=IN_FLIGHT)
            self._emit(self.buffer.popleft())

    def _find(
        self, rgb: np.ndarray, others: np.ndarray | None, areas: list[tuple[int, int, int, int]] | None
    ) -> tuple[Detections, dict[str, Detections]]:
        """Faces in ``rgb`` (only inside ``areas`` when given), and the other targets in ``others``:
        frames that may have been shrunk for the detectors, in full-size pixels."""
        assert self.look is not None
        found: dict[str, Detections] = {}
        if others is not None:
            scale = others.shape[1] / self.look.width
            found = {k: d.transformed(scale) for k, d in self.others.find(others).items()}
        faces = self.finder.find(rgb) if areas is None else self.finder.find_in(rgb, areas)
        return faces.transformed(rgb.shape[1] / self.look.width), found

    def _around_tracks(self, index: int) -> list[tuple[int, int, int, int]]:
        """Where the faces being tracked can be in frame ``index``, in the detector's pixels.

        The tracker has taken the detections of a few frames back; each face's
        area reaches as far as it can have moved since, plus its own size for
        the network's context.  None at all when those areas hold most of the
        picture (a crowd): searching them would cost a full pass, and the frame
        lies between two full passes, whose detections the tracker carries
        across it as it does between the full passes of ``--fast``.
        """
        live = [t for t in self.tracker.tracks if t.open and index - t.last <= self.tracker.motion.max_gap]
        if not live:
            return []
        boxes = np.stack([t.predicted(index) for t in live])
        sizes = np.sqrt(np.prod(np.clip(boxes[:, 2:] - boxes[:, :2], 1, None), axis=1))
        moved = np.array([np.abs(t.velocity).max() * (index - t.last) for t in live])
        scale = self.detect_side / max(self.width, self.height)
        dw, dh = round(self.width * scale), round(self.height * scale)
        areas = areas_around(boxes * scale, (sizes + moved + 8) * scale, dw, dh)
        if sum((x1 - x0) * (y1 - y0) for x0, y0, x1, y1 in areas) > AREAS_SHARE * dw * dh:
            return []
        return areas

    def _settle(self, keep: int) -> None:
        """Give the trackers every finished detection but the newest ``keep``, in frame order."""
        while len(self.pending) > keep:
            index, cut, job = self.pending.popleft()
            faces, others = job.result()
            if self.found is not None and not self.replay:
                self.found[index] = _logged(cut, faces, others)
            self.most_faces = max(self.most_faces, len(faces))
            self.tracker.update(index, faces, cut=cut)
            for kind, tracker in self.kind_trackers.items():
                if kind in others:
                    tracker.update(index, others[kind], cut=cut)

    def regions(self) -> int:
        """The regions a pass without a plan covered: the tracks its trackers began (less those
        kept by id), the audit's and the manual ones."""
        begun = [f"{PREFIX['face']}{i + 1}" for i in range(self.tracker.begun)]
        for kind, tracker in self.kind_trackers.items():
            begun += [f"{PREFIX[kind]}{i + 1}" for i in range(tracker.begun)]
        return (
            sum(i not in self.kept_ids for i in begun) + len(self.extra) + len(self.settings.manual_boxes())
        )

    def _start(self, frame: av.VideoFrame) -> None:
        self.look = look = Look.of(frame)
        self.width, self.height = look.width, look.height
        self.detect_side = self.finder.detail(max(look.width, look.height))
        # A face box is placed to a pixel of the picture the detector saw: in --fast's 960 px view
        # of a 1280 px frame, a third more of the frame's (on the scorer's clip, faces covered to
        # 84-89 % at their lower edge).
        self.heads = HeadGeometry().seen_at(self.detect_side / max(look.width, look.height))
        # The audit's further-pass boxes, on a plan of the picture's size.
        media = Media(
            sha256="0" * 64,
            kind="video",
            width=look.width,
            height=look.height,
            frames=UNKNOWN_LENGTH,
            fps=plan_fps(self.rate),
        )
        self.extra_schedule = Schedule(Plan(media=media, profile="", tracks=self.extra))
        self.manual = [(box, box.placed(look.width, look.height)) for box in self.settings.manual_boxes()]
        if self.output is None:
            return
        out, kind = self.output
        # One noise image covers every frame.  Fresh noise in every frame is what an encoder codes
        # worst: it made a crowd clip 70 times larger than a plain re-encode and slowed encoding and
        # the self-check, while noise that stays put is stored once and reused.  It is drawn without
        # looking at any face, so a screen pixel that happens to equal a face's says nothing about
        # it (and the lossy encoding changes every pixel anyway): unlike `cover`, no nudging.
        screen = fill_noise((look.height, look.width, 3), self.rng)
        self.screen = rgb_to_planar(screen, look)
        self.encoder = VideoEncoder(
            out,
            kind,
            look,
            self.time_base,
            self.rate,
            self.settings.crf,
            self.ctx.profile.x264_preset,
            self.reader.bit_rate if self.capped else None,
            self.reader.keyframe_bytes() if self.settings.crf is None and self.capped else None,
        )
        if self.ain is not None and self.settings.audio is not None:
            self.audio = AudioOut(out, self.ain, self.settings.audio, kind.audio, self.ctx.voice)

    def _boxes(self, index: int, start: float, end: float) -> tuple[IntBoxes, IntBoxes]:
        """The boxes to cover and to leave visible in frame ``index``, on screen from ``start``
        until ``end`` seconds.

        The --cover boxes come where they came when they were tracks of the plan they were added
        to: after a plan's tracks, and after the audit's in a pass that finds its own.  The
        filtered styles draw their noise box by box, so the order is part of the output.
        """
        assert self.extra_schedule is not None
        extra_cover, extra_keep = self.extra_schedule.at(index)
        manual = np.asarray(
            [placed for box, placed in self.manual if box.on_screen(start, end)], np.int64
        ).reshape(-1, 4)
        if self.schedule is not None:
            cover_boxes, keep_boxes = self.schedule.at(index)
            cover_boxes = np.concatenate([cover_boxes, manual])
        else:
            found = self.tracker.boxes_at(index)
            heads = grow_heads(found.xyxy, self.width, self.height, self.heads)
            parts = [Found("face", found, heads)]
            if self.kind_trackers:
                by_kind = {k: t.boxes_at(index) for k, t in self.kind_trackers.items()}
                parts += regions_of(by_kind, heads, self.others.targets, self.width, self.height)
            covers, keeps = [], []
            for part in parts:
                if self.recorder is None and not self.kept_ids:  # the usual case: no id is read
                    covers.append(part.boxes)
                    keeps.append(part.boxes[:0])
                    continue
                ids = _ids(part.kind, part.rows)
                if self.recorder is not None:
                    self.recorder.add(index, part, ids)
                kept = np.isin(ids, list(self.kept_ids))
                covers.append(part.boxes[~kept])
                keeps.append(part.boxes[kept])
            cover_boxes, keep_boxes = np.concatenate(covers), np.concatenate(keeps)
            extra_cover = np.concatenate([extra_cover, manual])
        return np.concatenate([cover_boxes, extra_cover]), np.concatenate([keep_boxes, extra_keep])

    def _emit(self, held: Held) -> None:
        assert self.look is not None
        pts, duration = self.stamps.pop()
        if self.first_pts is None:
            self.first_pts = pts
        start, end = self._on_screen(pts, duration)
        cover_boxes, keep_boxes = self._boxes(held.index, start, end)
        if self.encoder is not None:
            covered = self._covered(held.planar, cover_boxes)
            self.outbox.put(partial(self.encoder.encode, covered, pts, duration))
            if self.sampler.wants(held.index, cover_boxes, keep_boxes):
                rgb = planar_to_rgb(held.planar, self.look)
                self.sampler.keep(held.index, rgb, planar_to_rgb(covered, self.look), cover_boxes, keep_boxes)
        self.tracker.forget(held.index)
        for tracker in self.kind_trackers.values():
            tracker.forget(held.index)
        self.end_pts = pts + duration
        self.written += 1  # handed to the encoder: a few frames may still be encoding
        if self.ctx.progress is not None:
            self.ctx.progress(self.written, max(self.total, self.decoded))

    def _on_screen(self, pts: int, duration: int) -> tuple[float, float]:
        """When the frame written at ``pts`` is on screen, in seconds from the file's start as a
        player counts it (`_origin`): until the next frame's time, as a player shows it, for a
        frame's own duration may be missing or the average rate's (`_default_duration`); the last
        frame's, until its own duration ends.  Recorded for `shown`."""
        following = self.stamps.peek()
        until = following if following is not None else pts + duration
        if self.origin is None:
            self.origin = _origin(self.reader.container.start_time, pts * self.time_base)
        start = float(pts * self.time_base - self.origin)
        end = float(until * self.time_base - self.origin)
        self.starts.append(start)
        self.ends.append(end)
        return start, end

    def shown(self) -> Shown:
        """When each frame written so far is on screen."""
        return Shown(np.array(self.starts, np.float64), np.array(self.ends, np.float64))

    def _covered(self, planar: np.ndarray, boxes: IntBoxes) -> np.ndarray:
        assert self.look is not None and self.screen is not None
        if not len(boxes):
            return planar
        if self.settings.style == "fill":
            mask = planar_mask(union_mask(boxes, (self.look.height, self.look.width)), self.look)
            out = planar.copy()  # a copy and a masked write: a quarter of np.where's time
            np.copyto(out, self.screen, where=mask)
            return out
        # The filtered styles work on RGB pixels; they are rarer and slower anyway.
        rgb = cover(planar_to_rgb(planar, self.look), boxes, self.settings.style, self.rng)
        return rgb_to_planar(rgb, self.look)


def _origin(file_start: int | None, first: Fraction) -> Fraction:
    """Where a player's clock reads 0 s: the file's start (FFmpeg's, in microseconds: the earliest
    time of any stream), which is the first frame's in most files but earlier where the sound
    starts before the picture.  Counted from the first frame, a ``--cover`` span fell that far
    later in the clip than a person watching it had read it (a second, and the face they saw at
    1.2 s was left uncovered).  The first frame's own time where the two are within a
    millisecond: FFmpeg rounds the stream's clock to microseconds."""
    if file_start is None:
        return first
    start = Fraction(file_start, 1_000_000)
    return start if start < first - Fraction(1, 1000) else first


def _logged(cut: bool, faces: Detections, others: dict[str, Detections]) -> Detected:
    """What a further pass needs of one frame's detections.  Frames in which nothing was found (most
    of a long clip, often) share one record each way; the rest drop the landmarks, which nothing
    after the detectors reads (36 bytes a face instead of 76)."""
    if not len(faces) and not any(map(len, others.values())):
        return _nothing(cut, tuple(others))
    return Detected(cut, _lean(faces), {k: _lean(d) for k, d in others.items()})


@cache
def _nothing(cut: bool, kinds: tuple[str, ...]) -> Detected:
    return Detected(cut, Detections.empty(), {k: Detections.empty() for k in kinds})


_NO_LANDMARK = np.float32(np.nan)


def _lean(found: Detections) -> Detections:
    nothing = np.broadcast_to(_NO_LANDMARK, (len(found), 5, 2))  # one value, seen N x 5 x 2 times
    return Detections(found.xyxy, found.scores, nothing, found.sources, found.ids)


def _done(
    result: tuple[Detections, dict[str, Detections]],
) -> Future[tuple[Detections, dict[str, Detections]]]:
    """A detection that is already done."""
    job: Future[tuple[Detections, dict[str, Detections]]] = Future()
    job.set_result(result)
    return job


def _default_duration(time_base: Fraction | None, rate: Fraction | None) -> int:
    if not time_base or not rate:
        return 1
    return max(1, round(1 / (rate * time_base)))


class CutDetector:
    """Flags hard cuts: a large change between coarse grey thumbnails of consecutive frames.

    The thumbnail holds block means (some 18 blocks across the shorter side).
    Picking single pixels instead made a shaking shot of a dense crowd look
    like a cut every other frame (the picked pixels land on other faces),
    and every false cut restarts every track.
    """

    def __init__(self, threshold: float = 40.0) -> None:
        self.threshold = threshold
        self.previous: np.ndarray | None = None

    def is_cut(self, luma: np.ndarray) -> bool:
        """``luma``: the frame's Y plane (H, W)."""
        grey = luma[::2, ::2]  # plenty for block means, at a quarter of the work
        step = max(1, min(grey.shape) // 18)
        thumb = block_means(grey, step, step)
        cut = self.previous is not None and float(np.abs(thumb - self.previous).mean()) > self.threshold
        self.previous = thumb
        return cut
