"""Raw MP3 files frame by frame: which bytes are sound, and what lies between the frames.

FFmpeg's MP3 demuxer reads the ID3v2 tag at the start of a file and the tags at its end, but a
tag anywhere else reaches the decoder inside a packet.  Recordings laid end to end with ``cat``
(a recorder's parts, an app's chunks) carry one in every join: each part's ID3v2 tag with its
title, artist and date, an ID3v1, APEv2 or Lyrics3 tag at the end of each part, and the Xing or
Info frame an encoder opens a file with.  The decoder refused such a file, and a packet copy
would have carried the tag into the clean file, where neither mutagen nor exiftool looks: both
read a file's start and end only, so ``check`` called such a file clean.

`walk` accounts for every byte outside the frames, after the ID3v2 tag a file may open with
(mutagen judges its frames): each frame runs from a valid layer III header to the length the
header states, and whatever lies between or after the frames is named (an ID3v2, ID3v1, APEv2
or Lyrics3 tag, an encoder's Xing, Info or VBRI frame after the first frame, a frame cut short
where a tag begins, or bytes that are not MPEG audio at all).  `scan` reports those for
``check``; `frames_view` hands FFmpeg a view of the file without them, so ``strip`` and
``protect`` read the sound alone.  A plain file (one run of frames) is opened as it is, so what
FFmpeg reads of it is unchanged.  Not looked at: bytes inside a frame past its sound (the
"ancillary data" a frame may end with), which only the frame's side information bounds.
"""

from __future__ import annotations

import bisect
import io
import mmap
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

from .findings import Finding
from .mapped import mapped
from .packets import replaced

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
CUT = "a frame cut short"
PARTIAL = "a frame header cut short"  # at the end of a file: 1 to 3 bytes, room for nothing
SHOWN = 20  # findings named one by one; a crafted file may hold thousands
PADDING = "zero bytes"
# Where a tag surely begins: an ID3v2 header (version 2 to 4, revision 0, a size of 7-bit bytes), an
# APE header or footer, a Lyrics3 tag; by chance in sound about once in 10^10 bytes.
_NOT_ZERO = re.compile(rb"[^\x00]")
_STRONG = re.compile(rb"ID3[\x02-\x04]\x00[\x00-\xff][\x00-\x7f]{4}|APETAGEX|LYRICSBEGIN")
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
    """The kind and stated length of an ID3v2, APEv2 or ID3v1 tag that starts at ``pos``, if one does."""
    head = data[pos : pos + 32]
    if _STRONG.match(head) and head[:3] == b"ID3":
        size = 0
        for byte in head[6:10]:
            size = size << 7 | byte
        return ID3V2, 10 + size + (10 if head[5] & 0x10 else 0)
    if head[:8] == b"APETAGEX" and len(head) == 32:
        size = int.from_bytes(head[12:16], "little")  # the items and the footer, not the header
        return "an APEv2 tag", 32 + size if head[23] & 0x20 else 32  # a footer alone is 32 bytes
    if head[:3] == b"TAG":
        return "an ID3v1 tag", 128
    return None


@dataclass
class Walk:
    """Where a raw MP3's frames lie, and what else it holds."""

    frames: list[tuple[int, int]] = field(default_factory=list)  # [start, end) runs of frames
    between: list[tuple[int, str]] = field(default_factory=list)  # offset, what: before some frame
    tail: list[tuple[int, str]] = field(default_factory=list)  # offset, what: after the last frame

    @property
    def found(self) -> list[tuple[int, str]]:
        """What the file holds besides its frames, but zero bytes and a file that ends inside a
        frame's header, which carry nothing."""
        return [(at, what) for at, what in self.between + self.tail if what not in (PADDING, PARTIAL)]

    @property
    def plain(self) -> bool:
        """Whether the file is its frames alone, after at most an ID3v2 tag: FFmpeg may read it as
        it is."""
        return not self.between and not self.tail


def walk(data: bytes | mmap.mmap, packet: bool = False) -> Walk:
    """The runs of frames in ``data`` (a whole raw MP3 file, or one ``packet`` of an MP3 stream in
    another container) and what lies between and after them.

    A frame counts where its header is valid, holds no tag (a strong mark, or an ID3v1 tag that
    something follows) and a frame, a tag, the end, or zero bytes to the end follow its stated
    length.
    A frame that holds a tag, or after which something else follows, was cut short (a part cut
    short with the next part laid after it, or a recording that stops mid-frame): its stated
    length may hold anything, so it is left out, and the walk goes on at the tag or at the next
    frame.  A file's first frame may be an encoder's (its demuxer reads it); any later one, and
    any in a packet, is not sound.  A tag counts where a frame, another tag or the end of the file
    follows its stated length; any other bytes are skipped up to the next frame or tag.  Not
    looked at: bytes inside a frame that holds no tag and whose length adds up."""
    result = Walk()
    end = len(data)
    marks = [m.start() for m in _STRONG.finditer(data)]  # where tags surely begin
    tag = None if packet else _tag_length(data, 0)
    pos = min(tag[1], end) if tag is not None and tag[0] == ID3V2 else 0  # judged by mutagen
    pending: list[tuple[int, str]] = []  # what was passed over since the last frame of sound
    run = -1  # where the present run of frames began
    sound = packet  # whether a frame has been seen (the first of a file may be an encoder's)
    mark = bisect.bisect_right(marks, pos)  # the next tag start after ``pos``
    while pos < end:
        while mark < len(marks) and marks[mark] <= pos:
            mark += 1
        upcoming = marks[mark] if mark < len(marks) else end
        length = frame_length(data, pos)
        inside = upcoming if length and upcoming < pos + length else None
        if length and inside is None:
            inside = _weak_tag_inside(data, pos, min(pos + length, end))
        whole = bool(length) and inside is None and _ends(data, pos + length)
        if whole:
            if not (sound and _encoder_frame(data, pos)):
                result.between += pending
                pending = []
                run = pos if run < 0 else run
                sound = True
                pos += length
                continue
            pending.append((pos, "an encoder's header frame (Xing, Info or VBRI)"))
            skip = length
        elif length and (run >= 0 or inside is not None):
            pending.append((pos, CUT))
            skip = (inside if inside is not None else _next_frame(data, pos + 1, upcoming)) - pos
        else:
            tag = _tag_length(data, pos)
            if tag is not None and _followed(data, pos + tag[1]):
                pending.append((pos, tag[0]))
                skip = tag[1]
            else:
                skip = _next_frame(data, pos + 1, upcoming) - pos
                pending.append((pos, _junk(data, pos, skip, end)))
        if run >= 0:
            result.frames.append((run, pos))
            run = -1
        pos += skip
    if run >= 0:
        result.frames.append((run, end))
    result.tail = pending
    return result


def _ends(data: bytes | mmap.mmap, pos: int) -> bool:
    """Whether a frame may end at ``pos``: a frame or a tag starts there, or the file ends there or
    goes on with zero bytes alone."""
    if _followed(data, pos) or (len(data) - pos < 4 and data[pos : pos + 1] == b"\xff"):  # or 1-3 bytes
        return True  # of a header, where the file ends
    # Zero bytes to the end: padding.  Not zero bytes up to a frame: an encoder's Info frame is
    # mostly zero bytes, where a frame cut short before it (and text laid after the cut) may end.
    return data[pos : pos + 1] == b"\0" and _NOT_ZERO.search(data, pos) is None


def _followed(data: bytes | mmap.mmap, pos: int) -> bool:
    """Whether a frame or a tag starts at ``pos``, or the file ends there."""
    return (
        pos == len(data)
        or bool(frame_length(data, pos))
        or _tag_length(data, pos) is not None
        or _STRONG.match(data, pos) is not None
    )


def _weak_tag_inside(data: bytes | mmap.mmap, pos: int, stop: int) -> int | None:
    """Where an ID3v1 tag that something follows begins between ``pos`` and ``stop`` (inside a frame),
    if one does: the frame was cut short there ("TAG" alone is a mark too short to trust)."""
    at = data.find(b"TAG", pos + 4, stop)
    while at >= 0:
        if _followed(data, at + 128):
            return at
        at = data.find(b"TAG", at + 1, stop)
    return None


def _junk(data: bytes | mmap.mmap, pos: int, size: int, end: int) -> str:
    """What ``size`` bytes at ``pos`` that are neither frames nor a tag are."""
    if pos + size == end and size < 4 and data[pos] == 0xFF:
        return PARTIAL  # the file ends inside a frame's header
    if not data[pos : pos + size].strip(b"\0"):
        return PADDING
    return "a Lyrics3 tag" if data[pos : pos + 11] == b"LYRICSBEGIN" else NOT_AUDIO


def _next_frame(data: bytes | mmap.mmap, pos: int, limit: int) -> int:
    """Where the next frame starts that a frame, a tag or the end of the file follows, or ``limit``
    (the next tag) where that comes first."""
    for found in _SYNC.finditer(data, pos, limit):
        length = frame_length(data, found.start())
        if length and _followed(data, found.start() + length):
            return found.start()
    return limit


def scan(path: Path) -> list[Finding]:
    """What lies between and after the frames of the raw MP3 at ``path``."""
    found = _walk_file(path).found
    named = [Finding("unseen", f"MP3:{what} at byte {offset}") for offset, what in found[:SHOWN]]
    if len(found) > SHOWN:
        named.append(Finding("unseen", f"MP3:{len(found) - SHOWN} more things between the frames"))
    return named


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
        yield replaced(packet, frames)


def frames_view(path: Path) -> Frames | None:
    """A view of the raw MP3 at ``path`` holding only its frames, where anything lies between them."""
    found = _walk_file(path)
    return None if found.plain else Frames(path, found.frames)


@lru_cache(maxsize=4)
def _walk_cached(path: Path, _stat: tuple[int, int, int, int]) -> Walk:
    with mapped(path) as data:
        return walk(data)


def _walk_file(path: Path) -> Walk:
    """`walk` of the file at ``path``, once for as long as the file stays the same (`strip` opens a
    recording some five times)."""
    stat = path.stat()
    return _walk_cached(path, (stat.st_dev, stat.st_ino, stat.st_size, stat.st_mtime_ns))
