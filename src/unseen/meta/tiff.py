"""Our own walk through a TIFF file: every byte must belong to the header, a directory, a tag's value
or the picture's strips and tiles.

A reader follows offsets from the header, so bytes that no offset reaches
(between strips, after the last directory, at the end of the file) are never
shown and can hold anything; exiftool and Pillow do not report them.  Bytes
left between the parts as alignment may only be zero.  So may the bytes of a strip or tile
past its picture: its byte count may claim more than a decoder reads, which stops at the rows
the picture has (uncompressed, PackBits) or at the end of its Deflate or LZW stream, whose data
may also decode past the picture, or at a JPEG strip's end-of-image marker (`_past_picture`).
The segments inside a JPEG strip are not judged here, nor are the tags themselves (Pillow's EXIF
tags, exiftool's allowlist).
"""

from __future__ import annotations

import mmap
import zlib
from pathlib import Path
from typing import Literal

import numpy as np

from . import inflate, jpeg, lzw
from .findings import Finding, NotClean

_SIZES = {1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 6: 1, 7: 1, 8: 2, 9: 4, 10: 8, 11: 4, 12: 8, 13: 4}
# Tags whose values point at more of the file: (offsets tag, byte counts tag) for picture data,
# and the tags that point at further directories.
_DATA = ((273, 279), (324, 325), (513, 514))
_DIRECTORIES = frozenset({330, 34665, 34853, 40965})
_POINTERS = frozenset(t for pair in _DATA for t in pair) | _DIRECTORIES
# ImageWidth, ImageLength, BitsPerSample, Compression, PhotometricInterpretation, SamplesPerPixel,
# RowsPerStrip, PlanarConfiguration, TileWidth, TileLength: how many bytes a strip or tile decodes to.
_LAYOUT = frozenset({256, 257, 258, 259, 262, 277, 278, 284, 322, 323})
_RAW, _PACKBITS, _JPEG = frozenset({1}), frozenset({32773}), frozenset({7})
# Compressed streams followed to their picture's end by one function each (`inflate`, `lzw`).
_STREAMS = {5: lzw.past, 8: inflate.past, 32946: inflate.past}
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
                parts, pictures = _parts(data)
            except (ValueError, IndexError) as exc:
                return [Finding("unseen", f"TIFF: its structure cannot be followed ({exc})")]
            hidden = _nonzero_outside(data, parts)
            # Strips alike (every one of millions may point at the same bytes) are walked once.
            past = sum(_past_picture(data, *picture) for picture in dict.fromkeys(pictures))
    found = [Finding("unseen", f"TIFF: {hidden} byte(s) that no directory points at")] if hidden else []
    if past:
        found.append(Finding("unseen", f"TIFF: {past} byte(s) in its strips or tiles past the picture"))
    return found


def _parts(data: mmap.mmap) -> tuple[list[tuple[int, int]], list[tuple[int, int, int | None, int]]]:
    """(start, end) of every part of the file a reader reaches; and (start, end, bytes its picture
    decodes to, compression) of each strip or tile whose size `_picture_bytes` knows."""
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

    parts, pictures = [(0, 8)], []
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
            if width is not None and tag in _POINTERS | _LAYOUT:
                read += n
                if read > _MAX_VALUES:
                    raise ValueError("too many strips, tiles or directories pointed at")
                values[tag] = numbers(where, width, n) if n else []
        todo.append(number(ifd + 2 + 12 * count, 4))
        for tag in _DIRECTORIES & values.keys():
            todo += values[tag]
        for offsets, counts in _DATA:
            pairs = list(zip(values.get(offsets, []), values.get(counts, []), strict=False))
            parts += [(start, start + length) for start, length in pairs]
            if offsets in (273, 324):
                needs = _picture_bytes(values, len(pairs), tiled=offsets == 324)
                compression = values.get(259, [1])[0]
                pictures += [(s, s + n, need, compression) for (s, n), need in zip(pairs, needs, strict=True)]
    return parts, pictures


def _picture_bytes(values: dict[int, list[int]], count: int, *, tiled: bool) -> list[int | None]:
    """How many bytes each of a directory's ``count`` strips or tiles decodes to, by its layout
    tags (``values``); None where they are missing.  For YCbCr, whose chroma may be subsampled
    (up to 4 by 4 pixels a block, rows and columns padded to whole blocks), the most a strip
    decodes to: its width and rows rounded up to a multiple of 4, every pixel whole; bytes past
    that (text after an LZW strip's end code, say) lie past the picture whatever its subsampling.
    Its strips were once called a structure that cannot be followed, then not judged at all."""
    one = {tag: v[0] for tag, v in values.items() if v}
    bits = values.get(258) or [1]
    samples = one.get(277, 1)
    planar = one.get(284, 1) == 2
    if not one.get(256) or not one.get(257) or (tiled and not {322, 323} <= one.keys()):
        return [None] * count
    pixel = bits[0] if planar else (sum(bits) if len(bits) == samples else bits[0] * samples)
    if tiled:
        return [(one[322] * pixel + 7) // 8 * one[323]] * count
    width, length = one[256], one[257]
    rows = min(one.get(278, length), length) or length
    per_plane = -(-length // rows)
    block = 4 if one.get(262) == 6 else 1  # YCbCr: whole blocks of up to 4 by 4 pixels
    row = (-(-width // block) * block * pixel + 7) // 8
    return [row * (-(-min(rows, length - (i % per_plane) * rows) // block) * block) for i in range(count)]


def _past_picture(data: mmap.mmap, start: int, end: int, need: int | None, compression: int) -> int:
    """How many bytes of the strip or tile ``data[start:end]`` past what a decoder of
    ``compression`` reads for its picture (``need`` bytes decoded) are not zero; 0 for
    compressions not decoded here, for a picture of a size not known (``need`` None), and for
    data that ends before its picture does or does not decode (the decoders judge that).  A
    Deflate or LZW stream that decodes to more than the picture counts what is left; a JPEG
    strip, its bytes after the end-of-image marker, whatever the picture's size."""
    if compression in _JPEG:
        try:
            rest = data[end - jpeg.segments(data[start:end])[1] : end]
        except NotClean:
            return 0
    elif need is None:
        return 0
    elif compression in _RAW:
        rest = data[start + need : end]
    elif compression in _STREAMS:
        try:
            found = _STREAMS[compression](data[start:end], need)
        except (zlib.error, ValueError):
            return 0
        rest = found.more + found.unread + found.after
    elif compression in _PACKBITS:
        at, made_n = start, 0
        while made_n < need and at < end:
            n = data[at]
            if n < 128:  # n + 1 bytes as they are
                at, made_n = at + 2 + n, made_n + n + 1
            elif n > 128:  # the next byte 257 - n times
                at, made_n = at + 2, made_n + 257 - n
            else:  # no operation
                at += 1
        rest = data[at:end]
    else:
        return 0
    return len(rest.strip(b"\0"))


def _nonzero_outside(data: mmap.mmap, parts: list[tuple[int, int]]) -> int:
    """How many bytes of ``data`` outside every part are not zero (from the first such to the last,
    per gap)."""
    hidden, at = 0, 0
    for start, end in [*sorted(parts), (len(data), len(data))]:
        if start > at:
            hidden += len(data[at:start].strip(b"\0"))
        at = max(at, end)
    return hidden
