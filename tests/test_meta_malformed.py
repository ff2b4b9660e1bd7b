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

import io
import random
import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest
from demo import camera_exif
from PIL import Image, PngImagePlugin

import unseen.meta
from conftest import make_clip, needs_exiftool
from unseen.errors import InputError, VerificationError
from unseen.meta import exiftool, families, gif, isobmff, jpeg, pixels, png, remux, video, webp
from unseen.meta.findings import Finding, NotClean
from unseen.meta.scan import scan_own

SECRET = b"Jane Roe"  # in every sample's metadata; no file unseen writes may hold it
# The format each sample is written back as: its own, so that the lossless rewriter is tried first.
FORMATS = {"jpeg": "jpeg", "png": "png", "webp": "webp", "webp-animated": "webp", "gif": "gif", "mp4": "mp4"}
SUFFIXES = {
    "jpeg": ".jpg",
    "png": ".png",
    "webp": ".webp",
    "webp-animated": ".webp",
    "gif": ".gif",
    "mp4": ".mp4",
}
REWRITERS: dict[str, ModuleType] = {"jpeg": jpeg, "png": png, "webp": webp, "webp-animated": webp, "gif": gif}
IMAGES = tuple(REWRITERS)


# --- the undamaged samples -------------------------------------------------------------------------


def _picture(seed: int) -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (24, 32, 3), dtype=np.uint8))


def _encode(img: Image.Image, fmt: str, **options: Any) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt, **options)
    return buf.getvalue()


def _jpeg() -> bytes:
    data = _encode(_picture(0), "JPEG", exif=camera_exif(), comment=SECRET, quality=85)
    # Pillow writes no IPTC: a Photoshop APP13 segment (an IRB holding an IPTC By-line) goes in by hand.
    iptc = b"\x1c\x02\x50" + struct.pack(">H", len(SECRET)) + SECRET
    irb = b"Photoshop 3.0\0" + b"8BIM\x04\x04\0\0" + struct.pack(">I", len(iptc)) + iptc
    return data[:2] + b"\xff\xed" + struct.pack(">H", len(irb) + 2) + irb + data[2:]


def _png() -> bytes:
    info = PngImagePlugin.PngInfo()
    info.add_text("Author", SECRET.decode())
    return _encode(_picture(1), "PNG", pnginfo=info, exif=camera_exif())


def _webp(animated: bool) -> bytes:
    xmp = b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><dc:creator>' + SECRET + b"</dc:creator></x:xmpmeta>"
    frames: dict[str, Any] = {"save_all": True, "append_images": [_picture(3)]} if animated else {}
    return _encode(_picture(2), "WEBP", exif=camera_exif(), xmp=xmp, quality=80, **frames)


def _gif() -> bytes:
    return _encode(_picture(4), "GIF", comment=SECRET, save_all=True, append_images=[_picture(5)], loop=0)


def _mp4(path: Path) -> bytes:
    tags = {
        "title": SECRET.decode(),
        "location": "+52.4992+013.4264/",
        "creation_time": "2024-05-01T12:00:00Z",
    }
    return make_clip(path, tags=tags).path.read_bytes()


# --- where the length fields are -------------------------------------------------------------------


def _jpeg_segment(data: bytes, marker: int) -> int:
    """Offset of the first segment with ``marker`` (its 0xFF byte), walking the segment lengths."""
    pos = 2
    while data[pos + 1] != marker:
        pos += 2 + int.from_bytes(data[pos + 2 : pos + 4], "big")
    return pos


def _png_chunk(data: bytes, kind: bytes) -> int:
    pos = 8
    while data[pos + 4 : pos + 8] != kind:
        pos += 12 + int.from_bytes(data[pos : pos + 4], "big")
    return pos


def _riff_chunk(data: bytes, kind: bytes, pos: int = 12) -> int:
    while data[pos : pos + 4] != kind:
        size = int.from_bytes(data[pos + 4 : pos + 8], "little")
        pos += 8 + size + (size & 1)
    return pos


def _box(data: bytes, *path: bytes) -> tuple[int, int]:
    """(offset, size) of the box at ``path`` (e.g. moov, udta), walking 32-bit box sizes."""
    pos = 0
    for depth, kind in enumerate(path):
        while data[pos + 4 : pos + 8] != kind:
            pos += int.from_bytes(data[pos : pos + 4], "big")
        if depth < len(path) - 1:
            pos += 8  # into the box's children
    return pos, int.from_bytes(data[pos : pos + 4], "big")


def _gif_image(data: bytes, index: int = 0) -> int:
    """Offset of image descriptor ``index``: walks the header, colour tables, extensions and images."""
    pos = 13 + (3 << ((data[10] & 7) + 1) if data[10] & 0x80 else 0)
    while True:
        if data[pos] == 0x2C:
            if index == 0:
                return pos
            index -= 1
            local = data[pos + 9]
            pos += 11 + (3 << ((local & 7) + 1) if local & 0x80 else 0)  # and the LZW code size
        else:
            pos += 2  # extension introducer and label
        while data[pos]:
            pos += 1 + data[pos]
        pos += 1


def _gif_second_frame_data(data: bytes) -> int:
    """Offset of the second frame's LZW code size byte, right after its descriptor and colour table."""
    pos = _gif_image(data, 1)
    local = data[pos + 9]
    return pos + 10 + (3 << ((local & 7) + 1) if local & 0x80 else 0)


STSD = (b"moov", b"trak", b"mdia", b"minf", b"stbl", b"stsd")


def _put(data: bytes, offset: int, value: bytes) -> bytes:
    return data[:offset] + value + data[offset + len(value) :]


# --- the mutations ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Mutation:
    name: str
    apply: Callable[[bytes], bytes]


def cut(at: float | int) -> Mutation:
    """Keep the first ``at`` bytes (a share of the file where ``at`` is a float)."""
    name = f"cut-at-{at:.0%}" if isinstance(at, float) else f"cut-at-byte-{at}"
    return Mutation(name, lambda d: d[: int(len(d) * at)] if isinstance(at, float) else d[:at])


def flips(
    seed: int, where: str = "header", start: Callable[[bytes], int] = lambda d: 0, span: int = 48
) -> Mutation:
    """Four seeded bit flips within ``span`` bytes from ``start``."""

    def apply(data: bytes) -> bytes:
        rng, out, first = random.Random(seed), bytearray(data), start(data)
        for _ in range(4):
            out[first + rng.randrange(min(span, len(data) - first))] ^= 1 << rng.randrange(8)
        return bytes(out)

    return Mutation(f"{where}-bitflips-seed{seed}", apply)


def field(name: str, locate: Callable[[bytes], int], value: bytes) -> Mutation:
    """Overwrite the bytes at ``locate(data)`` with ``value`` (a length field, mostly)."""
    return Mutation(name, lambda d: _put(d, locate(d), value))


COMMON = [
    Mutation("empty", lambda d: b""),
    cut(1),
    cut(8),
    cut(13),
    cut(0.25),
    cut(0.5),
    cut(0.75),
    Mutation("last-byte-cut", lambda d: d[:-1]),
    *(flips(seed) for seed in range(3)),
]


def _png_ihdr_65535_square(data: bytes) -> bytes:
    """IHDR claiming 65535 x 65535 pixels, with a valid checksum: a decompression bomb's header."""
    body = b"IHDR" + struct.pack(">II", 65535, 65535) + data[24:29]
    return _put(data, 12, body + struct.pack(">I", zlib.crc32(body)))


def _moov_ends_in_empty_mvhd(data: bytes) -> bytes:
    """An 8-byte ``mvhd`` (no payload at all) as the last box of ``moov``."""
    pos, size = _box(data, b"moov")
    grown = data[: pos + size] + b"\0\0\0\x08mvhd" + data[pos + size :]
    return _put(grown, pos, struct.pack(">I", size + 8))


def _vp8x_emptied(data: bytes) -> bytes:
    """The VP8X chunk with its 10-byte payload taken out (size 0), the RIFF size to match."""
    pos = _riff_chunk(data, b"VP8X")
    body = data[8:pos] + b"VP8X\0\0\0\0" + data[pos + 18 :]
    return b"RIFF" + struct.pack("<I", len(body)) + body


def _anmf_frame(d: bytes) -> int:
    return _riff_chunk(d, b"ANMF") + 8 + 16  # past the ANMF header: its first picture chunk


SPECIFIC = {
    "jpeg": [
        field("APP1-length-0xFFFF", lambda d: _jpeg_segment(d, 0xE1) + 2, b"\xff\xff"),
        field("APP1-length-0", lambda d: _jpeg_segment(d, 0xE1) + 2, b"\0\0"),
        field("APP13-length-0xFFFF", lambda d: _jpeg_segment(d, 0xED) + 2, b"\xff\xff"),
        field("COM-length-1", lambda d: _jpeg_segment(d, 0xFE) + 2, b"\0\x01"),
        field("DQT-length-0", lambda d: _jpeg_segment(d, 0xDB) + 2, b"\0\0"),
        field("SOS-length-0xFFFF", lambda d: _jpeg_segment(d, 0xDA) + 2, b"\xff\xff"),
    ],
    "png": [
        field("tEXt-length-0xFFFFFFFF", lambda d: _png_chunk(d, b"tEXt"), b"\xff\xff\xff\xff"),
        field("eXIf-length-0", lambda d: _png_chunk(d, b"eXIf"), b"\0\0\0\0"),
        field("IHDR-length-0x7FFFFFFF", lambda d: 8, b"\x7f\xff\xff\xff"),
        field("IDAT-length-0", lambda d: _png_chunk(d, b"IDAT"), b"\0\0\0\0"),
        Mutation("IHDR-65535x65535-valid-crc", _png_ihdr_65535_square),
    ],
    "webp": [
        field("RIFF-size-0", lambda d: 4, b"\0\0\0\0"),
        field("RIFF-size-0xFFFFFFFF", lambda d: 4, b"\xff\xff\xff\xff"),
        field("EXIF-size-0xFFFFFFFF", lambda d: _riff_chunk(d, b"EXIF") + 4, b"\xff\xff\xff\xff"),
        field("XMP-size-0", lambda d: _riff_chunk(d, b"XMP ") + 4, b"\0\0\0\0"),
        field("VP8X-size-0", lambda d: 16, b"\0\0\0\0"),
        Mutation("VP8X-payload-removed", _vp8x_emptied),
    ],
    "webp-animated": [
        field("ANMF-size-0xFFFFFFFF", lambda d: _riff_chunk(d, b"ANMF") + 4, b"\xff\xff\xff\xff"),
        field("ANMF-size-0", lambda d: _riff_chunk(d, b"ANMF") + 4, b"\0\0\0\0"),
        field("ANMF-size-8", lambda d: _riff_chunk(d, b"ANMF") + 4, b"\x08\0\0\0"),
        field("ANMF-frame-size-0xFFFFFFFF", lambda d: _anmf_frame(d) + 4, b"\xff\xff\xff\xff"),
        field("VP8X-size-0", lambda d: 16, b"\0\0\0\0"),
    ],
    "gif": [
        field("comment-sub-block-0xFF", lambda d: d.index(b"\x21\xfe") + 2, b"\xff"),
        field("comment-sub-block-0", lambda d: d.index(b"\x21\xfe") + 2, b"\0"),
        field("screen-65535x65535", lambda d: 6, b"\xff\xff\xff\xff"),
        field("colour-table-flag-cleared", lambda d: 10, b"\x00"),
        Mutation("cut-in-image-descriptor", lambda d: d[: _gif_image(d) + 5]),
        Mutation("cut-before-second-frame-data", lambda d: d[: _gif_second_frame_data(d)]),
        field("image-descriptor-size-65535x65535", lambda d: _gif_image(d) + 5, b"\xff\xff\xff\xff"),
    ],
    "mp4": [
        field("moov-size-0xFFFFFFFF", lambda d: _box(d, b"moov")[0], b"\xff\xff\xff\xff"),
        field("moov-size-0", lambda d: _box(d, b"moov")[0], b"\0\0\0\0"),
        field("moov-size-1-garbage-largesize", lambda d: _box(d, b"moov")[0], b"\0\0\0\x01"),
        field("moov-size-4", lambda d: _box(d, b"moov")[0], b"\0\0\0\x04"),
        field("udta-size-0xFFFFFFFF", lambda d: _box(d, b"moov", b"udta")[0], b"\xff\xff\xff\xff"),
        field("mvhd-size-8", lambda d: _box(d, b"moov", b"mvhd")[0], b"\0\0\0\x08"),
        field("ftyp-size-3", lambda d: 0, b"\0\0\0\x03"),
        Mutation("moov-ends-in-empty-mvhd", _moov_ends_in_empty_mvhd),
        Mutation("cut-before-sample-description", lambda d: d[: _box(d, *STSD)[0]]),
        field("sample-description-size-0xFFFFFFFF", lambda d: _box(d, *STSD)[0], b"\xff\xff\xff\xff"),
        Mutation("title-not-utf8", lambda d: d.replace(SECRET, b"Jane\xff\xfe\xfd\xfc")),
        *(flips(seed, "moov", lambda d: _box(d, b"moov")[0], 256) for seed in range(3)),
    ],
}

CASES = [(sample, m) for sample, extra in SPECIFIC.items() for m in [*COMMON, *extra]]


def params(parser: str | None, samples: tuple[str, ...] | None = None) -> list[Any]:
    """One parameter per case whose sample ``parser`` reads, named parser:sample:mutation
    (``parser`` None: the sample's own rewriter module)."""
    return [
        pytest.param(sample, m.name, id=f"{parser or _module_file(sample)}:{sample}:{m.name}")
        for sample, m in CASES
        if samples is None or sample in samples
    ]


def _module_file(sample: str) -> str:
    return REWRITERS[sample].__name__.rpartition(".")[2] + ".py"


@pytest.fixture(scope="module")
def originals(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    root = tmp_path_factory.mktemp("originals")
    return {
        "jpeg": _jpeg(),
        "png": _png(),
        "webp": _webp(animated=False),
        "webp-animated": _webp(animated=True),
        "gif": _gif(),
        "mp4": _mp4(root / "tagged.mp4"),
    }


@pytest.fixture(scope="module")
def damaged(
    tmp_path_factory: pytest.TempPathFactory, originals: dict[str, bytes]
) -> dict[tuple[str, str], Path]:
    """Every case's damaged file, written once."""
    root = tmp_path_factory.mktemp("damaged")
    files = {}
    for sample, m in CASES:
        path = root / f"{sample}-{m.name}{SUFFIXES[sample]}"
        data = m.apply(originals[sample])
        assert data != originals[sample], f"{sample}:{m.name} changed nothing"
        path.write_bytes(data)
        files[sample, m.name] = path
    return files


def _findings(found: object, who: str) -> list[Finding]:
    assert isinstance(found, list), f"{who} returned {found!r}, not a list"
    assert all(isinstance(f, Finding) for f in found), who
    return found


def _refused_or_written(call: Callable[[], object], dst: Path, allowed: tuple[type[Exception], ...]) -> None:
    """``call`` writes ``dst`` without the samples' secret, or raises one of ``allowed`` with a reason."""
    try:
        call()
    except allowed as exc:
        assert str(exc).strip(), f"{type(exc).__name__} without a reason"
        return
    assert dst.is_file() and dst.stat().st_size > 0, "returned without writing a file"
    assert SECRET not in dst.read_bytes(), "the written file still holds the sample's metadata"


# --- the undamaged samples are what the cases claim ------------------------------------------------


@pytest.mark.parametrize("sample", list(SPECIFIC))
def test_samples_carry_metadata_and_clean_losslessly(
    originals: dict[str, bytes], sample: str, tmp_path: Path
) -> None:
    path = tmp_path / f"tagged{SUFFIXES[sample]}"
    path.write_bytes(originals[sample])
    assert SECRET in originals[sample]
    found = unseen.meta.scan(path, use_exiftool=False)
    assert found, f"{sample}: our own scanners see nothing in the undamaged sample"
    cleaned = unseen.meta.write_clean(path, tmp_path / f"clean{SUFFIXES[sample]}", FORMATS[sample])
    assert cleaned.how in ("rewritten", "remuxed")
    assert unseen.meta.scan(tmp_path / f"clean{SUFFIXES[sample]}", use_exiftool=False) == []


# --- each parser module ----------------------------------------------------------------------------


@pytest.mark.parametrize(("sample", "mutation"), params("families.py"))
def test_identify_names_a_family_or_refuses(
    damaged: dict[tuple[str, str], Path], sample: str, mutation: str
) -> None:
    path = damaged[sample, mutation]
    try:
        family = families.identify(path)
    except InputError as exc:  # UnsupportedError included
        assert exc.why.strip()
        return
    assert family in (*families.LOSSLESS, *families.RENDERED, families.VIDEO)


@pytest.mark.parametrize(("sample", "mutation"), params(None, IMAGES))
def test_container_rewriter_scans_and_writes_or_says_not_clean(
    damaged: dict[tuple[str, str], Path], sample: str, mutation: str, tmp_path: Path
) -> None:
    module, path = REWRITERS[sample], damaged[sample, mutation]
    _findings(module.scan(path), f"{module.__name__}.scan")
    dst = tmp_path / f"out{SUFFIXES[sample]}"
    _refused_or_written(lambda: module.write_clean(path, dst), dst, (NotClean,))
    if dst.exists():
        assert module.scan(dst) == [], "the rewriter's own scanner finds something in what it wrote"


@pytest.mark.parametrize(("sample", "mutation"), params("isobmff.py", ("mp4",)))
def test_box_scanner_lists_findings(damaged: dict[tuple[str, str], Path], sample: str, mutation: str) -> None:
    _findings(isobmff.scan(damaged[sample, mutation]), "isobmff.scan")


@pytest.mark.parametrize(("sample", "mutation"), params("video.py", ("mp4",)))
def test_ffmpeg_scan_lists_findings(damaged: dict[tuple[str, str], Path], sample: str, mutation: str) -> None:
    _findings(video.scan(damaged[sample, mutation]), "video.scan")


@pytest.mark.parametrize(("sample", "mutation"), params("remux.py", ("mp4",)))
def test_remux_writes_or_refuses(
    damaged: dict[tuple[str, str], Path], sample: str, mutation: str, tmp_path: Path
) -> None:
    dst = tmp_path / "out.mp4"
    _refused_or_written(lambda: remux.write_clean(damaged[sample, mutation], dst), dst, (InputError,))


@pytest.mark.parametrize(("sample", "mutation"), params("scan.py", IMAGES))
def test_pillow_scan_lists_findings(damaged: dict[tuple[str, str], Path], sample: str, mutation: str) -> None:
    _findings(scan_own(damaged[sample, mutation]), "scan_own")


@pytest.mark.parametrize(("sample", "mutation"), params("pixels.py", IMAGES))
def test_re_encode_writes_or_refuses(
    damaged: dict[tuple[str, str], Path], sample: str, mutation: str, tmp_path: Path
) -> None:
    src, dst = damaged[sample, mutation], tmp_path / f"out{SUFFIXES[sample]}"
    fmt = FORMATS[sample]
    _refused_or_written(lambda: pixels.write_clean(src, dst, fmt, 90, family=fmt), dst, (InputError,))


@needs_exiftool
@pytest.mark.parametrize(("sample", "mutation"), params("exiftool.py"))
def test_exiftool_judges_every_damaged_file(
    damaged: dict[tuple[str, str], Path], sample: str, mutation: str
) -> None:
    # exiftool may stop reading at the damage and see nothing (a GIF comment cut short hides
    # the rest of the file from it): it is one judge of two, so only the answer's form is tested
    # here, and `test_scan_never_calls_a_damaged_file_clean` holds the two together to account.
    _findings(exiftool.scan(damaged[sample, mutation]), "exiftool.scan")


@needs_exiftool
def test_exiftool_failing_is_a_finding(tmp_path: Path) -> None:
    # exiftool takes one argument a line: a name with a newline cannot be passed, so it is not judged.
    path = tmp_path / "two\nlines.jpg"
    path.write_bytes(_jpeg())
    assert [f.item for f in exiftool.scan(path) or []] == ["ExifTool:Error"]
    # and the session is fresh for the next file
    empty = tmp_path / "empty.jpg"
    empty.touch()
    assert "ExifTool:Error" in [f.item for f in exiftool.scan(empty) or []]


@needs_exiftool
def test_an_interrupted_question_is_not_answered_to_the_next_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ctrl-C while exiftool works leaves its answer in the kept-open session's pipe; the next file
    must get its own answer, not that one (it did: a file judged by another file's tags)."""
    first, second = tmp_path / "first.jpg", tmp_path / "second.jpg"
    for path in (first, second):
        path.write_bytes(_jpeg())
    assert (exiftool.tags(first) or {})["SourceFile"] == str(first)  # a session is running
    waiting = exiftool.select.select

    def interrupted(*args: Any) -> Any:
        monkeypatch.setattr(exiftool.select, "select", waiting)
        raise KeyboardInterrupt  # the question is asked; Ctrl-C comes while its answer is awaited

    monkeypatch.setattr(exiftool.select, "select", interrupted)
    with pytest.raises(KeyboardInterrupt):
        exiftool.tags(first)
    assert (exiftool.tags(second) or {})["SourceFile"] == str(second)


# --- the public entry points -----------------------------------------------------------------------


@pytest.mark.parametrize(("sample", "mutation"), params("meta.scan"))
def test_scan_never_calls_a_damaged_file_clean(
    damaged: dict[tuple[str, str], Path], sample: str, mutation: str
) -> None:
    path = damaged[sample, mutation]
    _findings(unseen.meta.scan(path, use_exiftool=False), "scan without exiftool")
    if exiftool.available():
        assert _findings(unseen.meta.scan(path), "scan"), "a damaged file was called clean"


@pytest.mark.parametrize(("sample", "mutation"), params("meta.write_clean"))
def test_write_clean_writes_or_raises_unseen_error(
    damaged: dict[tuple[str, str], Path], sample: str, mutation: str, tmp_path: Path
) -> None:
    src, dst = damaged[sample, mutation], tmp_path / f"out{SUFFIXES[sample]}"
    fmt = FORMATS[sample]
    _refused_or_written(lambda: unseen.meta.write_clean(src, dst, fmt), dst, (InputError, VerificationError))
