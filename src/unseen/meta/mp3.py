"""Raw MP3 files frame by frame: which bytes are sound, and what lies between the frames.

FFmpeg's MP3 demuxer reads the ID3v2 tag at the start of a file and the tags at its end, but a
tag anywhere else reaches the decoder inside a packet.  Recordings laid end to end with ``cat``
(a recorder's parts, an app's chunks) carry one in every join: each part's ID3v2 tag with its
title, artist and date, an ID3v1, APEv2 or Lyrics3 tag at the end of each part, and the Xing or
Info frame an encoder opens a file with.  The decoder refused such a file, and a packet copy
would have carried the tag into the clean file, where neither mutagen nor exiftool looks: both
read a file's start and end only, so ``check`` called such a file clean.

`walk` accounts for every byte after the ID3v2 tag a file may open with (mutagen judges its
frames): each frame runs from a valid layer III header to the length the header states, and
whatever lies between or after the frames is named (an ID3v2, ID3v1, APEv2 or Lyrics3 tag, an
encoder's Xing, Info or VBRI frame after the first frame, or bytes that are not MPEG audio at
all).  `scan` reports those for ``check``; `frames_view` hands FFmpeg a view of the file
without them, so ``strip`` and ``protect`` read the sound alone.  A plain file (one run of
frames) is opened as it is, so what FFmpeg reads of it is unchanged.
"""

from __future__ import annotations

import bisect
import io
import mmap
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import av

from .findings import Finding
from .mapped import mapped

if TYPE_CHECKING:
    from av.packet import Packet as _Packet
    from av.stream import Stream

    Packet = _Packet[Stream]

# Kilobits per second by bitrate index, for MPEG-1 and for MPEG-2 and 2.5 (layer III).
_KBPS = {
    3: (0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320),
    2: (0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160),
    0: (0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160),
}
_RATES = {3: (44_100, 48_000, 32_000), 2: (22_050, 24_000, 16_000), 0: (11_025, 12_000, 8_000)}
# Where an encoder's Xing or Info header starts in its frame: after the 4-byte frame header and
# the side information, whose length depends on the version and on mono or not.
_SIDE = {(3, False): 32, (3, True): 17, (2, False): 17, (2, True): 9, (0, False): 17, (0, True): 9}


def _length(b1: int, b2: int) -> int:
    """The length of a layer III frame whose header's second and third bytes are ``b1`` and ``b2``, or 0."""
    version, bitrate, rate = (b1 >> 3) & 3, b2 >> 4, (b2 >> 2) & 3
    if b1 & 0xE6 != 0xE2 or version == 1 or bitrate in (0, 15) or rate == 3:
        return 0  # no sync, not layer III, a reserved version, free format, a bad index
    per_frame = 144 if version == 3 else 72  # bytes per kbit/s of bitrate over the sample rate
    return per_frame * _KBPS[version][bitrate] * 1000 // _RATES[version][rate] + ((b2 >> 1) & 1)


ID3V2 = "an ID3v2 tag"
NOT_AUDIO = "bytes that are not MPEG audio"
# A layer III header's first two bytes: 11 sync bits, MPEG-2.5, 2 or 1, layer III, either CRC flag.
_SYNC = re.compile(rb"\xff[\xe2\xe3\xf2\xf3\xfa\xfb]")
# Every pair of header bytes after the first: a walk of a long recording looks each frame up here.
_LENGTHS = [_length(pair >> 8, pair & 0xFF) for pair in range(1 << 16)]


def frame_length(data: bytes | mmap.mmap, pos: int) -> int:
    """The length of the layer III frame whose header starts at ``pos``, or 0 where none starts.

    Free-format frames (bitrate index 0), whose length no header states, count as none."""
    if pos + 4 > len(data) or data[pos] != 0xFF:
        return 0
    return _LENGTHS[data[pos + 1] << 8 | data[pos + 2]]


def _encoder_frame(data: bytes | mmap.mmap, pos: int) -> bool:
    """Whether the frame at ``pos`` is an encoder's header frame (Xing, Info or VBRI), not sound."""
    at = pos + 4 + _SIDE[(data[pos + 1] >> 3) & 3, data[pos + 3] >> 6 == 3]
    return data[at : at + 4] in (b"Xing", b"Info") or data[pos + 36 : pos + 40] == b"VBRI"


def _tag_length(data: bytes | mmap.mmap, pos: int) -> tuple[str, int] | None:
    """The kind and length of a tag that starts at ``pos``, if one does."""
    head = data[pos : pos + 32]
    if head[:3] == b"ID3" and len(head) >= 10 and head[3] < 0xFF and not any(b & 0x80 for b in head[6:10]):
        size = 0
        for byte in head[6:10]:
            size = size << 7 | byte
        return ID3V2, 10 + size + (10 if head[5] & 0x10 else 0)
    if head[:8] == b"APETAGEX" and len(head) == 32:
        size = int.from_bytes(head[12:16], "little")  # the items and the footer, not the header
        return "an APEv2 tag", 32 + size if head[23] & 0x20 else 32  # a footer alone is 32 bytes
    if head[:3] == b"TAG":
        return "an ID3v1 tag", 128
    if head[:11] == b"LYRICSBEGIN":
        ends = [
            data.find(b"LYRICS200", pos, pos + 1_000_000) + 9,
            data.find(b"LYRICSEND", pos, pos + 5_100 + 20) + 9,
        ]
        found = [end for end in ends if end > 8]
        return "a Lyrics3 tag", (min(found) - pos if found else len(data) - pos)
    return None


@dataclass
class Walk:
    """Where a raw MP3's frames lie, and what else it holds."""

    frames: list[tuple[int, int]] = field(default_factory=list)  # [start, end) runs of frames
    between: list[tuple[int, str]] = field(default_factory=list)  # offset, what: before some frame
    tail: list[tuple[int, str]] = field(default_factory=list)  # offset, what: after the last frame

    @property
    def plain(self) -> bool:
        """Whether the file is one run of frames, with at most an ID3v2 tag before it."""
        return not self.between and not self.tail


def walk(data: bytes | mmap.mmap, packet: bool = False) -> Walk:
    """The runs of frames in ``data`` (a whole raw MP3 file, or one ``packet`` of an MP3 stream in
    another container) and what lies between and after them.

    A frame counts where its header is valid and it continues a run of frames, or where another
    frame, a tag or the end of the file follows it; a last frame cut short (a recording stopped
    by a flat battery) counts too.  A file's first frame may be an encoder's (its demuxer reads
    it); any later one, and any in a packet, is not sound.  A tag is skipped by its stated
    length where a frame, another tag or the end follows it; any other bytes are skipped up to
    the next frame."""
    result = Walk()
    end = len(data)
    tag = None if packet else _tag_length(data, 0)
    pos = min(tag[1], end) if tag is not None and tag[0] == ID3V2 else 0  # judged by mutagen
    pending: list[tuple[int, str]] = []  # what was passed over since the last frame of sound
    run = -1  # where the present run of frames began
    sound = packet  # whether a frame has been seen (the first of a file may be an encoder's)
    length = frame_length(data, pos)
    while pos < end:
        after = frame_length(data, pos + length) if length else 0
        # A header is taken for a frame where it continues a run of frames, or where what follows
        # it is a frame, a tag or the end: a lone 0xFF in other bytes starts no frame.
        if length and (
            run >= 0 or after or pos + length >= end or _tag_length(data, pos + length) is not None
        ):
            if sound and _encoder_frame(data, pos):
                pending.append((pos, "an encoder's Info frame"))
            else:
                result.between += pending
                pending = []
                run = pos if run < 0 else run
                sound = True
                pos, length = pos + length, after
                continue
            skip = length
        else:
            tag = _tag_length(data, pos)
            if tag is not None and _followed(data, pos + tag[1]):
                pending.append((pos, tag[0]))
                skip = tag[1]
            else:
                skip = _next_frame(data, pos + 1) - pos
                pending.append((pos, NOT_AUDIO))
        if run >= 0:
            result.frames.append((run, pos))
            run = -1
        pos += skip
        length = frame_length(data, pos)
    if run >= 0:
        result.frames.append((run, end))
    result.tail = pending
    return result


def _followed(data: bytes | mmap.mmap, pos: int) -> bool:
    """Whether a frame or a tag starts at ``pos``, or the file ends there (or before)."""
    return pos >= len(data) or bool(frame_length(data, pos)) or _tag_length(data, pos) is not None


def _next_frame(data: bytes | mmap.mmap, pos: int) -> int:
    """Where the next frame starts that another frame, or the end of the file, follows."""
    for found in _SYNC.finditer(data, pos):
        length = frame_length(data, found.start())
        if length and _followed(data, found.start() + length):
            return found.start()
    return len(data)


def scan(path: Path) -> list[Finding]:
    """What lies between and after the frames of the raw MP3 at ``path``."""
    with mapped(path) as data:
        found = walk(data)
    return [Finding("unseen", f"MP3:{what} at byte {offset}") for offset, what in found.between + found.tail]


class Frames(io.RawIOBase):
    """A file seen as only its runs of frames, one after the other: what FFmpeg is given to read
    of an MP3 whose frames have something between them.  The container that reads it keeps it, and
    the file is closed when both are let go."""

    def __init__(self, path: Path, runs: list[tuple[int, int]]) -> None:
        super().__init__()
        self.fh = open(path, "rb")  # noqa: SIM115 (closed with this object)
        self.runs = runs
        self.starts = [0]  # where each run begins in the view
        for start, stop in runs:
            self.starts.append(self.starts[-1] + stop - start)
        self.pos = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self.pos, io.SEEK_END: self.starts[-1]}[whence]
        self.pos = max(0, base + offset)
        return self.pos

    def tell(self) -> int:
        return self.pos

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        out = memoryview(buffer).cast("B")
        done = 0
        while done < len(out) and self.pos < self.starts[-1]:
            run = bisect.bisect_right(self.starts, self.pos) - 1
            start, stop = self.runs[run]
            at = start + self.pos - self.starts[run]
            want = min(len(out) - done, stop - at)
            self.fh.seek(at)
            got = self.fh.readinto(out[done : done + want])
            if not got:
                break
            done += got
            self.pos += got
        return done

    def close(self) -> None:
        self.fh.close()
        super().close()


def sound_only(data: bytes) -> bytes | None:
    """The frames of a packet of an MP3 stream, where anything else is in it (None where nothing
    is): a tag in a packet is copied into the clean file as sound, where no tag reader looks."""
    found = walk(data, packet=True)
    return None if found.plain else b"".join(data[start:end] for start, end in found.frames)


def frames_only(packet: Packet) -> Iterator[Packet]:
    """``packet`` of an MP3 stream without what it holds besides frames (a tag of MP3s laid end to
    end and then put into a video, which a decoder refuses and a copy would carry), or as it is."""
    frames = sound_only(bytes(packet))
    if frames is None:
        yield packet
    elif frames:
        out = av.packet.Packet(frames)
        out.stream, out.time_base, out.is_keyframe = packet.stream, packet.time_base, packet.is_keyframe
        out.pts, out.dts, out.duration = packet.pts, packet.dts, packet.duration
        yield out


def frames_view(path: Path) -> Frames | None:
    """A view of the raw MP3 at ``path`` holding only its frames, where anything lies between them."""
    with mapped(path) as data:
        found = walk(data)
    return None if found.plain else Frames(path, found.frames)
