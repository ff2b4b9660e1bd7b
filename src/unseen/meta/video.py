"""Video containers: the muxer setup every video unseen writes, a stream-copy remux, our own scan.

Every MP4 we write goes through `writing`: the muxer then writes no
encoder string, zero creation/modification times, no tags and no chapters,
and `new_stream`/`copy_stream` give each stream fresh, empty metadata, so the
only per-track names left are FFmpeg's fixed defaults (``VideoHandler``,
``SoundHandler``, language ``und``).  The remux copies only picture and sound:
subtitles, data and timed-metadata tracks (Apple ``mebx``, Google ``mett``,
GoPro GPMF), attachments and cover art never reach the output.
"""

from __future__ import annotations

import contextlib
import heapq
import io
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import av
from av.audio.stream import AudioStream
from av.bitstream import BitStreamFilterContext
from av.packet import Packet as _Packet
from av.video.stream import VideoStream

from ..errors import InputError, UnsupportedError
from . import aac, flac, isobmff, mp3, opus, units
from .findings import Finding

StreamT = TypeVar("StreamT", bound=av.stream.Stream)
if TYPE_CHECKING:
    Packet = _Packet[av.stream.Stream]
OUTPUT_FORMAT = "mp4"
# Output suffix -> FFmpeg's muxer, for every writer of a picture stream (protect's and strip's).
# H.264 in MP4 is what every phone and browser plays, and ISO-BMFF is the one video container whose
# every tag our allowlist vouches for; QuickTime's MOV is the same box structure (what a phone
# records), so MKV, WebM, AVI... inputs are written as MP4.
VIDEO_MUXERS = {".mp4": OUTPUT_FORMAT, ".m4v": OUTPUT_FORMAT, ".mov": "mov"}


def video_suffixes() -> str:
    """The suffixes a video can be written as, for messages: ".mp4, .m4v or .mov"."""
    *most, last = VIDEO_MUXERS
    return f"{', '.join(most)} or {last}"


# Codecs MP4 carries as they are; anything else is re-encoded.  Left out on purpose: Motion JPEG,
# every frame of which is a JPEG that may hold its own EXIF segment, and MPEG-4 Part 2, whose
# "user data" (start code 00 00 01 B2) may hold any text in its decoder setup and in every frame,
# where neither exiftool nor FFmpeg's tags see it.
COPY_VIDEO = frozenset({"h264", "hevc", "av1", "vp9"})
COPY_AUDIO = frozenset({"aac", "mp3", "opus", "flac", "ac3", "eac3", "alac"})
# Sound codecs whose packets are walked for what they hold besides frames (`_stray_units`).
SOUND_WALKED = frozenset({"mp3", "flac", "opus"})
# What FFmpeg's MOV muxer refuses to carry as it is (MP4 takes them): encoded again into a MOV.
NOT_IN_MOV = frozenset({"vp9", "av1", "opus", "flac"})


def copied(muxer: str) -> tuple[frozenset[str], frozenset[str]]:
    """The picture and sound codecs a copy written by ``muxer`` (of `VIDEO_MUXERS`) carries as they are."""
    if muxer == "mov":
        return COPY_VIDEO - NOT_IN_MOV, COPY_AUDIO - NOT_IN_MOV
    return COPY_VIDEO, COPY_AUDIO


# What FFmpeg's demuxers report about the container's structure rather than its content.
STRUCTURAL_TAGS = frozenset({"major_brand", "minor_version", "compatible_brands"})
NEUTRAL_STREAM_TAGS = {
    "language": {"und"},
    "handler_name": {"VideoHandler", "SoundHandler"},
    # The name FFmpeg's MP3 muxer writes in the Info frame it makes, where a frame has room for it
    # (stereo, 128 kbit/s and up): the same in every file it writes.
    "encoder": {"Lavf"},
    # A sample entry's vendor: none in an MP4; FFmpeg's own code in a MOV it writes, the same in all.
    "vendor_id": {"[0][0][0][0]", "FFMP"},
}
# A tag that is not valid UTF-8 (corrupt, or written in another encoding) is read with
# replacement characters rather than stopping the scan: it is still a tag, so still a finding.
METADATA_ERRORS = "replace"


# Per muxer: the index up front; no ID3 tags in an MP3 (FFmpeg writes ID3v2 by default); a WAV
# that may grow past 4 GiB becomes RF64 (FFmpeg reserves a zero-filled JUNK chunk for that).
_MUXER_OPTIONS = {
    **{fmt: {"movflags": "+faststart"} for fmt in ("mp4", "mov", "ipod", "3gp")},
    "mp3": {"id3v2_version": "0", "write_id3v1": "0"},
    "wav": {"rf64": "auto"},
}


def mux_options(fmt: str = OUTPUT_FORMAT) -> dict[str, str]:
    """Muxer options: ``+bitexact`` drops the encoder string and zeroes MP4 creation times."""
    return {"fflags": "+bitexact", **_MUXER_OPTIONS.get(fmt, {})}


# Encoder options: ``+bitexact`` keeps FFmpeg's own encoders from writing their version
# into the bitstream.
ENCODER_OPTIONS = {"flags": "+bitexact"}


@contextmanager
def writing(path: Path, fmt: str = OUTPUT_FORMAT) -> Iterator[av.container.OutputContainer]:
    """``path`` open for writing with the clean muxer setup (every video and sound writer uses
    this), closed at the end.  Closing writes the file's index, which a damaged input's times can
    make fail too: after another error, that failure is dropped rather than hiding the first."""
    out = av.open(str(path), "w", format=fmt, options=mux_options(fmt))
    try:
        yield out
        out.close()
    finally:
        with contextlib.suppress(av.error.FFmpegError):
            out.close()  # once closed, a no-op


@contextmanager
def blamed_on(src: Path, what: str) -> Iterator[None]:
    """An FFmpeg error inside becomes ``src``'s `InputError`, "``what`` (FFmpeg's reason)": what a
    demuxer, decoder, encoder or muxer refuses was made of the input.  One that is an OSError or a
    MemoryError (a full disk, a folder that cannot be written, no memory left) is not the file's
    doing and passes on as it is (`unseen.write.staged` names the output it failed)."""
    try:
        yield
    except av.error.FFmpegError as exc:
        if isinstance(exc, OSError | MemoryError):
            raise
        raise InputError(src, f"{what} ({exc.strerror})") from exc


def new_video_stream(out: av.container.OutputContainer, codec: str, rate: Fraction | None) -> VideoStream:
    """An encoding stream with no tags and bit-exact encoder settings."""
    stream = out.add_stream(codec, rate=rate, options=dict(ENCODER_OPTIONS))
    if not isinstance(stream, VideoStream):
        raise TypeError(f"{codec} is not a video encoder")
    stream.metadata.clear()
    return stream


def new_audio_stream(out: av.container.OutputContainer, codec: str, rate: int) -> AudioStream:
    """An encoding stream with no tags and bit-exact encoder settings."""
    stream = out.add_stream(codec, rate=rate, options=dict(ENCODER_OPTIONS))
    if not isinstance(stream, AudioStream):
        raise TypeError(f"{codec} is not an audio encoder")
    stream.metadata.clear()
    return stream


def copy_stream(out: av.container.OutputContainer, template: StreamT) -> StreamT:
    """A stream-copy target for ``template`` that carries its codec parameters and nothing else."""
    # Opaque: the template's codec as it is.  Otherwise PyAV looks up an encoder of the decoder's
    # name, which AV1's decoder (libdav1d) does not have.
    stream = out.add_stream_from_template(template, opaque=True)
    stream.metadata.clear()
    stream.codec_context.codec_tag = "\0\0\0\0"  # let the MP4 muxer pick its own tag
    return stream


# FFmpeg's matrix numbers: RGB, and BT.601 (BT470BG), the one swscale converts RGB to YUV with.
RGB_MATRIX, BT601 = 0, 5


def yuv_matrix(colorspace: int) -> int:
    """The matrix of the YUV made from frames that say ``colorspace``: a picture decoded as RGB
    (PNG or QuickTime RLE in a video) is converted with BT.601, and the output must say so, not
    claim RGB, which H.264 allows for 4:4:4 only."""
    return BT601 if colorspace == RGB_MATRIX else colorspace


# Frames a decoder gives back out of their timestamps' order at most (H.264's deepest reordering).
REORDER = 16


class Stamps:
    """The (time, duration) of the frames decoded and not yet written; the next one written takes
    the earliest.

    Decoders give pictures in presentation order, so where a file's times are right this is each
    frame's own.  An AVI stores no presentation times: FFmpeg labels the pictures of a stream with
    B-frames with the times of their packets, in decoding order, and an encoder fed those times
    shuffles the frames (or nudges them later); taking the earliest puts them back in order, with
    `REORDER` frames held.
    """

    def __init__(self) -> None:
        self._heap: list[tuple[int, int]] = []
        self._next = 0

    def push(self, pts: int | None, duration: int) -> None:
        """A frame decoded; one without a time follows the one before."""
        pts = self._next if pts is None else pts
        self._next = pts + duration
        heapq.heappush(self._heap, (pts, duration))

    def pop(self) -> tuple[int, int]:
        return heapq.heappop(self._heap)

    def peek(self) -> int | None:
        """The time of the next frame to be written, where it has been decoded."""
        return self._heap[0][0] if self._heap else None


# Demuxers of streams made to be cut and laid end to end: MPEG transport and program streams.
RESTARTING = frozenset({"mpegts", "mpeg"})
# Demuxers of containers whose clock may start anywhere and which hold no edit list saying where
# playing begins (an MKV cut from a recording keeps its times): moved to begin at 0, no joins.
LATE_STARTING = frozenset({"matroska,webm", "avi", "asf"})
# A step ahead in a stream's clock longer than this is a join, not a pause.
LEAP_S = 10


class Joins:
    """The clocks of a file's streams made to run on across the places where they restart or leap.

    Camcorders and broadcast recorders write MPEG-TS in parts, and people lay parts (or whole
    recordings) end to end with ``cat``.  Each part's clock runs on from its own start, so the
    second part's packets take times the first part has already used: an MP4 muxer refuses
    them, and an encoder fed them interleaves the two parts' frames.  Where a stream's decoding
    time falls behind the packet before, or leaps more than `LEAP_S` past its end, a join has
    come: the first stream to reach it moves the next part to follow the latest end of any
    stream so far, and every stream reaching the same join takes the same move, so sound and
    picture stay in step (a stream whose moved time would fall behind its own last end follows
    that end instead).  A stream first seen after a join belongs to the part it is found in, the
    parts lying in the file one after the other; one first seen more than `LEAP_S` from where
    the others have come to has reached a join they have not (a part's sound, muxed ahead of
    its picture, in a part whose predecessor had no sound).

    Such a file's clock does not start at 0: a camcorder's at a second or so, a broadcast's
    wherever its clock stood, and an MP4 keeps the offset as an empty stretch before the first
    picture (an hour-on clock gave an output that played an hour of nothing first).  Its times
    are also 33-bit counts of a 90 kHz clock, which run over every 26.5 hours; where a file
    begins in the last minute before that, FFmpeg gives the times before the wrap as negative,
    and an MP4 hides a picture with a negative time as lead-in, so a player (and the
    self-check) saw only the frames after the wrap.  So the whole file is moved to begin at 0
    (`lead`): its first picture or sound, whichever comes first.  So is a Matroska, WebM, AVI or
    WMV file (`LATE_STARTING`) that starts after 0, which has no joins but may start an hour on
    just the same (one that starts before 0 keeps its times: there they are a sound codec's
    priming, which a player drops); an MP4 or MOV keeps its times, whose edit list says where
    playing begins.  FFmpeg's start of each stream is its first time anywhere in the file, which
    in parts laid end to end may be another part's: only the streams that start within `LEAP_S`
    of the file's first packet count.
    """

    def __init__(self) -> None:
        self.lead = Fraction(0)  # seconds added to every time, so that the file begins at 0
        self.starts: list[Fraction] = []  # where FFmpeg says each picture and sound stream starts
        self.moves: list[Fraction] = []  # seconds added to the times of part 2, 3...
        self.end = Fraction(0)  # the latest end of any packet so far, moved, in seconds
        self.clocks: dict[int, _Clock] = {}
        self.opened = False  # whether the last packet moved began a part of its stream
        self.joining = False  # whether joins are looked for (`RESTARTING`), or the file only moved to 0

    @property
    def parts(self) -> int:
        """How many parts the file's clocks showed: one more than the joins."""
        return len(self.moves) + 1

    def follow(self, container: av.container.InputContainer, packets: Iterator[Packet]) -> Iterator[Packet]:
        """``packets`` of ``container``, their times moved past every join where the container is one
        made to be joined (`RESTARTING`), moved to begin at 0 where it is `LATE_STARTING`; in any
        other, as they are."""
        self.joining = container.format.name in RESTARTING
        moved = self.joining or container.format.name in LATE_STARTING
        if moved:
            self.starts = starts(container)
        for packet in packets:
            if moved:
                self.move(packet)
            yield packet

    def note(self) -> str | None:
        """What a person should know of the file's times: that its parts were laid end to end."""
        return f"{self.parts} parts laid end to end" if self.parts > 1 else None

    def move(self, packet: Packet) -> None:
        """Move ``packet``'s times past every join before it (an end-of-stream marker stays)."""
        self.opened = False
        dts = packet.dts if packet.dts is not None else packet.pts
        tb = packet.time_base
        if not packet.size or dts is None or tb is None:
            return
        clock = self.clocks.get(packet.stream.index)
        if not self.clocks:  # the file's first packet: its part is the one that begins at 0
            shown = (packet.pts if packet.pts is not None else dts) * tb
            self.lead = -min([shown, *(t for t in self.starts if abs(t - shown) <= LEAP_S)])
            if not self.joining:  # only a late start is moved: times before 0 are a codec's priming
                self.lead = min(self.lead, Fraction(0))
        if clock is None:
            clock = self.clocks[packet.stream.index] = _Clock(round(LEAP_S / tb), part=len(self.moves))
            clock.offset = round((self.moves[-1] if self.moves else self.lead) / tb)
        t = dts + clock.offset
        # A stream first seen far from where the others have come to begins a part they have not
        # reached yet (the sound of a part whose picture comes later in the file).
        stray = clock.last is None and len(self.clocks) > 1 and abs(t * tb - self.end) > LEAP_S
        joined = stray or (clock.last is not None and (t < clock.last or t > clock.end + clock.leap))
        if self.joining and joined:
            self.opened = True
            if len(self.moves) <= clock.part:
                self.moves.append(self.end - dts * tb)
            clock.offset = round(self.moves[clock.part] / tb)
            clock.part += 1
            t = dts + clock.offset
            if t < clock.end:
                clock.offset += clock.end - t
                t = clock.end
        elif clock.last is not None and t > clock.last:
            clock.step = t - clock.last
        clock.last = t
        clock.end = max(clock.end, t + (packet.duration or clock.step))
        self.end = max(self.end, clock.end * tb)
        if clock.offset:
            if packet.pts is not None:
                packet.pts += clock.offset
            if packet.dts is not None:
                packet.dts += clock.offset


def starts(container: av.container.InputContainer) -> list[Fraction]:
    """The seconds at which FFmpeg says each picture and sound stream of ``container`` starts."""
    streams = [*container.streams.video, *container.streams.audio]
    return [
        s.start_time * s.time_base for s in streams if s.start_time is not None and s.time_base is not None
    ]


@dataclass
class _Clock:
    """One stream's place in `Joins`: times in the stream's own ticks."""

    leap: int
    part: int = 0  # joins this stream has passed
    offset: int = 0
    last: int | None = None
    end: int = 0
    step: int = 1  # a packet's length when it states none: the last rise between two packets


def reorders_by_packet_times(container: av.container.InputContainer, stream: VideoStream) -> bool:
    """Whether ``stream``'s packets carry decoding-order times for pictures shown in another order
    (an AVI with B-frames): copied as they are, their frames would play shuffled."""
    return container.format.name == "avi" and bool(stream.codec_context.has_b_frames)


def codec_name(stream: av.stream.Stream) -> str:
    return str(stream.codec_context.codec.canonical_name)


def kept_streams(container: av.container.InputContainer) -> list[VideoStream | AudioStream]:
    """The streams a viewer needs: the first picture stream (not cover art) and every sound stream,
    in a codec FFmpeg knows.

    One picture stream: a second one (a preview, another camera, a page held up
    to the lens) is never covered nor audited, so it would carry faces as they
    were (`pictures`).  A stream whose codec FFmpeg cannot name (a truncated or
    corrupt sample description) has no codec context: it can be neither copied
    nor decoded.
    """
    first = {s.index for s in pictures(container)[:1]}
    kept: list[VideoStream | AudioStream] = [
        s
        for s in container.streams
        if isinstance(s, VideoStream | AudioStream)
        and (s.index in first or (isinstance(s, AudioStream) and s.codec_context is not None))
    ]
    return kept


def pictures(container: av.container.InputContainer) -> list[VideoStream]:
    """The picture streams that are not cover art, in a codec FFmpeg knows, in the file's order."""
    return [
        s
        for s in container.streams.video
        if s.codec_context is not None and not s.disposition & av.stream.Disposition.attached_pic
    ]


def open_input(path: Path) -> av.container.InputContainer:
    """``path`` opened for reading; a raw MP3 with anything between its frames (parts laid end to
    end, each with its tags) is read as its frames alone (`unseen.meta.mp3`)."""
    try:
        overclaimed = isobmff.overclaimed(path)
        if overclaimed is not None:
            raise InputError(path, f"corrupt or crafted: {overclaimed}; refused before reading it")
        container = av.open(str(path), "r", metadata_errors=METADATA_ERRORS)
        if container.format.name != "mp3":
            return container
        frames = mp3.frames_view(path)
        if frames is None:
            return container
        container.close()
        # The container holds the view, which closes the file when the container is let go.
        return av.open(frames, "r", format="mp3", metadata_errors=METADATA_ERRORS)
    except FileNotFoundError as exc:
        raise InputError(path, "no such file") from exc
    except av.error.FFmpegError as exc:
        raise UnsupportedError(path, f"not a video unseen can read ({exc})") from exc


def duration(container: av.container.InputContainer, stream: av.stream.Stream) -> float | None:
    if stream.duration is not None and stream.time_base is not None:
        return float(stream.duration * stream.time_base)
    if container.duration is not None:
        return container.duration / av.time_base
    return None


def frame_rate(stream: av.stream.Stream) -> Fraction | None:
    rate = stream.average_rate or stream.guessed_rate or stream.base_rate
    return Fraction(rate) if rate else None


def scan(path: Path) -> list[Finding]:
    """Tags, chapters and non-picture/sound streams as FFmpeg sees them, and units in the picture
    that no player needs (`units.strays`)."""
    overclaimed = isobmff.overclaimed(path)
    if overclaimed is not None:  # not for FFmpeg to open; `isobmff.scan` judges its tables
        return [Finding("unseen", f"MP4:{overclaimed}")]
    try:
        container = av.open(str(path), "r", metadata_errors=METADATA_ERRORS)
    except av.error.FFmpegError:
        return []  # not a video: the other scanners judge it
    with container:
        found = [
            Finding("unseen", f"{container.format.name}:{key}")
            for key in container.metadata
            if key not in STRUCTURAL_TAGS
        ]
        if container.chapters():
            found.append(Finding("unseen", f"{container.format.name}:chapters"))
        # The audit looks at the first picture stream alone (`kept_streams`).
        found += [
            Finding("unseen", f"{container.format.name}:stream{s.index}:a second picture stream")
            for s in pictures(container)[1:]
        ]
        for s in container.streams:
            found += _scan_stream(container.format.name, s)
        found += _stray_units(container)
    return found


def _stray_units(container: av.container.InputContainer) -> list[Finding]:
    """A finding per picture stream and unit type that `units.CHECKED` does not allow, and per MP3
    or FLAC stream and kind of thing its packets hold besides frames: the tags of MP3s or FLACs
    laid end to end, or bytes appended to one, copied into a video as sound (in a raw MP3 or
    FLAC file, `mp3.scan` and `flac.scan` judge the whole file); and per Opus stream whose
    padding holds more than zeros (`opus`).

    Reads every packet, without decoding: a fraction of the time a decode takes.
    """
    raw = container.format.name in ("mp3", "flac")
    walked = {
        s.index: (codec_name(s), bytes(s.codec_context.extradata or b""))
        for s in [*container.streams.video, *container.streams.audio]
        if s.codec_context is not None
        and (
            codec_name(s) in units.CHECKED if s.type == "video" else codec_name(s) in SOUND_WALKED and not raw
        )
    }
    if not walked:
        return []
    seen: dict[int, set[int | str]] = {index: set() for index in walked}
    rewritten = {
        s.index: _Rewrite(s, walked[s.index][0])
        for s in container.streams.video
        if s.index in walked and walked[s.index][0] in units.PARAMETER_SETS
    }
    for index, rewrite in rewritten.items():
        seen[index] |= {PAST_FIELDS} if rewrite.longer else set()
    # How many Opus streams each packet holds, read once from its setup (0: unreadable, not walked).
    voices = {index: opus.streams(setup) for index, (codec, setup) in walked.items() if codec == "opus"}
    last: dict[int, bytes] = {}
    try:
        for packet in container.demux([container.streams[i] for i in walked]):
            if packet.size:
                index, data = packet.stream.index, bytes(packet)
                codec, setup = walked[index]
                if codec == "mp3":
                    found = mp3.walk(data, packet=True)
                    seen[index] |= {what for _offset, what in found.between + found.tail}
                elif codec == "flac":
                    seen[index] |= {flac.HEADER} if flac.headers(data) else set()
                    last[index] = data
                elif codec == "opus":
                    count = voices[index]
                    seen[index] |= {opus.PADDED} if count and opus.padded_with_data(data, count) else set()
                else:
                    seen[index] |= units.strays(codec, data, setup)
                    if index in rewritten and rewritten[index].longer_in(packet, data):
                        seen[index].add(PAST_FIELDS)
    except av.error.FFmpegError:
        pass  # a damaged file: the decoding checks judge it
    for index, data in last.items():
        seen[index] |= {flac.AFTER} if flac.crc16(data) else set()
    return [
        Finding("unseen", f"{container.format.name}:stream{index}:{_unit_name(walked[index][0], kind)}")
        for index, kinds in seen.items()
        for kind in sorted(kinds, key=str)
    ]


PAST_FIELDS = "parameter sets with bytes after their fields"


class _Rewrite:
    """FFmpeg's filter that writes a picture stream's parameter sets again field by field
    (`units.REWRITTEN`), the one `strip` copies the stream through: a set held in the file
    longer than it writes it holds bytes after its fields, where a decoder reads no further
    (text, say), and `strip` drops them.

    AV1's sequence headers go through one at a time (a header needs nothing before it), and
    where the filter refuses one, it is written as the shortest start of it that the filter
    takes: FFmpeg's reader refuses any bit after a header's trailing bits, where dav1d reads on
    and shows the picture, so there `strip` refuses the file rather than drop them.
    """

    def __init__(self, stream: VideoStream, codec: str) -> None:
        self.codec, self.setup = codec, bytes(stream.codec_context.extradata or b"")
        self.filter: BitStreamFilterContext | None = None
        self.longer = False  # whether the decoder setup's sets are
        self.written: dict[bytes, bytes | None] = {}  # AV1: headers and their writing
        self.refused = 0  # AV1: different headers the filter refuses at every length
        if codec == "av1":
            self.filter = BitStreamFilterContext(units.REWRITTEN[codec], codec)
            self.longer = self._av1_longer(units.av1_config(self.setup))
            return
        with av.open(io.BytesIO(), "w", format=OUTPUT_FORMAT) as out:
            dst = copy_stream(out, stream)
            try:
                self.filter = BitStreamFilterContext(units.REWRITTEN[codec], stream, dst)
            except av.error.FFmpegError:
                return  # a setup FFmpeg cannot read: `strip` refuses the file, the decoding checks judge it
            written = bytes(dst.codec_context.extradata or b"")
        if self.setup and written[:1] != b"\x01":  # written in start-code form
            self.longer = not all(
                units.setup_holds(self.setup, u) for u in units.parameter_sets(codec, written, b"")
            )

    def longer_in(self, packet: Packet, data: bytes) -> bool:
        """Whether ``packet`` (its bytes ``data``) holds parameter sets longer than the filter
        writes them; the packet is the filter's after."""
        if self.codec == "av1":
            return self._av1_longer(data)
        try:
            held = units.parameter_sets(self.codec, data, self.setup)
            if not held or self.filter is None:
                return False
            written = b"".join(bytes(p) for p in self.filter.filter(packet))
        except (ValueError, av.error.FFmpegError):  # units that do not add up: `units.strays` names them
            return False
        return held != units.parameter_sets(self.codec, written, b"")

    def _av1_longer(self, obus: bytes) -> bool:
        """Whether a sequence header among ``obus`` is longer than the filter writes it."""
        try:
            held = units.parameter_sets("av1", obus, b"")
        except ValueError:  # OBUs that do not add up: `units.strays` names them
            return False
        if self.filter is None:
            return False
        return any(self._av1_written(payload) != payload for payload in held)

    def _av1_written(self, payload: bytes) -> bytes | None:
        """The sequence header ``payload`` as the filter writes it: the whole, else the first of its
        starts that the filter takes, which ends where the header's fields and trailing bits do
        (None where it takes none: dav1d reads a header's trailing one bit and no further, so bits
        set after it and bytes after those, which the filter refuses at every length, hide text
        from dav1d as well as bytes after the fields do; `strip` refuses such a file).  Encoders
        repeat one header at every key frame, so each is written once.  Past
        `units.SEQUENCE_HEADERS_REFUSED` headers refused at every length, one refused whole is
        not searched (None), so that crafted headers cost a bounded number of tries."""
        if payload not in self.written:
            written = self._av1_write(payload)
            if written is None and self.refused < units.SEQUENCE_HEADERS_REFUSED:
                starts = (
                    self._av1_write(payload[:n])
                    for n in range(1, min(len(payload), units.SEQUENCE_HEADER_MOST))
                )
                written = next((w for w in starts if w is not None), None)
                self.refused += written is None
            if len(self.written) >= 256:
                self.written.clear()
            self.written[payload] = written
        return self.written[payload]

    def _av1_write(self, payload: bytes) -> bytes | None:
        """The sequence header ``payload`` as the filter writes it; None where it refuses it."""
        if self.filter is None:
            return None
        try:
            out = self.filter.filter(av.Packet(units.sequence_header(payload)))
            written = units.parameter_sets("av1", b"".join(bytes(p) for p in out), b"")
        except (ValueError, av.error.FFmpegError):
            return None
        return written[0] if written else None


def _unit_name(codec: str, kind: int | str) -> str:
    if kind == PAST_FIELDS:
        return f"{codec} {kind}"
    if isinstance(kind, str):
        return f"{codec} packets holding {kind}"
    if kind < 0:
        return f"{codec} units that do not add up to their packet"
    return f"{codec} {'OBU' if codec == 'av1' else 'NAL unit'} of type {kind}"


def _scan_stream(fmt: str, s: av.stream.Stream) -> list[Finding]:
    where = f"{fmt}:stream{s.index}"
    found = []
    if s.type not in ("video", "audio"):
        found.append(Finding("unseen", f"{where}:{s.type} stream"))
    elif s.disposition & av.stream.Disposition.attached_pic:
        found.append(Finding("unseen", f"{where}:cover art"))
    setup = bytes(s.codec_context.extradata or b"") if s.codec_context is not None else b""
    why = aac.judged(setup) if setup and codec_name(s) == "aac" else None
    if why is not None:
        found.append(Finding("unseen", f"{where}:AAC setup ({why})"))
    for key, value in s.metadata.items():
        if value not in NEUTRAL_STREAM_TAGS.get(key, ()):
            found.append(Finding("unseen", f"{where}:{key}"))
    return found
