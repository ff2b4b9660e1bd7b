"""Our own look at an image as Pillow decodes it, independent of exiftool and of our container parsers."""

from __future__ import annotations

from pathlib import Path

from ..errors import InputError
from ..media.image import CORRUPT, open_image
from .findings import Finding

# Pillow ``info`` keys that only describe decoding.
_DECODING_KEYS = frozenset(
    {"jfif", "jfif_version", "jfif_unit", "jfif_density", "dpi", "resolution", "progressive", "progression",
     "interlace", "gamma", "srgb", "transparency", "duration", "loop", "background", "version",
     "compression", "aspect", "disposal", "extension", "timestamp", "bbox", "blend", "mode",
     "lossless", "adobe", "adobe_transform"}
)  # fmt: skip
# TIFF tags that describe the pixel layout; Pillow lists them as "EXIF" of a TIFF file.
_TIFF_LAYOUT = frozenset({256, 257, 258, 259, 262, 266, 273, 277, 278, 279, 284, 317, 320, 338, 339})


def scan_own(path: Path) -> list[Finding]:
    try:
        with open_image(path) as img:
            fmt = img.format
            found = [Finding("unseen", f"{fmt}:{k}") for k in img.info if k not in _DECODING_KEYS]
            tags = set(img.getexif()) - (_TIFF_LAYOUT if fmt == "TIFF" else set())
    except (*CORRUPT, InputError):  # InputError: over the pixel cap; the container scanners still judge it
        return []  # not an image Pillow reads: the container scanners judge it
    if tags:
        found.append(Finding("unseen", f"{fmt}:EXIF tags {', '.join(map(str, sorted(tags)[:8]))}"))
    return found
