"""What a file is, judged by its content: the one table `protect`, `strip` and `check` share.

A file's name says nothing that counts: a TIFF named ``.mp4`` is a photo, a
sound-only ``.m4a`` is not a video.  The container family comes from the
first bytes (`unseen.meta.families`); a video container without a picture
stream is sound.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import av

from .errors import UnsupportedError
from .meta import families, video

Kind = Literal["image", "video", "audio"]

# Family -> the kind of medium and the suffix of a protected copy.  HEIF, AVIF and JPEG XL become
# JPEG: few viewers open them, and JPEG is what the contract promises.
TABLE: dict[str, tuple[Kind, str]] = {
    "jpeg": ("image", ".jpg"),
    "png": ("image", ".png"),
    "webp": ("image", ".webp"),
    "gif": ("image", ".gif"),
    "tiff": ("image", ".tif"),
    "bmp": ("image", ".bmp"),
    "heif": ("image", ".jpg"),
    "jxl": ("image", ".jpg"),
    families.VIDEO: ("video", ".mp4"),
}


@dataclass(frozen=True)
class FileKind:
    family: str
    kind: Kind

    @property
    def suffix(self) -> str:
        return TABLE[self.family][1]


def identify(path: Path) -> FileKind:
    """The file's family and kind; `UnsupportedError` (or `InputError`) says why it cannot be taken."""
    family = families.identify(path)
    kind = TABLE[family][0]
    if kind == "video" and not _has_picture(path):
        kind = "audio"
    return FileKind(family, kind)


def _has_picture(path: Path) -> bool:
    # `open_input` reads tags that are not UTF-8 with replacement characters, where a plain
    # `av.open` raised UnicodeDecodeError and took the whole batch down.
    with video.open_input(path) as container:
        return any(not (s.disposition & av.stream.Disposition.attached_pic) for s in container.streams.video)


def refuse_audio(path: Path, kind: FileKind) -> None:
    if kind.kind == "audio":
        raise UnsupportedError(
            path, "sound-only recordings are not supported yet: there is no picture to protect"
        )
