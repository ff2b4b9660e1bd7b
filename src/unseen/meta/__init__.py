"""Metadata: what a file carries beyond its pixels and sound, and how to write a copy without it.

``scan(path)`` lists every item outside the allowlist, as seen by our own
parser for the file's container family and, when installed, by exiftool as an
independent judge.  An empty list means neither tool sees anything.  (Raw AMR
and raw AAC are the files exiftool does not read: there our frame walk, which
must account for every byte, is the only judge.)

``write_clean(src, dst, fmt)`` writes a copy of ``src`` that keeps only what a
viewer needs: a lossless rewrite of the container where the family allows it
(JPEG, PNG, WebP, GIF), a remux for video, freshly encoded pixels otherwise.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ..errors import InputError, UnseenError, UnsupportedError
from . import adts, audio, bmp, exiftool, families, gif, isobmff, jpeg, pixels, png, remux, tiff, video, webp
from .findings import Finding, NotClean
from .scan import scan_own

_REWRITERS: dict[str, Callable[[Path, Path], None]] = {
    "jpeg": jpeg.write_clean,
    "png": png.write_clean,
    "webp": webp.write_clean,
    "gif": gif.write_clean,
}
_SCANNERS: dict[str, Callable[[Path], list[Finding]]] = {
    "jpeg": jpeg.scan,
    "png": png.scan,
    "webp": webp.scan,
    "gif": gif.scan,
    "tiff": tiff.scan,
    "bmp": bmp.scan,
}


@dataclass(frozen=True)
class Cleaned:
    """How a clean copy was made."""

    family: str
    how: str  # "rewritten" (lossless), "remuxed", or "re-encoded: <why>"

    @property
    def lossless(self) -> bool:
        return self.how == "rewritten"


def scan(path: Path, *, use_exiftool: bool = True) -> list[Finding]:
    try:
        family = families.identify(path)
    except UnseenError:
        family = None  # exiftool may still see what the file carries
    raw_aac = family == families.VIDEO and adts.sniff(path)
    found = _scan_own(path, family, raw_aac) if family else []
    if use_exiftool:
        found += (
            exiftool.scan(
                path, unknown_type_ok=(family == "amr" or raw_aac) and not found, mp3=family == "mp3"
            )
            or []
        )
    return found


def _scan_own(path: Path, family: str, raw_aac: bool) -> list[Finding]:
    if family in families.AUDIO:
        return audio.scan(path, family)
    if family == families.VIDEO:
        found = video.scan(path)
        if raw_aac:
            found += adts.scan(path)
        elif isobmff.sniff(path):
            found += isobmff.scan(path)
        return found
    own = _SCANNERS.get(family)
    return (own(path) if own else []) + scan_own(path)


def write_clean(src: Path, dst: Path, fmt: str, *, jpeg_quality: int = 95) -> Cleaned:
    """Write a clean copy of ``src`` to ``dst`` in format ``fmt`` (an image format, or a muxer of
    `video.VIDEO_MUXERS`)."""
    family = families.identify(src)
    muxers = set(video.VIDEO_MUXERS.values())
    if family == families.VIDEO:
        if fmt not in muxers:
            raise UnsupportedError(src, f"is a video; it can only be written as {video.video_suffixes()}")
        return Cleaned(family, remux.write_clean(src, dst, fmt))
    if fmt in muxers:
        raise UnsupportedError(src, "is a picture, not a video")
    reason = f"{family} pixels are always written anew" if family in families.RENDERED else None
    if family != fmt:
        reason = reason or f"written as {fmt}"
    reason = reason or _render_reason(src)
    if reason is None:
        try:
            _REWRITERS[family](src, dst)
            return Cleaned(family, "rewritten")
        except NotClean as exc:
            dst.unlink(missing_ok=True)
            reason = f"container not rewritable ({exc})"
    pixels.write_clean(src, dst, fmt, jpeg_quality, family=family)
    return Cleaned(family, f"re-encoded: {reason}")


def _render_reason(src: Path) -> str | None:
    try:
        return pixels.render_reason(src)
    except (OSError, SyntaxError, ValueError, EOFError, IndexError, struct.error) as exc:
        raise InputError(src, f"truncated or corrupt image ({exc})") from exc


__all__ = ["Cleaned", "Finding", "scan", "scan_own", "write_clean"]
