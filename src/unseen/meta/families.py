"""Which container family a file belongs to, judged by its first bytes rather than its name.

A family we cannot clean (camera RAW, PDF, archives, anything unknown) is
refused with the reason; it is never passed through.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from ..errors import UnsupportedError, unreadable
from . import mp3

# Families cleaned by a lossless rewrite of their own container.
LOSSLESS = ("jpeg", "png", "webp", "gif")
# Families whose pixels are always decoded and written anew.
RENDERED = ("tiff", "bmp", "heif", "jxl")
VIDEO = "video"
# Sound-only containers, each rewritten as itself (`unseen.meta.audio`).  A sound-only file in a
# video container (M4A, 3GP, MKA...) stays in the video family: its kind says it is sound.
AUDIO = ("wav", "mp3", "flac", "ogg", "amr")

RAW_SUFFIXES = {".dng", ".cr2", ".cr3", ".nef", ".nrw", ".arw", ".srf", ".sr2", ".raf", ".orf", ".rw2",
                ".pef", ".srw", ".raw", ".3fr", ".iiq", ".x3f", ".erf", ".kdc", ".mrw"}  # fmt: skip
_ISO_IMAGE_BRANDS = {b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"mif1", b"msf1", b"avif", b"avis"}
_ISO_BOXES = {b"ftyp", b"moov", b"mdat", b"wide", b"free", b"skip", b"pnot"}
_DNG_VERSION = 50706
_REFUSED = (
    (b"%PDF", "PDF documents are not supported: export the pages as images first"),
    (b"PK\x03\x04", "archives are not supported: unpack them first"),
    (b"7z\xbc\xaf\x27\x1c", "archives are not supported: unpack them first"),
    (b"Rar!", "archives are not supported: unpack them first"),
    (b"\x1f\x8b", "compressed archives are not supported: unpack them first"),
)


def identify(path: Path) -> str:
    """The family name, or `UnsupportedError` saying why the file is refused."""
    try:
        head = leading_bytes(path)
    except OSError as exc:
        raise unreadable(path, exc) from exc
    family = _from_magic(head, path.suffix.lower())
    if family == "tiff" and _is_dng(path):
        family = "raw"
    if family is None:
        for magic, why in _REFUSED:
            if head.startswith(magic):
                raise UnsupportedError(path, why)
        if head[257:262] == b"ustar":
            raise UnsupportedError(path, "archives are not supported: unpack them first")
        raise UnsupportedError(path, "not a photo, video or sound format unseen can clean")
    if family == "raw":
        raise UnsupportedError(path, "camera RAW files are not supported: export a JPEG or PNG first")
    return family


def leading_bytes(path: Path) -> bytes:
    """The first 512 bytes of ``path``, past an ID3v2 tag in front of MPEG audio, FLAC or raw AAC:
    what follows the tag is what the file is."""
    with open(path, "rb") as fh:
        head = fh.read(512)
        if head.startswith(b"ID3"):
            fh.seek(10 + id3_size(head))
            head = fh.read(512)
    return head


def _from_magic(head: bytes, suffix: str) -> str | None:
    if head.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "gif"
    if head[:4] == b"RIFF":
        return {b"WEBP": "webp", b"AVI ": VIDEO, b"WAVE": "wav"}.get(head[8:12])
    if head[:4] in (b"RF64", b"BW64") and head[8:12] == b"WAVE":
        return "wav"  # the 64-bit forms of RIFF WAVE (EBU Tech 3306, ITU-R BS.2088)
    if head[:4] in (b"II*\0", b"MM\0*"):
        return "raw" if suffix in RAW_SUFFIXES or head[8:10] == b"CR" else "tiff"
    if head[:2] == b"BM":
        return "bmp"
    if head[4:8] == b"ftyp":
        brand = head[8:12]
        if brand == b"crx ":
            return "raw"
        return "heif" if brand in _ISO_IMAGE_BRANDS else VIDEO
    if head[4:8] in _ISO_BOXES:
        return VIDEO
    if head[:2] == b"\xff\x0a" or head[:12] == b"\0\0\0\x0cJXL \r\n\x87\n":
        return "jxl"
    if head[:4] == b"\x1a\x45\xdf\xa3" or head[:8] == b"\x30\x26\xb2\x75\x8e\x66\xcf\x11":
        return VIDEO  # Matroska/WebM, ASF (WMV)
    if head[0:1] == head[188:189] == b"\x47" or head[4:5] == head[196:197] == b"\x47":
        return VIDEO  # MPEG transport stream (.ts / .mts / .m2ts)
    if head[:4] == b"\0\0\x01\xba":
        return VIDEO  # MPEG program stream: .mpg, DVD camcorders' .vob, .mod / .tod
    return _audio_magic(head)


def _audio_magic(head: bytes) -> str | None:
    if head[:4] == b"fLaC":
        return "flac"
    if head[:4] == b"OggS":
        return "ogg"
    if head.startswith((b"#!AMR\n", b"#!AMR-WB\n")):
        return "amr"
    if mp3.frame_length(head, 0):  # an MPEG audio layer III frame header
        return "mp3"
    if is_adts(head):
        return VIDEO  # raw AAC (`unseen.meta.adts`): FFmpeg reads it, and a clean copy is an M4A
    return None


def is_adts(head: bytes) -> bool:
    """An ADTS frame header: 12 sync bits and layer 0 (MPEG audio's layers are 1 to 3)."""
    return len(head) >= 7 and head[0] == 0xFF and head[1] & 0xF6 == 0xF0


def id3_size(head: bytes) -> int:
    """The length of an ID3v2 tag after its 10-byte header (sizes are 7 bits a byte), footer included."""
    size = 0
    for byte in head[6:10]:
        size = size << 7 | (byte & 0x7F)
    return size + (10 if len(head) > 5 and head[5] & 0x10 else 0)


def _is_dng(path: Path) -> bool:
    """Whether the first IFD holds DNGVersion (a DNG may be named .tif)."""
    with open(path, "rb") as fh:
        head = fh.read(8)
        order: Literal["little", "big"] = "little" if head[:2] == b"II" else "big"
        fh.seek(int.from_bytes(head[4:8], order))
        count = int.from_bytes(fh.read(2), order)
        entries = fh.read(12 * min(count, 4096))
    tags = {int.from_bytes(entries[i : i + 2], order) for i in range(0, len(entries) - 1, 12)}
    return _DNG_VERSION in tags
