"""Opus packets without their padding, which decoders skip whatever it holds.

A packet of several frames (code 3, RFC 6716 section 3.2.5) may end in
padding: an encoder holding a constant rate fills it with zeros, but any bytes
there play the same, so a name or a place put into it travels through a copy
where no tag and no decoder sees it.  `unpadded` gives the packet without it
(the same frames, the same sound); `padded_with_data` tells `check` that
padding holds something other than zeros.

Surround sound is several Opus streams in one packet (`streams`): each but the
last is framed so that it states its own length (RFC 6716 appendix B), and
each may be padded.  A packet that does not parse is left as it is: the
decoder judges it.
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


def streams(setup: bytes) -> int:
    """How many Opus streams each packet holds, per the OpusHead ``setup`` FFmpeg gives; 0 if
    it cannot be read."""
    if len(setup) < 19 or not setup.startswith(b"OpusHead"):
        return 0
    if setup[18] == 0:
        return 1
    return setup[19] if len(setup) > 19 else 0


def _length(data: bytes, at: int) -> tuple[int, int]:
    """A frame length (one or two bytes) at ``at``, and where what follows it begins."""
    if data[at] < 252:
        return data[at], at + 1
    return data[at] + 4 * data[at + 1], at + 2


def _one(data: bytes, at: int, delimited: bool) -> tuple[bytes, int, bool]:
    """The packet of one stream at ``at`` without its padding, where it ends, and whether its
    padding held anything but zeros.  Raises IndexError or ValueError if it does not parse."""
    toc, code, pos = data[at], data[at] & 3, at + 1
    if code != 3:
        if not delimited:
            return data[at:], len(data), False
        sizes = []
        for _ in range(2 if code == 2 else 1):
            size, pos = _length(data, pos)
            sizes.append(size)
        end = pos + sum(sizes) * (2 if code == 1 else 1)
        if end > len(data):
            raise ValueError("frames past the packet")
        return data[at:end], end, False
    count, pos = data[pos], pos + 1
    padding = 0
    while count & 0x40:
        step, pos = data[pos], pos + 1
        padding += 254 if step == 255 else step
        if step != 255:
            break
    lengths_at, sizes = pos, []
    for _ in range((count & 0x3F) - 1 if count & 0x80 else 0):
        size, pos = _length(data, pos)
        sizes.append(size)
    if delimited:
        size, pos = _length(data, pos)
        frames = sum(sizes) + size if count & 0x80 else size * (count & 0x3F)
    else:
        frames = len(data) - pos - padding
    end = pos + frames
    if frames < 0 or end + padding > len(data):
        raise ValueError("padding past the packet")
    lean = bytes([toc, count & ~0x40 & 0xFF]) + data[lengths_at:end]
    return lean, end + padding, any(data[end : end + padding])


def _parts(data: bytes, count: int) -> tuple[bytes, bool]:
    """``data`` (``count`` streams) without padding, and whether any padding held data."""
    at, lean, held = 0, [], False
    for n in range(count):
        part, at, data_in = _one(data, at, delimited=n < count - 1)
        lean.append(part)
        held |= data_in
    return b"".join(lean), held


def unpadded(data: bytes, count: int = 1) -> bytes:
    """``data`` without its padding and the bytes that state its length, or as it is."""
    try:
        lean, _ = _parts(data, count)
    except (IndexError, ValueError):
        return data
    return data if lean == data else lean


def padded_with_data(data: bytes, count: int = 1) -> bool:
    try:
        return _parts(data, count)[1]
    except (IndexError, ValueError):
        return False


def without_padding(packet: Packet, count: int) -> Iterator[Packet]:
    """``packet`` of ``count`` Opus streams without their padding, or as it is."""
    data = bytes(packet)
    lean = unpadded(data, count)
    yield packet if lean is data else replaced(packet, lean)
