"""BMP: every byte must belong to the headers, the colour table or the rows of pixels.

A viewer reads the pixels from where the file header says they start, and
only as many bytes as the rows need (or, compressed, as the header states), so
bytes between the colour table and the pixels, after the pixels, or in the
file header's reserved fields are never shown and can hold anything; exiftool
and Pillow do not report them.  An embedded colour profile (a version 5
header's) is named too.  `strip` and `protect` write a BMP afresh, so this
judges inputs.
"""

from __future__ import annotations

from pathlib import Path

from .findings import Finding

_FILE_HEADER = 14
_BITFIELDS = (3, 6)  # BI_BITFIELDS, BI_ALPHABITFIELDS: colour masks after a 40-byte header
_RLE = (1, 2)  # compressed rows: as long as the header's image size
_EMBEDDED = 0x4D424544  # 'MBED': a version 5 header's profile lies in the file


def scan(path: Path) -> list[Finding]:
    data = path.read_bytes()
    if len(data) < _FILE_HEADER + 16 or data[:2] != b"BM":
        return []  # not a Windows bitmap Pillow reads as such: its own errors judge it
    found = []
    if any(data[6:10]):
        found.append(Finding("unseen", "BMP: its header's reserved fields hold data"))
    pixels = int.from_bytes(data[10:14], "little")
    header = int.from_bytes(data[14:18], "little")
    if header < 40 or _FILE_HEADER + header > min(pixels, len(data)):
        return [*found, Finding("unseen", "BMP: its headers cannot be followed")]
    h = data[_FILE_HEADER : _FILE_HEADER + header]
    width, height = (
        int.from_bytes(h[4:8], "little", signed=True),
        int.from_bytes(h[8:12], "little", signed=True),
    )
    bits, compression = int.from_bytes(h[14:16], "little"), int.from_bytes(h[16:20], "little")
    size, colours = int.from_bytes(h[20:24], "little"), int.from_bytes(h[32:36], "little")
    table = _FILE_HEADER + header + (12 if header == 40 and compression in _BITFIELDS else 0)
    if bits <= 8:
        table += 4 * (colours or 1 << bits)
    if data[min(table, pixels) : pixels].strip(b"\0"):
        found.append(Finding("unseen", "BMP: bytes between its colour table and its pixels"))
    rows = ((abs(width) * bits + 31) // 32 * 4) * abs(height)
    end = pixels + (size if compression in _RLE or (compression not in (0, 3, 6) and size) else rows)
    if header >= 124 and int.from_bytes(h[56:60], "little") == _EMBEDDED:
        start = _FILE_HEADER + int.from_bytes(h[112:116], "little")
        found.append(Finding("unseen", "BMP: an embedded colour profile"))
        end = max(end, start + int.from_bytes(h[116:120], "little"))
    if data[end:].strip(b"\0"):
        found.append(Finding("unseen", f"BMP: {len(data) - end} bytes after its pixels"))
    return found
