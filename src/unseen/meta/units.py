"""The units of a copied picture stream: the kinds a picture needs are kept, every other kind goes.

H.264 and HEVC frames are sequences of NAL units, AV1 frames of OBUs, each
with a type number.  Decoders skip the types they do not know, so an
unspecified or reserved type, filler, or an AV1 metadata or padding OBU can
carry any bytes, text included, where neither exiftool nor FFmpeg's tags look
(a file with a name and a place in a NAL unit of type 31 passed `check` and
kept it through `strip`).  So a copy keeps an allowlist (`KEPT`, through
FFmpeg's ``filter_units``), and `strays` lists what a file holds beyond it.

`check` also allows SEI (`CHECKED`): every H.264 that x264 writes, protect's
own outputs among them, carries x264's settings there.  Its content is not
read; `strip` removes it all the same.  What is not seen here: bytes hidden
after a slice's data inside a kept unit, which only a decoder's parse would find.
"""

from __future__ import annotations

from collections.abc import Iterator

# H.264: slices (1 and 5: not the data partitions 2-4, which only the Extended profile uses and
# FFmpeg does not decode), sequence and picture parameter sets.  Dropped besides SEI (6): access
# unit delimiters and end markers (9-11: not needed in MP4, and bytes after their few bits are
# skipped), filler (12), the extensions of scalable, multiview and 3D video (13-15, 19-21; a player
# shows their base picture without them), and the reserved and unspecified types.
_H264 = frozenset({1, 5, 7, 8})
# HEVC: slices (0-9; 16-21 at random access points), the video, sequence and picture parameter
# sets.  Dropped besides SEI (39, 40): the delimiter and end markers (35-37), filler (38), the
# reserved and the unspecified types (Dolby Vision's RPU is 62: its dynamic range metadata goes,
# the picture stays).
_HEVC = frozenset(range(0, 10)) | frozenset(range(16, 22)) | frozenset(range(32, 35))
# AV1: sequence header, temporal delimiter, frame header, tile group, frame, redundant frame
# header.  Dropped: metadata (5), tile list (8) and padding (15).
_AV1 = frozenset({1, 2, 3, 4, 6, 7})
KEPT = {"h264": _H264, "hevc": _HEVC, "av1": _AV1}
CHECKED = {"h264": _H264 | {6}, "hevc": _HEVC | {39, 40}, "av1": _AV1}
# Kinds `check` allows at their standard size only (header included): a delimiter's one byte of
# picture type, an end marker's header alone.  Other encoders write them; more bytes hold text.
SIZED = {"h264": {9: 2, 10: 1, 11: 1}, "hevc": {35: 3, 36: 2, 37: 2}, "av1": {}}


# FFmpeg's filters that read each parameter set field by field and write it again: what follows
# the fields (text, say: a decoder reads no further) is not written, in the decoder setup either.
REWRITTEN = {"h264": "h264_metadata", "hevc": "hevc_metadata", "av1": "av1_metadata"}
# The parameter sets those filters write again: H.264's sequence and picture parameter sets,
# HEVC's video, sequence and picture parameter sets, AV1's sequence header.
PARAMETER_SETS = {"h264": frozenset({7, 8}), "hevc": frozenset({32, 33, 34}), "av1": frozenset({1})}
# The most bytes an AV1 sequence header's fields and trailing bits take: 32 operating points, each
# with every option, come to under 400.
SEQUENCE_HEADER_MOST = 512
# Different sequence headers the filter refuses at every length that a stream's are searched for:
# each costs up to SEQUENCE_HEADER_MOST tries (10,000 packets of them held `check` 31 s on 6.6 MB).
# Encoders repeat one header; past these, a header the filter refuses whole counts as longer.
SEQUENCE_HEADERS_REFUSED = 16


def kept_only(codec: str) -> str | None:
    """The bitstream filters that keep only `KEPT`'s units of ``codec``, their parameter sets
    written afresh (`REWRITTEN`); None for other codecs."""
    kept = KEPT.get(codec)
    if kept is None:
        return None
    return "filter_units=pass_types=" + "|".join(map(str, sorted(kept))) + "," + REWRITTEN[codec]


def strays(codec: str, packet: bytes, setup: bytes) -> set[int]:
    """The unit types in ``packet`` that `CHECKED` does not allow; -1 when its units do not add up.

    ``setup`` is the stream's decoder setup: for H.264 and HEVC in MP4 or Matroska
    (``avcC``, ``hvcC``) it gives the size of the length before each unit; without
    one the units are separated by start codes (MPEG-TS, raw streams).
    """
    allowed = CHECKED.get(codec)
    if allowed is None:
        return set()
    sized = SIZED[codec]
    try:
        return {
            kind
            for kind, size in _types(codec, packet, setup)
            if kind not in allowed and size > sized.get(kind, -1)
        }
    except ValueError:
        return {-1}


def opens_at_idr(packet: bytes, setup: bytes) -> bool:
    """Whether an H.264 packet holds an IDR picture.  A stream whose first picture is another kind
    (an open GOP cut without encoding again) decodes only from the recovery point an SEI names,
    and a copy keeps no SEI: decoders then drop every frame.  Units that do not add up count as an
    opening here; the copy's own checks judge them."""
    try:
        return any(kind == 5 for kind, _ in _types("h264", packet, setup))
    except ValueError:
        return True


def _types(codec: str, packet: bytes, setup: bytes) -> Iterator[tuple[int, int]]:
    """(type, size) of each unit of ``packet``."""
    if codec == "av1":
        yield from ((kind, 0) for kind in _obu_types(packet))
        return
    yield from ((kind, len(unit)) for kind, unit in nal_units(codec, packet, setup))


def nal_units(codec: str, packet: bytes, setup: bytes) -> Iterator[tuple[int, bytes]]:
    """(type, unit) of each H.264 or HEVC unit of ``packet`` (``setup`` as in `strays`)."""
    length = _length_size(codec, setup)
    units = _prefixed(packet, length) if length else delimited(packet)
    for unit in units:
        if unit:
            yield (unit[0] & 0x1F if codec == "h264" else (unit[0] >> 1) & 0x3F), unit


def parameter_sets(codec: str, packet: bytes, setup: bytes) -> list[bytes]:
    """The parameter sets of ``packet`` without the zeros that may follow them: H.264's and HEVC's
    units, AV1's sequence headers' payloads (what follows an OBU's header and size)."""
    kinds = PARAMETER_SETS[codec]
    found = _obus(packet) if codec == "av1" else nal_units(codec, packet, setup)
    return [unit.rstrip(b"\0") for kind, unit in found if kind in kinds]


def sequence_header(payload: bytes) -> bytes:
    """An AV1 sequence header OBU of ``payload``, with its size."""
    size = bytearray()
    n = len(payload)
    while n >= 0x80:
        size.append(n & 0x7F | 0x80)
        n >>= 7
    return bytes([1 << 3 | 2, *size, n]) + payload


def av1_config(setup: bytes) -> bytes:
    """The OBUs of AV1's decoder setup (``av1C``: 4 bytes, then OBUs); none in another."""
    return setup[4:] if setup[:1] == b"\x81" else b""


def setup_holds(setup: bytes, unit: bytes) -> bool:
    """Whether the decoder setup ``setup`` holds ``unit`` whole: in ``avcC`` and ``hvcC`` after its
    two-byte length, in start-code form between start codes."""
    if setup[:1] == b"\x01":
        return len(unit).to_bytes(2, "big") + unit in setup
    return unit in (u.rstrip(b"\0") for u in delimited(setup))


def _length_size(codec: str, setup: bytes) -> int:
    """Bytes in each unit's length (1, 2 or 4) from avcC or hvcC; 0 for start codes."""
    at = {"h264": 4, "hevc": 21}[codec]
    if setup[:1] != b"\x01" or len(setup) <= at:
        return 0
    return (setup[at] & 0x03) + 1


def _prefixed(data: bytes, size: int) -> Iterator[bytes]:
    at = 0
    while at < len(data):
        if at + size > len(data):
            raise ValueError("a unit's length cut short")
        n = int.from_bytes(data[at : at + size], "big")
        at += size
        if at + n > len(data):
            raise ValueError("a unit longer than its packet")
        yield data[at : at + n]
        at += n


def delimited(data: bytes) -> Iterator[bytes]:
    """The units of start-code form (``00 00 01`` before each), without the zeros between them."""
    for part in data.split(b"\x00\x00\x01")[1:]:
        yield part.rstrip(b"\x00")


def _obu_types(data: bytes) -> Iterator[int]:
    """The types of the OBUs in ``data`` (AV1's low-overhead format, as MP4 and Matroska hold it)."""
    return (kind for kind, _ in _obus(data))


def _obus(data: bytes) -> Iterator[tuple[int, bytes]]:
    """(type, payload) of each OBU in ``data``."""
    at = 0
    while at < len(data):
        header = data[at]
        at += 2 if header & 0x04 else 1  # an extension byte follows
        if not header & 0x02:  # no size field: the OBU runs to the end
            yield (header >> 3) & 0x0F, data[at:]
            return
        size, at = _leb128(data, at)
        if at + size > len(data):
            raise ValueError("an OBU longer than its packet")
        yield (header >> 3) & 0x0F, data[at : at + size]
        at += size


def _leb128(data: bytes, at: int) -> tuple[int, int]:
    value = 0
    for i in range(8):
        if at >= len(data):
            raise ValueError("an OBU size cut short")
        byte = data[at]
        at += 1
        value |= (byte & 0x7F) << (7 * i)
        if not byte & 0x80:
            return value, at
    raise ValueError("an OBU size over 8 bytes")


def av1_setup_clean(av1c: bytes) -> bool:
    """Whether AV1's decoder setup (``av1C``: 4 bytes, then OBUs) holds sequence headers only."""
    if len(av1c) < 4 or av1c[0] != 0x81:
        return False
    try:
        return set(_obu_types(av1c[4:])) <= {1}
    except ValueError:
        return False
