"""Damaged files: every metadata parser reports, refuses with a reason, or falls back; none crashes.

unseen reads files it did not write: downloads cut short, half-copied camera
cards, files damaged by accident or on purpose.  A parser that trips over one
with an IndexError or struct.error stops a whole batch, and one that gives up
silently could call a file clean that it never read.  So each parser in
``unseen.meta`` is fed files written here (a JPEG with EXIF, a Photoshop IRB
and a comment; a PNG with tEXt and eXIf; a WebP with EXIF and XMP, still and
animated; an animated GIF with a comment; an MP4 with container tags), then cut
at several places, given a length field of zero or a huge value, given flipped
bits in their headers, or emptied.  The contract:

* family identification names a family or refuses with `UnsupportedError`/`InputError` and a reason;
* a scanner returns a list of findings, and the public ``scan`` never calls a damaged file clean;
* a lossless rewriter writes a file or raises `NotClean`, its signal to re-encode instead;
* the public ``write_clean`` (and the pixel and remux paths under it) writes a file without the
  metadata, or raises an `UnseenError` that says what is wrong.

The mutations are fixed or seeded, so every run feeds the same bytes.
"""

from __future__ import annotations

import random
import struct
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from demo import camera_exif
from PIL import Image, PngImagePlugin

import unseen.meta
from conftest import make_clip, needs_exiftool
from unseen.errors import InputError, UnseenError, VerificationError
from unseen.meta import exiftool, families, gif, isobmff, jpeg, pixels, png, remux, video, webp
from unseen.meta.findings import Finding, NotClean
from unseen.meta.scan import scan_own

SECRET = b"Jane Roe"  # in every sample's metadata; no written file may hold it


@dataclass(frozen=True)
class Sample:
    suffix: str
    fmt: str  # the format ``write_clean`` is asked for: the file's own, so the lossless path is tried


SAMPLES = {
    "jpeg": Sample(".jpg", "jpeg"),
    "png": Sample(".png", "png"),
    "webp": Sample(".webp", "webp"),
    "webp-animated": Sample(".webp", "webp"),
    "gif": Sample(".gif", "gif"),
    "mp4": Sample(".mp4", "mp4"),
}
IMAGES = ("jpeg", "png", "webp", "webp-animated", "gif")
REWRITERS: dict[str, Any] = {"jpeg": jpeg, "png": png, "webp": webp, "webp-animated": webp, "gif": gif}


def _picture(seed: int) -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (24, 32, 3), dtype=np.uint8))


def _jpeg() -> bytes:
    path_free = _encode(_picture(0), "JPEG", exif=camera_exif(), comment=SECRET, quality=85)
    # Pillow writes no IPTC: add a Photoshop APP13 segment (IRB with a By-line) by hand.
    irb = b"Photoshop 3.0\0" + b"8BIM\x04\x04\0\0" + struct.pack(">I", 15) + b"\x1c\x02\x50\x00\x08" + SECRET
    irb += b"\0" * (len(irb) & 1)
    return path_free[:2] + b"\xff\xed" + struct.pack(">H", len(irb) + 2) + irb + path_free[2:]


def _png() -> bytes:
    info = PngImagePlugin.PngInfo()
    info.add_text("Author", SECRET.decode())
    return _encode(_picture(1), "PNG", pnginfo=info, exif=camera_exif())


def _webp(animated: bool) -> bytes:
    xmp = b'<x:xmpmeta xmlns:x="adobe:ns:meta/">' + SECRET + b"</x:xmpmeta>"
    extra: dict[str, Any] = {"save_all": True, "append_images": [_picture(3)]} if animated else {}
    return _encode(_picture(2), "WEBP", exif=camera_exif(), xmp=xmp, quality=80, **extra)


def _gif() -> bytes:
    return _encode(_picture(4), "GIF", comment=SECRET, save_all=True, append_images=[_picture(5)], loop=0)


def _encode(img: Image.Image, fmt: str, **options: Any) -> bytes:
    path = Path(f"/dev/null/{fmt}")  # never written: only for the error message, were saving to fail
    try:
        import io

        buf = io.BytesIO()
        img.save(buf, fmt, **options)
        return buf.getvalue()
    except OSError as exc:  # pragma: no cover - Pillow built without the codec
        pytest.skip(f"{path.name}: {exc}")
