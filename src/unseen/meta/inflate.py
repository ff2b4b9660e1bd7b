"""A Deflate stream inflated only as far as its picture needs, to see what lies past it.

A PNG's image data and a TIFF's Deflate strips are judged alike: a decoder stops at the
picture's last row, so what the stream decodes to beyond it, and any bytes after the stream's
end, are never shown and can hold text.  Inflated a piece at a time and never kept, so that a
few bytes that inflate to gigabytes (a bomb) cost time, not memory.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

STEP = 1 << 22  # bytes inflated at a time


@dataclass(frozen=True)
class Past:
    """What a stream holds past the first ``needed`` bytes it decodes to."""

    more: bytes  # a byte more of picture, where it decodes to more
    unread: bytes  # its compressed bytes not yet read by then
    after: bytes  # bytes after the stream's end


def past(stream: bytes, needed: int) -> Past:
    """``stream`` inflated to ``needed`` bytes and a byte more; `zlib.error` where it does not
    inflate.  A stream that ends before its picture does holds nothing past it (the decoders
    judge that)."""
    inflate, made, pending = zlib.decompressobj(), 0, stream
    while made < needed and not inflate.eof:
        out = inflate.decompress(pending, min(needed - made, STEP))
        pending = inflate.unconsumed_tail
        if not out:
            break
        made += len(out)
    more = b"" if inflate.eof else inflate.decompress(pending, 1)
    return Past(more, inflate.unconsumed_tail, inflate.unused_data)
