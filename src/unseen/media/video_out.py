"""Encoding covered frames: container and codec choice, colour tags, timestamps.

Frames arrive packed in the encoder's own planes (`unseen.media.video.Look`),
already upright, so outputs carry no display matrix and play the same in
every player.  Colour matrix, range, primaries and transfer are
copied from the input so that uncovered pixels keep their look.  Timestamps
are the input's, frame for frame, so variable frame rate stays variable.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from ..errors import UnsupportedError
from ..inorder import InOrder
from ..meta.video import VIDEO_MUXERS, new_video_stream, video_suffixes, writing
from .video import Look


@dataclass(frozen=True)
class OutputKind:
    container: str
    video: str
    audio: str


# Output suffix -> container and codecs (`VIDEO_MUXERS` says why these containers).
OUTPUTS = {suffix: OutputKind(muxer, "libx264", "aac") for suffix, muxer in VIDEO_MUXERS.items()}


def output_kind(target: Path, source: Path) -> OutputKind:
    kind = OUTPUTS.get(target.suffix.lower())
    if kind is None:
        raise UnsupportedError(source, f"cannot write a video as {target.suffix!r}; use {video_suffixes()}")
    return kind


class VideoEncoder:
    """Writes upright RGB frames with the input's timestamps and colour tags."""

    def __init__(
        self,
        out: av.container.OutputContainer,
        kind: OutputKind,
        look: Look,
        time_base: Fraction,
        rate: Fraction | None,
        crf: int | None,
        preset: str,
        input_bps: int | None,
        keyframe_bytes: int | None,
    ) -> None:
        self.out = out
        self.look = look
        self.time_base = time_base
        self.stream = new_video_stream(out, kind.video, rate or Fraction(30))
        ctx = self.stream.codec_context
        ctx.width, ctx.height = look.width, look.height
        ctx.pix_fmt = look.planar
        ctx.time_base = time_base
        ctx.color_range, ctx.colorspace = look.color_range, look.colorspace
        ctx.color_primaries, ctx.color_trc = look.color_primaries, look.color_trc
        # An asked-for CRF is kept whatever it costs; the default is capped by the input's bitrate.
        cap = _size_cap(input_bps, keyframe_bytes) if crf is None else {}
        self.capped = bool(cap)
        ctx.options = {**ctx.options, **_x264_options(DEFAULT_CRF if crf is None else crf, preset), **cap}
        self.last_pts: int | None = None
        # x264 leaves packet durations empty, and the muxer would then guess the last frame's.
        self.durations: dict[int, int] = {}

    def encode(self, packed: np.ndarray, pts: int, duration: int) -> None:
        """Encode a frame packed in ``look.planar`` (see `to_planar`)."""
        frame = av.VideoFrame.from_ndarray(packed, format=self.look.planar)
        # Encoders need strictly rising timestamps; a broken input's repeats are nudged by one tick.
        if self.last_pts is not None and pts <= self.last_pts:
            pts = self.last_pts + 1
        self.last_pts = pts
        frame.pts, frame.time_base, frame.duration = pts, self.time_base, duration
        self.durations[pts] = duration
        self._mux(self.stream.encode(frame))

    def close(self) -> None:
        self._mux(self.stream.encode(None))

    def _mux(self, packets: list[av.Packet[av.video.stream.VideoStream]]) -> None:
        for packet in packets:
            if packet.pts is not None and not packet.duration:
                packet.duration = self.durations.get(packet.pts, 0)
            self.durations.pop(packet.pts or 0, None)
            self.out.mux(packet)


OUTBOX_DEPTH = 4  # items waiting (a frame each, or a chunk of sound)


class Outbox:
    """Everything that writes to the output container, on one thread of its own, in the order asked.

    x264 held to a rate runs on one thread (`_size_cap`), and encoding took a
    quarter of the main thread's time in ``--fast``, whose main thread is what the
    pass waits for.  PyAV lets go of the interpreter while FFmpeg encodes and
    writes, so that work now runs beside decoding and covering.  One thread takes
    the picture's and the sound's encoding and muxing alike, in the order the pass
    hands them over: the container sees the same calls in the same order as
    before (x264's bytes may still vary in a process that has protected many
    clips: docs/video.md, 2026-12-06).  At most `OUTBOX_DEPTH`
    items wait (a frame each, or a chunk of sound); the first error stops the rest
    and is raised to the pass at its next call.
    """

    def __init__(self) -> None:
        self._work = InOrder[None](1, OUTBOX_DEPTH, "unseen-encode")
        self._failed = False

    def put(self, work: Callable[[], None]) -> None:
        self._work.put(self._do, work)

    def finish(self) -> None:
        """Waits for all that was asked; raises the first error."""
        for _ in self._work.rest():
            pass

    def stop(self) -> None:
        """Drops what has not started and waits for what has (one frame at most): the container may
        then be closed."""
        self._work.stop()

    def _do(self, work: Callable[[], None]) -> None:
        if self._failed:
            return  # the error that stopped the queue is raised from its own call
        try:
            work()
        except BaseException:
            self._failed = True
            raise


DEFAULT_CRF = 18  # close to transparent


def _x264_options(crf: int, preset: str) -> dict[str, str]:
    # The preset trades file size for speed, not quality.
    # No B-frames: packets then leave in display order, so each keeps its frame's own
    # duration and the last frame ends where the input's did (B-frame reordering loses it).
    return {"crf": str(crf), "preset": preset, "bf": "0"}


# The output's picture stream at most this many times the input's bits per second.
SIZE_CAP = 1.1
# The largest rate and buffer FFmpeg takes, in kbit/s and kbit (its fields hold bits in 32 bits).
MOST_KBITS = (2**31 - 1) // 1000


def _size_cap(input_bps: int | None, keyframe_bytes: int | None) -> dict[str, str]:
    """`DEFAULT_CRF`, but never above `SIZE_CAP` times the input's bitrate (x264's VBV).

    Phones record at a few Mbit/s; CRF 18 spends what a picture needs, which
    for a re-encode of an already lossy clip (its noise and block edges now
    detail to keep) came to 1.4-3.5 times the input.  A file people cannot
    send is a file they do not protect.  The cap only bites where CRF 18
    would spend more than the input did: quality then stays near what the input
    carried.  An input with no known bitrate (or one past what FFmpeg can hold,
    `MOST_KBITS`) is encoded at CRF alone, and so is every file when the user
    names a CRF (``--crf``).

    x264's rate buffer bounds how far a stretch may overspend, and so how far a
    short clip ends up over the cap: one second of it put a 1.4 s clip at 1.38
    times its input.  Too small a buffer starves keyframes instead (a kept face
    moved by 5 levels in a first frame).  So it holds the input's own largest
    keyframe with a margin, and at least a quarter second of the cap.

    Held to a rate, x264 runs on one thread: on several, its rate control adds
    up the running sizes of the slices other threads are still encoding, and
    the same input gave a different file each run (and so, at times, a
    different verdict of the self-check).  The
    detectors keep the other cores busy, so one encoder thread cost no time
    on the clips measured.
    """
    if not input_bps:
        return {}
    cap = SIZE_CAP * input_bps / 1000  # kbit/s
    if cap > MOST_KBITS:  # no CRF 18 picture comes near 2 Gbit/s: only a damaged header claims it
        return {}
    buffer = min(max(cap / 4, 1.5 * 8 * (keyframe_bytes or 0) / 1000, 1.0), MOST_KBITS)
    return {"maxrate": f"{round(cap)}k", "bufsize": f"{round(buffer)}k", "threads": "1"}


def open_output(path: Path, kind: OutputKind) -> AbstractContextManager[av.container.OutputContainer]:
    return writing(path, kind.container)
