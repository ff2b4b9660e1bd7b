"""Raw AAC in ADTS frames (``.aac``, ISO/IEC 13818-7 and 14496-3): frames end to end, nothing else.

exiftool reads such a file only when an ID3 tag leads it in, so our walk is
the judge, as for raw AMR: every byte must belong to a frame whose header
says how long it is.  A tag in front (ID3v2) or behind (ID3v1, APE), bytes
between or after frames, and a frame that runs past the end are findings.
So are the header bits a tool may fill (the private bit and the copyright
identifier, sent one bit a frame: 72 bits over a file) and a program config
in the frames (channel configuration 0), whose comment field holds text.
A clean copy is an M4A: the frames without their headers (`unseen.meta.remux`).
"""

from __future__ import annotations

import mmap
from pathlib import Path

from .families import id3_size, is_adts, leading_bytes
from .findings import Finding

HEADER = 7  # bytes, 9 with a checksum


def sniff(path: Path) -> bool:
    """Whether ``path`` starts (after any ID3v2 tag) with an ADTS frame header."""
    return is_adts(leading_bytes(path))


def scan(path: Path) -> list[Finding]:
    if not path.stat().st_size:
        return [_finding("empty file")]
    with open(path, "rb") as fh, mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as data:
        return _walk(data)


def _walk(data: mmap.mmap) -> list[Finding]:
    found: list[Finding] = []
    pos = 0
    if data[:3] == b"ID3" and len(data) >= 10:
        found.append(_finding("ID3v2 tag"))
        pos = 10 + id3_size(data[:10])
    end = len(data)
    if end - pos >= 128 and data[end - 128 : end - 125] == b"TAG":
        found.append(_finding("ID3v1 tag"))
        end -= 128
    marked: set[str] = set()
    while pos < end:
        if data[pos : pos + 8] == b"APETAGEX":
            found.append(_finding("APE tag"))
            break
        head = data[pos : pos + HEADER]
        if not is_adts(head):
            found.append(_finding(f"bytes at offset {pos} are not an ADTS frame"))
            break
        length = (head[3] & 0x03) << 11 | head[4] << 3 | head[5] >> 5
        if length < HEADER or pos + length > end:
            found.append(_finding(f"the frame at offset {pos} runs past the end of the file"))
            break
        for item, bit in (
            ("private bit", head[2] & 0x02),
            ("copyright identifier", head[3] & 0x0C),
            ("program config (it holds a comment)", not (head[2] & 0x01 or head[3] & 0xC0)),
        ):
            if bit and item not in marked:
                marked.add(item)
                found.append(_finding(f"{item} in the frame at offset {pos}"))
        pos += length
    return found


def _finding(item: str) -> Finding:
    return Finding("unseen", f"ADTS:{item}")
