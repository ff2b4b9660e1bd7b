"""What a file is, judged by its content: the one table `protect`, `strip` and `check` share.

A file's name says nothing that counts: a TIFF named ``.mp4`` is a photo, a
sound-only ``.m4a`` is not a video.  The container family comes from the
first bytes (`unseen.meta.families`); a video container without a picture
stream is sound, and so is every sound container (WAV, MP3, FLAC, Ogg, AMR)
that holds no picture besides cover art.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import av

from .errors import UnsupportedError
from .meta import audio, families, video

Kind = Literal["image", "video", "audio"]

# Family -> the kind of medium and the suffix of a protected copy.  HEIF, AVIF and JPEG XL become
# JPEG: few viewers open them, and JPEG is what the contract promises.  Sound keeps its container
# (`unseen.meta.audio.CONTAINERS`): a sound-only video container becomes M4A, or 3GP for AMR.
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
    **{family: ("audio", audio.CONTAINERS[family].suffixes[0]) for family in families.AUDIO},
}


@dataclass(frozen=True)
class FileKind:
    family: str
    kind: Kind
    container: str | None = None  # sound only: the key of its output in `unseen.meta.audio.CONTAINERS`
    codecs: frozenset[str] = frozenset()  # sound only: the codecs of its sound streams

    @property
    def suffix(self) -> str:
        if self.container is not None:
            return audio.CONTAINERS[self.container].suffixes[0]
        return TABLE[self.family][1]


def identify(path: Path) -> FileKind:
    """The file's family and kind; `UnsupportedError` (or `InputError`) says why it cannot be taken."""
    family = families.identify(path)
    kind = TABLE[family][0]
    if kind == "image":
        return FileKind(family, kind)
    picture, codecs = _streams(path, family)
    if picture:
        if kind == "audio":
            raise UnsupportedError(path, f"a {family} file with a picture stream is not supported")
        return FileKind(family, "video")
    if not codecs:
        raise UnsupportedError(path, "holds neither a picture nor a sound stream unseen can read")
    return FileKind(family, "audio", audio.container_of(family, set(codecs)), codecs)


def _streams(path: Path, family: str) -> tuple[bool, frozenset[str]]:
    """Whether the file holds a picture (cover art does not count), and its sound codecs."""
    # `open_input` reads tags that are not UTF-8 with replacement characters, where a plain
    # `av.open` raised UnicodeDecodeError and took the whole batch down.
    try:
        with video.open_input(path) as container:
            picture = any(
                not (s.disposition & av.stream.Disposition.attached_pic) for s in container.streams.video
            )
            codecs = frozenset(
                str(s.codec_context.codec.canonical_name)
                for s in container.streams.audio
                if s.codec_context is not None
            )
            return picture, codecs
    except av.error.FFmpegError as exc:
        what = "video" if family == families.VIDEO else "recording"
        raise UnsupportedError(path, f"not a {what} unseen can read ({exc})") from exc


def refuse_sound(path: Path, kind: FileKind, why: str) -> None:
    if kind.kind == "audio":
        raise UnsupportedError(path, f"a sound-only recording: {why}")
