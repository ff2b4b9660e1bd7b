"""A TIFF's LZW strip walked only as far as its picture needs, to see what lies past it.

A decoder (libtiff's, which Pillow uses) stops at the picture's last byte: codes that decode past
it, and any bytes after the end code, are never shown and can hold text.  Only the codes' widths
and the lengths of the strings they stand for are followed, never the pixels: a code after the
first since a Clear adds one entry to the table, one longer than the code before it, so a code's
length is its parent entry's plus one.  Memory stays flat (a table's worth of codes at a time) and
time linear, whatever a few bytes decode to: about 16 ms a megabyte of codes (a 4000 x 3000 RGB
photo's 34 MB in 0.55 s), most of it in whole-array steps that each code costs alike.

Codes are read as libtiff reads them: most significant bit first, 9 to 12 bits wide, widening one
code before the table reaches the next power of two (TIFF's "early change"); a strip whose first
two bytes are 0 and an odd byte is in the old style libtiff still reads (least significant bit
first, widening at the power of two itself), which costs no more here than a second bit order.
A strip must open with a Clear code, and a code may name no entry past the one it makes, nor make
one past libtiff's table (5119 entries): libtiff refuses such a strip, so `past` raises ValueError
where that happens before the picture's end and leaves it to the decoders.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from .inflate import Past

CLEAR, END, FIRST = 256, 257, 258
# Codes read after a Clear before libtiff's table of 5119 entries is full: the first makes none.
LONGEST = 5119 - FIRST + 1
_NINE = 254  # the codes after a Clear that are 9 bits wide, whatever the bit order
_MORE = b"\x01"  # stands for what codes decode to past the picture: their values are not decoded

Ints = npt.NDArray[np.int64]
_INDEX = np.arange(LONGEST + 1)


@dataclass(frozen=True)
class _Order:
    """Where the codes after a Clear lie, for one bit order: their ends in bits from the run's
    start; and for each bit a run may start at within its byte, the byte each code starts in from
    there and the shift that brings it down from the four bytes there; and its mask."""

    msb: bool
    ends: Ints
    byte: list[Ints]
    shift: list[npt.NDArray[np.uint32]]
    mask: npt.NDArray[np.uint32]


def _order(msb: bool) -> _Order:
    """Code widths after a Clear: 9 bits, one more each time the table (258 entries, one more for
    each code after the first) reaches a power of two, or one entry before it in TIFF's own order
    (``msb``), up to 12 bits.  One code past the longest run the table allows, to see it."""
    entries = FIRST + np.maximum(_INDEX - 1, 0)
    widths = np.full(len(entries), 9, np.int64)
    for bits in (9, 10, 11):
        widths += entries >= (1 << bits) - int(msb)
    ends = np.cumsum(widths)
    starts = [ends - widths + offset for offset in range(8)]
    shifts = [32 - (bit & 7) - widths if msb else bit & 7 for bit in starts]
    mask = ((1 << widths) - 1).astype(np.uint32)
    return _Order(msb, ends, [bit >> 3 for bit in starts], [s.astype(np.uint32) for s in shifts], mask)


_TIFF, _OLD = _order(True), _order(False)


def past(stream: bytes, needed: int) -> Past:
    """``stream``'s codes followed to ``needed`` decoded bytes: whether they decode to more
    (``more``, one byte standing for it), the bytes from there on where codes other than Clear
    follow (``unread``), and the bytes after the end code (``after``).  Bits left in the end code's
    last byte count as a byte of ``unread`` or ``after`` where they are not zero.  A stream that
    ends before its picture does holds nothing past it (the decoders judge that)."""
    buf = np.frombuffer(stream, np.uint8)
    order = _OLD if len(buf) > 1 and buf[0] == 0 and buf[1] & 1 else _TIFF
    at, made = 0, 0
    while True:
        codes = _codes(buf, at, order)
        codes = codes[: _batch(codes)]
        made, last = _count(codes, made, needed, opening=at == 0)
        if last is not None:
            beyond = codes[last + 1 :][codes[last + 1 :] != CLEAR]
            if made > needed or (len(beyond) and beyond[0] != END):
                end = at + int(order.ends[last]) if last >= 0 else at
                return Past(_MORE, _tail(buf, end, order.msb), b"")
        end = at + int(order.ends[len(codes) - 1]) if len(codes) else at
        if len(codes) and codes[-1] == END:
            return Past(b"", b"", _tail(buf, end, order.msb))
        if not len(codes) or codes[-1] != CLEAR:  # the stream ends here, with no end code
            return Past(b"", _tail(buf, end, order.msb) if made >= needed else b"", b"")
        at = end


def _count(codes: Ints, made: int, needed: int, *, opening: bool) -> tuple[int, int | None]:
    """The bytes decoded once ``codes`` are, ``made`` before them, as far as the picture's last
    byte; and which code decodes that byte (-1 where one before them did, None where none of
    them does).  ValueError where libtiff refuses a code before it (`_lengths`)."""
    if made >= needed:
        return made, -1
    lengths, valid = _lengths(codes, opening=opening)
    decoded = made + np.cumsum(lengths)
    last = int(np.searchsorted(decoded, needed))
    if last < valid:
        return int(decoded[last]), last
    if valid < len(codes):
        raise ValueError("LZW codes that do not decode")
    return (int(decoded[-1]) if valid else made), None


def _codes(buf: npt.NDArray[np.uint8], at: int, order: _Order) -> Ints:
    """The codes from bit ``at`` on, at the widths they have after a Clear, as far as the stream
    holds whole ones (a table's run at most): each from the four bytes it starts in, read as one
    number in the stream's bit order."""
    n = int(np.searchsorted(order.ends, len(buf) * 8 - at, side="right"))
    base, offset = divmod(at, 8)
    byte = order.byte[offset][:n]
    size = int(byte[-1]) + 1 if n else 0
    window = np.zeros(size + 3, np.uint8)
    window[: len(buf) - base] = buf[base : base + size + 3]
    words = np.empty(size, np.uint32)
    kind = ">u4" if order.msb else "<u4"
    for first in range(min(4, size)):
        words[first::4] = np.frombuffer(window, kind, (size - first + 3) // 4, first)
    codes: Ints = ((words.take(byte) >> order.shift[offset][:n]) & order.mask[:n]).astype(np.int64)
    return codes


def _batch(codes: Ints) -> int:
    """How many of ``codes`` (read at the widths after one Clear) are read where they lie: up to
    the first end code, and past a Clear only while both tables still read 9 bits, so that a
    stream of short runs between Clears is walked many runs at a time."""
    stops = np.flatnonzero(codes >> 1 == CLEAR >> 1)  # Clear and end codes
    ends = stops[codes[stops] == END]
    last = len(codes) if not len(stops) else stops[0] + 1
    if len(stops) and stops[0] < _NINE:
        last = int(stops[stops < _NINE][-1]) + 1
    return min(last, int(ends[0]) + 1) if len(ends) else last


def _lengths(codes: Ints, *, opening: bool) -> tuple[Ints, int]:
    """How many bytes each code decodes to (none for Clear and end codes), and how many of
    ``codes`` decode before the first that libtiff refuses: a code naming an entry its table does
    not hold yet (past the one it makes), one that makes an entry past the table's end, or any but
    Clear at the stream's opening (``opening``)."""
    n = _INDEX[: len(codes)]
    entry = codes - FIRST  # the entry a code names, counted from the run's first
    stops = entry >> 1 == -1  # Clear and end codes
    starts: Ints | int = 0  # where each code's run begins
    if stops[:-1].any():  # more runs than one (`_batch`)
        starts = np.concatenate(([0], np.maximum.accumulate(np.where(stops, n + 1, 0))[:-1]))
    bad = entry >= n - starts
    if opening:
        bad |= ~stops & (starts == 0)
    if len(codes) > LONGEST:
        bad |= ~stops & (n - starts >= LONGEST)
    wrong = np.flatnonzero(bad)
    valid = int(wrong[0]) if len(wrong) else len(codes)
    parents = np.where(entry >= 0, entry + starts, n)[:valid]
    return _depths(parents) + 1 - stops[:valid], valid


def _depths(parents: Ints) -> Ints:
    """How many steps each entry lies from its root (itself where ``parents`` names itself),
    by pointer jumping: a handful of whole-array steps, as many as the longest string's bits."""
    depths: Ints = (parents != _INDEX[: len(parents)]).astype(np.int64)
    while True:
        jumped = parents.take(parents)
        if (jumped == parents).all():
            return depths
        depths += depths.take(parents)
        parents = jumped


def _tail(buf: npt.NDArray[np.uint8], bit: int, msb: bool) -> bytes:
    """The bytes from bit ``bit`` on, the bits left in its byte kept as a byte of their own."""
    byte, used = divmod(bit, 8)
    if not used:
        return buf[byte:].tobytes()
    left = int(buf[byte]) & (0xFF >> used) if msb else int(buf[byte]) >> used
    return bytes([left]) + buf[byte + 1 :].tobytes()
