"""Videos: decode → detect → track → cover → encode in one streaming pass.

Frames wait in a short look-ahead buffer before they are covered, so that a
face first detected a few frames later is covered in those earlier frames too
(see `unseen.track`).  The buffer has a fixed length, so memory does not grow
with the length of the clip.  Detection runs in a worker thread, up to
`IN_FLIGHT` detections ahead of the rest: onnxruntime releases the interpreter
while it works, so decoding, covering and encoding use the cores it leaves idle.  Sound goes
through `unseen.media.audio` in the same pass.

Fails closed: a frame the decoder reports as corrupt, or any decoding error,
stops the file with an error and leaves no output, because a frame we could
not read is a frame whose faces we could not cover.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from fractions import Fraction

import av
import numpy as np

from ..cover import cover, fill_noise, head_regions, union_mask
from ..detect import VIDEO, VIDEO_FAST, FaceFinder
from ..errors import InputError, UnsupportedError
from ..jobs import Job
from ..meta import video as meta_video
from ..settings import Settings
from ..track import Motion, Tracker
from ..types import Detections, FileResult, Region
from ..verify import block_means
from ..write import staged, sync_file
from .audio import AudioOut
from .video_check import Expected, Sampler, check_video
from .video_out import (
    Look,
    OutputKind,
    VideoEncoder,
    open_output,
    output_kind,
    planar_mask,
    planar_to_rgb,
    planes,
    rgb_to_planar,
    to_planar,
    to_rgb,
)

Progress = Callable[[int, int], None]

LOOKAHEAD_S = 0.4
MAX_BUFFER_BYTES = 1 << 30
# With --fast, full detection runs on every n-th frame and the tracker bridges the rest.
FAST_DETECT_EVERY = 3
# Detections still running while older frames leave the buffer; two smooth out uneven frames.
IN_FLIGHT = 2


@dataclass
class Held:
    """A decoded frame waiting in the look-ahead buffer, packed as the encoder takes it."""

    index: int
    pts: int
    duration: int
    planar: np.ndarray


def protect_video(
    job: Job,
    settings: Settings,
    finder: FaceFinder,
    rng: np.random.Generator,
    progress: Progress | None = None,
) -> FileResult:
    """Cover every face in every frame of ``job.source`` and write a clean copy to ``job.target``."""
    kind = output_kind(job.target, job.source)
    video_finder = finder.with_plan(VIDEO_FAST if settings.fast else VIDEO, settings)
    with meta_video.open_input(job.source) as source:
        vin = _video_stream(source, job)
        ain = source.streams.audio[0] if settings.audio != "drop" and source.streams.audio else None
        with staged(job.target) as temp, ThreadPoolExecutor(1, "unseen-detect") as detector:
            with open_output(temp, kind) as out:
                run = _Run(job, settings, video_finder, rng, out, kind, vin, ain, progress)
                expected = run.all_frames(source, detector)
            sync_file(temp)
            check_video(temp, expected)
    return FileResult(
        job.source,
        job.target,
        "protected",
        faces=run.most_faces,
        regions=run.regions,
        kind="video",
    )


def _video_stream(source: av.container.InputContainer, job: Job) -> av.video.stream.VideoStream:
    for stream in meta_video.kept_streams(source):
        if stream.type == "video":
            stream.thread_type = "AUTO"
            return stream
    raise UnsupportedError(job.source, "no video stream")


class _Run:
    """The state of one file's pass: buffer, tracker, encoders, counters."""

    def __init__(
        self,
        job: Job,
        settings: Settings,
        finder: FaceFinder,
        rng: np.random.Generator,
        out: av.container.OutputContainer,
        kind: OutputKind,
        vin: av.video.stream.VideoStream,
        ain: av.audio.stream.AudioStream | None,
        progress: Progress | None,
    ) -> None:
        self.job, self.settings, self.finder, self.rng = job, settings, finder, rng
        self.out, self.kind, self.vin, self.ain = out, kind, vin, ain
        self.progress = progress
        self.rate = meta_video.frame_rate(vin)
        self.total = int(vin.frames or 0)
        self.every = settings.detect_every or (FAST_DETECT_EVERY if settings.fast else 1)
        self.audio: AudioOut | None = None  # made after the picture stream, which players expect first
        self.encoder: VideoEncoder | None = None
        self.look: Look | None = None
        self.screen: np.ndarray | None = None
        self.detect_side = 0  # longest side of the frames handed to the detector
        fps = float(self.rate or 30)
        frame_bytes = max(1, vin.codec_context.width * vin.codec_context.height * 3)
        lookahead = max(self.every, min(round(LOOKAHEAD_S * fps), MAX_BUFFER_BYTES // frame_bytes))
        self.tracker = Tracker(Motion.at(fps).limited(lookahead))
        # The newest detections are still running when the oldest frame leaves, so the buffer
        # holds that many detection steps more than the tracker's look-ahead.
        self.hold = lookahead + IN_FLIGHT * self.every
        self.cuts = CutDetector()
        self.buffer: deque[Held] = deque()
        self.pending: deque[tuple[int, bool, Future[Detections]]] = deque()
        self.sampler = Sampler(self.total)
        self.decoded = self.written = self.most_faces = self.regions = 0
        self.first_pts: int | None = None
        self.end_pts = 0

    def all_frames(self, source: av.container.InputContainer, detector: ThreadPoolExecutor) -> Expected:
        streams = [self.vin] + ([self.ain] if self.ain is not None else [])
        early: list[av.AudioFrame] = []  # sound before the first picture waits for the streams to exist
        for frame in _decoded(source, streams, self.job):
            if isinstance(frame, av.VideoFrame):
                self._take(frame, detector)
            else:
                early.append(frame)
            if self.audio is not None:
                for sound in early:
                    self.audio.push(sound)
                early.clear()
        self._settle(keep=0)
        while self.buffer:
            self._emit(self.buffer.popleft())
        if self.encoder is None:
            raise InputError(self.job.source, "the video has no frames")
        self.encoder.close()
        if self.audio is not None:
            self.audio.close()
        return Expected(self.written, self.first_pts or 0, self.end_pts, self.vin.time_base, self.sampler)

    def _take(self, frame: av.VideoFrame, detector: ThreadPoolExecutor) -> None:
        if frame.is_corrupt:
            raise InputError(self.job.source, f"frame {self.decoded} is corrupt; nothing was written")
        if self.look is None:
            self._start(frame)
        assert self.look is not None
        planar = to_planar(frame, self.look)
        index = self.decoded
        self.decoded += 1
        cut = self.cuts.is_cut(planes(planar, self.look)[0])
        if cut or index % self.every == 0:
            rgb = to_rgb(frame, self.look, self.detect_side)
            self.pending.append((index, cut, detector.submit(self._find, rgb)))
        pts = frame.pts if frame.pts is not None else (self.end_pts if index else 0)
        duration = frame.duration or _default_duration(self.vin.time_base, self.rate)
        self.buffer.append(Held(index, pts, duration, planar))
        while len(self.buffer) > self.hold:
            self._settle(keep=IN_FLIGHT)
            self._emit(self.buffer.popleft())

    def _find(self, rgb: np.ndarray) -> Detections:
        """Faces in a frame that may have been shrunk for the detector, in full-size pixels."""
        assert self.look is not None
        return self.finder.find(rgb).transformed(rgb.shape[1] / self.look.width)

    def _settle(self, keep: int) -> None:
        """Give the tracker every finished detection but the newest ``keep``, in frame order."""
        while len(self.pending) > keep:
            index, cut, job = self.pending.popleft()
            faces = job.result()
            self.most_faces = max(self.most_faces, len(faces))
            self.tracker.update(index, faces.xyxy, cut=cut)

    def _start(self, frame: av.VideoFrame) -> None:
        self.look = Look.of(frame)
        self.detect_side = self.finder.detail(max(self.look.width, self.look.height))
        # One noise image covers every frame.  Fresh noise in every frame is what an encoder codes
        # worst: it made a crowd clip 70 times larger than a plain re-encode and slowed encoding and
        # the self-check, while noise that stays put is stored once and reused.  It is drawn without
        # looking at any face, so a screen pixel that happens to equal a face's says nothing about
        # it (and the lossy encoding changes every pixel anyway): unlike `cover`, no nudging.
        screen = fill_noise((self.look.height, self.look.width, 3), self.rng)
        self.screen = rgb_to_planar(screen, self.look)
        self.encoder = VideoEncoder(
            self.out,
            self.kind,
            self.look,
            self.vin.time_base or Fraction(1, 90_000),  # FFmpeg's default clock for streams without one
            self.rate,
            self.settings.crf,
            self.settings.fast,
        )
        if self.ain is not None:
            self.audio = AudioOut(self.out, self.ain, self.settings.audio, self.kind.audio, self.rng)

    def _emit(self, held: Held) -> None:
        assert self.encoder is not None and self.look is not None
        boxes = self.tracker.boxes_at(held.index)
        faces = Detections.from_boxes(boxes, np.ones(len(boxes)), "track")
        regions = head_regions(
            faces, self.look.width, self.look.height, extra_boxes=self.settings.extra_boxes
        )
        covered = self._covered(held.planar, regions)
        self.encoder.encode(covered, held.pts, held.duration)
        if self.sampler.wants(held.index, regions):
            rgb = planar_to_rgb(held.planar, self.look)
            self.sampler.keep(held.index, rgb, planar_to_rgb(covered, self.look), regions)
        self.regions += len(regions)
        self.tracker.forget(held.index)
        if self.first_pts is None:
            self.first_pts = held.pts
        self.end_pts = held.pts + held.duration
        self.written += 1
        if self.progress is not None:
            self.progress(self.written, max(self.total, self.decoded))

    def _covered(self, planar: np.ndarray, regions: list[Region]) -> np.ndarray:
        assert self.look is not None and self.screen is not None
        if self.settings.style == "fill":
            mask = planar_mask(union_mask(regions, (self.look.height, self.look.width)), self.look)
            return np.where(mask, self.screen, planar)
        # The filtered styles work on RGB pixels; they are rarer and slower anyway.
        rgb = cover(planar_to_rgb(planar, self.look), regions, self.settings.style, self.rng)
        return rgb_to_planar(rgb, self.look)


def _decoded(
    source: av.container.InputContainer, streams: Sequence[av.stream.Stream], job: Job
) -> Iterator[av.VideoFrame | av.AudioFrame]:
    """Every frame of ``streams`` in file order; any decoding error fails the whole file."""
    index = 0
    try:
        for packet in source.demux(streams):
            if packet.stream.type == "video" and packet.is_corrupt:
                raise InputError(job.source, f"a corrupt packet near frame {index}; nothing was written")
            for frame in packet.decode():
                if isinstance(frame, av.VideoFrame):
                    index += 1
                if isinstance(frame, av.VideoFrame | av.AudioFrame):
                    yield frame
    except av.error.FFmpegError as exc:
        raise InputError(
            job.source, f"cannot decode near frame {index} ({exc}); nothing was written"
        ) from exc


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
