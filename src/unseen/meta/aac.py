"""AAC's decoder setup (AudioSpecificConfig, in MP4's ``esds``): its program config may end in a comment.

A setup whose channel configuration is 0 describes its channels in a program
config element, which ends in up to 255 bytes of free text that players
ignore and that neither exiftool nor FFmpeg's tags show.  A copied stream
keeps its setup with the comment emptied, and a file whose setup has one is
not clean.  (A program config inside the frames may carry one as well; only a
decoder's parse finds it there.)
"""

from __future__ import annotations

# Object types whose setup is GASpecificConfig, the one that holds a program config.
_GENERAL_AUDIO = frozenset({1, 2, 3, 4, 6, 7, 17, 19, 20, 21, 22, 23})
_EXPLICIT_SBR = frozenset({5, 29})  # HE-AAC v1 and v2 signalled before the core's own type


class _Bits:
    def __init__(self, data: bytes) -> None:
        self.data, self.at = data, 0

    def read(self, n: int) -> int:
        if self.at + n > 8 * len(self.data):
            raise ValueError("AAC setup cut short")
        value = int.from_bytes(self.data, "big") >> (8 * len(self.data) - self.at - n) & ((1 << n) - 1)
        self.at += n
        return value

    def skip(self, n: int) -> None:
        self.read(n)

    def object_type(self) -> int:
        kind = self.read(5)
        return 32 + self.read(6) if kind == 31 else kind

    def rate(self) -> None:
        if self.read(4) == 15:
            self.skip(24)


def comment_span(setup: bytes) -> tuple[int, int] | None:
    """Where the program config's comment is, as bytes ``[start, end)`` of ``setup`` with its
    length byte at ``start``; None when the setup has no program config.  `ValueError` when cut."""
    bits = _Bits(setup)
    kind = bits.object_type()
    bits.rate()
    channels = bits.read(4)
    if kind in _EXPLICIT_SBR:
        bits.rate()
        kind = bits.object_type()
    if kind not in _GENERAL_AUDIO or channels != 0:
        return None
    bits.skip(1)  # frame length
    if bits.read(1):  # depends on a core coder
        bits.skip(14)
    bits.skip(1)  # extension flag
    return _program_config(bits)


def _program_config(bits: _Bits) -> tuple[int, int]:
    bits.skip(4 + 2 + 4)  # instance tag, object type, rate index
    front, side, back = bits.read(4), bits.read(4), bits.read(4)
    lfe, data, coupling = bits.read(2), bits.read(3), bits.read(4)
    for width in (4, 4, 3):  # mono and stereo mixdown, matrix mixdown
        if bits.read(1):
            bits.skip(width)
    bits.skip(5 * (front + side + back) + 4 * (lfe + data) + 5 * coupling)
    bits.at = -(-bits.at // 8) * 8  # byte alignment, from the start of the setup
    start = bits.at // 8
    length = bits.read(8)
    if start + 1 + length > len(bits.data):
        raise ValueError("AAC comment longer than its setup")
    return start, start + 1 + length


def has_comment(setup: bytes) -> bool:
    """Whether ``setup`` carries a program config comment (or is cut, so that no one can tell)."""
    try:
        span = comment_span(setup)
    except ValueError:
        return True
    return span is not None and span[1] - span[0] > 1


def without_comment(setup: bytes) -> bytes:
    """``setup`` with its program config's comment emptied (unchanged when it has none)."""
    span = comment_span(setup)
    if span is None:
        return setup
    start, end = span
    return setup[:start] + b"\x00" + setup[end:]
