"""Robustness: thousands of damaged photos and videos, and every one ends cleanly.

unseen is fed files it did not write: downloads cut short, half-copied camera
cards, files damaged by accident or built to hurt.  Here valid JPEG, PNG, WebP,
animated GIF, TIFF, HEIC, AVIF, JPEG XL and BMP pictures, MP4, MOV, MKV, AVI,
WebM, MPEG-TS, MPEG-PS, 3GP and WMV videos, and sound-only M4A, MP3, WAV (and
RF64), Ogg Vorbis, Opus, FLAC, raw AAC, AMR and 3GP recordings (`sounds`),
every format unseen reads, written by the test, are
damaged by a seeded generator: truncated, bits flipped, spans zeroed, cut out
or repeated, length fields and declared sizes set to zero or to huge values,
decompression bombs (60000 x 60000 declared), empty files, wrong extensions,
videos whose sound or index (``stco``/``stsz``, Matroska ``Cues``) is broken.

Each damaged file goes through a `Protector` (real detectors; every other
video with ``audio="keep"``), `strip_file` and a `Checker`, in two child
processes that load the models once and run a watchdog per case.  The
contract for every case and operation:

* the result is protected/stripped with one complete output, alone in its
  folder, or failed/refused/unverified with a one-line reason and no file at
  all (no ``.unseen-*.part`` either); ``check`` answers clean, dirty or failed;
* no exception escapes, nothing hangs (a case over `CASE_TIMEOUT_S` stops the
  child with a traceback) and nothing crashes the interpreter;
* the input is byte-identical afterwards.

A few dozen of the same files then go through the real command line, real
detectors included, to show that no traceback reaches stderr.  Every run
feeds the same bytes: the generator is seeded.
"""

from __future__ import annotations

import faulthandler
import hashlib
import io
import json
import os
import random
import shutil
import struct
import subprocess
import sys
import time
import traceback
import zlib
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, replace
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np
import pillow_heif
import pytest
from PIL import Image

import sounds

TESTS = Path(__file__).resolve().parent
SEED = 20240612
CASES_PER_KIND = {"jpeg": 280, "png": 280, "webp": 250, "gif": 250, "tiff": 250, "heic": 220,
                  "avif": 60, "jxl": 40, "bmp": 40,
                  "mp4": 180, "mov": 140, "mkv": 170,
                  "avi": 60, "webm": 60, "ts": 60, "mpg": 40, "3gp": 40, "wmv": 40,
                  "m4a": 60, "mp3": 40, "wav": 40, "ogg": 40, "flac": 30,
                  "opus": 30, "aac": 30, "amr": 30, "rf64": 20, "3gp-sound": 30}  # fmt: skip
CASE_TIMEOUT_S = 120.0  # one case (protect + strip + check); a tiny file needs well under a second
RUN_TIMEOUT_S = 900.0  # all cases; the children report each case as it ends, so a hang names its case
CLI_SAMPLE_PER_KIND = 4
ENDINGS = {
    "protect": {"protected", "failed", "refused", "unverified"},
    "strip": {"stripped", "failed", "refused", "unverified"},
    "check": {"clean", "dirty", "failed"},
}
ANSWERS = {"protect": {"protected"}, "strip": {"stripped"}, "check": {"clean", "dirty"}}
EXTENSIONS = {"jpeg": ".jpg", "png": ".png", "webp": ".webp", "gif": ".gif", "tiff": ".tiff",
              "heic": ".heic", "avif": ".avif", "jxl": ".jxl", "bmp": ".bmp",
              "mp4": ".mp4", "mov": ".mov", "mkv": ".mkv", "avi": ".avi", "webm": ".webm", "ts": ".ts",
              "mpg": ".mpg", "3gp": ".3gp", "wmv": ".wmv",
              "m4a": ".m4a", "mp3": ".mp3", "wav": ".wav", "ogg": ".ogg", "flac": ".flac",
              "opus": ".opus", "aac": ".aac", "amr": ".amr", "rf64": ".wav", "3gp-sound": ".3gp"}  # fmt: skip
# Video kinds: container, picture codec, sound codec, frame rate.  Phones write MP4, MOV and 3GP;
# cameras MOV, AVI and MPEG-TS (.mts); DVD camcorders MPEG program streams; browsers WebM.
VIDEOS = {"mp4": ("mp4", "libx264", "aac", 12), "mov": ("mov", "libx264", "aac", 12),
          "mkv": ("matroska", "libx264", "aac", 12), "avi": ("avi", "libx264", "libmp3lame", 12),
          "webm": ("webm", "libvpx-vp9", "libopus", 12), "ts": ("mpegts", "libx264", "aac", 12),
          "mpg": ("mpeg", "mpeg2video", "mp2", 25), "3gp": ("3gp", "libx264", "aac", 12),
          "wmv": ("asf", "wmv2", "wmav2", 12)}  # fmt: skip
EBML = ("mkv", "webm")  # Matroska's elements
# Sound-only recordings, by the name `sounds` writes each under (tagged, a voice memo's cover art and
# chapter included).  Their damage is the common kinds': an M4A's fields are its ISO boxes'.
SOUNDS = {
    "m4a": "memo.m4a",
    "mp3": "interview.mp3",
    "wav": "field.wav",
    "ogg": "crowd.ogg",
    "flac": "archive.flac",
    "opus": "voice-note.opus",
    "aac": "recorder.aac",
    "amr": "call.amr",
    "rf64": "field-rf64.wav",
    "3gp-sound": "call.3gp",
}


# --- the undamaged files ---------------------------------------------------------------------------


def scene(width: int, height: int, shift: int) -> np.ndarray:
    """A smooth picture with a small face-like patch on it."""
    x = np.linspace(30, 220, width)[None, :, None]
    y = np.linspace(0, 60, height)[:, None, None]
    rgb = np.broadcast_to(x + y + np.array([0, 20, 40]), (height, width, 3)).astype(np.uint8).copy()
    x0 = 4 + shift % max(1, width - 28)
    yy, xx = np.mgrid[0:24, 0:20]
    face = ((yy - 12) ** 2 / 144 + (xx - 10) ** 2 / 100) < 1
    patch = rgb[6:30, x0 : x0 + 20]
    patch[face] = (224, 172, 140)
    patch[8:11, 4:8] = patch[8:11, 12:16] = 40  # eyes
    patch[17:19, 6:14] = (150, 60, 60)  # mouth
    return rgb


def _image_bytes(img: Image.Image, fmt: str, **options: Any) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt, **options)
    return buf.getvalue()


def _exif(gps: bool = True) -> bytes:
    exif = Image.Exif()
    exif[0x010F] = "Canon"
    exif[0x013B] = "Jane Roe"  # Artist
    if gps:  # libtiff (compressed TIFF) cannot write this GPS IFD
        exif.get_ifd(0x8825).update({1: "N", 2: (52.0, 29.0, 57.0)})
    return exif.tobytes()


def photo_seed(kind: str) -> bytes:
    img = Image.fromarray(scene(96, 64, 30))
    if kind == "jpeg":
        return _image_bytes(img, "JPEG", quality=90, exif=_exif(), comment=b"Jane Roe")
    if kind == "png":
        from PIL.PngImagePlugin import PngInfo

        info = PngInfo()
        info.add_text("Author", "Jane Roe")
        info.add_text("Comment", "x" * 300, zip=True)
        return _image_bytes(img, "PNG", pnginfo=info, exif=_exif())
    if kind == "webp":
        return _image_bytes(img, "WEBP", quality=80, exif=_exif())
    if kind == "gif":
        frames = [Image.fromarray(scene(96, 64, 10 * i)).quantize(64) for i in range(4)]
        return _image_bytes(
            frames[0], "GIF", save_all=True, append_images=frames[1:], duration=80, loop=0, comment=b"Jane"
        )
    if kind == "tiff":
        return _image_bytes(img, "TIFF", compression="tiff_deflate", exif=_exif(gps=False))
    if kind == "heic":
        pillow_heif.register_heif_opener()
        return _image_bytes(img, "HEIF", quality=70, exif=_exif())
    if kind == "avif":
        return _image_bytes(img, "AVIF", quality=70, exif=_exif())
    if kind == "jxl":
        import pillow_jxl  # noqa: F401  (registers the JPEG XL writer)

        return _image_bytes(img, "JXL", quality=80, exif=_exif())
    if kind == "bmp":
        return _image_bytes(img, "BMP")
    raise ValueError(kind)


def video_seed(kind: str, path: Path, *, audio: bool) -> bytes:
    """12 frames of 64 x 48 (and a second of sound) in ``kind``'s container and codecs (`VIDEOS`)."""
    fmt, picture, voice, rate = VIDEOS[kind]
    with av.open(str(path), "w", format=fmt) as out:
        out.metadata["title"] = "Jane Roe at the square"
        video = out.add_stream(picture, rate=rate)
        video.width, video.height, video.pix_fmt = 64, 48, "yuv420p"
        video.codec_context.time_base = Fraction(1, rate)
        sound = out.add_stream(voice, rate=48000 if voice == "libopus" else 16000) if audio else None
        if sound is not None and voice == "wmav2":
            sound.bit_rate = 32000  # WMA's encoder has no default
        for i in range(12):
            frame = av.VideoFrame.from_ndarray(scene(64, 48, 3 * i), format="rgb24")
            frame.pts = i
            out.mux(video.encode(frame))
        out.mux(video.encode(None))
        if sound is not None:
            t = np.arange(16000) / 16000
            tone = (0.2 * np.sin(2 * np.pi * 220 * t)).astype(np.float32)
            for start in range(0, len(tone), 1024):
                chunk = av.AudioFrame.from_ndarray(
                    tone[None, start : start + 1024], format="flt", layout="mono"
                )
                chunk.sample_rate, chunk.pts = 16000, start
                out.mux(sound.encode(chunk))
            out.mux(sound.encode(None))
    return path.read_bytes()


# --- where the length fields and declared sizes are --------------------------------------------


@dataclass(frozen=True)
class Field:
    """A number in the file: ``size`` bytes at ``at``, big- or little-endian; ``what`` names it."""

    at: int
    size: int
    big: bool
    what: str  # "length", "dims" or "index"


def _u(data: bytes, at: int, size: int, big: bool = True) -> int:
    return int.from_bytes(data[at : at + size], "big" if big else "little")


def png_fields(data: bytes) -> list[Field]:
    found, pos = [], 8
    while pos + 8 <= len(data):
        length, kind = _u(data, pos, 4), data[pos + 4 : pos + 8]
        found.append(Field(pos, 4, True, "length"))
        if kind == b"IHDR":
            found += [Field(pos + 8, 4, True, "dims"), Field(pos + 12, 4, True, "dims")]
        pos += 12 + length
    return found


def jpeg_fields(data: bytes) -> list[Field]:
    found, pos = [], 2
    while pos + 4 <= len(data) and data[pos] == 0xFF:
        marker = data[pos + 1]
        found.append(Field(pos + 2, 2, True, "length"))
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            found += [Field(pos + 5, 2, True, "dims"), Field(pos + 7, 2, True, "dims")]
        if marker == 0xDA:
            break
        pos += 2 + _u(data, pos + 2, 2)
    return found


def webp_fields(data: bytes) -> list[Field]:
    found, pos = [Field(4, 4, False, "length")], 12
    while pos + 8 <= len(data):
        kind, length = data[pos : pos + 4], _u(data, pos + 4, 4, False)
        found.append(Field(pos + 4, 4, False, "length"))
        if kind == b"VP8X":
            found += [Field(pos + 12, 3, False, "dims"), Field(pos + 15, 3, False, "dims")]
        elif kind == b"VP8 ":
            found += [Field(pos + 14, 2, False, "dims"), Field(pos + 16, 2, False, "dims")]
        pos += 8 + length + (length & 1)
    return found


def gif_fields(data: bytes) -> list[Field]:
    found = [Field(6, 2, False, "dims"), Field(8, 2, False, "dims")]
    pos = 13 + (3 << ((data[10] & 7) + 1) if data[10] & 0x80 else 0)
    while pos < len(data):
        block = data[pos]
        if block == 0x21:
            pos += 2
        elif block == 0x2C:
            found += [Field(pos + 5, 2, False, "dims"), Field(pos + 7, 2, False, "dims")]
            flags = data[pos + 9] if pos + 9 < len(data) else 0
            pos += 10 + (3 << ((flags & 7) + 1) if flags & 0x80 else 0) + 1
        else:
            break
        while pos < len(data) and data[pos]:  # sub-blocks, each led by its length
            found.append(Field(pos, 1, True, "length"))
            pos += data[pos] + 1
        pos += 1
    return found


def tiff_fields(data: bytes) -> list[Field]:
    big = data[:2] == b"MM"
    found, ifd = [Field(4, 4, big, "index")], _u(data, 4, 4, big)
    seen: set[int] = set()
    while 8 <= ifd < len(data) - 2 and ifd not in seen:
        seen.add(ifd)
        count = _u(data, ifd, 2, big)
        found.append(Field(ifd, 2, big, "length"))
        for n in range(min(count, 64)):
            entry = ifd + 2 + 12 * n
            if entry + 12 > len(data):
                break
            tag = _u(data, entry, 2, big)
            found.append(Field(entry + 4, 4, big, "length"))  # the value count
            what = {256: "dims", 257: "dims", 273: "index", 279: "length"}.get(tag, "index")
            found.append(Field(entry + 8, 4, big, what))
        ifd = _u(data, ifd + 2 + 12 * count, 4, big) if ifd + 6 + 12 * count <= len(data) else 0
    return found


# ISO BMFF boxes that hold boxes, and how many bytes (version, flags, counts) come before them.
_ISO_CONTAINERS = {b"moov": 0, b"trak": 0, b"mdia": 0, b"minf": 0, b"stbl": 0, b"dinf": 0, b"edts": 0,
                   b"udta": 0, b"meta": 4, b"iprp": 0, b"ipco": 0, b"stsd": 8, b"avc1": 78, b"mp4a": 28,
                   b"hvc1": 78, b"iinf": 6, b"iref": 4, b"wave": 0}  # fmt: skip


@dataclass(frozen=True)
class Box:
    at: int
    size: int
    kind: bytes
    path: tuple[bytes, ...]  # the boxes it sits in
    track: str  # the handler ("vide", "soun") of the trak it sits in, else ""


def iso_boxes(data: bytes, start: int = 0, end: int | None = None, path: tuple[bytes, ...] = ()) -> list[Box]:
    """Every box, depth first; a box inside a ``trak`` knows that track's handler type."""
    end = len(data) if end is None else end
    found, pos = [], start
    while pos + 8 <= end:
        size, kind = _u(data, pos, 4), data[pos + 4 : pos + 8]
        if size < 8 or pos + size > end:
            break
        found.append(Box(pos, size, kind, path, ""))
        if kind in _ISO_CONTAINERS:
            found += iso_boxes(data, pos + 8 + _ISO_CONTAINERS[kind], pos + size, (*path, kind))
        pos += size
    if path:
        return found
    handlers = {}  # trak offset -> handler type
    for trak in (b for b in found if b.kind == b"trak"):
        hdlr = next((b for b in found if b.kind == b"hdlr" and trak.at < b.at < trak.at + trak.size), None)
        handlers[trak] = data[hdlr.at + 16 : hdlr.at + 20].decode("latin-1") if hdlr else ""
    return [
        replace(box, track=next((h for t, h in handlers.items() if t.at < box.at < t.at + t.size), ""))
        for box in found
    ]


def iso_fields(data: bytes) -> list[Field]:
    found = []
    for box in iso_boxes(data):
        found.append(Field(box.at, 4, True, "length"))
        body = box.at + 8
        if box.kind in (b"stco", b"co64", b"stsz", b"stts", b"stsc", b"stss", b"ctts", b"iloc"):
            found.append(Field(body + 4, 4, True, "index"))  # an entry count (or iloc's sizes)
            for n in range(min(8, (box.size - 16) // 4)):
                found.append(Field(body + 8 + 4 * n, 4, True, "index"))
        elif box.kind in (b"ispe",):
            found += [Field(body + 4, 4, True, "dims"), Field(body + 8, 4, True, "dims")]
        elif box.kind == b"tkhd":
            found += [
                Field(box.at + box.size - 8, 4, True, "dims"),
                Field(box.at + box.size - 4, 4, True, "dims"),
            ]
        elif box.kind == b"mdhd":
            found.append(Field(body + 12, 4, True, "index"))  # the timescale
    return found


# Matroska master elements walked into (Segment, Cluster, Tracks, TrackEntry, Video, Audio, Cues,
# CuePoint, CueTrackPositions, SeekHead, Seek, Info, BlockGroup).
_EBML_MASTERS = {0x18538067, 0x1F43B675, 0x1654AE6B, 0xAE, 0xE0, 0xE1, 0x1C53BB6B, 0xBB, 0xB7, 0x114D9B74,
                 0x4DBB, 0x1549A966, 0xA0, 0x1A45DFA3}  # fmt: skip
_EBML_NAMES = {0x1C53BB6B: "Cues", 0xA3: "SimpleBlock", 0x63A2: "CodecPrivate", 0xB0: "PixelWidth",
               0xBA: "PixelHeight", 0x53AC: "SeekPosition", 0xF1: "CueClusterPosition",
               0x1F43B675: "Cluster", 0xD7: "TrackNumber", 0x83: "TrackType"}  # fmt: skip


@dataclass(frozen=True)
class Element:
    at: int  # where its ID starts
    id: int
    size_at: int
    size_len: int
    body: int
    size: int


def _vint(data: bytes, pos: int) -> tuple[int, int]:
    """(value, length) of the EBML variable-length integer at ``pos``."""
    first = data[pos]
    length = 1
    while length <= 8 and not first & (0x80 >> (length - 1)):
        length += 1
    if length > 8 or pos + length > len(data):
        raise ValueError("bad vint")
    value = first & (0xFF >> length)
    for b in data[pos + 1 : pos + length]:
        value = value << 8 | b
    return value, length


def ebml_elements(data: bytes, start: int = 0, end: int | None = None) -> list[Element]:
    end = len(data) if end is None else end
    found, pos = [], start
    while pos < end:
        try:
            _, id_len = _vint(data, pos)
            size, size_len = _vint(data, pos + id_len)
        except (ValueError, IndexError):
            break
        ident = _u(data, pos, id_len)
        body = pos + id_len + size_len
        if size == (1 << (7 * size_len)) - 1:  # unknown size: runs to the end of its parent
            size = end - body
        found.append(Element(pos, ident, pos + id_len, size_len, body, size))
        if ident in _EBML_MASTERS:
            found += ebml_elements(data, body, min(end, body + size))
        pos = body + size
    return found


def mkv_fields(data: bytes) -> list[Field]:
    found = []
    for el in ebml_elements(data):
        found.append(Field(el.size_at, el.size_len, True, "length"))
        name = _EBML_NAMES.get(el.id, "")
        if name in ("PixelWidth", "PixelHeight"):
            found.append(Field(el.body, el.size, True, "dims"))
        elif name in ("SeekPosition", "CueClusterPosition"):
            found.append(Field(el.body, el.size, True, "index"))
    return found


# The kinds not named here take the generic damage only (their length fields are not located).
FIELDS: dict[str, Callable[[bytes], list[Field]]] = {
    "png": png_fields, "jpeg": jpeg_fields, "webp": webp_fields, "gif": gif_fields, "tiff": tiff_fields,
    "heic": iso_fields, "mp4": iso_fields, "mov": iso_fields, "mkv": mkv_fields, "m4a": iso_fields,
    "avif": iso_fields, "3gp": iso_fields, "webm": mkv_fields, "3gp-sound": iso_fields,
}  # fmt: skip


# --- the damage --------------------------------------------------------------------------------

Mutation = Callable[[bytes, random.Random, str], bytes]


def _none(data: bytes) -> list[Field]:
    return []


def _put(data: bytes, field: Field, value: int) -> bytes:
    value &= (1 << (8 * field.size)) - 1
    raw = value.to_bytes(field.size, "big" if field.big else "little")
    return data[: field.at] + raw + data[field.at + field.size :]


def truncate(data: bytes, rng: random.Random, kind: str) -> bytes:
    # Half the cuts fall in the first 512 bytes, where the headers are.
    end = rng.randrange(1, min(512, len(data))) if rng.random() < 0.5 else rng.randrange(1, len(data))
    return data[:end]


def bit_flips(data: bytes, rng: random.Random, kind: str) -> bytes:
    out = bytearray(data)
    head = rng.random() < 0.5
    for _ in range(rng.choice((1, 1, 2, 4, 16))):
        at = rng.randrange(min(len(out), 600)) if head else rng.randrange(len(out))
        out[at] ^= 1 << rng.randrange(8)
    return bytes(out)


def overwrite(data: bytes, rng: random.Random, kind: str) -> bytes:
    """A span zeroed, set to 0xFF or to random bytes."""
    at, n = rng.randrange(len(data)), rng.choice((1, 4, 16, 64, 512))
    fill = rng.choice((b"\0" * n, b"\xff" * n, rng.randbytes(n)))
    return (data[:at] + fill + data[at + n :])[: len(data)]


def splice(data: bytes, rng: random.Random, kind: str) -> bytes:
    """A span cut out, repeated, or random bytes inserted: every later offset moves."""
    at, n = rng.randrange(len(data)), rng.choice((1, 3, 8, 100, 1000))
    how = rng.randrange(3)
    if how == 0:
        return data[:at] + data[at + n :]
    if how == 1:
        return data[: at + n] + data[at : at + n] + data[at + n :]
    return data[:at] + rng.randbytes(n) + data[at:]


HUGE = (0, 1, 2, 0x7F, 0xFF, 0xFFFF, 0x10000, 60000, 0x7FFFFFFF, 0x80000000, 0xFFFFFFF0, 0xFFFFFFFF, -1)


def fields_set(data: bytes, rng: random.Random, kind: str, what: tuple[str, ...]) -> bytes:
    fields = [f for f in FIELDS.get(kind, _none)(data) if f.what in what and f.at + f.size <= len(data)]
    if not fields:
        return bit_flips(data, rng, kind)
    for field in rng.sample(fields, min(len(fields), rng.choice((1, 1, 2)))):
        old = _u(data, field.at, field.size, field.big)
        value = rng.choice((*HUGE, old + 1, old - 1, old * 2, old + rng.randrange(1, 4096)))
        data = _put(data, field, value)
    return data


def length_fields(data: bytes, rng: random.Random, kind: str) -> bytes:
    return fields_set(data, rng, kind, ("length",))


def declared_size(data: bytes, rng: random.Random, kind: str) -> bytes:
    return fields_set(data, rng, kind, ("dims",))


def index_fields(data: bytes, rng: random.Random, kind: str) -> bytes:
    return fields_set(data, rng, kind, ("index",))


def _crc_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def bomb(data: bytes, rng: random.Random, kind: str) -> bytes:
    """The file declares 60000 x 60000 (or more) pixels, headers otherwise consistent."""
    side = rng.choice((60000, 65535, 40000))
    if kind == "png":
        ihdr = struct.pack(">IIBBBBB", side, side, 8, rng.choice((0, 2, 6)), 0, 0, 0)
        idat = zlib.compress(b"\0" * 4096)
        return data[:8] + _crc_chunk(b"IHDR", ihdr) + _crc_chunk(b"IDAT", idat) + _crc_chunk(b"IEND", b"")
    if kind == "gif":
        screen = struct.pack("<HH", side, side)
        out = bytearray(data[:6] + screen + data[10:])
        for field in gif_fields(bytes(out))[2:4]:
            out[field.at : field.at + 2] = struct.pack("<H", side)
        return bytes(out)
    fields = [f for f in FIELDS.get(kind, _none)(data) if f.what == "dims"]
    for field in fields:
        data = _put(data, field, min(side, (1 << (8 * field.size)) - 1) if field.size > 2 else side)
    return data


def empty(data: bytes, rng: random.Random, kind: str) -> bytes:
    return b""


def tiny(data: bytes, rng: random.Random, kind: str) -> bytes:
    """Only the magic and a few bytes."""
    return data[: rng.randrange(1, 24)]


def _trak_boxes(data: bytes, handler: str, kinds: tuple[bytes, ...]) -> list[Box]:
    return [b for b in iso_boxes(data) if b.track == handler and b.kind in kinds]


def broken_audio(data: bytes, rng: random.Random, kind: str) -> bytes:
    """The sound stream made unreadable: its samples, its index or its decoder setup."""
    if kind in EBML:
        els = ebml_elements(data)
        private = [e for e in els if e.id == 0x63A2]
        blocks = [e for e in els if e.id == 0xA3 and e.size > 8 and data[e.body] == 0x82]  # track 2
        targets = private if private and rng.random() < 0.3 else blocks
        if not targets:
            return bit_flips(data, rng, kind)
        out = bytearray(data)
        for el in rng.sample(targets, min(len(targets), rng.choice((1, 3, 8)))):
            start = el.body + (4 if el.id == 0xA3 else 0)  # keep the block header: damage the sound
            for _ in range(rng.choice((1, 4, 16))):
                out[rng.randrange(start, el.body + el.size)] = rng.randrange(256)
        return bytes(out)
    boxes = _trak_boxes(data, "soun", (b"stco", b"stsz", b"esds", b"stsc", b"mdhd"))
    if not boxes:
        return bit_flips(data, rng, kind)
    box = rng.choice(boxes)
    out = bytearray(data)
    if box.kind == b"stco" and rng.random() < 0.6:
        # Point the sound's chunks at other bytes: the picture's, the header, or past the end.
        count = _u(data, box.at + 12, 4)
        for n in range(min(count, (box.size - 16) // 4)):
            target = rng.choice((8, rng.randrange(len(data)), len(data) + 4096))
            out[box.at + 16 + 4 * n : box.at + 20 + 4 * n] = struct.pack(">I", target)
        return bytes(out)
    for _ in range(rng.choice((1, 4, 16))):
        out[rng.randrange(box.at + 8, box.at + box.size)] = rng.randrange(256)
    return bytes(out)


def broken_index(data: bytes, rng: random.Random, kind: str) -> bytes:
    """The video's index damaged: MP4/MOV sample tables, Matroska Cues and SeekHead."""
    if kind in EBML:
        els = ebml_elements(data)
        cues = [e for e in els if e.id in (0x1C53BB6B, 0x114D9B74)]  # Cues, SeekHead
        if not cues:
            return bit_flips(data, rng, kind)
        el = rng.choice(cues)
        if rng.random() < 0.3:  # the index cut off where it starts
            return data[: el.body + rng.randrange(max(1, el.size))]
        out = bytearray(data)
        for _ in range(rng.choice((1, 4, 16))):
            out[rng.randrange(el.body, el.body + el.size)] = rng.randrange(256)
        return bytes(out)
    boxes = _trak_boxes(data, "vide", (b"stco", b"co64", b"stsz", b"stsc", b"stts", b"stss", b"ctts"))
    if rng.random() < 0.15:  # the whole index renamed away
        moov = next((b for b in iso_boxes(data) if b.kind == b"moov"), None)
        if moov is not None:
            return data[: moov.at + 4] + b"free" + data[moov.at + 8 :]
    if not boxes:
        return bit_flips(data, rng, kind)
    box = rng.choice(boxes)
    out = bytearray(data)
    entries = (box.size - 16) // 4
    for _ in range(rng.choice((1, 2, 6))):
        at = box.at + 12 + 4 * rng.randrange(max(1, entries + 1))
        old = _u(bytes(out), at, 4)
        value = rng.choice((0, 1, old + 1, old - 1, old + 4096, 0xFFFFFFFF, 0x7FFFFFFF, len(data) + 100))
        out[at : at + 4] = struct.pack(">I", value & 0xFFFFFFFF)
    return bytes(out)


COMMON: dict[str, tuple[Mutation, int]] = {  # mutation -> weight
    "truncate": (truncate, 6),
    "bit-flips": (bit_flips, 7),
    "overwrite": (overwrite, 4),
    "splice": (splice, 4),
    "length-field": (length_fields, 6),
    "declared-size": (declared_size, 4),
    "index-field": (index_fields, 2),
    "bomb": (bomb, 2),
    "tiny": (tiny, 1),
}
VIDEO_ONLY: dict[str, tuple[Mutation, int]] = {
    "broken-audio": (broken_audio, 6),
    "broken-index": (broken_index, 6),
}


@dataclass(frozen=True)
class Case:
    id: str
    kind: str  # the undamaged file's format
    mutation: str
    name: str  # file name under the inputs folder (the extension may lie)
    sha256: str


def make_cases(root: Path) -> list[Case]:
    """Write every damaged input under ``root/in`` and return the cases, the same bytes each run."""
    rng = random.Random(SEED)
    inputs = root / "in"
    inputs.mkdir(parents=True)
    seeds: dict[str, list[bytes]] = {}
    recorded = sounds.write_all(root / "seed-sounds", sounds.speech(1.5), sounds.WRITERS | sounds.UNTAGGED)
    for kind in EXTENSIONS:
        if kind in SOUNDS:
            seeds[kind] = [next(p for p in recorded if p.name == SOUNDS[kind]).read_bytes()]
        elif kind in VIDEOS:
            seeds[kind] = [
                video_seed(kind, root / f"seed-{kind}-{audio}{EXTENSIONS[kind]}", audio=audio)
                for audio in (True, False)
            ]
        else:
            seeds[kind] = [photo_seed(kind)]
    cases = []
    for kind, count in CASES_PER_KIND.items():
        table = COMMON | (VIDEO_ONLY if kind in VIDEOS else {})
        names = [n for n in table for _ in range(table[n][1])]
        plan: list[tuple[str, bytes]] = [("undamaged", s) for s in seeds[kind]]
        plan += [("empty", b""), ("wrong-extension", seeds[kind][0])]
        while len(plan) < count:
            mutation = rng.choice(names)
            # Two thirds of the damaged videos carry sound (their first seed); a photo has one seed.
            seed = seeds[kind][0] if rng.random() < 0.67 else seeds[kind][-1]
            data = table[mutation][0](seed, rng, kind)
            if rng.random() < 0.08:  # some damaged files also carry another format's extension
                mutation += "+wrong-extension"
            plan.append((mutation, data))
        for n, (mutation, data) in enumerate(plan):
            ext = EXTENSIONS[kind]
            if mutation.endswith("wrong-extension"):
                ext = rng.choice([e for e in (*EXTENSIONS.values(), ".txt", "") if e != EXTENSIONS[kind]])
            case_id = f"{kind}-{n:04d}"
            path = inputs / f"{case_id}{ext}"
            path.write_bytes(data)
            cases.append(Case(case_id, kind, mutation, path.name, hashlib.sha256(data).hexdigest()))
    return cases


# --- one case, in a child process --------------------------------------------------------------


def _files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file()) if folder.exists() else []


def _whole(path: Path) -> bool:
    """Whether ``path`` decodes to the end: as a picture, else as a video with frames."""
    try:
        with Image.open(path) as img:
            img.load()
        return True
    except Exception:
        pass
    try:
        with av.open(str(path)) as container:
            # A film whose picture track was damaged past reading is a sound recording to unseen
            # (its voice disguised): its output is whole when its sound decodes.  A recording's
            # cover art is a picture stream too, but not what it is for.
            cover = av.stream.Disposition.attached_pic
            pictures = [s for s in container.streams.video if not s.disposition & cover]
            stream = pictures[0] if pictures else container.streams.audio[0]
            return sum(1 for _ in container.decode(stream)) > 0
    except Exception:
        return False


def _outcome(op: str, result: Any, source: Path, folder: Path, target: Path | None) -> list[str]:
    """What is wrong with one operation's result: nothing, for a clean ending."""
    problems = []
    if result.status not in ENDINGS[op]:
        problems.append(f"status {result.status!r}")
    left = _files(folder)
    if result.status in ANSWERS[op]:
        if op == "check":
            pass  # nothing is written: the folder is checked below
        elif result.output != target or target is None or not target.is_file() or not target.stat().st_size:
            problems.append(f"no complete output at {target}")
        elif not _whole(target) and (op == "protect" or _whole(source)):
            # A lossless strip copies a damaged picture stream as it is: never worse than its input.
            problems.append(f"the output at {target} does not decode")
        if [p for p in left if p != target]:
            problems.append(f"other files left: {[p.name for p in left]}")
    else:
        if not result.error or "\n" in result.error or "Traceback" in result.error:
            problems.append(f"not a one-line reason: {result.error!r}")
        elif result.error.startswith("internal error"):  # a bug or an unforeseen error, kept to its file
            problems.append(result.error)
        if result.output is not None:
            problems.append(f"output named for a {result.status} file")
        if left:
            problems.append(f"files left after {result.status}: {[p.name for p in left]}")
    return problems


def child(manifest: Path, log: Path) -> None:
    """Run every case in ``manifest`` (JSON lines), one JSON line per case to ``log`` as each ends."""
    from unseen.check import Checker
    from unseen.jobs import plan
    from unseen.pipeline import Protector
    from unseen.settings import Settings
    from unseen.strip import strip_file

    settings = Settings(threads=1, seed=1)
    first = Protector(settings)  # the real detectors, loaded once
    # Every other video keeps its sound, so that the sound's path meets the damage too.
    protectors = [first, Protector(settings.replace(audio="keep"), first.profile, first.finder)]
    checker = Checker(settings)
    root, work = manifest.parent, manifest.parent / "out" / manifest.stem
    cases = [Case(**json.loads(line)) for line in manifest.read_text().splitlines()]
    with log.open("a") as out:
        faulthandler.enable(out)
        for n, case in enumerate(cases):
            out.write(json.dumps({"start": case.id}) + "\n")
            out.flush()
            faulthandler.dump_traceback_later(CASE_TIMEOUT_S, exit=True, file=out)
            record = run_case(case, root, work, protectors[n % 2], strip_file, checker, plan)
            faulthandler.cancel_dump_traceback_later()
            out.write(json.dumps(record) + "\n")
            out.flush()


def run_case(
    case: Case,
    root: Path,
    work: Path,
    protector: Any,
    strip_file: Callable[..., Any],
    checker: Any,
    plan: Callable[..., Any],
) -> dict[str, Any]:
    source = root / "in" / case.name
    record: dict[str, Any] = {"id": case.id, "ends": {}, "errors": {}, "problems": [], "seconds": {}}
    for op in ("protect", "strip", "check"):
        folder = work / op  # emptied after each case, so what a case leaves is seen
        started = time.perf_counter()
        try:
            if op == "check":
                result, target = checker.check(source), None
            else:
                (job,) = plan([source], folder, out_format="same", keep_names=True)
                target = job.target
                result = protector.protect(job) if op == "protect" else strip_file(job)
            problems = _outcome(op, result, source, folder, target)
            record["ends"][op] = result.status
            if result.error:
                record["errors"][op] = result.error
        except BaseException as exc:  # anything escaping is a bug: keep its traceback for the report
            if isinstance(exc, KeyboardInterrupt):
                raise
            record["ends"][op] = "exception"
            problems = ["".join(traceback.format_exception(exc)[-6:])]
        record["seconds"][op] = round(time.perf_counter() - started, 3)
        record["problems"] += [f"{op}: {p}" for p in problems]
        shutil.rmtree(folder, ignore_errors=True)
    if hashlib.sha256(source.read_bytes()).hexdigest() != case.sha256:
        record["problems"].append("the input changed")
    return record


# --- the run -----------------------------------------------------------------------------------


@dataclass
class Outcome:
    cases: list[Case]
    records: dict[str, dict[str, Any]]
    crashes: list[str]  # a child that hung or died, with the case it was on and its traceback
    root: Path
    seconds: float


def _child_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(TESTS), env.get("PYTHONPATH", "")]))
    # YuNet's OpenMP threads spin against each other on a busy machine: 1 ms a picture becomes 1 s.
    env.setdefault("OMP_NUM_THREADS", "1")
    return env


def run_all(root: Path, cases: list[Case], workers: int) -> Outcome:
    started = time.perf_counter()
    shards = [cases[i::workers] for i in range(workers)]
    procs = []
    for n, shard in enumerate(shards):
        manifest, log = root / f"cases-{n}.jsonl", root / f"log-{n}.jsonl"
        manifest.write_text("".join(json.dumps(asdict(c)) + "\n" for c in shard))
        cmd = [sys.executable, "-m", "test_robustness", str(manifest), str(log)]
        # Not a pipe: a child whose pipe fills (libraries warn about damaged files) would stall.
        with (root / f"stderr-{n}.txt").open("w") as stderr:
            procs.append((subprocess.Popen(cmd, env=_child_env(), stderr=stderr, text=True), log))
    records: dict[str, dict[str, Any]] = {}
    crashes = []
    deadline = time.monotonic() + RUN_TIMEOUT_S
    for n, (proc, log) in enumerate(procs):
        try:
            proc.wait(timeout=max(1.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        stderr = (root / f"stderr-{n}.txt").read_text(errors="replace")
        lines = log.read_text().splitlines() if log.exists() else []
        last_started = None
        for line in lines:
            if not line.startswith("{"):
                continue
            row = json.loads(line)
            if "start" in row:
                last_started = row["start"]
            else:
                records[row["id"]] = row
                last_started = None
        if proc.returncode != 0 or last_started is not None:
            dump = "\n".join(line for line in lines if not line.startswith("{"))[-3000:]
            crashes.append(
                f"child exit {proc.returncode} during case {last_started}:\n{dump}\n{stderr[-3000:]}"
            )
    return Outcome(cases, records, crashes, root, time.perf_counter() - started)


@pytest.fixture(scope="module")
def outcome(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Outcome]:
    root = tmp_path_factory.mktemp("robust")
    made = time.perf_counter()
    cases = make_cases(root)
    generated = time.perf_counter() - made
    result = run_all(root, cases, workers=max(1, min(2, os.cpu_count() or 1)))
    _report(result, generated)
    yield result
    shutil.rmtree(root / "out", ignore_errors=True)


def _report(result: Outcome, generated: float) -> None:
    from conftest import REPORTS

    tally: dict[tuple[str, str], Counter[str]] = {}
    for case in result.cases:
        record = result.records.get(case.id)
        ends = record["ends"] if record else {}
        for op in ENDINGS:
            end = ends.get(op, "not run")
            if record and record["problems"] and any(p.startswith(op) for p in record["problems"]):
                end += " (BAD)"
            tally.setdefault((case.kind, op), Counter())[end] += 1
    mutations = Counter(c.mutation.split("+")[0] for c in result.cases)
    lines = [
        f"{len(result.cases)} damaged inputs, {len(result.records)} run, in {result.seconds:.0f} s "
        f"(+{generated:.1f} s to generate), seed {SEED}",
        "damage: " + ", ".join(f"{m} {n}" for m, n in sorted(mutations.items())),
    ]
    for kind in EXTENSIONS:
        count = sum(c.kind == kind for c in result.cases)
        parts = [
            f"{op} " + ", ".join(f"{e} {n}" for e, n in sorted(tally.get((kind, op), Counter()).items()))
            for op in ENDINGS
        ]
        lines.append(f"{kind:5} {count:4}: " + " | ".join(parts))
    seconds = [s for r in result.records.values() for s in r["seconds"].values()]
    if seconds:
        lines.append(
            f"slowest operation {max(seconds):.2f} s, median {float(np.median(seconds)) * 1000:.0f} ms"
        )
    text = "\n".join(lines)
    print("\n" + text)
    REPORTS.append(("robustness: damaged inputs by kind and how each operation ended", text))


def _problems(outcome: Outcome, kind: str | None = None) -> list[str]:
    found = list(outcome.crashes) if kind is None else []
    for case in outcome.cases:
        if kind is not None and case.kind != kind:
            continue
        record = outcome.records.get(case.id)
        if record is None:
            found.append(f"{case.id} ({case.mutation}): never finished")
        elif record["problems"]:
            found += [f"{case.id} ({case.mutation}, {case.name}): {p}" for p in record["problems"]]
    return found


@pytest.mark.slow
def test_at_least_2000_damaged_inputs_all_end_cleanly(outcome: Outcome) -> None:
    assert len(outcome.cases) >= 2000
    assert outcome.crashes == [], "\n".join(outcome.crashes)
    assert len(outcome.records) == len(outcome.cases)
    # Damage must not only ever fail: undamaged files and many damaged ones are still protected.
    ends = Counter(r["ends"].get("protect") for r in outcome.records.values())
    assert ends["protected"] >= 200 and ends["failed"] + ends["refused"] >= 500, ends


@pytest.mark.slow
@pytest.mark.parametrize("kind", list(EXTENSIONS))
def test_each_kind_ends_cleanly(outcome: Outcome, kind: str) -> None:
    problems = _problems(outcome, kind)
    assert problems == [], f"{len(problems)} problem(s):\n" + "\n".join(problems[:30])
    ends = {
        outcome.records.get(c.id, {}).get("ends", {}).get("protect") for c in outcome.cases if c.kind == kind
    }
    assert "protected" in ends, f"no {kind} input was protected at all: the seed itself is broken"


@pytest.mark.slow
def test_inputs_are_byte_identical_and_no_temporary_file_is_left(outcome: Outcome) -> None:
    for case in outcome.cases:
        path = outcome.root / "in" / case.name
        assert hashlib.sha256(path.read_bytes()).hexdigest() == case.sha256, case
    assert sorted(p.name for p in (outcome.root / "in").iterdir()) == sorted(c.name for c in outcome.cases)
    assert [p for p in outcome.root.rglob("*.part")] == []


def test_a_closing_index_that_fails_keeps_the_reason_the_copy_failed(tmp_path: Path) -> None:
    """Seed 16's case: a MOV whose fourth frame is shown 2**31 ticks late (its ``ctts`` entry).  The
    muxer refused a packet, then the copy's closing index too, and that second error, raised while
    cleaning up, hid the first and escaped as a traceback."""
    from conftest import produced, run_cli

    data = bytearray(video_seed("mov", tmp_path / "seed.mov", audio=True))
    struct.pack_into(">I", data, data.find(b"ctts") + 16 + 8 * 3, 2**31)
    damaged = tmp_path / "in" / "damaged.mov"
    damaged.parent.mkdir()
    damaged.write_bytes(bytes(data))
    run = run_cli("strip", damaged, "-o", tmp_path / "out", "--json")
    assert run.code == 1 and "Traceback" not in run.stderr, run.stderr
    (record,) = run.records()
    assert record["status"] == "failed" and "cannot copy the streams" in record["error"], record
    assert produced(tmp_path / "out", recursive=True) == []


# --- the same files through the real command line ----------------------------------------------


@pytest.mark.slow
def test_command_line_sample_never_shows_a_traceback(outcome: Outcome, tmp_path: Path) -> None:
    from conftest import REPORTS, produced, run_cli

    rng = random.Random(SEED + 1)
    sample = []
    for kind in EXTENSIONS:
        of_kind = [c for c in outcome.cases if c.kind == kind]
        sample += of_kind[:2] + rng.sample(of_kind[2:], CLI_SAMPLE_PER_KIND - 2)
    inputs = tmp_path / "in"
    inputs.mkdir()
    for case in sample:
        shutil.copyfile(outcome.root / "in" / case.name, inputs / case.name)
    lines = []
    for command in ("protect", "strip", "check"):
        out = tmp_path / command
        args = (command, inputs, "--json") if command == "check" else (command, inputs, "-o", out, "--json")
        started = time.perf_counter()
        run = run_cli(*args, timeout=600, env={**os.environ, "OMP_NUM_THREADS": "1"})  # YuNet's OpenMP
        seconds = time.perf_counter() - started
        assert "Traceback" not in run.stderr, run.stderr
        assert run.code in (0, 1, 3), run.stderr
        records = run.records()
        assert len(records) == len(sample), run.stdout
        lines_out = [line for line in run.stderr.splitlines() if line.strip()]
        errors = [line for line in lines_out if line.startswith("error:")]
        # With --json, stderr holds one line per failed file and nothing else: no warning, no noise.
        assert errors == lines_out, run.stderr
        for record in records:
            assert record["status"] in ENDINGS[command], record
            if record["status"] in ("failed", "refused", "unverified"):
                assert record["error"] and "\n" not in record["error"], record
                assert not record["error"].startswith("internal error"), record
                assert any(line.startswith(f"error: {record['path']}: ") for line in errors), record
            elif command != "check":
                assert Path(record["output"]).is_file(), record
        if command != "check":
            written = (
                sorted(p.name for p in produced(out, recursive=True) if p.is_file()) if out.exists() else []
            )
            wanted = sorted(Path(r["output"]).name for r in records if r["output"])
            assert written == wanted, "a file left beside the outputs"
        ends = Counter(r["status"] for r in records)
        lines.append(
            f"unseen {command}: {len(records)} files in {seconds:.1f} s, exit {run.code}: {dict(ends)}"
        )
    for case in sample:
        assert hashlib.sha256((inputs / case.name).read_bytes()).hexdigest() == case.sha256
    REPORTS.append(("robustness: a sample through the command line", "\n".join(lines)))


if __name__ == "__main__":
    child(Path(sys.argv[1]), Path(sys.argv[2]))
