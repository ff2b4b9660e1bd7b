"""WAV (RIFF, RF64, BW64): our own walk through the chunks, held to an allowlist.

A clean WAV holds its format (``fmt ``), its samples (``data``), the sample
count of compressed sound (``fact``), the 64-bit sizes of RF64/BW64
(``ds64``), and zero-filled ``JUNK`` that FFmpeg reserves for them.  Every
other chunk is a finding: ``LIST/INFO`` (title, artist, date), ``bext`` (a
field recorder's originator and time), ``iXML`` (scene, notes, location),
``cart``, ``_PMX`` (XMP), ``id3 `` and whatever a tool invents.
"""

from __future__ import annotations

from pathlib import Path
from typing import BinaryIO

from .findings import Finding

KEEP = frozenset({b"fmt ", b"data", b"fact", b"ds64"})
PADDING = frozenset({b"JUNK", b"junk", b"PAD ", b"FLLR"})
_MAX_PADDING = 1 << 20
_UNKNOWN_SIZE = 0xFFFFFFFF  # RF64/BW64: the real size is in ds64


def scan(path: Path) -> list[Finding]:
    found: list[Finding] = []
    total = path.stat().st_size
    with open(path, "rb") as fh:
        head = fh.read(12)
        if len(head) < 12 or head[8:12] != b"WAVE":
            return [_finding("not a WAVE file")]
        wide = head[:4] in (b"RF64", b"BW64")
        data_size = _ds64_data_size(fh) if wide else None
        pos = 12
        while pos + 8 <= total:
            fh.seek(pos)
            header = fh.read(8)
            kind, size = header[:4], int.from_bytes(header[4:8], "little")
            if kind == b"data" and size == _UNKNOWN_SIZE and data_size is not None:
                size = data_size
            if pos + 8 + size > total:
                if kind == b"data":  # a recording cut short: the samples run to the end of the file
                    return found
                return [*found, _finding(f"{_name(kind)} chunk runs past the end of the file")]
            if kind in PADDING:
                if size > _MAX_PADDING or any(fh.read(size)):
                    found.append(_finding(f"{_name(kind)} chunk holds data"))
            elif kind not in KEEP:
                found.append(_finding(f"{_name(kind)} chunk"))
            pos += 8 + size + (size & 1)
        if total - pos > 1:  # one byte may be the last chunk's pad
            found.append(_finding(f"{total - pos} stray bytes at the end"))
    return found


def plain(path: Path) -> bool:
    """Whether the file is 32-bit RIFF (not RF64 or BW64)."""
    with open(path, "rb") as fh:
        return fh.read(4) == b"RIFF"


def _ds64_data_size(fh: BinaryIO) -> int | None:
    """The data chunk's size from the ds64 chunk that must come first in RF64/BW64."""
    chunk = fh.read(8 + 24)
    if chunk[:4] != b"ds64" or len(chunk) < 32:
        return None
    return int.from_bytes(chunk[16:24], "little")


def _name(kind: bytes) -> str:
    return kind.decode("latin-1").strip()


def _finding(item: str) -> Finding:
    return Finding("unseen", f"WAV:{item}")
