"""Decoder setups that an MP4 track carries beside its frames, judged by what they may hold.

exiftool shows these boxes as opaque values (``AVCConfiguration``,
``Unknown_dfLa``, ``Unknown_vpcC``), so an allowlist of tag names alone would
pass any bytes put into them.  Each is allowed only in its plain form: H.264's
``avcC`` holds its sequence and picture parameter sets (and, beyond the Baseline,
Main and Extended profiles, four fixed bytes and sequence parameter set extensions), FLAC's
``dfLa`` its stream information (and zero padding; a comment or picture block
is metadata), VP9's ``vpcC`` its fixed fields with no initialisation data,
AC-3's ``dac3`` and E-AC-3's ``dec3`` (camcorders' and broadcasts' sound) their
fields with the reserved bits zero and nothing after them, ALAC's ``alac`` and
Opus's ``dOps`` their fixed fields (and Opus's channel mapping) and nothing after.
HEVC's and AV1's are judged in `hevc` and `units`.
"""

from __future__ import annotations

# Profiles whose avcC has no extension (Baseline, Main, Extended); every other one may have it.
_PLAIN_PROFILES = frozenset({66, 77, 88})


def avc(setup: bytes) -> bool:
    if len(setup) < 6 or setup[0] != 1:
        return False
    at = _units(setup, 5, 0x1F, 7)  # sequence parameter sets
    at = _units(setup, at, 0xFF, 8)  # picture parameter sets
    if 0 <= at < len(setup) and setup[1] not in _PLAIN_PROFILES:
        at = _units(setup, at + 3, 0xFF, 13)  # after chroma format and bit depths: SPS extensions
    return at == len(setup)


def _units(setup: bytes, at: int, mask: int, kind: int) -> int:
    """Past a count (``mask`` of one byte) of length-prefixed NAL units of type ``kind``; -1 if not."""
    if at < 0 or at >= len(setup):
        return -1
    count, at = setup[at] & mask, at + 1
    for _ in range(count):
        size = int.from_bytes(setup[at : at + 2], "big")
        unit = setup[at + 2 : at + 2 + size]
        if at + 2 > len(setup) or len(unit) != size or not unit or unit[0] & 0x1F != kind:
            return -1
        at += 2 + size
    return at


def flac(setup: bytes) -> bool:
    """``dfLa``: version and flags, then FLAC metadata blocks, the last one flagged."""
    at, last = 4, False
    while not last:
        if at + 4 > len(setup):
            return False
        last, kind = bool(setup[at] & 0x80), setup[at] & 0x7F
        size = int.from_bytes(setup[at + 1 : at + 4], "big")
        body = setup[at + 4 : at + 4 + size]
        if len(body) != size or not (kind == 0 or (kind == 1 and not any(body))):
            return False
        at += 4 + size
    return len(setup) >= 4 and at == len(setup)


def vp9(setup: bytes) -> bool:
    """``vpcC`` version 1 (12 bytes) or the older version 0 (10), with no initialisation data."""
    return len(setup) >= 10 and len(setup) == (12 if setup[0] == 1 else 10) and setup[-2:] == b"\0\0"


def ac3(setup: bytes) -> bool:
    """``dac3`` (ETSI TS 102 366 annex F): 19 bits of fields, then 5 reserved bits."""
    return len(setup) == 3 and not setup[2] & 0x1F


def eac3(setup: bytes) -> bool:
    """``dec3``: a data rate and substream count, then each independent substream's fields (three
    bytes, four with its dependent substreams' channel locations), then at most the flag and
    complexity byte of object audio."""
    if len(setup) < 5:
        return False
    at = 2
    for _ in range((setup[1] & 0x07) + 1):
        if at + 3 > len(setup) or setup[at] & 0x01 or setup[at + 2] & 0xE0:  # reserved bits
            return False
        dependent = setup[at + 2] >> 1 & 0x0F
        if not dependent and setup[at + 2] & 0x01:
            return False
        at += 4 if dependent else 3
    rest = setup[at:]
    return rest in (b"", b"\0") or (len(rest) == 2 and rest[0] == 1)


def alac(setup: bytes) -> bool:
    """``alac``: version and flags (zero), then the 24 bytes of ALAC's settings."""
    return len(setup) == 28 and setup[:4] == bytes(4)


def opus(setup: bytes) -> bool:
    """``dOps`` version 0: 11 bytes of fields, then for a mapping family other than 0 the stream
    counts and a byte per channel."""
    if len(setup) < 11 or setup[0] != 0:
        return False
    return len(setup) == (11 if setup[10] == 0 else 13 + setup[1])
