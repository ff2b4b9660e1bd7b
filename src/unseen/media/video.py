"""Decoding videos into upright frames: one reader for protect, check and the self-check.

Frames travel as the encoder's own planes (`Look.planar`): 8-bit YUV 4:2:0,
or 4:4:4 for odd sizes, packed into one array.  Uncovered pixels then reach
the encoder exactly as decoded, and no frame pays for a round trip through
RGB; RGB is made only for the detectors and the self-check.  Rotation is
applied to the pixels: detectors need upright faces, and the output then
needs no display matrix.

`VideoReader` fails closed: a frame the decoder reports as corrupt, or any
decoding error, raises, because a frame that could not be read is a frame
whose faces could not be covered (or checked).  Times run on across the
joins of parts laid end to end (`meta.video.Joins`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

import av
import numpy as np

from ..errors import InputError, UnsupportedError
from ..meta import mp3
from ..meta import video as meta_video
from .image import refuse_oversized

Fail = Callable[[str], Exception]
# Picture packets after one flagged corrupt within which a join must begin for it to pass: FFmpeg
# flagged the second-last packet of a part in the joins measured.
JOIN_FLAG_REACH = 4


class VideoReader:
    """Opens a video, picks its picture stream, and yields its frames; ``rgb``/``planar`` turn them upright."""

    def __init__(self, path: Path, fail: Fail | None = None, *, frame_threads: bool = False) -> None:
        self.path = path
        self.fail: Fail = fail or (lambda why: InputError(path, why))
        self.container = meta_video.open_input(path)
        try:
            self.stream = next(s for s in meta_video.kept_streams(self.container) if s.type == "video")
        except StopIteration:
            self.container.close()
            raise UnsupportedError(path, "no video stream") from None
        # Frame threads lose the errors of the frames still in flight when the decoder drains at the
        # end of the file: a corrupt last frame would vanish without a word, and the output be
        # short.  Slice threads keep every error with its packet.  Only a caller that compares
        # the frame count with one it knows (the self-check) may take the faster frame threads.
        self.stream.thread_type = "AUTO" if frame_threads else "SLICE"
        ctx = self.stream.codec_context
        try:
            refuse_oversized(path, ctx.width, ctx.height)
        except InputError:
            self.container.close()
            raise
        self.look: Look | None = None
        self.joins = meta_video.Joins()  # where the times of parts laid end to end were moved on
        # MP3 sound streams, whose packets may hold the tags of MP3s laid end to end (`meta.mp3`).
        self.mp3 = {
            s.index
            for s in self.container.streams.audio
            if s.codec_context is not None and meta_video.codec_name(s) == "mp3"
        }

    def __enter__(self) -> VideoReader:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.container.close()

    @property
    def bit_rate(self) -> int | None:
        """The picture stream's bits per second: as stated, else the whole file's bytes over the clip's length."""
        stated = int(self.stream.bit_rate or 0)
        if stated:
            return stated
        seconds = meta_video.duration(self.container, self.stream) or 0.0
        size = self.path.stat().st_size if self.path.is_file() else 0
        return round(8 * size / seconds) if seconds > 0 and size else None

    def keyframe_bytes(self, packets: int = 300) -> int | None:
        """The largest keyframe among the picture stream's first ``packets`` packets (a second container
        reads them, so this one's position is untouched); None when there is none or it cannot be read."""
        try:
            with meta_video.open_input(self.path) as probe:
                stream = probe.streams[self.stream.index]
                sizes = [
                    p.size for _, p in zip(range(packets), probe.demux(stream), strict=False) if p.is_keyframe
                ]
        except (InputError, av.error.FFmpegError):
            return None
        return max(sizes, default=0) or None

    @property
    def frame_count(self) -> int:
        """The frame count the container states, else one estimated from duration and rate."""
        stated = int(self.stream.frames or 0)
        if stated:
            return stated
        seconds = meta_video.duration(self.container, self.stream) or 0.0
        rate = float(meta_video.frame_rate(self.stream) or 25)
        return max(1, int(seconds * rate))

    def frames(self) -> Iterator[av.VideoFrame]:
        for frame in self.decoded([self.stream]):
            if isinstance(frame, av.VideoFrame):
                yield frame

    def decoded(self, streams: Sequence[av.stream.Stream]) -> Iterator[av.VideoFrame | av.AudioFrame]:
        """Every frame of ``streams`` in file order; a corrupt or undecodable picture raises."""
        index = 0
        suspect: int | None = None  # the frame near a picture packet flagged corrupt
        since = 0  # picture packets since it
        try:
            for packet in self.joins.follow(self.container, self.container.demux(streams)):
                if packet.stream.type == "video" and packet.size:
                    # MPEG-TS flags a packet just before any jump of its continuity counter,
                    # which every join of two recordings has, though the packet is whole: a
                    # flagged packet passes only where one of the next few begins a part, its
                    # clock moved (`Joins`) or its picture whole in itself (a keyframe: live
                    # streams' segments run on one clock, and a recorder's pause leaps less than
                    # a join).  A loss that falls just before a keyframe passes too: the frames
                    # it touched decode as they do in any player, and are covered as they decode.
                    since += 1
                    if self.joins.opened or (suspect is not None and packet.is_keyframe):
                        suspect = None
                    elif suspect is not None and since > JOIN_FLAG_REACH:
                        raise self.fail(f"a corrupt packet near frame {suspect}")
                    if packet.is_corrupt and suspect is None and not self.joins.opened:
                        suspect, since = index, 0
                whole = packet.stream.index not in self.mp3 or not packet.size  # the flush passes as it is
                for frame in (
                    f for p in ((packet,) if whole else mp3.frames_only(packet)) for f in p.decode()
                ):
                    if isinstance(frame, av.VideoFrame):
                        if frame.is_corrupt:
                            raise self.fail(f"frame {index} is corrupt")
                        if self.look is None:
                            self.look = Look.of(frame)
                        index += 1
                    if isinstance(frame, av.VideoFrame | av.AudioFrame):
                        yield frame
            if suspect is not None:
                raise self.fail(f"a corrupt packet near frame {suspect}")
        except av.error.FFmpegError as exc:
            raise self.fail(f"cannot decode near frame {index} ({exc})") from exc

    def rgb(self, frame: av.VideoFrame, longest: int = 0) -> np.ndarray:
        assert self.look is not None
        return to_rgb(frame, self.look, longest)


@dataclass(frozen=True)
class Look:
    """What the first decoded frame says about size and colour (after rotation)."""

    width: int
    height: int
    rotation: int  # quarter turns counter-clockwise applied to every frame
    colorspace: int
    color_range: int
    color_primaries: int
    color_trc: int

    @property
    def planar(self) -> str:
        # 4:2:0 needs even sizes; an odd-sized input keeps its size in 4:4:4 instead of losing a pixel.
        return "yuv444p" if self.width % 2 or self.height % 2 else "yuv420p"

    @classmethod
    def of(cls, frame: av.VideoFrame) -> Look:
        turns = round((frame.rotation or 0) / 90) % 4
        w, h = (frame.height, frame.width) if turns % 2 else (frame.width, frame.height)
        return cls(
            w,
            h,
            turns,
            meta_video.yuv_matrix(int(frame.colorspace)),
            int(frame.color_range),
            int(frame.color_primaries),
            int(frame.color_trc),
        )


def to_rgb(frame: av.VideoFrame, look: Look, longest: int = 0) -> np.ndarray:
    """The frame as upright RGB, read with its own colour matrix and range.

    With ``longest``, shrunk so that its longer side is at most that many pixels.
    """
    scale = min(1.0, longest / max(frame.width, frame.height)) if longest else 1.0
    rgb = frame.reformat(
        width=max(1, round(frame.width * scale)),
        height=max(1, round(frame.height * scale)),
        format="rgb24",
        src_color_range=look.color_range or None,
    ).to_ndarray()
    return np.ascontiguousarray(np.rot90(rgb, look.rotation)) if look.rotation else rgb


def to_planar(frame: av.VideoFrame, look: Look) -> np.ndarray:
    """The frame upright in ``look.planar``, packed as PyAV packs it, range and matrix kept."""
    packed = frame.reformat(
        format=look.planar,
        src_color_range=look.color_range or None,
        dst_color_range=look.color_range or None,
    ).to_ndarray()
    if not look.rotation:
        return packed
    h, w = (look.width, look.height) if look.rotation % 2 else (look.height, look.width)
    return _packed([np.rot90(p, look.rotation) for p in _planes(packed, look.planar, h, w)], look)


def _packed(planes: list[np.ndarray], look: Look) -> np.ndarray:
    if look.planar == "yuv444p":
        return np.stack(planes)
    return np.concatenate([p.ravel() for p in planes]).reshape(-1, look.width)


def planes(packed: np.ndarray, look: Look) -> list[np.ndarray]:
    """Views of the Y, U and V planes of a packed frame."""
    return _planes(packed, look.planar, look.height, look.width)


def _planes(packed: np.ndarray, planar: str, h: int, w: int) -> list[np.ndarray]:
    if planar == "yuv444p":
        return [packed[0], packed[1], packed[2]]
    flat = packed.reshape(-1)
    quarter = (h // 2) * (w // 2)
    return [
        flat[: h * w].reshape(h, w),
        flat[h * w : h * w + quarter].reshape(h // 2, w // 2),
        flat[h * w + quarter :].reshape(h // 2, w // 2),
    ]


def planar_mask(mask: np.ndarray, look: Look) -> np.ndarray:
    """A pixel mask (H, W) spread to every byte of a packed frame that shows those pixels.

    A chroma sample shared by four pixels is covered when any of them is, so
    no colour of a covered pixel survives at the edges.
    """
    if look.planar == "yuv444p":
        return np.stack([mask, mask, mask])
    rows = mask[0::2] | mask[1::2]  # pairs ORed by slicing: far faster than any() over 2x2 blocks
    chroma = (rows[:, 0::2] | rows[:, 1::2]).ravel()
    return np.concatenate([mask.ravel(), chroma, chroma]).reshape(-1, mask.shape[1])


def planar_to_rgb(packed: np.ndarray, look: Look) -> np.ndarray:
    """RGB of a packed frame, read the way a player reads the output."""
    frame = av.VideoFrame.from_ndarray(packed, format=look.planar)
    return frame.reformat(
        format="rgb24",
        src_colorspace=look.colorspace or None,
        src_color_range=look.color_range or None,
    ).to_ndarray()


def rgb_to_planar(rgb: np.ndarray, look: Look) -> np.ndarray:
    """A packed frame from upright RGB, in the output's matrix and range."""
    frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
    return frame.reformat(
        format=look.planar,
        dst_colorspace=look.colorspace or None,
        dst_color_range=look.color_range or None,
    ).to_ndarray()
