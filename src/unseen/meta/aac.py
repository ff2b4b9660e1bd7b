"""AAC's decoder setup (AudioSpecificConfig, in MP4's ``esds``): read to its last field, so that
nothing rides along.

A setup whose channel configuration is 0 describes its channels in a program
config element, which ends in up to 255 bytes of free text that players
ignore; and a decoder stops at the setup's last field, so bytes after it can
hold anything.  Neither exiftool nor FFmpeg's tags show either.  A copied
stream keeps its setup with the comment emptied and cut after its last field
(`plain`), and a file whose setup holds more is not clean (`judged`).  The
general audio object types are read (AAC Main, LC, SSR, LTP, HE-AAC v1 and v2,
and the error-resilient ones without error protection); a setup of another
type is not copied.  (A program config or data element inside the frames may
carry text as well; only a decoder's parse finds it there.)
"""

from __future__ import annotations

from dataclasses import dataclass

# Object types whose setup is GASpecificConfig, the one that holds a program config.
_GENERAL_AUDIO = frozenset({1, 2, 3, 4, 6, 7, 17, 19, 20, 21, 22, 23})
_ERROR_RESILIENT = frozenset({17, 19, 20, 21, 22, 23})
_EXPLICIT_SBR = frozenset({5, 29})  # HE-AAC v1 and v2 signalled before the core's own type
_SBR_SYNC, _PS_SYNC = 0x2B7, 0x548


class _Bits:
    def __init__(self, data: bytes) -> None:
        self.value, self.size, self.at = int.from_bytes(data, "big"), 8 * len(data), 0

    def read(self, n: int) -> int:
        if self.at + n > self.size:
            raise ValueError("AAC setup cut short")
        self.at += n
        return self.value >> (self.size - self.at) & ((1 << n) - 1)

    def left(self) -> int:
        return self.size - self.at

    def object_type(self) -> int:
        kind = self.read(5)
        return 32 + self.read(6) if kind == 31 else kind

    def rate(self) -> None:
        if self.read(4) == 15:
            self.read(24)

    def sync(self, mark: int, need: int) -> bool:
        """Whether the next 11 bits are the extension ``mark`` (read if so, left if not)."""
        if self.left() < need:
            return False
        if self.read(11) == mark:
            return True
        self.at -= 11
        return False


@dataclass(frozen=True)
class Parsed:
    comment: tuple[int, int] | None  # bytes [start, end) of the comment, its length byte first
    end: int  # bits the setup's fields take


def read(setup: bytes) -> Parsed:
    """The setup's comment and end; `ValueError` when it is cut short or of a type not read here."""
    bits = _Bits(setup)
    kind = bits.object_type()
    bits.rate()
    channels = bits.read(4)
    explicit = kind in _EXPLICIT_SBR
    if explicit:
        bits.rate()
        kind = bits.object_type()
        if kind == 22:
            bits.read(4)
    if kind not in _GENERAL_AUDIO:
        raise ValueError(f"AAC object type {kind} is not read here")
    comment = _general(bits, kind, channels)
    if kind in _ERROR_RESILIENT and bits.read(2) in (2, 3):
        raise ValueError("AAC error protection is not read here")
    if not explicit and bits.sync(_SBR_SYNC, 16):
        _sbr_extension(bits)
    return Parsed(comment, bits.at)


def _general(bits: _Bits, kind: int, channels: int) -> tuple[int, int] | None:
    """GASpecificConfig; returns the program config's comment span, if there is one."""
    bits.read(1)  # frame length
    if bits.read(1):  # depends on a core coder: its delay
        bits.read(14)
    extension = bits.read(1)
    comment = _program_config(bits) if channels == 0 else None
    if kind in (6, 20):
        bits.read(3)  # layer
    if extension:
        if kind == 22:
            bits.read(16)  # sub-frames and layer length
        if kind in (17, 19, 20, 23):
            bits.read(3)  # resilience flags
        bits.read(1)  # extension flag 3
    return comment


def _program_config(bits: _Bits) -> tuple[int, int]:
    bits.read(4 + 2 + 4)  # instance tag, object type, rate index
    front, side, back = bits.read(4), bits.read(4), bits.read(4)
    lfe, data, coupling = bits.read(2), bits.read(3), bits.read(4)
    for width in (4, 4, 3):  # mono and stereo mixdown, matrix mixdown
        if bits.read(1):
            bits.read(width)
    bits.read(5 * (front + side + back) + 4 * (lfe + data) + 5 * coupling)
    bits.read(-bits.at % 8)  # byte alignment, from the start of the setup
    start = bits.at // 8
    length = bits.read(8)
    bits.read(8 * length)
    return start, start + 1 + length


def _sbr_extension(bits: _Bits) -> None:
    """The backward-compatible signal of HE-AAC (v2) after the core's setup."""
    extension = bits.object_type()
    if extension == 5 and bits.read(1):
        bits.rate()
        if bits.sync(_PS_SYNC, 12):
            bits.read(1)
    elif extension == 22:
        if bits.read(1):
            bits.rate()
        bits.read(4)


def judged(setup: bytes) -> str | None:
    """Why ``setup`` is not plain (a comment, bytes after its fields, or unreadable); None if plain."""
    try:
        parsed = read(setup)
    except ValueError as exc:
        return str(exc)
    if parsed.comment is not None and parsed.comment[1] - parsed.comment[0] > 1:
        return "a program config comment"
    left = 8 * len(setup) - parsed.end
    if int.from_bytes(setup, "big") & ((1 << left) - 1):
        return f"{-(-left // 8)} byte(s) after its fields"
    return None


def plain(setup: bytes) -> bytes:
    """``setup`` with its comment emptied, cut after its last field (spare bits zero).  `ValueError`
    when it cannot be read."""
    parsed = read(setup)
    end = parsed.end
    if parsed.comment is not None:
        start, stop = parsed.comment
        setup, end = setup[:start] + b"\x00" + setup[stop:], end - 8 * (stop - start - 1)
    kept = setup[: -(-end // 8)]
    spare = 8 * len(kept) - end
    return kept[:-1] + bytes([kept[-1] & (0xFF << spare) & 0xFF]) if spare else kept
