"""Our own walk through a TIFF file: every byte must belong to the header, a directory, a tag's value
or the picture's strips and tiles.

A reader follows offsets from the header, so bytes that no offset reaches
(between strips, after the last directory, at the end of the file) are never
shown and can hold anything; exiftool and Pillow do not report them.  Bytes
left between the parts as alignment may only be zero.  The tags themselves are
judged elsewhere (Pillow's EXIF tags, exiftool's allowlist).
"""

from __future__ import annotations

import mmap
from pathlib import Path
from typing import Literal

import numpy as np

from .findings import Finding

_SIZES = {1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 6: 1, 7: 1, 8: 2, 9: 4, 10: 8, 11: 4, 12: 8, 13: 4}
# Tags whose values point at more of the file: (offsets tag, byte counts tag) for picture data,
# and the tags that point at further directories.
_DATA = ((273, 279), (324, 325), (513, 514))
_DIRECTORIES = frozenset({330, 34665, 34853, 40965})
_POINTERS = frozenset(t for pair in _DATA for t in pair) | _DIRECTORIES
_MAX_DIRECTORIES = 4096
_MAX_ENTRIES = 200_000  # directories may overlap: each holds up to 65,535 entries
# Offsets and counts read in all: a 160 KB file repeating one tag of 10,000 values 10,000 times
# took minutes.  Four million strips or tiles is a picture of some 10^12 pixels.
_MAX_VALUES = 4_000_000


def scan(path: Path) -> list[Finding]:
    with open(path, "rb") as fh:
        if fh.read(4) not in (b"II*\0", b"MM\0*"):
            return []  # BigTIFF is not walked here; exiftool and Pillow still judge its tags
        with mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as data:  # a scan may be gigabytes
            try:
                parts = _parts(data)
            except (ValueError, IndexError) as exc:
                return [Finding("unseen", f"TIFF: its structure cannot be followed ({exc})")]
            hidden = _nonzero_outside(data, parts)
    return [Finding("unseen", f"TIFF: {hidden} byte(s) that no directory points at")] if hidden else []


def _parts(data: mmap.mmap) -> list[tuple[int, int]]:
    """(start, end) of every part of the file a reader reaches."""
    order: Literal["little", "big"] = "little" if data[:2] == b"II" else "big"

    def number(at: int, size: int) -> int:
        if at < 0 or at + size > len(data):
            raise ValueError(f"an offset past the end of the file ({at})")
        return int.from_bytes(data[at : at + size], order)

    def numbers(at: int, width: int, n: int) -> list[int]:
        number(at, width * n)  # within the file
        kind = np.dtype(f"{'<' if order == 'little' else '>'}u{width}")
        found: list[int] = np.frombuffer(data, kind, n, at).tolist()
        return found

    parts = [(0, 8)]
    todo, seen, entries, read = [number(4, 4)], set(), 0, 0
    while todo:
        ifd = todo.pop()
        if ifd == 0 or ifd in seen:
            continue
        seen.add(ifd)
        if len(seen) > _MAX_DIRECTORIES:
            raise ValueError("too many directories")
        count = number(ifd, 2)
        entries += count
        if entries > _MAX_ENTRIES:
            raise ValueError("too many directory entries")
        parts.append((ifd, ifd + 2 + 12 * count + 4))
        values: dict[int, list[int]] = {}
        for i in range(count):
            at = ifd + 2 + 12 * i
            tag, kind, n = number(at, 2), number(at + 2, 2), number(at + 4, 4)
            size = _SIZES.get(kind, 1) * n
            where = at + 8 if size <= 4 else number(at + 8, 4)
            if size > 4:
                parts.append((where, where + size))
            width = {3: 2, 4: 4, 13: 4}.get(kind)
            if width is not None and tag in _POINTERS:
                read += n
                if read > _MAX_VALUES:
                    raise ValueError("too many strips, tiles or directories pointed at")
                values[tag] = numbers(where, width, n) if n else []
        todo.append(number(ifd + 2 + 12 * count, 4))
        for tag in _DIRECTORIES & values.keys():
            todo += values[tag]
        for offsets, counts in _DATA:
            for start, length in zip(values.get(offsets, []), values.get(counts, []), strict=False):
                parts.append((start, start + length))
    return parts


def _nonzero_outside(data: mmap.mmap, parts: list[tuple[int, int]]) -> int:
    """How many bytes of ``data`` outside every part are not zero (from the first such to the last,
    per gap)."""
    hidden, at = 0, 0
    for start, end in [*sorted(parts), (len(data), len(data))]:
        if start > at:
            hidden += len(data[at:start].strip(b"\0"))
        at = max(at, end)
    return hidden
