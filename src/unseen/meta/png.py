"""PNG (and APNG): rebuild the file from the chunks a viewer needs to draw it.

Kept: header, palette, transparency, image data, the animation chunks, and the
two rendering hints ``sRGB`` and ``gAMA`` (fixed values, nothing about the
device).  Palette entries no pixel uses are blanked (black, opaque) and a
truecolour picture's suggested palette goes: a viewer never shows them, so they
can hold anything.  Dropped: text (tEXt/zTXt/iTXt, where XMP and IPTC live), eXIf,
tIME, iCCP (an embedded profile names the device or software; a non-sRGB one
is baked into the pixels by re-encoding before it goes), pHYs, C2PA and every
chunk we do not know.  The image data itself is copied byte for byte unless it
holds bytes no viewer reads (past its zlib stream's end, or inflating past the
last row), or where a kept chunk holds more than its fields or the animation
more frames than it states (a viewer shows the stated ones): such a file is
written anew from its pixels, and is a finding.
"""

from __future__ import annotations

import zlib
from pathlib import Path

import numpy as np
import numpy.typing as npt

from . import inflate
from .findings import Finding, NotClean
from .palette import drawn, holding

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


# Adam7's passes: first column and row, and the steps between them.
_ADAM7 = ((0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2))
_CHANNELS = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}


def _needed(width: int, height: int, header: bytes) -> int:
    """Bytes a ``width`` x ``height`` image inflates to (a filter byte per row), per ``IHDR``'s body."""
    bits = header[8] * _CHANNELS.get(header[9], 4)
    passes = _ADAM7 if header[12] == 1 else ((0, 0, 1, 1),)
    total = 0
    for x0, y0, dx, dy in passes:
        cols, rows = max(0, -(-(width - x0) // dx)), max(0, -(-(height - y0) // dy))
        if cols and rows:
            total += rows * (1 + -(-cols * bits // 8))
    return total


def _header(found: list[tuple[bytes, bytes]]) -> bytes:
    header = next((raw[8:-4] for kind, raw in found if kind == b"IHDR"), b"")
    if len(header) != 13:
        raise NotClean("no image header")
    return header


def _streams(found: list[tuple[bytes, bytes]]) -> list[tuple[str, int, int, bytes]]:
    """(name, width, height, compressed bytes) of the still image and of each APNG frame."""
    header = _header(found)
    out: list[tuple[str, int, int, bytes]] = []
    image = b"".join(raw[8:-4] for kind, raw in found if kind == b"IDAT")
    out.append(("IDAT", int.from_bytes(header[:4], "big"), int.from_bytes(header[4:8], "big"), image))
    for kind, raw in found:
        if kind == b"fcTL" and len(raw) >= 20:
            size = (int.from_bytes(raw[12:16], "big"), int.from_bytes(raw[16:20], "big"))
            out.append((f"frame {len(out)}", *size, b""))
        elif kind == b"fdAT" and len(out) > 1:
            name, width, height, data = out[-1]
            out[-1] = (name, width, height, data + raw[12:-4])  # after the sequence number
    return [s for s in out if s[3]]


def _unread(found: list[tuple[bytes, bytes]]) -> str | None:
    """Why the image data holds bytes no viewer reads (past the end of a zlib stream, or inflating
    to more than the image needs), or None.  Inflated a piece at a time: a bomb is not held."""
    header = _header(found)
    for name, width, height, data in _streams(found):
        try:
            rest = inflate.past(data, _needed(width, height, header))
        except zlib.error as exc:
            return f"{name}: image data does not inflate ({exc})"
        if rest.more:
            return f"{name}: image data inflates past the picture"
        if rest.after:
            return f"{name}: {len(rest.after)} bytes after the image data's end"
    return None


# Kept chunks of fields alone, and their length; a palette (3 bytes an entry) and transparency
# are held to the picture's colour type in `_odd`.
FIELDS = {b"IHDR": 13, b"gAMA": 4, b"sRGB": 1, b"acTL": 8, b"fcTL": 26}
_TRANSPARENCY = {0: 2, 2: 6}  # grey and RGB: one colour; a palette's: up to one byte an entry


def _odd(found: list[tuple[bytes, bytes]]) -> str | None:
    """Why kept chunks hold more than a viewer reads, or None: a chunk longer than its fields,
    transparency or a palette longer than the picture uses, or animation frames beyond those
    ``acTL`` states (a viewer shows the stated ones; without ``acTL``, none)."""
    bodies = [(kind, raw[8:-4]) for kind, raw in found]
    for kind, body in bodies:
        if kind in FIELDS and len(body) != FIELDS[kind]:
            return f"{kind.decode()} chunk of {len(body)} bytes, not {FIELDS[kind]}"
    header = next((body for kind, body in bodies if kind == b"IHDR"), b"")
    if len(header) != FIELDS[b"IHDR"]:
        return "no image header"
    for once in (b"PLTE", b"tRNS"):
        if sum(kind == once for kind, _ in bodies) > 1:
            return f"more than one {once.decode()} chunk"
    palette = b"".join(body for kind, body in bodies if kind == b"PLTE")
    if len(palette) % 3 or len(palette) > 3 << header[8]:
        return "palette longer than the picture's depth allows"
    colours = header[9]
    limit = _TRANSPARENCY.get(colours, len(palette) // 3 if colours == 3 else 0)
    if any(kind == b"tRNS" and len(body) > limit for kind, body in bodies):
        return "tRNS chunk longer than the picture uses"
    stated = next((int.from_bytes(body[:4], "big") for kind, body in bodies if kind == b"acTL"), 0)
    frames = sum(kind == b"fcTL" for kind, _ in bodies)
    if frames > stated:
        return f"{frames} animation frames where {stated} are stated"
    return None


def _unused(found: list[tuple[bytes, bytes]], path: Path) -> npt.NDArray[np.bool_]:
    """Which palette entries no pixel of the picture or of any APNG frame uses (none for a
    picture without a palette).  Each is decoded alone from its own data (the pixel cap holds)."""
    header = _header(found)
    palette = b"".join(raw[8:-4] for kind, raw in found if kind == b"PLTE")
    unused = np.ones(len(palette) // 3 if header[9] == 3 else 0, bool)
    if not len(unused):
        return unused
    for _name, width, height, data in _streams(found):
        size = width.to_bytes(4, "big") + height.to_bytes(4, "big")
        parts = ((b"IHDR", size + header[8:]), (b"PLTE", palette), (b"IDAT", data), (b"IEND", b""))
        alone = SIGNATURE + b"".join(_chunk(kind, body) for kind, body in parts)
        used = drawn(path, alone)
        unused[used[used < len(unused)]] = False
    return unused


def _chunk(kind: bytes, body: bytes) -> bytes:
    return len(body).to_bytes(4, "big") + kind + body + zlib.crc32(kind + body).to_bytes(4, "big")


def _hidden_colours(found: list[tuple[bytes, bytes]], unused: npt.NDArray[np.bool_]) -> int:
    """How many palette entries no pixel uses hold something (`palette.holding`), or a transparency
    other than opaque."""
    bodies = {kind: raw[8:-4] for kind, raw in found if kind in (b"PLTE", b"tRNS")}  # one each (`_odd`)
    count = len(unused)
    colours = np.frombuffer(bodies.get(b"PLTE", b""), np.uint8).reshape(-1, 3)[:count]
    alpha = np.frombuffer(bodies.get(b"tRNS", b""), np.uint8)[:count]
    held = holding(colours, unused) | np.pad(alpha != 255, (0, count - len(alpha))) & unused
    return int(held.sum())


def _blanked(kind: bytes, raw: bytes, unused: npt.NDArray[np.bool_]) -> bytes:
    """A PLTE chunk with its unused entries black, a tRNS chunk with theirs opaque; any other as it is."""
    if kind not in (b"PLTE", b"tRNS") or not unused.any():
        return raw
    body = np.frombuffer(raw[8:-4], np.uint8).copy()
    if kind == b"PLTE":
        body.reshape(-1, 3)[: len(unused)][unused] = 0
    else:
        body[unused[: len(body)]] = 255
    return _chunk(kind, body.tobytes())


def clean_bytes(data: bytes, path: Path) -> bytes:
    """The PNG ``data`` (read from ``path``) with the chunks a viewer needs alone, palette entries no
    pixel uses blanked (the pixels are the same); `NotClean` where it must be written anew."""
    found, _trailer = chunks(data)
    odd = _odd(found)
    if odd is not None:  # written anew from the pixels a viewer shows
        raise NotClean(odd)
    unread = _unread(found)
    if unread is not None:  # written anew from the pixels, which are the same
        raise NotClean(unread)
    unused = _unused(found, path)
    paletted = _header(found)[9] == 3
    parts = [SIGNATURE]
    for kind, raw in found:
        if kind == b"PLTE" and not paletted:
            continue  # a truecolour picture's suggested palette: no viewer draws with it
        if kind in KEEP:
            parts.append(_blanked(kind, raw, unused))
        elif kind[0] & 0x20 == 0:  # an unknown critical chunk: the picture may depend on it
            raise NotClean(f"unknown critical chunk {kind!r}")
    return b"".join(parts)


def write_clean(src: Path, dst: Path) -> None:
    dst.write_bytes(clean_bytes(src.read_bytes(), src))


def scan(path: Path) -> list[Finding]:
    try:
        found, trailer = chunks(path.read_bytes())
    except NotClean as exc:
        return [Finding("unseen", f"PNG:unparsed ({exc})")]
    out = [Finding("unseen", f"PNG:{kind.decode('latin-1')} chunk") for kind, _ in found if kind not in KEEP]
    if trailer:
        out.append(Finding("unseen", f"PNG:{trailer} bytes after IEND"))
    try:
        unread = _odd(found) or _unread(found)
        hidden = 0 if unread else _hidden_colours(found, _unused(found, path))
    except NotClean as exc:
        unread = str(exc)
    if unread is not None:
        out.append(Finding("unseen", f"PNG:{unread}"))
    elif hidden:
        out.append(Finding("unseen", f"PNG:{hidden} palette entries no pixel uses hold colours"))
    elif any(kind == b"PLTE" for kind, _ in found) and _header(found)[9] != 3:
        out.append(Finding("unseen", "PNG:a palette in a picture that draws without one"))
    return out
