"""Our own walk through MP4/MOV boxes, independent of FFmpeg and exiftool.

A clean file holds only the boxes below, in these places; every other box
(``udta`` tags, ``©xyz`` location, XMP/GPMF ``uuid`` boxes, ``meta`` item
lists, chapter/timecode references) is a finding, and so is a track whose
handler or sample entry is not picture or sound (``mebx``, ``mett``,
``gpmd``, ``tx3g``...), a non-zero creation or modification time, and bytes
in ``mdat`` that no track's samples take: players never read them, so they
can hold anything (every FFmpeg and camera file at hand has none).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np

from .findings import Finding

STRUCTURE: dict[bytes, frozenset[bytes]] = {
    b"": frozenset({b"ftyp", b"free", b"skip", b"wide", b"mdat", b"moov"}),
    b"moov": frozenset({b"mvhd", b"trak", b"udta", b"iods", b"mvex"}),
    b"trak": frozenset({b"tkhd", b"edts", b"mdia"}),
    b"edts": frozenset({b"elst"}),
    b"mdia": frozenset({b"mdhd", b"hdlr", b"minf"}),
    b"minf": frozenset({b"vmhd", b"smhd", b"hdlr", b"dinf", b"stbl"}),  # hdlr: a MOV's data handler
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
DATA_HANDLERS = frozenset({b"url ", b"alis"})  # a MOV track's data reference: this file
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


def _payload(path: Path, start: int, end: int) -> bytes:
    with open(path, "rb") as fh:
        fh.seek(start)
        return fh.read(end - start)


def sniff(path: Path) -> bool:
    with open(path, "rb") as fh:
        return fh.read(8)[4:8] in STRUCTURE[b""]


def scan(path: Path) -> list[Finding]:
    found: list[Finding] = []
    pos = 0
    media: list[tuple[int, int]] = []
    moov, fragmented = b"", False
    for kind, start, end in _top_level(path):
        pos = end
        fragmented |= kind == b"moof"
        if kind not in STRUCTURE[b""]:
            found.append(_finding(kind.decode("latin-1")))
        elif kind == b"mdat":
            media.append((start, end))
        elif kind in (b"free", b"skip") and _holds_data(path, start, end):
            # exiftool reads a box that runs to the end of the file (size 0) as empty.
            found.append(_finding(f"{kind.decode()} box holds data"))
        elif kind == b"moov":
            if end - start > _MAX_MOOV:
                return [*found, _finding("moov too large to check")]
            moov = _payload(path, start, end)
            found += _walk(moov, 0, len(moov), b"moov", "moov")
    if moov and not fragmented:  # a fragment's samples are described in its `moof`, a finding itself
        found += _unread(moov, media)
    with open(path, "rb") as fh:
        fh.seek(pos)
        rest = fh.read(8)
    if len(rest) == 8:  # a box too small or running past the end of the file: the rest went unchecked
        found.append(_finding(f"{rest[4:8].decode('latin-1')} box has a bad size; the rest is unchecked"))
    elif rest.strip(b"\0"):
        found.append(_finding(f"{len(rest)} bytes after the last box"))
    return found


def _holds_data(path: Path, start: int, end: int) -> bool:
    """Whether ``path[start:end]`` holds anything but zeros, read a piece at a time."""
    with open(path, "rb") as fh:
        fh.seek(start)
        while start < end:
            piece = fh.read(min(1 << 20, end - start))
            if not piece:
                return False
            if piece.strip(b"\0"):
                return True
            start += len(piece)
    return False


def _data_handler(payload: bytes) -> bool:
    """A MOV track's data handler as FFmpeg writes it: of type 'url ' or 'alis', its name
    "DataHandler" (a camera's may name itself), nothing else in its fields."""
    name = payload[24:].rstrip(b"\0")
    if name and name[0] == len(name) - 1:  # QuickTime's counted string
        name = name[1:]
    return payload[8:12] in DATA_HANDLERS and not any(payload[12:24]) and name in (b"", b"DataHandler")


def _mvhd_reserved(payload: bytes) -> bytes:
    """The reserved and pre-defined fields of a movie header (ten bytes after the volume, 24
    after the matrix), which every reader skips."""
    at = 4 + (28 if payload[:1] == b"\x01" else 16) + 6  # after the version, times, rate and volume
    return payload[at : at + 10] + payload[at + 46 : at + 70]


def _tags_handler(payload: bytes) -> bool:
    """A tag list's handler as FFmpeg and Apple write it: type 'mdir', Apple's code or nothing in
    the reserved fields, no name."""
    return (
        payload[8:12] == b"mdir"
        and payload[12:24] in (b"appl" + bytes(8), bytes(12))
        and not payload[24:].strip(b"\0")
    )


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
        elif kind == b"hdlr" and parent == b"minf" and not _data_handler(data[a:b]):
            found.append(_finding(f"{here} other than FFmpeg's data handler"))
        elif kind == b"hdlr" and parent == b"meta" and not _tags_handler(data[a:b]):
            found.append(_finding(f"{here} other than a tag list's handler"))
        elif kind == b"stsd":
            entry = data[a + 12 : a + 16]
            if entry not in SAMPLE_ENTRIES:
                found.append(_finding(f"{here} sample entry {entry.decode('latin-1')!r}"))
            elif any(data[a + 16 : a + 22]):
                found.append(_finding(f"{here} sample entry's reserved bytes hold data"))
            found += _rates(data, a, b, here)
        elif kind == b"sgpd" and not _sample_groups(data[a:b]):
            found.append(_finding(f"{here} holds more than its sample group entries"))
        elif kind in _TIMED and any(data[a + 4 : a + (20 if data[a : a + 1] == b"\x01" else 12)]):
            found.append(_finding(f"{here} creation/modification time"))
        if kind == b"mvhd" and any(_mvhd_reserved(data[a:b])):
            found.append(_finding(f"{here} reserved fields hold data"))
    if end - pos >= 8:  # a box too small or running past its parent's end: the rest went unchecked
        found.append(_finding(f"{where}/{data[pos + 4 : pos + 8].decode('latin-1')} has a bad size"))
    return found


# Sample group entries of a fixed size (ISO/IEC 14496-12 and 14496-15): pre-roll and roll
# recovery distances (a signed 16-bit count), and a byte each for random access points, the NAL
# unit type of sync samples and temporal level switching.
_GROUP_ENTRY = {b"roll": 2, b"prol": 2, b"rap ": 1, b"sync": 1, b"tele": 1}
# Visual sample entries: their child boxes follow 78 bytes of fields; a sound entry's follow 28
# (QuickTime's version 1 adds 16 bytes, version 2 36).
_VISUAL = frozenset(b"avc1 avc3 hvc1 hev1 mp4v av01 vp09".split())
_SOUND_VERSION = {0: 28, 1: 44, 2: 64}


def _sample_groups(payload: bytes) -> bool:
    """Whether a sample group description (``sgpd``) is its entries and nothing else: each of a
    known kind and size (`_GROUP_ENTRY`: FFmpeg writes AAC's and Opus's pre-roll as ``roll``), a
    sync entry's reserved bits zero.  Readers stop at the declared entries, so bytes past them, or
    an entry of a kind none reads, could hold any text."""
    size = _GROUP_ENTRY.get(payload[4:8])
    version, at, declared = payload[:1], 8, size
    if version == b"\x01":  # a default length; 0: each entry gives its own
        declared, at = int.from_bytes(payload[8:12], "big"), 12
    elif version != b"\x00":
        at = 12  # a default sample description index
    if size is None or declared not in (0, size) or at + 4 > len(payload):
        return False
    count, at = int.from_bytes(payload[at : at + 4], "big"), at + 4
    stride = size if declared else 4 + size
    entries = [payload[i : i + stride] for i in range(at, len(payload), stride)]
    if len(payload) - at != count * stride:
        return False
    if not declared and any(e[:4] != size.to_bytes(4, "big") for e in entries):
        return False
    return payload[4:8] != b"sync" or not any(e[-1] & 0xC0 for e in entries)


def _rates(data: bytes, start: int, end: int, where: str) -> list[Finding]:
    """Findings for the bit rate boxes (``btrt``) of the sample entries in ``stsd`` payload
    ``data[start:end]``: an entry has at most one, of three 32-bit rates.  A player reads the first
    and stops at its fields, so a second one, or bytes after the rates, could hold any text."""
    found = []
    for entry, a, b in _boxes(data, start + 8, end):
        if entry in _VISUAL:
            at = a + 78
        else:
            at = a + _SOUND_VERSION.get(int.from_bytes(data[a + 8 : a + 10], "big"), 28)
        here = f"{where}/{entry.decode('latin-1')}"
        rates = [(ra, rb) for kind, ra, rb in _boxes(data, at, b) if kind == b"btrt"]
        if len(rates) > 1:
            found.append(_finding(f"{here} has {len(rates)} btrt boxes"))
        if any(rb - ra != 12 for ra, rb in rates):
            found.append(_finding(f"{here}/btrt holds more than its three rates"))
    return found


# Samples FFmpeg may index for the fixed-size tracks of one file (about 75 bytes and 5 µs each:
# 150 MB and 10 s).  Real tracks of one sample size are sound in fixed frames (AC-3: 2 million is
# 18 hours) or uncompressed video (megabytes a frame); coded video has a table of sizes.
_MAX_INDEXED = 2_000_000


def overclaimed(path: Path) -> str | None:
    """Why FFmpeg must not open ``path``: tracks whose samples, all of one size, would take more
    bytes than the file has, or more samples than `_MAX_INDEXED` in all.  FFmpeg builds an index
    entry per sample before it reads one, so a 20-byte table claiming a billion samples took
    24 GB.  Sound in fixed-size frames with one duration (PCM) is indexed by chunk and does not
    count.  None for anything else (a file that cannot be read is left to FFmpeg, which says why)."""
    try:
        if not sniff(path):
            return None
        size = path.stat().st_size
        moovs = [
            _payload(path, start, end)
            for kind, start, end in _top_level(path)
            if kind == b"moov" and end - start <= _MAX_MOOV
        ]
    except OSError:
        return None
    indexed = 0
    for moov in moovs:
        for trak in _children(moov, 0, len(moov), b"trak"):
            fixed, count = _fixed_samples(moov, *trak)
            if fixed * count > size and count > 1000:
                return f"a track claims {count:,} samples of {fixed:,} bytes, more than the file holds"
            indexed += count
    if indexed > _MAX_INDEXED:
        return f"its tracks claim {indexed:,} samples of one size each, more than unseen opens"
    return None


def _fixed_samples(moov: bytes, start: int, end: int) -> tuple[int, int]:
    """(size, count) of a track whose samples all have one size and are indexed one by one; (0, 0)
    for a table of sizes (its entries are in the file) or for PCM-like sound."""
    stsz, stts = _sample_table(moov, start, end, b"stsz"), _sample_table(moov, start, end, b"stts")
    handler = _table(moov, start, end, (b"mdia", b"hdlr")) or b""
    if stsz is None or len(stsz) < 12 or not int.from_bytes(stsz[4:8], "big"):
        return 0, 0
    one_step = stts is not None and stts[4:8] == b"\0\0\0\x01" and stts[12:16] == b"\0\0\0\x01"
    if handler[8:12] == b"soun" and one_step:
        return 0, 0
    return int.from_bytes(stsz[4:8], "big"), int.from_bytes(stsz[8:12], "big")


def _unread(moov: bytes, media: list[tuple[int, int]]) -> list[Finding]:
    """A finding when some ``mdat`` bytes are in no track's chunks."""
    try:
        chunks = [c for trak in _children(moov, 0, len(moov), b"trak") for c in _chunks(moov, *trak)]
    except (ValueError, IndexError) as exc:
        return [_finding(f"sample tables do not add up ({exc})")]
    unread = sum(end - start for start, end in media) - _covered(chunks, media)
    return [_finding(f"mdat holds {unread} byte(s) that no track reads")] if unread else []


def _covered(chunks: list[tuple[int, int]], media: list[tuple[int, int]]) -> int:
    """How many bytes of the ``media`` ranges the ``chunks`` take: the chunks merged into disjoint
    runs once, then each range's runs found by bisection (thousands of each stay quick)."""
    if not chunks:
        return 0
    spans = np.array(chunks, np.int64).reshape(-1, 2)
    spans = spans[np.argsort(spans[:, 0], kind="stable")]
    reach = np.maximum.accumulate(spans[:, 1])
    first = np.ones(len(spans), bool)
    first[1:] = spans[1:, 0] > reach[:-1]
    starts = spans[first, 0]
    ends = reach[np.append(np.flatnonzero(first)[1:] - 1, len(spans) - 1)]
    prefix = np.concatenate([[0], np.cumsum(ends - starts)])
    covered = 0
    for start, end in media:
        i, j = int(np.searchsorted(ends, start, "right")), int(np.searchsorted(starts, end, "left"))
        if i < j:
            whole = int(prefix[j] - prefix[i])
            covered += whole - max(0, start - int(starts[i])) - max(0, int(ends[j - 1]) - end)
    return covered


def _children(data: bytes, start: int, end: int, kind: bytes) -> Iterator[tuple[int, int]]:
    return ((a, b) for k, a, b in _boxes(data, start, end) if k == kind)


def _table(data: bytes, start: int, end: int, path: tuple[bytes, ...]) -> bytes | None:
    """The payload of the box at ``path`` below ``data[start:end]``; None if there is none."""
    for kind in path:
        found = next(_children(data, start, end, kind), None)
        if found is None:
            return None
        start, end = found
    return data[start:end]


def _sample_table(moov: bytes, start: int, end: int, name: bytes) -> bytes | None:
    """The payload of the track ``moov[start:end]``'s sample table box ``name``."""
    return _table(moov, start, end, (b"mdia", b"minf", b"stbl", name))


def _chunks(moov: bytes, start: int, end: int) -> Iterator[tuple[int, int]]:
    """(first byte, end) of every chunk of the track ``moov[start:end]``."""

    def table(name: bytes) -> bytes | None:
        return _sample_table(moov, start, end, name)

    stsz, stsc, offsets_box, wide = table(b"stsz"), table(b"stsc"), table(b"stco"), False
    if offsets_box is None:
        offsets_box, wide = table(b"co64"), True
    if stsz is None or stsc is None or offsets_box is None:
        if table(b"stz2") is not None:
            raise ValueError("compact sample sizes (stz2) are not read")
        return
    fixed, count = (int(v) for v in np.frombuffer(stsz[4:12], ">u4"))
    sizes = None if fixed else _numbers(stsz, 12, count, ">u4")  # one size for all: no array of them
    offsets = _numbers(
        offsets_box, 8, int(np.frombuffer(offsets_box[4:8], ">u4")[0]), ">u8" if wide else ">u4"
    )
    runs = _numbers(stsc, 8, 3 * int(np.frombuffer(stsc[4:8], ">u4")[0]), ">u4").reshape(-1, 3)
    if not len(offsets):
        return
    firsts = np.append(runs[:, 0], len(offsets) + 1)
    if not len(runs) or firsts[0] != 1 or np.any(np.diff(firsts) < 0):
        raise ValueError("stsc out of order")
    per_chunk = np.repeat(runs[:, 1], np.diff(firsts))
    ends = np.cumsum(per_chunk)
    if len(per_chunk) != len(offsets) or (len(ends) and ends[-1] > count):
        raise ValueError("more samples in chunks than sizes")
    if sizes is None:
        if fixed * count >= 1 << 62:
            raise ValueError("samples larger than any file")
        lengths = per_chunk * fixed
    else:
        total = np.concatenate([[0], np.cumsum(sizes)])
        lengths = total[ends] - total[ends - per_chunk]
    yield from zip(offsets.tolist(), (offsets + lengths).tolist(), strict=True)


def _numbers(box: bytes, at: int, count: int, dtype: str) -> np.ndarray:
    width = np.dtype(dtype).itemsize
    if at + count * width > len(box):
        raise ValueError("a sample table cut short")
    return np.frombuffer(box, dtype, count, at).astype(np.int64)


def _finding(item: str) -> Finding:
    return Finding("unseen", f"MP4:{item}")
