"""PNG (and APNG): rebuild the file from the chunks a viewer needs to draw it.

Kept: header, palette, transparency, image data, the animation chunks, and the
two rendering hints ``sRGB`` and ``gAMA`` (fixed values, nothing about the
device).  Dropped: text (tEXt/zTXt/iTXt, where XMP and IPTC live), eXIf,
tIME, iCCP (an embedded profile names the device or software; a non-sRGB one
is baked into the pixels by re-encoding before it goes), pHYs, C2PA and every
chunk we do not know.
"""

from __future__ import annotations

import zlib
from pathlib import Path

from .findings import Finding, NotClean

SIGNATURE = b"\x89PNG\r\n\x1a\n"
KEEP = frozenset({b"IHDR", b"PLTE", b"tRNS", b"IDAT", b"IEND", b"acTL", b"fcTL", b"fdAT", b"sRGB", b"gAMA"})


def chunks(data: bytes) -> tuple[list[tuple[bytes, bytes]], int]:
    """(type, whole chunk bytes) up to IEND, and how many bytes follow it."""
    if not data.startswith(SIGNATURE):
        raise NotClean("not a PNG stream")
    pos, out = len(SIGNATURE), []
    while pos + 12 <= len(data):
        length = int.from_bytes(data[pos : pos + 4], "big")
        kind = data[pos + 4 : pos + 8]
        end = pos + 12 + length
        if end > len(data):
            raise NotClean("truncated chunk")
        body = data[pos + 4 : end - 4]
        if zlib.crc32(body) != int.from_bytes(data[end - 4 : end], "big"):
            raise NotClean(f"bad checksum in {kind!r}")
        out.append((kind, data[pos:end]))
        pos = end
        if kind == b"IEND":
            return out, len(data) - pos
    raise NotClean("no IEND chunk")


def clean_bytes(data: bytes) -> bytes:
    found, _trailer = chunks(data)
    parts = [SIGNATURE]
    for kind, raw in found:
        if kind in KEEP:
            parts.append(raw)
        elif kind[0] & 0x20 == 0:  # an unknown critical chunk: the picture may depend on it
            raise NotClean(f"unknown critical chunk {kind!r}")
    return b"".join(parts)


def write_clean(src: Path, dst: Path) -> None:
    dst.write_bytes(clean_bytes(src.read_bytes()))


def scan(path: Path) -> list[Finding]:
    try:
        found, trailer = chunks(path.read_bytes())
    except NotClean as exc:
        return [Finding("unseen", f"PNG:unparsed ({exc})")]
    out = [Finding("unseen", f"PNG:{kind.decode('latin-1')} chunk") for kind, _ in found if kind not in KEEP]
    if trailer:
        out.append(Finding("unseen", f"PNG:{trailer} bytes after IEND"))
    return out
