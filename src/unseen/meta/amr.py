"""Raw AMR (``#!AMR``, ``#!AMR-WB``, RFC 4867 section 5): a magic line, then speech frames, nothing else.

The format has no place for a tag, and exiftool does not read it, so our walk
is the judge: every byte after the magic line must belong to a frame whose
header names a real frame type.  Anything else (bytes appended by a tool, a
frame type that does not exist) is a finding.
"""

from __future__ import annotations

from pathlib import Path

from .findings import Finding

MAGIC_NB, MAGIC_WB = b"#!AMR\n", b"#!AMR-WB\n"
# Speech bytes after the one-byte header, by frame type; None for reserved types.
_NB: tuple[int | None, ...] = (12, 13, 15, 17, 19, 20, 26, 31, 5, 6, 5, 5, None, None, 0, 0)
_WB: tuple[int | None, ...] = (17, 23, 32, 36, 40, 46, 50, 58, 60, 5, None, None, None, None, 0, 0)
_MAX_BYTES = 64 << 20  # some 4.5 hours of AMR-NB at its highest rate


def scan(path: Path) -> list[Finding]:
    if path.stat().st_size > _MAX_BYTES:
        return [_finding("file too large to check")]
    data = path.read_bytes()
    if data.startswith(MAGIC_WB):
        sizes, pos = _WB, len(MAGIC_WB)
    elif data.startswith(MAGIC_NB):
        sizes, pos = _NB, len(MAGIC_NB)
    else:
        return [_finding("no AMR magic line")]
    while pos < len(data):
        header = data[pos]
        size = sizes[(header >> 3) & 0x0F]
        if header & 0x83 or size is None:  # the F bit and the two padding bits are always zero
            return [_finding(f"bytes at offset {pos} are not an AMR frame")]
        if pos + 1 + size > len(data):
            return [_finding(f"the frame at offset {pos} runs past the end of the file")]
        pos += 1 + size
    return []


def _finding(item: str) -> Finding:
    return Finding("unseen", f"AMR:{item}")
