"""Our own walk through MP4/MOV boxes, independent of FFmpeg and exiftool.

A clean file holds only the boxes below, in these places; every other box
(``udta`` tags, ``©xyz`` location, XMP/GPMF ``uuid`` boxes, ``meta`` item
lists, chapter/timecode references) is a finding, and so is a track whose
handler or sample entry is not picture or sound (``mebx``, ``mett``,
``gpmd``, ``tx3g``...), and a non-zero creation or modification time.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from .findings import Finding

STRUCTURE: dict[bytes, frozenset[bytes]] = {
    b"": frozenset({b"ftyp", b"free", b"skip", b"wide", b"mdat", b"moov"}),
    b"moov": frozenset({b"mvhd", b"trak", b"udta", b"iods", b"mvex"}),
    b"trak": frozenset({b"tkhd", b"edts", b"mdia"}),
    b"edts": frozenset({b"elst"}),
    b"mdia": frozenset({b"mdhd", b"hdlr", b"minf"}),
    b"minf": frozenset({b"vmhd", b"smhd", b"dinf", b"stbl"}),
    b"dinf": frozenset({b"dref"}),
    b"stbl": frozenset(b"stsd stts stss ctts stsc stsz stz2 stco co64 sgpd sbgp sdtp cslg stps".split()),
    b"udta": frozenset({b"meta"}),  # FFmpeg's empty iTunes list: a handler and no items
    b"meta": frozenset({b"hdlr", b"ilst"}),
    b"mvex": frozenset({b"mehd", b"trex"}),
}
SAMPLE_ENTRIES = frozenset(
    b"avc1 avc3 hvc1 hev1 mp4v av01 vp09 mp4a Opus fLaC ac-3 ec-3 alac .mp3 samr sawb".split()
)
TRACK_HANDLERS = frozenset({b"vide", b"soun"})
_TIMED = {b"mvhd", b"tkhd", b"mdhd"}
_MAX_MOOV = 256 << 20


def _boxes(data: bytes, start: int, end: int) -> Iterator[tuple[bytes, int, int]]:
    """(type, payload start, box end) for each box in ``data[start:end]``."""
    pos = start
    while pos + 8 <= end:
        box = _header(data[pos : pos + 16], pos, end)
        if box is None:
            return
        yield box
        pos = box[2]


def _header(head: bytes, pos: int, end: int) -> tuple[bytes, int, int] | None:
    """(type, payload start, box end) of the box whose first 16 bytes are ``head``; None if it overruns."""
    size, kind, skip = int.from_bytes(head[:4], "big"), head[4:8], 8
    if size == 1:
        size, skip = int.from_bytes(head[8:16], "big"), 16
    elif size == 0:
        size = end - pos
    if size < skip or pos + size > end:
        return None
    return kind, pos + skip, pos + size


def _top_level(path: Path) -> Iterator[tuple[bytes, int, int]]:
    """Top-level boxes read from the file by header only: ``mdat`` may be gigabytes."""
    total = path.stat().st_size
    with open(path, "rb") as fh:
        pos = 0
        while pos + 8 <= total:
            fh.seek(pos)
            box = _header(fh.read(16), pos, total)
            if box is None:
                return
            yield box
            pos = box[2]


def sniff(path: Path) -> bool:
    with open(path, "rb") as fh:
        return fh.read(8)[4:8] in STRUCTURE[b""]


def scan(path: Path) -> list[Finding]:
    found: list[Finding] = []
    pos = 0
    for kind, start, end in _top_level(path):
        pos = end
        if kind not in STRUCTURE[b""]:
            found.append(_finding(kind.decode("latin-1")))
        elif kind == b"moov":
            if end - start > _MAX_MOOV:
                return [*found, _finding("moov too large to check")]
            with open(path, "rb") as fh:
                fh.seek(start)
                data = fh.read(end - start)
            found += _walk(data, 0, len(data), b"moov", "moov")
    with open(path, "rb") as fh:
        fh.seek(pos)
        rest = fh.read(8)
    if len(rest) == 8:  # a box too small or running past the end of the file: the rest went unchecked
        found.append(_finding(f"{rest[4:8].decode('latin-1')} box has a bad size; the rest is unchecked"))
    return found


def _walk(data: bytes, start: int, end: int, parent: bytes, where: str) -> list[Finding]:
    found = []
    if parent == b"meta" and data[start + 4 : start + 8] != b"hdlr":
        start += 4  # ISO 'meta' is a full box; QuickTime's is not
    pos = start
    for kind, a, b in _boxes(data, start, end):
        pos = b
        here = f"{where}/{kind.decode('latin-1')}"
        if kind not in STRUCTURE.get(parent, frozenset()):
            found.append(_finding(here))
        elif kind in STRUCTURE:
            found += _walk(data, a, b, kind, here)
        elif kind == b"ilst" and b > a:
            found.append(_finding(f"{here} holds tags"))
        elif kind == b"hdlr" and parent == b"mdia" and data[a + 8 : a + 12] not in TRACK_HANDLERS:
            found.append(_finding(f"{where} is a {data[a + 8 : a + 12].decode('latin-1')!r} track"))
        elif kind == b"stsd":
            entry = data[a + 12 : a + 16]
            if entry not in SAMPLE_ENTRIES:
                found.append(_finding(f"{here} sample entry {entry.decode('latin-1')!r}"))
        elif kind in _TIMED and any(data[a + 4 : a + (20 if data[a : a + 1] == b"\x01" else 12)]):
            found.append(_finding(f"{here} creation/modification time"))
    if end - pos >= 8:  # a box too small or running past its parent's end: the rest went unchecked
        found.append(_finding(f"{where}/{data[pos + 4 : pos + 8].decode('latin-1')} has a bad size"))
    return found


def _finding(item: str) -> Finding:
    return Finding("unseen", f"MP4:{item}")
