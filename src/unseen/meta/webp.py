"""WebP: rebuild the RIFF file from its picture chunks.

Kept: VP8/VP8L bitstreams, ALPH, and the extended-format chunks VP8X, ANIM,
ANMF (each frame rebuilt the same way).  Dropped: EXIF, XMP, ICCP and any
unknown chunk; the VP8X flags that announce them are cleared to match.
VP8X and ANIM keep their fields alone (10 and 6 bytes): a decoder reads no
further, so anything after them would travel unseen.  A file or frame with
more than one picture chunk is not rewritten (`strip` writes it anew from what
a decoder shows, the first) and is a finding: a second one (a face, say) would
go through unseen and unaudited.
"""

from __future__ import annotations

from pathlib import Path

from .findings import Finding, NotClean

PICTURE = frozenset({b"VP8 ", b"VP8L", b"ALPH"})
KEEP = PICTURE | {b"VP8X", b"ANIM", b"ANMF"}
# VP8X flag bits that announce chunks we drop: ICC profile, EXIF, XMP.
_DROPPED_FLAGS = 0x20 | 0x08 | 0x04
_ANMF_HEADER = 16
FIELDS = {b"VP8X": 10, b"ANIM": 6}  # chunks of fields alone, and their length


def chunks(data: bytes, start: int = 12, end: int | None = None) -> list[tuple[bytes, bytes]]:
    """(FourCC, payload) pairs between ``start`` and ``end``."""
    end = len(data) if end is None else end
    pos, out = start, []
    while pos + 8 <= end:
        kind = data[pos : pos + 4]
        size = int.from_bytes(data[pos + 4 : pos + 8], "little")
        if pos + 8 + size > end:
            raise NotClean(f"truncated {kind!r} chunk")
        out.append((kind, data[pos + 8 : pos + 8 + size]))
        pos += 8 + size + (size & 1)
    return out


def riff(data: bytes) -> list[tuple[bytes, bytes]]:
    if data[:4] != b"RIFF" or data[8:12] != b"WEBP":
        raise NotClean("not a WebP file")
    return chunks(data, 12, min(len(data), 8 + int.from_bytes(data[4:8], "little")))


def _chunk(kind: bytes, payload: bytes) -> bytes:
    return kind + len(payload).to_bytes(4, "little") + payload + b"\0" * (len(payload) & 1)


def clean_bytes(data: bytes) -> bytes:
    parts = []
    found = riff(data)
    if not any(kind in (b"VP8 ", b"VP8L", b"ANMF") for kind, _ in found):
        raise NotClean("no picture chunk")
    _one_picture(found)
    for kind, payload in found:
        if kind in FIELDS:
            if len(payload) < FIELDS[kind]:
                raise NotClean(f"truncated {kind.decode('latin-1')} chunk")
            payload = payload[: FIELDS[kind]]
        if kind == b"VP8X":
            payload = bytes([payload[0] & ~_DROPPED_FLAGS & 0xFF]) + payload[1:]
        elif kind == b"ANMF":
            if len(payload) < _ANMF_HEADER:
                raise NotClean("truncated ANMF header")
            frame = [(k, p) for k, p in chunks(payload, _ANMF_HEADER) if k in PICTURE]
            _one_picture(frame)
            payload = payload[:_ANMF_HEADER] + b"".join(_chunk(k, p) for k, p in frame)
        elif kind not in KEEP:
            continue
        parts.append(_chunk(kind, payload))
    body = b"WEBP" + b"".join(parts)
    return b"RIFF" + len(body).to_bytes(4, "little") + body


def _one_picture(found: list[tuple[bytes, bytes]]) -> None:
    """Refuse a file or frame holding more than one bitstream or alpha chunk."""
    for kinds in ((b"VP8 ", b"VP8L"), (b"ALPH",)):
        if sum(kind in kinds for kind, _ in found) > 1:
            raise NotClean(f"more than one {' or '.join(k.decode().strip() for k in kinds)} chunk")


def write_clean(src: Path, dst: Path) -> None:
    dst.write_bytes(clean_bytes(src.read_bytes()))


def scan(path: Path) -> list[Finding]:
    data = path.read_bytes()
    try:
        found = riff(data)
    except NotClean as exc:
        return [Finding("unseen", f"WebP:unparsed ({exc})")]
    out = []
    try:
        _one_picture(found)
    except NotClean as exc:
        out.append(Finding("unseen", f"WebP:{exc} (a decoder shows the first)"))
    for kind, payload in found:
        name = kind.decode("latin-1").strip()
        if kind in FIELDS and len(payload) > FIELDS[kind]:
            out.append(Finding("unseen", f"WebP:{name} chunk longer than its fields"))
        if kind not in KEEP:
            out.append(Finding("unseen", f"WebP:{name} chunk"))
        elif kind == b"VP8X" and payload[:1] and payload[0] & _DROPPED_FLAGS:
            out.append(Finding("unseen", "WebP:VP8X announces ICC/EXIF/XMP"))
        elif kind == b"ANMF":
            try:
                frame = chunks(payload, _ANMF_HEADER)
                extra = {k for k, _ in frame} - PICTURE
                _one_picture(frame)
            except NotClean as exc:
                out.append(Finding("unseen", f"WebP:ANMF unparsed ({exc})"))
                continue
            out += [Finding("unseen", f"WebP:ANMF holds {k.decode('latin-1')!r}") for k in sorted(extra)]
    riff_end = 8 + int.from_bytes(data[4:8], "little")
    if len(data) > riff_end + 1:
        out.append(Finding("unseen", f"WebP:{len(data) - riff_end} bytes after the RIFF chunk"))
    return out
