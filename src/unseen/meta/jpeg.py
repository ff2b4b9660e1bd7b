"""JPEG: keep the segments a decoder needs, drop the rest, leave the compressed picture untouched.

Kept: frame headers, Huffman/arithmetic/quantisation tables, restart interval,
scans with their entropy-coded data.  Dropped: every APPn (EXIF and its
thumbnail, XMP and extended XMP, ICC, IPTC/Photoshop IRB, MPF, maker
segments) and every comment, plus anything after the end-of-image marker
(MPO secondary images, depth maps, vendor trailers).  A JFIF or Adobe marker
is rewritten from constants when the original had one, because it tells the
decoder how to turn the components into colour.  Quantisation and Huffman
tables keep those a decoder reads (`_lean_tables`): any other can hold anything
(text as its values), and no decoder looks at it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .findings import Finding, NotClean

# Markers of the decoding process itself (ITU T.81 table B.1).
_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}
_TABLES = {0xC4, 0xCC, 0xDB, 0xDD, 0xDC}  # DHT, DAC, DQT, DRI, DNL
_SOS, _EOI = 0xDA, 0xD9
_JFIF = b"\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
_ADOBE = b"\xff\xee\x00\x0eAdobe\x00\x64\x00\x00\x00\x00"


@dataclass(frozen=True)
class Segment:
    marker: int
    data: bytes  # the whole segment, marker included; a scan includes its entropy-coded data

    @property
    def payload(self) -> bytes:
        return self.data[4:]


def segments(data: bytes) -> tuple[list[Segment], int]:
    """The segments up to EOI and how many bytes follow it."""
    if data[:2] != b"\xff\xd8":
        raise NotClean("not a JPEG stream")
    pos, out = 2, []
    while pos < len(data):
        if data[pos] != 0xFF:
            raise NotClean(f"stray byte at {pos}")
        while pos < len(data) and data[pos] == 0xFF:
            pos += 1  # fill bytes
        if pos >= len(data):
            break
        marker, start = data[pos], pos - 1
        pos += 1
        if marker == _EOI:
            out.append(Segment(marker, b"\xff\xd9"))
            return out, len(data) - pos
        if 0xD0 <= marker <= 0xD7:
            raise NotClean("restart marker outside a scan")
        end = pos + int.from_bytes(data[pos : pos + 2], "big")
        if end > len(data) or end < pos + 2:
            raise NotClean("truncated segment")
        if marker == _SOS:
            end = _entropy_end(data, end)
        out.append(Segment(marker, data[start:end]))
        pos = end
    raise NotClean("no end-of-image marker")


def _entropy_end(data: bytes, pos: int) -> int:
    while True:
        j = data.find(b"\xff", pos)
        if j < 0 or j + 1 >= len(data):
            raise NotClean("truncated scan")
        nxt = data[j + 1]
        if nxt == 0x00 or 0xD0 <= nxt <= 0xD7:
            pos = j + 2  # stuffed byte or restart marker: still inside the scan
        elif nxt == 0xFF:
            pos = j + 1
        else:
            return j


def clean_bytes(data: bytes) -> bytes:
    segs, _trailer = segments(data)
    had_jfif = any(s.marker == 0xE0 and s.payload.startswith(b"JFIF\0") for s in segs)
    adobe = [s.payload for s in segs if s.marker == 0xEE and s.payload.startswith(b"Adobe")]
    parts = [b"\xff\xd8"]
    if had_jfif:
        parts.append(_JFIF)
    if adobe and len(adobe[0]) >= 12:
        parts.append(_ADOBE + adobe[0][11:12])  # keep only the colour-transform byte
    lean, _unused = _lean_tables(segs)
    for s, kept in zip(segs, lean, strict=True):
        if s.marker in _SOF or s.marker in _TABLES or s.marker in (_SOS, _EOI):
            parts.append(kept)
        elif not (0xE0 <= s.marker <= 0xEF or s.marker == 0xFE):
            raise NotClean(f"unknown marker 0x{s.marker:02X}")
    return b"".join(parts)


_DQT, _DHT = 0xDB, 0xC4
_LOSSLESS = {0xC3, 0xC7, 0xCB, 0xCF}  # lossless frames: DC tables, no AC
_KINDS = {"q": "quantisation", "dc": "Huffman", "ac": "Huffman"}


def _tables(s: Segment) -> list[tuple[tuple[str, int], bytes]]:
    """((kind, id), bytes) of each table a DQT or DHT segment defines."""
    p, at, out = s.payload, 0, []
    while at < len(p):
        if s.marker == _DQT:
            key, size = ("q", p[at] & 15), 1 + 64 * (2 if p[at] >> 4 else 1)
        else:
            key, size = ("ac" if p[at] >> 4 else "dc", p[at] & 15), 17 + sum(p[at + 1 : at + 17])
        if at + size > len(p) or (s.marker == _DHT and at + 17 > len(p)):
            raise NotClean(f"a {'DQT' if s.marker == _DQT else 'DHT'} segment whose tables do not add up")
        out.append((key, p[at : at + size]))
        at += size
    return out


def _lean_tables(segs: list[Segment]) -> tuple[list[bytes], list[str]]:
    """Each segment's bytes, a DQT or DHT holding only the tables a decoder reads (empty if none);
    and the kinds of the tables left out.

    A Huffman table is read when it is the one defined for its id at a scan that codes with it:
    a sequential scan reads its components' DC and AC tables, a progressive one its DC tables
    (a first DC scan) or its AC tables (an AC scan) alone, a DC refinement neither, a lossless
    one its DC tables.  A quantisation table is read when it is the one defined for its id at
    the first scan of a component that names it (decoders fix it there, as libjpeg does).
    """
    current: dict[tuple[str, int], tuple[int, int]] = {}
    used: set[tuple[int, int]] = set()
    quant: dict[int, int] = {}  # component -> its quantisation table
    latched: set[int] = set()  # components whose quantisation table is fixed
    defined: dict[int, list[tuple[tuple[str, int], bytes]]] = {}
    lossless = False
    for i, s in enumerate(segs):
        p = s.payload
        if s.marker in (_DQT, _DHT):
            defined[i] = _tables(s)
            current.update({key: (i, t) for t, (key, _) in enumerate(defined[i])})
        elif s.marker in _SOF and len(p) >= 6:
            lossless = s.marker in _LOSSLESS
            quant.update({p[6 + 3 * k]: p[8 + 3 * k] for k in range(p[5]) if 8 + 3 * k < len(p)})
        elif s.marker == _SOS and p:
            count = p[0]
            spectrum = p[1 + 2 * count : 4 + 2 * count]
            first, last, refining = (
                (spectrum[0], spectrum[1], spectrum[2] >> 4) if len(spectrum) == 3 else (0, 63, 0)
            )
            for k in range(count):
                component, coding = p[1 + 2 * k : 3 + 2 * k] if 3 + 2 * k <= len(p) else (-1, 0)
                wanted = []
                if component not in latched:
                    latched.add(component)
                    wanted.append(("q", quant.get(component, -1)))
                if lossless or (first == 0 and not refining):
                    wanted.append(("dc", coding >> 4))
                if last > 0 and not lossless:
                    wanted.append(("ac", coding & 15))
                used |= {current[key] for key in wanted if key in current}
    lean, unused = [s.data for s in segs], []
    for i, tables in defined.items():
        kept = [table for t, (_, table) in enumerate(tables) if (i, t) in used]
        unused += [_KINDS[key[0]] for t, (key, _) in enumerate(tables) if (i, t) not in used]
        if len(kept) < len(tables):
            body = b"".join(kept)
            lean[i] = (
                bytes([0xFF, segs[i].marker]) + (len(body) + 2).to_bytes(2, "big") + body if kept else b""
            )
    return lean, unused


def primary_bytes(data: bytes) -> bytes:
    """The first picture with all its segments, minus the MPF index that points past it."""
    segs, _trailer = segments(data)
    kept = [s.data for s in segs if not (s.marker == 0xE2 and s.payload.startswith(b"MPF\0"))]
    return b"\xff\xd8" + b"".join(kept)


def write_clean(src: Path, dst: Path) -> None:
    dst.write_bytes(clean_bytes(src.read_bytes()))


def scan(path: Path) -> list[Finding]:
    """Every segment a decoder does not need, and any data after the picture."""
    return scan_bytes(path.read_bytes())


def scan_bytes(data: bytes) -> list[Finding]:
    """`scan` of a JPEG held in memory (a report page's thumbnail)."""
    try:
        segs, trailer = segments(data)
    except NotClean as exc:
        return [Finding("unseen", f"JPEG:unparsed ({exc})")]
    found = []
    for s in segs:
        if 0xE0 <= s.marker <= 0xEF:
            if not _decoding_marker(s):
                found.append(Finding("unseen", f"JPEG:APP{s.marker - 0xE0} {_label(s.payload)}"))
        elif s.marker == 0xFE:
            found.append(Finding("unseen", "JPEG:COM comment"))
    if trailer:
        found.append(Finding("unseen", f"JPEG:{trailer} bytes after end of image"))
    try:
        unused = _lean_tables(segs)[1]
    except NotClean as exc:
        return [*found, Finding("unseen", f"JPEG:{exc}")]
    found += [Finding("unseen", f"JPEG:a {kind} table no decoder reads") for kind in sorted(set(unused))]
    return found


def _decoding_marker(s: Segment) -> bool:
    """A JFIF marker without thumbnail, or an Adobe colour-transform marker: nothing but decoding hints."""
    jfif = s.marker == 0xE0 and s.payload.startswith(b"JFIF\0") and len(s.payload) == 14
    adobe = s.marker == 0xEE and s.payload.startswith(b"Adobe") and len(s.payload) == 12
    return jfif or adobe


def _label(payload: bytes) -> str:
    head = payload[:32].split(b"\0", 1)[0]
    return head.decode("latin-1", "replace") if head.isascii() and head else "(binary)"
