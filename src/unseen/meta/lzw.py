"""A TIFF's LZW strip walked only as far as its picture needs, to see what lies past it.

A decoder (libtiff's, which Pillow uses) stops at the picture's last byte: codes that decode past
it, and any bytes after the end code, are never shown and can hold text.  Only the codes' widths
and the lengths of the strings they stand for are followed, never the pixels: a code after the
first since a Clear adds one entry to the table, one longer than the code before it, so a code's
length is its parent entry's plus one.  Memory stays flat (a table's worth of codes at a time) and
time linear, whatever a few bytes decode to.

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


@dataclass(frozen=True)
class _Order:
    """Where the codes after a Clear lie, for one bit order: widths, and their ends in bits."""

    msb: bool
    widths: Ints
    starts: Ints
    ends: Ints


def _order(msb: bool) -> _Order:
    """Code widths after a Clear: 9 bits, one more each time the table (258 entries, one more for
    each code after the first) reaches a power of two, or one entry before it in TIFF's own order
    (``msb``), up to 12 bits.  One code past the longest run the table allows, to see it."""
    entries = FIRST + np.maximum(np.arange(LONGEST + 1) - 1, 0)
    widths = np.full(len(entries), 9, np.int64)
    for bits in (9, 10, 11):
        widths += entries >= (1 << bits) - int(msb)
    ends = np.cumsum(widths)
    return _Order(msb, widths, ends - widths, ends)


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
        ends = at + order.ends[: len(codes)]
        made, last = _count(codes, made, needed, opening=at == 0)
        if last is not None:
            beyond = codes[last + 1 :][codes[last + 1 :] != CLEAR]
            if made > needed or (len(beyond) and beyond[0] != END):
                return Past(_MORE, _tail(buf, int(ends[last]) if last >= 0 else at, order.msb), b"")
        end = int(ends[-1]) if len(codes) else at
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
    decoded = made + np.cumsum(lengths[:valid])
    last = int(np.searchsorted(decoded, needed))
    if last < valid:
        return int(decoded[last]), last
    if valid < len(codes):
        raise ValueError("LZW codes that do not decode")
    return (int(decoded[-1]) if valid else made), None


def _codes(buf: npt.NDArray[np.uint8], at: int, order: _Order) -> Ints:
    """The codes from bit ``at`` on, at the widths they have after a Clear, as far as the stream
    holds whole ones (a table's run at most)."""
    n = int(np.searchsorted(order.ends, len(buf) * 8 - at, side="right"))
    widths = order.widths[:n]
    bits = at + order.starts[:n]
    byte, shift = bits >> 3, bits & 7
    first, second, third = (np.take(buf, byte + i, mode="clip").astype(np.int64) for i in range(3))
    if order.msb:
        codes: Ints = ((first << 16 | second << 8 | third) >> (24 - shift - widths)) & ((1 << widths) - 1)
    else:
        codes = ((first | second << 8 | third << 16) >> shift) & ((1 << widths) - 1)
    return codes


def _batch(codes: Ints) -> int:
    """How many of ``codes`` (read at the widths after one Clear) are read where they lie: up to
    the first end code, and past a Clear only while both tables still read 9 bits, so that a
    stream of short runs between Clears is walked many runs at a time."""
    stops = np.flatnonzero((codes == CLEAR) | (codes == END))
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
    n = np.arange(len(codes))
    stops = (codes == CLEAR) | (codes == END)
    starts = np.concatenate(([0], np.maximum.accumulate(np.where(stops, n + 1, 0))[:-1]))
    since = n - starts  # codes since the last Clear
    named = codes >= FIRST
    bad = ~stops & ((opening & (starts == 0)) | (named & (codes - FIRST >= since)) | (since >= LONGEST))
    wrong = np.flatnonzero(bad)
    valid = int(wrong[0]) if len(wrong) else len(codes)
    parents = np.where(named & ~bad & ~stops, starts + codes - FIRST, n)
    return np.where(stops, 0, _depths(parents) + 1), valid


def _depths(parents: Ints) -> Ints:
    """How many steps each entry lies from its root (itself where ``parents`` names itself),
    by pointer jumping: a handful of whole-array steps, as many as the longest string's bits."""
    depths: Ints = (parents != np.arange(len(parents))).astype(np.int64)
    while True:
        jumped = parents[parents]
        if np.array_equal(jumped, parents):
            return depths
        depths += depths[parents]
        parents = jumped


def _tail(buf: npt.NDArray[np.uint8], bit: int, msb: bool) -> bytes:
    """The bytes from bit ``bit`` on, the bits left in its byte kept as a byte of their own."""
    byte, used = divmod(bit, 8)
    if not used:
        return buf[byte:].tobytes()
    left = int(buf[byte]) & (0xFF >> used) if msb else int(buf[byte]) >> used
    return bytes([left]) + buf[byte + 1 :].tobytes()
