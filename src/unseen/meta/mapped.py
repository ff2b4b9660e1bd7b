"""A whole file as bytes without reading it into memory, for the frame walks over long recordings."""

from __future__ import annotations

import io
import mmap
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def mapped(path: Path) -> Iterator[bytes | mmap.mmap]:
    """A read-only map of a file (an empty bytes object for an empty file, which cannot be mapped)."""
    with open(path, "rb") as fh:  # a map outlives the descriptor it was made from
        data = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) if fh.seek(0, io.SEEK_END) else None
    try:
        yield b"" if data is None else data
    finally:
        if data is not None:
            data.close()
