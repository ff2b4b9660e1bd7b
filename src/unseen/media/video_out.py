"""Encoding covered frames: container and codec choice, colour tags, timestamps.

Frames travel as the encoder's own planes (`Look.planar`): 8-bit YUV 4:2:0,
or 4:4:4 for odd sizes, packed into one array.  Uncovered pixels then reach
the encoder exactly as decoded, and no frame pays for a round trip through
RGB; RGB is made only for the detector and the self-check.

Rotation is baked into the pixels (frames are turned upright before detection,
which also needs upright faces), so outputs carry no display matrix and play
the same in every player.  Colour matrix, range, primaries and transfer are
copied from the input so that uncovered pixels keep their look.  Timestamps
are the input's, frame for frame, so variable frame rate stays variable.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from ..errors import UnsupportedError
from ..meta.video import new_video_stream, open_clean_output


@dataclass(frozen=True)
class OutputKind:
    container: str
    video: str
    audio: str


# Output suffix -> container and codecs.  H.264 in MP4 is what every phone and browser plays,
# and ISO-BMFF is the one video container whose every tag our allowlist vouches for; MKV, WebM,
# AVI... inputs are therefore written as MP4.
OUTPUTS = {
    ".mp4": OutputKind("mp4", "libx264", "aac"),
    ".m4v": OutputKind("mp4", "libx264", "aac"),
    ".mov": OutputKind("mov", "libx264", "aac"),
}


def output_kind(target: Path, source: Path) -> OutputKind:
    kind = OUTPUTS.get(target.suffix.lower())
    if kind is None:
        raise UnsupportedError(source, f"cannot write a video as {target.suffix!r}; use .mp4, .m4v or .mov")
    return kind


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
            int(frame.colorspace),
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


class VideoEncoder:
    """Writes upright RGB frames with the input's timestamps and colour tags."""

    def __init__(
        self,
        out: av.container.OutputContainer,
        kind: OutputKind,
        look: Look,
        time_base: Fraction,
        rate: Fraction | None,
        crf: int,
        fast: bool,
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
        ctx.options = {**ctx.options, **_x264_options(crf, fast)}
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


def _x264_options(crf: int, fast: bool) -> dict[str, str]:
    # CRF 18 is close to transparent; the preset trades file size for speed, not quality.
    # No B-frames: packets then leave in display order, so each keeps its frame's own
    # duration and the last frame ends where the input's did (B-frame reordering loses it).
    return {"crf": str(crf), "preset": "superfast" if fast else "veryfast", "bf": "0"}


def open_output(path: Path, kind: OutputKind) -> av.container.OutputContainer:
    return open_clean_output(path, kind.container)
