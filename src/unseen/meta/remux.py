"""``unseen strip`` for video and sound: copy picture and sound into a fresh container, nothing else.

Streams MP4 can carry are copied packet by packet (no quality loss); the rest
(WMV, Motion JPEG, PCM...) are re-encoded to H.264 / AAC.  H.264, HEVC and AV1
keep only the units a picture needs (`units.KEPT`): SEI, where cameras and
encoders put free text, and every kind a decoder skips go on the way.  A
sound-only file's packets go into a fresh container of its own kind
(`unseen.meta.audio` picks it).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING

import av
from av.audio.stream import AudioStream
from av.bitstream import BitStreamFilterContext
from av.packet import Packet as _Packet
from av.stream import Stream
from av.video.frame import VideoFrame
from av.video.stream import VideoStream

from ..errors import InputError, UnsupportedError
from . import aac, flac, hevc, mp3, opus, units, video

VIDEO_CRF = "18"
AUDIO_BITRATE = 192_000
if TYPE_CHECKING:
    Packet = _Packet[Stream]
AAC_RATES = (8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000)
# Lossless sound is never copied but written afresh: its packets carry whatever follows a frame
# (FLAC states no frame length; an ALAC frame's end element may be followed by anything), and the
# decoders skip it.
AFRESH = frozenset({"flac", "alac"})


class _Copy:
    """Packets go through unchanged (H.264, HEVC and AV1 with only the units a picture needs).

    HEVC's decoder setup keeps its SEI through the filter, and is cleaned after (`hevc`), as is
    AAC's of a comment and of anything after its last field (`aac`).
    """

    why = ""  # nothing encoded again

    def __init__(self, out: av.container.OutputContainer, src: VideoStream | AudioStream) -> None:
        self.dst = video.copy_stream(out, src)
        codec = video.codec_name(src)
        # MP3 in another container: its packets may hold what lies between frames.  A raw MP3's
        # come from `mp3.frames_view` already, frames alone.
        self.mp3 = codec == "mp3" and src.container.format.name != "mp3"
        # Opus: its padding, which may hold anything (`opus`); the streams each packet holds.
        self.opus = opus.streams(bytes(src.codec_context.extradata or b"")) if codec == "opus" else 0
        kept = units.kept_only(codec)
        self.bsf = BitStreamFilterContext(kept, src, self.dst) if kept else None
        # The filter hands on the input's parameters, its codec tag among them: an MPEG-TS tag
        # (27 for H.264) is one the MP4 muxer refuses, so the muxer picks its own again; for HEVC
        # that is hev1, which Apple's players do not play, so HEVC is tagged hvc1.
        self.dst.codec_context.codec_tag = "hvc1" if codec == "hevc" else "\0\0\0\0"
        setup = self.dst.codec_context.extradata
        if codec == "hevc" and setup:
            self.dst.codec_context.extradata = hevc.parameter_sets_only(bytes(setup))
        if codec == "aac" and setup:  # one that cannot be read is not copied (`_cleanable`)
            self.dst.codec_context.extradata = aac.plain(bytes(setup))

    def packets(self, packet: Packet | None) -> Iterator[Packet]:
        if self.bsf is not None:
            yield from self.bsf.filter(packet)
        elif packet is not None and self.mp3:
            yield from mp3.frames_only(packet)
        elif packet is not None and self.opus:
            yield from opus.without_padding(packet, self.opus)
        elif packet is not None:
            yield packet


class _VideoEncode:
    """Decoded and re-encoded as H.264 (4:2:0, even sides), its colours read as the first frame
    says (a camera's Motion JPEG is full range) and its frames timed in the order they are shown
    (`video.Stamps`)."""

    def __init__(self, out: av.container.OutputContainer, src: VideoStream, why: str) -> None:
        self.src, self.why = src, why
        self.dst = video.new_video_stream(out, "libx264", video.frame_rate(src))
        self.dst.codec_context.options = {**video.ENCODER_OPTIONS, "crf": VIDEO_CRF, "preset": "medium"}
        self.dst.width, self.dst.height = src.codec_context.width // 2 * 2, src.codec_context.height // 2 * 2
        self.dst.pix_fmt = "yuv420p"
        if src.time_base is not None:
            self.dst.time_base = self.dst.codec_context.time_base = src.time_base
        self.held: deque[VideoFrame] = deque()
        self.stamps = video.Stamps()
        self.coloured = False  # the tags come from the first frame, before the encoder opens

    def packets(self, packet: Packet | None) -> Iterator[Packet]:
        for frame in self.src.decode(packet):
            if not self.coloured:
                _colours(self.dst, frame)
                self.coloured = True
            self.stamps.push(frame.pts, frame.duration or 0)
            self.held.append(frame)
            if len(self.held) > video.REORDER:
                yield from self._encode(self.held.popleft())
        if packet is None:
            while self.held:
                yield from self._encode(self.held.popleft())
            yield from self.dst.encode(None)

    def _encode(self, frame: VideoFrame) -> list[Packet]:
        out = _planar(frame)
        out.pts, _ = self.stamps.pop()
        if frame.time_base is not None:
            out.time_base = frame.time_base
        return self.dst.encode(out)


class _AudioEncode:
    """Decoded and encoded again: as AAC, at the nearest rate AAC has; or losslessly (`AFRESH`: FLAC
    and ALAC), with the input's rate, channels and sample format, and for FLAC its bits per sample
    (16, 24 or 32; FFmpeg writes 8, 12 and 20 as 16 or 24, the same values), which keeps every
    sample (`unseen.verify.audio` compares them in a sound file; FFmpeg writes a 32-bit ALAC as 24
    bits, which that comparison refuses).  Lossless frames are timed by their samples, from the
    first one's time: where FLACs laid end to end were put in a video, the decoder gives the
    frames of the second header's packet no time."""

    def __init__(self, out: av.container.OutputContainer, src: AudioStream, codec: str = "aac") -> None:
        self.src, self.why = src, f"{video.codec_name(src)} to AAC"
        ctx = src.codec_context
        if ctx.format is None or not ctx.sample_rate:
            raise InputError(Path(src.container.name), "its sound's setup cannot be read")
        self.lossless = codec in AFRESH
        self.at: int | None = None  # lossless: the next frame's time, in samples
        if self.lossless:
            self.why = f"{codec.upper()} written afresh, losslessly (every sample kept)"
            self.dst = video.new_audio_stream(out, codec, ctx.sample_rate)
            self.dst.codec_context.layout, self.dst.codec_context.format = ctx.layout, ctx.format
            bits = flac.bits(bytes(ctx.extradata or b"")) if codec == "flac" else 0
            if bits:  # FFmpeg's encoder writes 32 bits only when told it is experimental
                self.dst.codec_context.options = {
                    **video.ENCODER_OPTIONS,
                    "bits_per_raw_sample": str(bits),
                    **({"strict": "experimental"} if bits > 24 else {}),
                }
            return
        rate = min((r for r in AAC_RATES if r >= ctx.sample_rate), default=AAC_RATES[-1])
        self.dst = video.new_audio_stream(out, codec, rate)
        self.dst.codec_context.layout = "mono" if ctx.layout.nb_channels == 1 else "stereo"
        self.dst.codec_context.bit_rate = AUDIO_BITRATE

    def packets(self, packet: Packet | None) -> Iterator[Packet]:
        for frame in self.src.decode(packet):
            if self.lossless:
                if self.at is None:
                    first = frame.pts * frame.time_base if frame.pts is not None and frame.time_base else 0
                    self.at = round(first * frame.sample_rate)
                frame.pts, frame.time_base = self.at, Fraction(1, frame.sample_rate)
                self.at += frame.samples
            try:
                yield from self.dst.encode(frame)
            except ValueError as exc:  # PyAV's resampler, set up by the first frame
                raise InputError(
                    Path(self.src.container.name), "its sound changes rate or channels midway"
                ) from exc
        if packet is None:
            yield from self.dst.encode(None)


Route = _Copy | _VideoEncode | _AudioEncode


def _route(
    out: av.container.OutputContainer,
    path: Path,
    container: av.container.InputContainer,
    src: VideoStream | AudioStream,
    copy: tuple[frozenset[str], frozenset[str] | None],
) -> Route:
    copy_video, copy_audio = copy
    if isinstance(src, VideoStream):
        codec = video.codec_name(src)
        if codec not in copy_video:
            return _VideoEncode(out, src, f"{codec} to H.264")
        if video.reorders_by_packet_times(container, src):
            return _VideoEncode(out, src, f"{codec} to H.264, the AVI's times put in the frames' order")
        if codec == "h264" and not _opens_at_idr(path, src):
            return _VideoEncode(out, src, "h264 to H.264, which does not start at an IDR picture")
        return _Copy(out, src)
    codec = video.codec_name(src)
    as_it_is = copy_audio is None or codec in copy_audio
    if as_it_is and codec in AFRESH:
        return _AudioEncode(out, src, codec)
    return _Copy(out, src) if as_it_is and _cleanable(src) else _AudioEncode(out, src)


def _opens_at_idr(path: Path, src: VideoStream) -> bool:
    """`units.opens_at_idr` for the first picture of ``src``, read from ``path`` again (the caller's
    container must not be moved on)."""
    with video.open_input(path) as peek:
        for packet in peek.demux(peek.streams[src.index]):
            if packet.size:
                return units.opens_at_idr(bytes(packet), bytes(src.codec_context.extradata or b""))
    return True


def _cleanable(src: AudioStream) -> bool:
    """False for an AAC setup that cannot be read (cut short, or of a type `aac` does not read):
    where its fields end cannot be told, so it is not copied."""
    setup = bytes(src.codec_context.extradata or b"")
    if video.codec_name(src) != "aac" or not setup:
        return True
    try:
        aac.read(setup)
    except ValueError:
        return False
    return True


def _colours(dst: VideoStream, frame: VideoFrame) -> None:
    """The encoder's range and colour tags, as ``frame`` has them."""
    ctx = dst.codec_context
    ctx.color_range, ctx.colorspace = frame.color_range, video.yuv_matrix(frame.colorspace)
    ctx.color_primaries, ctx.color_trc = frame.color_primaries, frame.color_trc


def _planar(frame: VideoFrame) -> VideoFrame:
    """``frame`` in 4:2:0 with even sides (a last odd row or column dropped), its values as they
    are: full range stays full range, as the tags `_colours` set say."""
    width, height = frame.width // 2 * 2, frame.height // 2 * 2
    if frame.format.name == "yuv420p" and (width, height) == (frame.width, frame.height):
        return frame
    return frame.reformat(
        width=width,
        height=height,
        format="yuv420p",
        src_color_range=frame.color_range or None,
        dst_color_range=frame.color_range or None,
    )


def write_clean(src: Path, dst: Path, muxer: str = video.OUTPUT_FORMAT) -> str:
    """Write ``dst`` (MP4, or ``muxer``'s: `video.VIDEO_MUXERS`) holding only the picture and sound
    streams of ``src``; return how:
    ``remuxed``, or ``re-encoded: <why>`` when a stream was encoded again, and ``; N parts laid
    end to end`` where its times were moved past joins (`video.Joins`)."""
    with video.open_input(src) as container:
        kept = video.kept_streams(container)
        unreadable = [
            s.index for s in container.streams if s.type in ("video", "audio") and s.codec_context is None
        ]
        if unreadable:  # dropping it would lose the sound (or a picture) without a word
            raise UnsupportedError(src, f"stream {unreadable[0]} is in a codec FFmpeg cannot read (corrupt?)")
        if not any(isinstance(s, VideoStream) for s in kept):
            raise UnsupportedError(src, "no picture stream that unseen can keep")
        copied = video.copied(muxer)
        pictures, encoded, joins = _remux(src, container, kept, dst, muxer, copied)
        # Codecs an MP4 would have carried as they are: the one reason for encoding them is the container.
        refused = sorted(
            {video.codec_name(s) for s in kept} & (video.COPY_VIDEO | video.COPY_AUDIO) - set().union(*copied)
        )
        others = len(video.pictures(container)) - 1
    if not pictures:
        raise UnsupportedError(src, "its picture stream holds no frame that can be decoded")
    how = f"re-encoded: {', '.join(encoded)}" if encoded else "remuxed"
    if others > 0:
        how += f"; {others} other picture stream{'s' if others > 1 else ''} left out"
    if refused:
        how += f" (a {muxer.upper()} cannot carry {' or '.join(refused)} as it is; an MP4 can)"
    return _told(how, joins)


def write_sound(src: Path, dst: Path, muxer: str, copy_audio: frozenset[str] | None) -> str:
    """Write ``dst`` holding only the sound streams of ``src``, in FFmpeg's ``muxer``.

    Codecs in ``copy_audio`` (all, when None) are copied packet for packet, but FLAC, which is
    written afresh; the rest are re-encoded to AAC.  Returns how: ``remuxed`` or ``re-encoded: <why>``.
    """
    with video.open_input(src) as container:
        kept = [s for s in video.kept_streams(container) if isinstance(s, AudioStream)]
        if not kept:
            raise UnsupportedError(src, "no sound stream that unseen can keep")
        _, written, joins = _remux(src, container, kept, dst, muxer, (frozenset(), copy_audio))
    encoded = sorted({video.codec_name(s) for s in kept} - copy_audio) if copy_audio is not None else []
    if encoded:  # codecs the container cannot carry
        return _told(f"re-encoded: {', '.join(encoded)} to AAC, which the container carries", joins)
    return _told(f"re-encoded: {', '.join(written)}" if written else "remuxed", joins)


def _told(how: str, joins: video.Joins) -> str:
    """``how`` the file was written, and what became of its times where that was more than a copy."""
    note = joins.note()
    return f"{how}; {note}" if note else how


def _remux(
    src: Path,
    container: av.container.InputContainer,
    kept: list[VideoStream | AudioStream] | list[AudioStream],
    dst: Path,
    muxer: str,
    copy: tuple[frozenset[str], frozenset[str] | None],
) -> tuple[int, list[str], video.Joins]:
    """Copy ``kept`` into ``dst``, re-encoding the picture and sound codecs not in ``copy`` (None: every
    sound codec copied); return how many picture packets were written, what was encoded again, and the
    joins its times were moved past."""
    joins = video.Joins()
    with video.blamed_on(src, "cannot copy the streams"), video.writing(dst, muxer) as out:
        routes = {s.index: _route(out, src, container, s, copy) for s in kept}
        pictures = 0
        for packet in joins.follow(container, container.demux(kept)):
            if packet.size == 0:
                continue  # the demuxer's end-of-stream marker; flushed below
            # A packet may lack a dts (Matroska stores only pts; the first frames before a
            # B-frame get none): the muxer derives it, so such packets must not be dropped.
            pictures += _mux(out, routes[packet.stream.index], packet)
        for route in routes.values():
            pictures += _mux(out, route, None)
    return pictures, [r.why for r in routes.values() if r.why], joins


def _mux(out: av.container.OutputContainer, route: Route, packet: Packet | None) -> int:
    """Mux what ``packet`` becomes; return how many picture packets that was."""
    count = 0
    for p in route.packets(packet):
        p.stream = route.dst
        out.mux(p)
        count += isinstance(route.dst, VideoStream)
    return count
