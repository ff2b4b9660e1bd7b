"""Sound-only files: which container a clean copy is written in, and our own scan of one.

A clean copy is built from the sound's packets, never by deleting tags from a
copy of the file (`unseen.meta.remux`, with the muxer setup of
`unseen.meta.video.writing`): whatever a phone, a field recorder or a
tag editor added (ID3v1/v2 with APIC, PRIV, GEOB and TXXX frames; APEv2;
Vorbis comments and FLAC PICTURE blocks; RIFF ``LIST/INFO``, ``bext``,
``iXML``, ``cart``, ``_PMX``; ISO-BMFF ``udta``/``meta``/``ilst``; chapters),
known to us or not, has no way into the output.  Each container is written
as itself, so the packets go across byte for byte; a sound-only file in a
video container becomes M4A (3GP for AMR), re-encoded to AAC only when MP4
cannot carry its codec (WMA, PCM...).

The scan is a second look that does not go through FFmpeg's demuxers where
it can avoid them: mutagen reads each container's tags, a chunk walk holds a
WAV to its allowlist of chunks (`unseen.meta.riff`), and a frame walk
accounts for every byte of a raw AMR file (`unseen.meta.amr`) and of an MP3
between its first frame and its end, where files laid end to end hold tags
(`unseen.meta.mp3`).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

import mutagen
from mutagen.apev2 import APENoHeaderError, APEv2
from mutagen.flac import FLAC, VCFLACDict
from mutagen.id3 import ID3

from ..errors import UnsupportedError
from . import amr, flac, mp3, policy, remux, riff, video
from .findings import Finding

# The codecs FFmpeg's AMR and 3GP muxers take; any other sound in a video container goes to M4A.
AMR_CODECS = frozenset({"amr_nb", "amr_wb"})


@dataclass(frozen=True)
class Container:
    """Where a clean sound-only copy goes: FFmpeg's muxer, the file suffixes, and the codecs it copies."""

    muxer: str
    suffixes: tuple[str, ...]  # the first names unseen's outputs; the others are accepted for -o
    copies: frozenset[str] | None  # None: whatever the same container held
    encoder: str  # for sound that is re-encoded: disguised, or a codec the container cannot carry
    rate: int | None = None  # the encoder's only sample rate, where it has one

    def muxer_for(self, codecs: set[str]) -> str:
        # The iTunes flavour of MP4 (brand "M4A ") takes only Apple's codecs.
        if self.muxer == "ipod" and not codecs <= {"aac", "alac"}:
            return "mp4"
        return self.muxer


CONTAINERS: dict[str, Container] = {
    "wav": Container("wav", (".wav",), None, "pcm_s16le"),
    "mp3": Container("mp3", (".mp3",), None, "libmp3lame"),
    "flac": Container("flac", (".flac",), None, "flac"),  # written afresh all the same (`remux`)
    "ogg": Container("ogg", (".ogg", ".opus", ".oga"), None, "libopus"),
    "amr": Container("amr", (".amr",), None, "libopencore_amrnb", rate=8000),
    "m4a": Container("ipod", (".m4a", ".mp4", ".m4b"), video.COPY_AUDIO, "aac"),
    "3gp": Container("3gp", (".3gp",), AMR_CODECS | {"aac"}, "aac"),
}


def container_of(family: str, codecs: set[str]) -> str:
    """The key in `CONTAINERS` for a sound-only file of ``family`` holding ``codecs``."""
    if family in CONTAINERS:
        return family
    return "3gp" if codecs and codecs <= AMR_CODECS else "m4a"


def check_suffix(source: Path, target: Path, container: str) -> None:
    """Refuse an output name whose suffix is not one of ``container``'s (``-o memo.wav`` for an M4A)."""
    suffixes = CONTAINERS[container].suffixes
    if target.suffix.lower() not in suffixes:
        raise UnsupportedError(
            source, f"cannot write this recording as {target.suffix or 'a file without suffix'!r}; "
            f"use {' or '.join(suffixes)}"
        )  # fmt: skip


def write_clean(src: Path, dst: Path, container: str, codecs: set[str]) -> str:
    """Copy the sound of ``src`` (holding ``codecs``) into ``dst``; return how ("remuxed" or "re-encoded: ...")."""
    target = CONTAINERS[container]
    written = {c if target.copies is None or c in target.copies else "aac" for c in codecs}
    return remux.write_sound(src, dst, target.muxer_for(written), target.copies)


def scan(path: Path, family: str) -> list[Finding]:
    """What FFmpeg, mutagen and our chunk or frame walk see in a sound-only file, beyond the sound."""
    found = video.scan(path)
    if family != "wav" or riff.plain(path):  # mutagen does not read RF64/BW64; the chunk walk does
        found += _mutagen_scan(path)
    if family == "wav":
        found += riff.scan(path)
    elif family == "amr":
        found += amr.scan(path)
    elif family == "mp3":
        found += mp3.scan(path) + _ape_tag(path)
    elif family == "flac":
        found += flac.scan(path)
    return found


# FLAC metadata blocks that only describe the stream: STREAMINFO, PADDING, SEEKTABLE, and a
# VORBIS_COMMENT block, which FFmpeg always writes (its fields are judged one by one).
_FLAC_BLOCKS = frozenset({0, 1, 3, 4})
_FLAC_BLOCK_NAMES = {2: "APPLICATION", 5: "CUESHEET", 6: "PICTURE"}
_MUTAGEN_SLIPS = (mutagen.MutagenError, OSError, ValueError, IndexError, EOFError, struct.error)


def _mutagen_scan(path: Path) -> list[Finding]:
    try:
        parsed = mutagen.File(path)
    except _MUTAGEN_SLIPS as exc:
        return [Finding("mutagen", f"tags could not be read ({exc})")]
    if parsed is None:
        return []  # a container mutagen does not know (raw AMR): the frame walk judges it
    kind = type(parsed).__name__
    found = [Finding("mutagen", f"{kind}:{key}") for key in _tag_keys(parsed.tags)]
    if isinstance(parsed, FLAC):
        found += [
            Finding("mutagen", f"FLAC:{_FLAC_BLOCK_NAMES.get(block.code, f'block type {block.code}')}")
            for block in parsed.metadata_blocks
            if block.code not in _FLAC_BLOCKS
        ]
    for chapter in getattr(parsed, "chapters", None) or ():
        found.append(Finding("mutagen", f"{kind}:chapter {getattr(chapter, 'title', '')}"))
    return found


def _tag_keys(tags: object) -> list[str]:
    """The keys of a mutagen tag object (ID3 frames, Vorbis comment fields, MP4 atoms...)."""
    if tags is None:
        return []
    if isinstance(tags, ID3):  # frame ids only: an ID3 key may quote the frame's content (PRIV, TXXX)
        return sorted({str(key).split(":")[0] for key in tags})
    keys = getattr(tags, "keys", None)
    if keys is None:
        return ["tags"]
    return sorted({str(key) for key in keys() if not _speakers(tags, str(key))})


def _speakers(tags: object, key: str) -> bool:
    """Whether ``key`` is the speaker mask FFmpeg writes in a FLAC's comments for 5.1 or 2.1 sound."""
    if key.lower() != "waveformatextensible_channel_mask" or not isinstance(tags, VCFLACDict):
        return False
    values = tags[key]
    return len(values) == 1 and policy.is_channel_mask(values[0])


def _ape_tag(path: Path) -> list[Finding]:
    """An APEv2 tag as mutagen reads it, a second opinion beside our frame walk (`unseen.meta.mp3`)."""
    try:
        APEv2(path)  # type: ignore[no-untyped-call]
    except APENoHeaderError:
        return []
    except _MUTAGEN_SLIPS as exc:
        return [Finding("mutagen", f"MP3:APEv2 tag could not be read ({exc})")]
    return [Finding("mutagen", "MP3:APEv2")]
