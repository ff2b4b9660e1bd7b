"""The fallback for every image a lossless rewrite cannot clean: decode, then write the pixels anew.

TIFF, BMP, HEIF/AVIF and JPEG XL always take this path (their containers are
too varied to trust a chunk filter), and so does a JPEG/PNG/WebP whose look
depends on metadata that goes: an EXIF orientation, or a colour profile other
than sRGB.  Decoding applies both, so the new file needs neither.
"""

from __future__ import annotations

import io
import struct
from pathlib import Path

import numpy as np
from PIL import ImageCms

from ..errors import InputError, UnsupportedError
from ..media import image as image_io
from ..write import write_bytes
from . import gif, jpeg
from .findings import NotClean

_ORIENTATION = 0x0112
# What Pillow's decoders raise on corrupt data besides the OSError/SyntaxError/ValueError/EOFError
# that `image_io.read` already turns into an InputError (a GIF cut off just before a later
# frame's image data raises IndexError, for one).
_DECODER_SLIPS = (IndexError, struct.error)


def render_reason(path: Path) -> str | None:
    """Why the pixels must be re-encoded rather than copied, or None."""
    with image_io.open_image(path) as img:
        if img.getexif().get(_ORIENTATION, 1) not in (0, 1):
            return "EXIF orientation applied"
        icc = img.info.get("icc_profile")
        if icc and not is_srgb(icc):
            return "colour profile converted to sRGB"
    return None


def is_srgb(icc: bytes) -> bool:
    try:
        profile = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        description = ImageCms.getProfileDescription(profile)
    except (ImageCms.PyCMSError, OSError, TypeError):
        return True  # a profile nobody can read is dropped by the decoder, too
    return "srgb" in description.lower()


def write_clean(src: Path, dst: Path, fmt: str, jpeg_quality: int, *, family: str) -> int:
    """Write ``src``'s pixels as ``fmt`` to ``dst``; return the number of frames written."""
    picture = _read_primary(src, dst) if family == "jpeg" else _read(src)
    frames = picture.frames if fmt in ("gif", "webp", "png") else picture.frames[:1]
    # An MPO's second picture is a preview or depth map that should go; other pages are content.
    if len(frames) < len(picture.frames) and picture.format != "jpeg":
        raise UnsupportedError(src, f"has {len(picture.frames)} pages; a {fmt} file holds only one")
    write_bytes(dst, encoded(src, picture, frames, fmt, jpeg_quality))
    return len(frames)


def encoded(
    source: Path, picture: image_io.Picture, frames: list[np.ndarray], fmt: str, jpeg_quality: int
) -> bytes:
    """`image_io.encode`, with a GIF's colour table entries that no frame draws blanked: Pillow's
    palettes keep a few, which `check` names (`gif.clean_bytes`; ``source`` names the file)."""
    data = image_io.encode(picture, frames, fmt, jpeg_quality)
    return gif.clean_bytes(data, source) if fmt == "gif" else data


def _read_primary(src: Path, scratch: Path) -> image_io.Picture:
    """Decode only a JPEG's first picture: an MPO's others are previews and depth maps,
    and a broken index to them must not stop the main picture from being cleaned."""
    try:
        primary = jpeg.primary_bytes(src.read_bytes())
    except NotClean:
        return _read(src)
    write_bytes(scratch, primary)
    try:
        return _read(scratch)
    except InputError as exc:
        raise type(exc)(src, exc.why) from exc
    finally:
        scratch.unlink()


def _read(path: Path) -> image_io.Picture:
    try:
        return image_io.read(path)
    except _DECODER_SLIPS as exc:
        raise InputError(path, f"truncated or corrupt image ({type(exc).__name__}: {exc})") from exc
