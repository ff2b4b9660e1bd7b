"""Opus packets without their padding, which decoders skip whatever it holds.

A packet of several frames (code 3, RFC 6716 section 3.2.5) may end in
padding: an encoder holding a constant rate fills it with zeros, but any bytes
there play the same, so a name or a place put into it travels through a copy
where no tag and no decoder sees it.  `unpadded` gives the packet without it
(the same frames, the same sound); `padded_with_data` tells `check` that
padding holds something other than zeros.

Only a stream of one Opus stream is read so (`single`): in a multistream
packet (surround sound) every stream but the last is framed differently
(self-delimiting, RFC 6716 appendix B), and its padding is not touched.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from .packets import replaced

if TYPE_CHECKING:
    from av.packet import Packet as _Packet
    from av.stream import Stream

    Packet = _Packet[Stream]

PADDED = "padding that is not zeros"  # what `check` names


def single(setup: bytes) -> bool:
    """Whether the OpusHead ``setup`` (as FFmpeg gives it) describes a single Opus stream."""
    if len(setup) < 19 or not setup.startswith(b"OpusHead"):
        return False
    return setup[18] == 0 or (len(setup) > 19 and setup[19] == 1)


def _padding(data: bytes) -> tuple[int, int] | None:
    """(where the frames begin, how long the padding at the end is) of a code 3 packet with
    padding; None for any other packet, or one whose padding is longer than what follows it."""
    if len(data) < 2 or data[0] & 3 != 3 or not data[1] & 0x40:
        return None
    at, length = 2, 0
    while at < len(data):
        step = data[at]
        at += 1
        length += 254 if step == 255 else step
        if step != 255:
            return (at, length) if length <= len(data) - at else None
    return None


def unpadded(data: bytes) -> bytes:
    """``data`` without its padding and the bytes that state its length, or as it is."""
    found = _padding(data)
    if found is None:
        return data
    at, length = found
    return bytes([data[0], data[1] & ~0x40]) + data[at : len(data) - length]


def padded_with_data(data: bytes) -> bool:
    found = _padding(data)
    return found is not None and any(data[len(data) - found[1] :])


def without_padding(packet: Packet) -> Iterator[Packet]:
    """``packet`` of a single Opus stream without its padding, or as it is."""
    data = bytes(packet)
    lean = unpadded(data)
    yield packet if lean is data else replaced(packet, lean)
