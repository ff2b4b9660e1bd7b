"""What a FLAC file holds beyond its first metadata blocks and its frames, where tag readers do not look.

mutagen and exiftool read the metadata blocks at the start of a FLAC file (and an ID3 tag in
front of them).  Two kinds of bytes lie elsewhere.  FLAC files laid end to end with ``cat``
hold a second stream header (``fLaC`` and its STREAMINFO, VORBIS_COMMENT and PICTURE blocks,
perhaps an ID3 tag before it) after the first file's frames; and anything appended to a file
(an ID3v1 or APE tag, an app's own data) follows its last frame.  FFmpeg's parser hands both on
inside a frame's packet, so a packet copy carried them into the clean file, where ``check``
called it clean.  A frame states no length: its end is known only by its CRC-16, which covers
every byte of it, so a copy cannot be cut back to its frames without a checksum run over every
byte.  ``strip`` and ``protect`` therefore write FLAC afresh (`unseen.meta.audio.CONTAINERS`),
losslessly, and `scan` looks for both kinds for ``check``: a header after the first, and a last
packet whose checksum does not come out (bytes after the last frame).  Bytes hidden between two
frames inside the file are not looked for (a checksum over every packet, in Python, would cost
seconds a minute of sound); written afresh, they never reach an output.
"""

from __future__ import annotations

import mmap
from pathlib import Path

import av

from .findings import Finding
from .mapped import mapped

HEADER = "another stream's header"  # in a packet of FLAC in another container
AFTER = "bytes after the last frame (or a last frame that is damaged)"
BLOCK_NAMES = ("STREAMINFO", "PADDING", "APPLICATION", "SEEKTABLE", "VORBIS_COMMENT", "CUESHEET", "PICTURE")


def _crc16_table() -> list[int]:
    table = []
    for byte in range(256):
        crc = byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x8005 if crc & 0x8000 else crc << 1) & 0xFFFF
        table.append(crc)
    return table


_CRC16 = _crc16_table()


def crc16(data: bytes) -> int:
    """FLAC's frame checksum (polynomial 0x8005, from 0): 0 over a whole frame, its own checksum included."""
    crc = 0
    for byte in data:
        crc = ((crc << 8) & 0xFFFF) ^ _CRC16[(crc >> 8) ^ byte]
    return crc


def bits(setup: bytes) -> int:
    """Bits per sample in a FLAC decoder setup (STREAMINFO, after ``fLaC`` and a block header in
    Matroska), or 0 where it cannot be read."""
    info = setup[8:] if setup[:4] == b"fLaC" else setup
    return ((info[12] & 1) << 4 | info[13] >> 4) + 1 if len(info) >= 34 else 0


def headers(data: bytes | mmap.mmap, start: int = 0) -> list[tuple[int, list[str]]]:
    """Each stream header in ``data`` from ``start`` on: where, and its blocks' names.

    A header counts where ``fLaC`` is followed by a STREAMINFO block of its fixed size and a
    chain of blocks that ends, flagged last, inside ``data`` (the four letters alone turn up in
    coded sound about once in 4 GB)."""
    found = []
    pos = data.find(b"fLaC", start)
    while pos >= 0:
        names: list[str] = []
        at, last = pos + 4, False
        while not last and at + 4 <= len(data):
            kind, size = data[at] & 0x7F, int.from_bytes(data[at + 1 : at + 4], "big")
            if kind == 127 or (not names and (kind, size) != (0, 34)):  # 127 is invalid; 7-126 reserved
                break
            names.append(BLOCK_NAMES[kind] if kind < len(BLOCK_NAMES) else f"block type {kind}")
            last, at = bool(data[at] & 0x80), at + 4 + size
        if last and at <= len(data):
            found.append((pos, names))
        pos = data.find(b"fLaC", pos + 4)
    return found


def scan(path: Path) -> list[Finding]:
    """A stream header after the first, and bytes after the last frame, in the FLAC at ``path``."""
    with mapped(path) as data:  # the file's own header first (after an ID3 tag, if one leads it in)
        found = [
            Finding("unseen", f"FLAC:{HEADER} ({', '.join(names)}) at byte {pos}")
            for pos, names in headers(data)[1:]
        ]
    last = b""
    try:
        # Tags that are not UTF-8 (a damaged comment) are read with replacement characters, as every
        # reader here reads them: strict, FFmpeg's tags raised UnicodeDecodeError (robustness suite).
        with av.open(str(path), metadata_errors="replace") as container:
            final = None  # the last packet is all it needs
            for packet in container.demux(audio=0):
                final = packet if packet.size else final
            last = bytes(final) if final is not None else b""
    except (av.error.FFmpegError, IndexError):
        return found  # a file FFmpeg cannot read: the decoding checks judge it
    if last and crc16(last):
        found.append(Finding("unseen", f"FLAC:{AFTER}"))
    return found
