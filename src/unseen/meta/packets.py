"""A packet with other bytes and the same place in its stream, for the copies that clean packets."""

from __future__ import annotations

from typing import TYPE_CHECKING

import av

if TYPE_CHECKING:
    from av.packet import Packet as _Packet
    from av.stream import Stream

    Packet = _Packet[Stream]


def replaced(packet: Packet, data: bytes) -> Packet:
    """A packet holding ``data`` with ``packet``'s stream, times and keyframe flag."""
    out = av.packet.Packet(data)
    out.stream, out.time_base, out.is_keyframe = packet.stream, packet.time_base, packet.is_keyframe
    out.pts, out.dts, out.duration = packet.pts, packet.dts, packet.duration
    return out
