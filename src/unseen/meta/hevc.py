"""HEVC's decoder setup (``hvcC``): its parameter sets are needed to play the picture, its SEI units are not.

An encoder writes SEI units there as well as in the frames (x265 its whole
command line; a phone or an app anything it likes).  A copied stream keeps
only the arrays of video, sequence and picture parameter sets, and a file
whose setup holds anything else is not clean.
"""

from __future__ import annotations

from . import units

PARAMETER_SETS = units.PARAMETER_SETS["hevc"]  # VPS, SPS, PPS
_HEAD = 22  # configuration fields before the count of arrays


def _arrays(hvcc: bytes) -> list[tuple[int, bytes]]:
    """(NAL unit type, whole array bytes) of each array; `ValueError` on a setup cut short."""
    if len(hvcc) <= _HEAD:
        raise ValueError("hvcC too short")
    found, at = [], _HEAD + 1
    for _ in range(hvcc[_HEAD]):
        start = at
        if at + 3 > len(hvcc):
            raise ValueError("hvcC array cut short")
        kind, count = hvcc[at] & 0x3F, int.from_bytes(hvcc[at + 1 : at + 3], "big")
        at += 3
        for _ in range(count):
            if at + 2 > len(hvcc):
                raise ValueError("hvcC unit cut short")
            at += 2 + int.from_bytes(hvcc[at : at + 2], "big")
        if at > len(hvcc):
            raise ValueError("hvcC unit cut short")
        found.append((kind, hvcc[start:at]))
    if at != len(hvcc):
        raise ValueError("bytes after hvcC's arrays")
    return found


def parameter_sets_only(setup: bytes) -> bytes:
    """A decoder setup with only its parameter sets: ``hvcC`` (as MP4 stores it) or start-code units
    (as FFmpeg's SEI filter hands it on, for the muxer to turn into ``hvcC``)."""
    if setup[:1] == b"\x01":
        kept = [raw for kind, raw in _arrays(setup) if kind in PARAMETER_SETS]
        return setup[:_HEAD] + bytes([len(kept)]) + b"".join(kept)
    kept = [u for u in units.delimited(setup) if u and (u[0] >> 1) & 0x3F in PARAMETER_SETS]
    return b"".join(b"\x00\x00\x00\x01" + u for u in kept)


def holds_only_parameter_sets(hvcc: bytes) -> bool:
    try:
        return all(kind in PARAMETER_SETS for kind, _ in _arrays(hvcc))
    except ValueError:
        return False
