"""Read photos into plain pixel arrays and write them back with pixels only.

Reading applies EXIF orientation and converts colour to sRGB, so that what is
written needs no metadata to look right.  Writing builds a fresh image from the
array: Pillow is given no ``exif``, ``icc_profile``, ``comment`` or text, so
none can leak from the input.
"""

from __future__ import annotations

import ctypes
import io
import struct
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from contextvars import ContextVar
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np
from PIL import Image, ImageCms, ImageOps, ImageSequence, UnidentifiedImageError

from ..errors import InputError, UnsupportedError, UsageError, unreadable

# Pillow's bomb guard stops at ~179 MP; 108 MP phone photos are real, so allow a little more.
MAX_PIXELS = 250_000_000
# What Pillow raises on a damaged file: its plugins read past the end of a cut one as
# IndexError or struct.error (and `Undecodable` stands for libavif's and libjxl's refusals).
CORRUPT = (OSError, SyntaxError, ValueError, EOFError, IndexError, struct.error)


class Undecodable(ValueError):
    """A damaged AVIF or JPEG XL: Pillow's AVIF decoder (libavif) and the JPEG XL plugin (libjxl)
    refuse one with a plain RuntimeError, which `open_image` turns into this, one of `CORRUPT`.
    Only the decoder's first sentence is kept: libjxl's goes on to advise building libjxl from
    source."""

    def __init__(self, exc: RuntimeError) -> None:
        super().__init__(str(exc).strip().split("\n")[0].split(". ")[0] or "the decoder failed")


@cache
def _register_openers() -> None:
    """HEIF/AVIF and JPEG XL openers, registered with Pillow on the first image opened, not at import;
    and libtiff quietened."""
    import pillow_heif
    import pillow_jxl  # noqa: F401  (registers the JPEG XL opener)

    pillow_heif.register_heif_opener()
    _quiet_libtiff()


def _quiet_libtiff() -> None:
    """Stop libtiff printing its decoding errors on the process's stderr.

    It wrote each error of a damaged TIFF there itself ("ZIPDecode: Decoding
    error at scanline 0, ..."), past Python, where the command line's own
    lines go (under ``--json``, one line per failed file and nothing else).
    Pillow turns libtiff's warnings off but not its errors; the error still
    fails the decoding, and Pillow raises it.  Pillow's wheels ship their own
    libtiff beside the package; a Pillow built on a system libtiff (or linked
    statically) is left as it is.
    """
    import PIL

    root = Path(PIL.__file__).parent
    for lib in (*root.parent.glob("pillow.libs/libtiff*"), *root.glob(".dylibs/libtiff*")):
        with suppress(OSError, AttributeError):
            handler = ctypes.CDLL(str(lib)).TIFFSetErrorHandler
            handler.argtypes, handler.restype = [ctypes.c_void_p], ctypes.c_void_p
            handler(None)


# An animation's frames may hold this many times the pixel cap in all (`sized_frames`): each is held
# whole, so at the default cap that is 3 GB of frames, within what a worker is given
# (`settings.WORKER_BYTES`).
ANIMATION_CAPS = 4
# The pixel cap of the file being handled (``--max-pixels``), set per file by `unseen.jobs.handled`.
pixel_limit: ContextVar[int] = ContextVar("pixel_limit", default=MAX_PIXELS)


@contextmanager
def open_image(path: Path, data: bytes | None = None) -> Iterator[Image.Image]:
    """``Image.open`` with unseen's openers and size guard, set for this call only; of ``data``
    (a picture made in memory from ``path``'s parts) where given, named ``path`` in errors.

    Opening reads the header only, so a picture over the cap (a decompression
    bomb declares billions of pixels in a few bytes) is refused before any of
    it is decoded.  Pillow's own guard is replaced by that check while this
    call (or another thread's) reads, not for the whole process.

    Whatever decodes the picture inside the ``with`` block (``load``, ``seek``, ``convert``) is
    covered too: a decoder's plain RuntimeError becomes `Undecodable`.  Python's own kinds of
    RuntimeError (a recursion, a generator's leaked StopIteration) are bugs and pass as they are.
    """
    _register_openers()
    try:
        with _own_guard(), Image.open(path if data is None else io.BytesIO(data)) as img:
            refuse_oversized(path, img.width, img.height)
            yield img
    except RuntimeError as exc:
        if type(exc) is not RuntimeError or isinstance(exc.__cause__, StopIteration):
            raise
        raise Undecodable(exc) from exc


class _Guard:
    """Pillow's guard is one setting for the whole process, and `unseen check` reads two files at
    once: the first reader in turns it off, the last one out puts back what it was."""

    lock = threading.Lock()
    readers = 0
    saved: int | None = None


@contextmanager
def _own_guard() -> Iterator[None]:
    with _Guard.lock:
        if _Guard.readers == 0:
            _Guard.saved = Image.MAX_IMAGE_PIXELS
            Image.MAX_IMAGE_PIXELS = None  # `refuse_oversized` says why, in our words
        _Guard.readers += 1
    try:
        yield
    finally:
        with _Guard.lock:
            _Guard.readers -= 1
            if _Guard.readers == 0:
                Image.MAX_IMAGE_PIXELS = _Guard.saved


def sized_frames(path: Path, img: Image.Image) -> Iterator[Image.Image]:
    """Every frame of an opened picture, each held to the pixel cap before it is decoded, and all
    of them together too: every frame is held whole, at the canvas's size.

    A GIF frame may reach past the canvas the header declares, and Pillow then
    grows the canvas when it seeks to it: a 1 KB file grew to 65008x65008 at its
    second frame, with Pillow's own guard handed over to `refuse_oversized`.
    And a thousand one-pixel frames on a 640x640 canvas, a 23 KB GIF, took 2.5 GB; ten thousand
    would take 25.  An animation may hold `ANIMATION_CAPS` times the cap in all: at the default,
    480 frames of 1080p, 1,080 of 720p.
    """
    total, limit = 0, ANIMATION_CAPS * pixel_limit.get()
    for n, frame in enumerate(ImageSequence.Iterator(img), 1):
        refuse_oversized(path, frame.width, frame.height)
        total += frame.width * frame.height
        if total > limit:
            raise InputError(
                path,
                f"its first {n} frames hold {total:,} pixels in all, over the limit of {limit:,} "
                f"({ANIMATION_CAPS} times the limit for one picture); refused before decoding the rest "
                "(raise it with --max-pixels)",
            )
        yield frame


def _tiff_pages(path: Path, img: Image.Image) -> int:
    """A TIFF's full-size pages: directories not marked as a reduced copy (NewSubfileType bit 0).
    An unmarked thumbnail counts as a page, so such a file is refused rather than a smaller real
    page lost without a word."""
    pages = 0
    try:
        for n in range(getattr(img, "n_frames", 1)):
            img.seek(n)
            pages += not int(getattr(img, "tag_v2", {}).get(254, 0)) & 1
        img.seek(0)
    except (*CORRUPT, TypeError) as exc:  # Pillow: "Missing dimensions" for a broken directory
        raise InputError(path, f"truncated or corrupt TIFF directory ({exc or type(exc).__name__})") from exc
    return pages


def refuse_oversized(path: Path, width: int, height: int) -> None:
    """`InputError` when a ``width`` x ``height`` picture or frame is over the file's pixel cap."""
    limit = pixel_limit.get()
    if width * height > limit:
        raise InputError(
            path,
            f"{width}x{height} is {width * height:,} pixels, over the limit of {limit:,}; "
            "refused before decoding (raise it with --max-pixels)",
        )


# Pillow format name -> (our format name, extension)
READABLE = {
    "JPEG": "jpeg",
    "MPO": "jpeg",
    "PNG": "png",
    "WEBP": "webp",
    "TIFF": "tiff",
    "BMP": "bmp",
    "GIF": "gif",
    "HEIF": "heif",
    "AVIF": "avif",
    "JXL": "jxl",
}
ANIMATED = {"GIF", "WEBP", "PNG"}
EXTENSIONS = {"jpeg": ".jpg", "png": ".png", "webp": ".webp", "tiff": ".tif", "bmp": ".bmp", "gif": ".gif"}


@dataclass
class Picture:
    """Decoded frames (H, W, 3 or 4 uint8, sRGB, upright) and what is needed to write them."""

    frames: list[np.ndarray]
    format: str
    durations: list[int]
    loop: int | None


def read(path: Path) -> Picture:
    try:
        with open_image(path) as img:
            fmt = READABLE.get(img.format or "")
            if fmt is None:
                raise UnsupportedError(path, f"{img.format} images are not supported")
            frames, durations = [], []
            # Only animations are shown frame after frame.  The extra images of an MPO, HEIF or
            # TIFF are previews, stereo pairs, gain maps or depth maps: the primary is the photo.
            # A TIFF's further full-size pages are content, which one picture per file would lose.
            pages = _tiff_pages(path, img) if img.format == "TIFF" else 1
            if pages > 1:
                raise UnsupportedError(
                    path,
                    f"holds {pages} pages, and unseen handles one picture per file: "
                    "save each page as a file of its own first",
                )
            sequence = sized_frames(path, img) if img.format in ANIMATED else [img]
            for frame in sequence:
                frames.append(_to_array(frame))
                durations.append(int(frame.info.get("duration", 100)))
            loop = img.info.get("loop")
    except InputError:
        raise
    except (FileNotFoundError, IsADirectoryError, PermissionError) as exc:
        raise unreadable(path, exc) from exc
    except UnidentifiedImageError as exc:
        raise UnsupportedError(path, "not an image, or a format unseen cannot read") from exc
    except CORRUPT as exc:
        raise InputError(path, f"truncated or corrupt image ({exc or type(exc).__name__})") from exc
    if not frames:
        raise InputError(path, "image has no frames")
    return Picture(frames, fmt, durations, loop if isinstance(loop, int) else None)


def _to_array(frame: Image.Image) -> np.ndarray:
    frame = _eight_bits(ImageOps.exif_transpose(frame))
    icc = frame.info.get("icc_profile")
    has_alpha = frame.mode in ("RGBA", "LA", "PA") or "transparency" in frame.info
    frame = frame.convert("RGBA" if has_alpha else "RGB")
    if icc:
        frame = _to_srgb(frame, icc)
    return np.asarray(frame).copy()


def _eight_bits(frame: Image.Image) -> Image.Image:
    """A 16-bit greyscale picture (a scanner's PNG or TIFF: Pillow's ``I;16`` or ``I``) scaled to 8
    bits; any other as it is.  Pillow's own conversion to RGB clips every level above 255, so a
    scanned face came out as a two-level picture that no detector saw, and was written so."""
    if frame.mode not in ("I", "I;16", "I;16B", "I;16L", "I;16N"):
        return frame
    levels = np.clip(np.asarray(frame), 0, 65535).astype(np.uint32)
    grey = Image.fromarray(((levels * 255 + 32767) // 65535).astype(np.uint8), "L")
    info = dict(frame.info)
    clear = info.pop("transparency", None)  # a 16-bit level: transparent where a pixel is exactly it
    if isinstance(clear, int):
        grey = Image.merge(
            "LA", (grey, Image.fromarray(np.where(levels == clear, 0, 255).astype(np.uint8), "L"))
        )
    grey.info = info
    return grey


def _to_srgb(frame: Image.Image, icc: bytes) -> Image.Image:
    """Bake the embedded colour profile into the pixels, so the profile itself can go."""
    try:
        src = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        dst = ImageCms.createProfile("sRGB")
        return ImageCms.profileToProfile(frame, src, dst, outputMode=frame.mode) or frame
    except (ImageCms.PyCMSError, OSError):
        return frame  # an unusable profile is dropped; the colours stay as stored


def encode(picture: Picture, frames: list[np.ndarray], fmt: str, jpeg_quality: int) -> bytes:
    """The bytes of a fresh file holding only ``frames``."""
    images = [Image.fromarray(f) for f in frames]
    if fmt in ("jpeg", "bmp"):
        images = [im.convert("RGB") for im in images]
    buf = io.BytesIO()
    first, rest = images[0], images[1:]
    if fmt == "jpeg":
        first.save(buf, "JPEG", quality=jpeg_quality, subsampling=0 if jpeg_quality >= 95 else 2)
    elif fmt == "png":
        # Lossless at any level; 6 and above cost twice the time for a few per cent of size.
        # Several frames make an APNG, as they came.
        _save_animation(first, rest, picture, buf, "PNG", optimize=False, compress_level=3)
    elif fmt == "webp":
        _save_animation(first, rest, picture, buf, "WEBP", quality=95, method=4)
    elif fmt == "tiff":
        first.save(buf, "TIFF", compression="tiff_deflate")
    elif fmt == "bmp":
        first.save(buf, "BMP")
    elif fmt == "gif":
        _save_animation(first, rest, picture, buf, "GIF")
    else:
        raise UsageError(f"cannot write {fmt}")
    return buf.getvalue()


def _save_animation(
    first: Image.Image, rest: list[Image.Image], picture: Picture, buf: io.BytesIO, fmt: str, **kw: object
) -> None:
    if rest:
        kw.update(save_all=True, append_images=rest, duration=picture.durations)
        if picture.loop is not None:
            kw["loop"] = picture.loop
    first.save(buf, fmt, **kw)


def decode(path: Path) -> tuple[str | None, list[np.ndarray]]:
    """Re-open a written file the way a viewer would, for the self-check."""
    with open_image(path) as img:
        fmt = READABLE.get(img.format or "")
        frames = [
            np.asarray(f.convert("RGBA" if f.mode in ("RGBA", "PA") else "RGB"))
            for f in sized_frames(path, img)
        ]
    return fmt, frames
