"""GIF: copy the picture blocks, drop comments, plain-text and application extensions.

The only application extension kept is the loop count (NETSCAPE2.0 /
ANIMEXTS1.0), rewritten from its value; XMP, ICC and vendor extensions go,
and so does anything after the trailer.  Colour table entries no viewer draws
(no pixel uses them, nor are they the background's) are blanked: they can hold
anything.  An image's compressed data is never copied: its encoder's choices
(sub-block sizes, bytes after the end code, clear codes where the table is not
full, matches shorter than the table holds, the code size) each decode to the
same pixels and can spell text.  Each frame is decoded alone to its palette
indices and coded anew by Pillow's LZW encoder at code size 8, as Pillow writes
every frame (so its files come out as they were), interlaced where the
descriptor says so, in sub-blocks of 255 bytes.  Codes that decode past the
picture's last pixel, or pixel codes wider than 8 bits (a decoder keeps the low
8), are a finding and the picture is written anew (`_lzw_walk` follows the codes
at every code size Pillow reads, about 0.6 s per megabyte).

The fixed-size fields are written as Pillow writes them (`_screen`, `_descriptor`, `_control`):
bits no viewer reads are zeroed (sort flags, reserved bits, the user-input flag, the aspect byte,
the colour resolution, table sizes without their table, the background without a global table,
a transparent index with its flag off) and disposals 4-7, which GIF89a leaves undefined, become 3,
as Pillow draws them.  A transparent index no pixel of its frame uses becomes the first such index:
any of them makes no pixel transparent (`_spare_indices` names those that vary), unless Pillow
draws its colour (`_pillow_fills`: it draws a few entries no pixel uses, which are kept).  One
graphic control is written before each image, as Pillow reads the ones there (`_merged`).  `check` names the bits set where no encoder puts them (`_unread_fields`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import numpy.typing as npt
from PIL import Image

from .findings import Finding, NotClean
from .palette import decoded, holding

_LOOP_APPS = (b"NETSCAPE2.0", b"ANIMEXTS1.0")
_WIDE = "image data codes pixels wider than 8 bits (the decoder drops the rest)"
_CODE_SIZE = 8
_GRAPHIC_CONTROL, _COMMENT, _PLAIN_TEXT, _APPLICATION = 0xF9, 0xFE, 0x01, 0xFF


def _sub_blocks(data: bytes, pos: int) -> int:
    """Position just past a chain of data sub-blocks starting at ``pos``."""
    while True:
        if pos >= len(data):
            raise NotClean("truncated data sub-blocks")
        size = data[pos]
        pos += 1 + size
        if size == 0:
            return pos


def blocks(data: bytes) -> tuple[bytes, list[tuple[str, bytes]], int]:
    """Header with global colour table, the blocks as (kind, bytes), and bytes after the trailer."""
    if data[:6] not in (b"GIF87a", b"GIF89a"):
        raise NotClean("not a GIF file")
    if len(data) < 13:
        raise NotClean("truncated header")
    flags = data[10]
    pos = 13 + (3 << ((flags & 7) + 1) if flags & 0x80 else 0)
    header, out = data[:pos], list[tuple[str, bytes]]()
    while pos < len(data):
        start, intro = pos, data[pos]
        if intro == 0x3B:
            return header, out, len(data) - pos - 1
        if intro == 0x2C:
            if pos + 10 > len(data):
                raise NotClean("truncated image descriptor")
            local = data[pos + 9]
            pos += 10 + (3 << ((local & 7) + 1) if local & 0x80 else 0)
            pos = _sub_blocks(data, pos + 1)  # skip the LZW minimum code size byte
            out.append(("image", data[start:pos]))
        elif intro == 0x21:
            if pos + 2 > len(data):
                raise NotClean("truncated extension")
            label = data[pos + 1]
            pos = _sub_blocks(data, pos + 2)
            out.append((_kind(label, data[start + 2 : start + 14]), data[start:pos]))
        else:
            raise NotClean(f"unknown block 0x{intro:02X}")
    raise NotClean("no trailer")


def _chunks(raw: bytes) -> tuple[int, list[bytes]]:
    """Where an image block's LZW code size lies (after its descriptor and colour table), and its
    data sub-blocks, in order."""
    at = 10 + _table_size(raw[9])
    return at, _data(raw, at + 1)


def _data(data: bytes, pos: int) -> list[bytes]:
    """The data sub-blocks of a chain starting at ``pos``, in order, up to its terminator or
    the end of ``data``."""
    chunks = []
    while pos < len(data) and data[pos]:
        chunks.append(data[pos + 1 : pos + 1 + data[pos]])
        pos += 1 + data[pos]
    return chunks


def _image(raw: bytes) -> tuple[bytes, int, bytes]:
    """An image block's descriptor with its colour table, its LZW code size, and its data with the
    sub-blocks joined."""
    at, chunks = _chunks(raw)
    return raw[:at], raw[at], b"".join(chunks)


def _lzw_walk(codes: bytes, size: int) -> tuple[int | None, int, bool]:
    """How many bytes of ``codes`` the image's end code closes (None if it has none, or a code size
    no decoder reads), how many pixels the codes before it decode to, and whether a pixel's own
    code holds more than its 8 bits.  Only code widths and string lengths are followed: each code
    after the first since a clear adds one entry to the table, one longer than the code before it,
    and the codes widen at each power of two up to 12 bits.

    Sizes are followed as Pillow reads them, 0 to 12, not GIF89a's 2 to 8 alone: walking only
    those let text after the end code through at 0 and 12.  At 0 the codes are one bit wide, so no
    end code can be written and anything after the last pixel decodes past the picture; at 12 the
    table never grows.  Above 8 a pixel's code has room for up to 4 more bits, which the decoder
    drops: they can hold any text."""
    if not 0 <= size <= 12:
        return None, 0, False
    clear = 1 << size
    lengths = [1] * (1 << 13)  # codes are 13 bits wide at size 12
    width, entries, previous = size + 1, clear + 2, -1
    held = bits = pos = pixels = 0
    wide = False
    while True:
        while bits < width:
            if pos == len(codes):
                return None, pixels, wide
            held |= codes[pos] << bits
            bits, pos = bits + 8, pos + 1
        code = held & ((1 << width) - 1)
        held, bits = held >> width, bits - width
        if code == clear:
            width, entries, previous = size + 1, clear + 2, -1
            continue
        if code == clear + 1:
            return pos, pixels, wide
        wide |= 0xFF < code < clear
        if previous < 0:
            pixels += 1
        else:
            pixels += lengths[code] if code < entries else lengths[previous] + 1
            if entries < 4096:
                lengths[entries] = lengths[previous] + 1
                entries += 1
                if entries == 1 << width and width < 12:
                    width += 1
        previous = code


def _unread(raw: bytes) -> tuple[int, bool, bool]:
    """An image block's bytes after its end code, whether its codes decode past its picture, and
    whether a pixel's code holds more than its 8 bits."""
    _head, size, codes = _image(raw)
    end, pixels, wide = _lzw_walk(codes, size)
    return (0 if end is None else len(codes) - end), pixels > _area(raw), wide


def _area(raw: bytes) -> int:
    """An image block's pixels, from its descriptor's width and height."""
    return int.from_bytes(raw[5:7], "little") * int.from_bytes(raw[7:9], "little")


def _ended(raw: bytes, indices: npt.NDArray[np.uint8]) -> bytes:
    """An image block with its data written anew from its decoded palette ``indices`` by one
    encoder (`_encoded`), in sub-blocks of 255 bytes (the last shorter).  The input's encoding is
    its encoder's choice: sub-block sizes, bytes after the end code, clear codes where none is
    needed, shorter matches than the table holds, the code size; each can spell text and decodes
    to the same pixels.  `NotClean` when its codes decode past its picture or a pixel's code holds
    more than its 8 bits (the picture is written anew)."""
    head, size, codes = _image(raw)
    _end, pixels, wide = _lzw_walk(codes, size)
    if pixels > _area(raw):
        raise NotClean("image data decodes past its picture")
    if wide:
        raise NotClean(_WIDE)
    codes = _encoded(indices, bool(raw[9] & 0x40))
    chunks = [codes[i : i + 255] for i in range(0, len(codes), 255)]
    return head + bytes([_CODE_SIZE]) + b"".join(bytes([len(c)]) + c for c in chunks) + b"\x00"


def _encoded(indices: npt.NDArray[np.uint8], interlaced: bool) -> bytes:
    """``indices`` (rows as shown) LZW-coded as Pillow codes a GIF frame: greedy matches, a clear
    code only when the table is full, at code size 8 (Pillow's for every frame, so its files come
    out as they were), rows in interlaced order where the descriptor says so.  The sub-blocks it
    writes are joined."""
    height, width = indices.shape
    picture = Image.frombytes("L", (width, height), np.ascontiguousarray(indices).tobytes())
    # Pillow's own GIF writer reaches this encoder through the same call; its public `save` would
    # not do: it remaps a palette it is allowed to optimise and never interlaces small pictures.
    encoder = Image._getencoder("L", "gif", "L", (_CODE_SIZE, int(interlaced)))
    encoder.setimage(picture.im, (0, 0, width, height))
    out = bytearray()
    done = 0
    while not done:
        _length, done, data = encoder.encode(1 << 16)
        out += data
    if done < 0:
        raise NotClean(f"image data does not encode (error {done})")
    return b"".join(_data(bytes(out), 0))


def _chunked_oddly(raw: bytes) -> bool:
    """Whether an image block's data sub-blocks vary in size before the last, or the last is longer
    than those before it: an encoder chunks at one size (255 for Pillow, giflib, ImageMagick), so
    sizes that vary were chosen one by one, and each can spell a byte of text."""
    sizes = [len(chunk) for chunk in _chunks(raw)[1]]
    return len(set(sizes[:-1])) > 1 or (len(sizes) > 1 and sizes[-1] > sizes[0])


def _kind(label: int, head: bytes) -> str:
    if label == _GRAPHIC_CONTROL:
        return "control"
    if label == _APPLICATION:
        return "loop" if head[1:12] in _LOOP_APPS else f"application {head[1:12].decode('latin-1')!r}"
    return {_COMMENT: "comment", _PLAIN_TEXT: "plain text"}.get(label, f"extension 0x{label:02X}")


def _table_size(flags: int) -> int:
    """Bytes of the colour table a descriptor's ``flags`` declare (none without the table bit)."""
    return 3 << ((flags & 7) + 1) if flags & 0x80 else 0


def _frames(header: bytes, found: list[tuple[str, bytes]], path: Path) -> list[npt.NDArray[np.uint8]]:
    """Each image's palette indices, decoded alone on a canvas of its own size (the pixel cap
    holds), with its own colour table or else the global one.  An image with no colour table, its
    own or a global one (legal: a viewer draws it with a default palette), is decoded with none,
    so broken data still fails."""
    frames = list[npt.NDArray[np.uint8]]()
    for kind, raw in found:
        if kind == "image":
            local = _table_size(raw[9])
            table = raw[10 : 10 + local] if local else header[13:]
            flags = (0x80 | (raw[9] if local else header[10]) & 7) if table else 0
            alone = (
                b"GIF89a"
                + raw[5:9]
                + bytes([flags, 0, 0])
                + table
                + b"\x2c"
                + bytes(4)
                + raw[5:9]
                + bytes([raw[9] & 0x40])
                + raw[10 + local :]
                + b"\x3b"
            )
            frames.append(decoded(path, alone))
    return frames


def _used(
    header: bytes, found: list[tuple[str, bytes]], drawn: list[npt.NDArray[np.bool_]]
) -> list[npt.NDArray[np.bool_]]:
    """Which entries of each colour table a viewer may draw: the global table's first, then each
    image's own table, in order (an empty mask where an image has none).

    An entry counts when a pixel of an image (``drawn``, `_drawn`) drawn with that table uses it
    (a frame's transparent entry among them: a viewer that ignores transparency draws it), or when
    it is the global background (a frame disposed "to background" may be drawn with it).  A
    transparent entry no pixel uses is drawn by no viewer: it counted once, and 3 bytes a frame
    went through `strip`.  An image with no colour table has no entries to hide anything in.
    """
    tables = [np.zeros(_table_size(header[10]) // 3, bool)]
    if len(tables[0]):
        tables[0][min(header[11], len(tables[0]) - 1)] = True
    images, fills = iter(drawn), iter(_pillow_fills(header, found))
    for kind, raw in found:
        if kind == "image":
            local = _table_size(raw[9])
            tables.append(np.zeros(local // 3, bool))
            at = tables[-1] if local else tables[0]
            at |= next(images)[: len(at)]
            fill, _index = next(fills)
            if fill is not None and len(at):
                at[fill if fill < len(at) else 0] = True
    return tables


def _pillow_fills(header: bytes, found: list[tuple[str, bytes]]) -> list[tuple[int | None, bool]]:
    """For each image, the index Pillow may draw with its colour table though no pixel uses it
    (None where there is none), and whether that index is its transparent index.  Pillow fills the
    screen around a first frame without transparency with index 0, a canvas grown by a frame that
    reaches past the screen with index 0, and draws a frame disposed to background (a disposal of 0
    keeps the one before) in the colour of its transparent index, or else the background's, opaque
    unless the first frame has transparency; an index past the table draws entry 0."""
    width, height = int.from_bytes(header[6:8], "little"), int.from_bytes(header[8:10], "little")
    out = list[tuple[int | None, bool]]()
    controls, disposal, first = list[bytes](), 0, False
    for kind, raw in found:
        if kind == "control" and len(raw) >= 7 and raw[2] >= 4:
            controls.append(raw[3:7])
        elif kind == "image":
            read, index = _as_read(controls)
            disposal = read or disposal
            controls = []
            x, y, w, h = (int.from_bytes(raw[at : at + 2], "little") for at in (1, 3, 5, 7))
            if not out:
                first = index is not None
            fill: int | None = None
            if disposal == 2 and not first:
                fill = header[11] if index is None and header[10] & 0x80 else (index or 0)
            elif (
                x + w > width
                or y + h > height
                or (not out and not first and (x or y or w < width or h < height))
            ):
                fill = 0
            out.append((fill, fill is not None and fill == index and disposal == 2 and not first))
    return out


def _read(
    header: bytes, found: list[tuple[str, bytes]], drawn: list[npt.NDArray[np.bool_]]
) -> list[npt.NDArray[np.bool_]]:
    """For each image, which of the 256 indices a viewer reads: its pixels' (``drawn``), and its
    transparent index where Pillow draws its colour (`_pillow_fills`)."""
    out = list[npt.NDArray[np.bool_]]()
    for pixels, (fill, kept) in zip(drawn, _pillow_fills(header, found), strict=True):
        out.append(pixels.copy())
        if kept and fill is not None:
            out[-1][fill] = True
    return out


def _blank(table: bytes, used: npt.NDArray[np.bool_]) -> bytes:
    """``table`` with the entries no viewer draws black."""
    colours = np.frombuffer(table, np.uint8).reshape(-1, 3).copy()
    colours[~used[: len(colours)]] = 0
    return colours.tobytes()


def _hidden(header: bytes, found: list[tuple[str, bytes]], used: list[npt.NDArray[np.bool_]]) -> int:
    """How many entries no viewer draws hold something (`palette.holding`)."""
    tables = [header[13:]] + [raw[10 : 10 + _table_size(raw[9])] for kind, raw in found if kind == "image"]
    return sum(
        int(holding(np.frombuffer(t, np.uint8).reshape(-1, 3), ~u).sum())
        for t, u in zip(tables, used, strict=True)
    )


def _screen(header: bytes) -> bytes:
    """The logical screen descriptor (header bytes 6-12) as Pillow writes it: the global table's
    flag and size (no size without the table), colour resolution and sort flag zero, the background
    index where there is a global table (nothing reads it without one), the aspect byte zero."""
    flags = header[10]
    if not flags & 0x80:
        return header[6:10] + bytes(3)
    return header[6:10] + bytes([flags & 0x87, header[11], 0])


def _descriptor(raw: bytes, alone: bool) -> int:
    """An image block's descriptor flags as Pillow writes them: the local table's flag and size (no
    size without the table), the sort flag and reserved bits zero, and the interlace flag off in an
    animation, as Pillow writes every frame (a file of one image keeps its own: one bit a file).
    Either way the pixels are the same: flags copied as they were spelled a bit an image."""
    flags = raw[9]
    return (flags & 0x87 if flags & 0x80 else 0) | (flags & 0x40 if alone else 0)


def _laced(raw: bytes) -> bool:
    """Whether Pillow interlaces an image block of this size in a file of one image (it leaves those
    under 16 rows or columns as they are, and every frame of an animation): `check` allows flags
    set so, all set or none."""
    return min(int.from_bytes(raw[5:7], "little"), int.from_bytes(raw[7:9], "little")) >= 16


def _control(fields: bytes, drawn: npt.NDArray[np.bool_]) -> bytes:
    """A graphic control extension's four bytes (packed, delay, transparent index) as Pillow writes
    them: the disposal and transparency flag alone (reserved bits and the user-input flag zero),
    disposals 4-7 as 3 (Pillow restores the previous picture for each; browsers for 4 too), and the
    transparent index zero when the flag is off (no viewer reads it then).  With the flag on, an
    index no pixel of its image uses (``drawn``, `_governed`) makes no pixel transparent, whichever
    it is: it becomes the first such index (`_spare`), as Pillow writes it."""
    packed = fields[0]
    disposal = min(packed >> 2 & 7, 3)
    transparent = packed & 1
    index = (fields[3] if drawn[fields[3]] else _spare(drawn)) if transparent else 0
    return bytes([disposal << 2 | transparent]) + fields[1:3] + bytes([index])


def _merged(controls: list[bytes], drawn: npt.NDArray[np.bool_]) -> bytes:
    """The graphic control extensions before one image (their four bytes each, in order) as one, as
    Pillow reads them: the last one's delay, the last disposal other than 0 and the last transparent
    index with its flag on, each field written by `_control`.  GIF89a allows one before an image:
    more, or any after the last image, were copied as they were and each held 2 free bytes.  Rebuilt
    from its four bytes, where more sub-blocks after them could carry any text."""
    delay = controls[-1][1:3]
    disposal, index = _as_read(controls)
    packed = disposal << 2 | (index is not None)
    return b"\x21\xf9\x04" + _control(bytes([packed]) + delay + bytes([index or 0]), drawn) + b"\x00"


def _as_read(controls: list[bytes]) -> tuple[int, int | None]:
    """What Pillow takes from the graphic controls before one image (their four bytes each, in
    order): the last disposal other than 0 (0 where there is none), and the last transparent
    index with its flag on (None where there is none)."""
    disposal = next((fields[0] >> 2 & 7 for fields in reversed(controls) if fields[0] >> 2 & 7), 0)
    index = next((fields[3] for fields in reversed(controls) if fields[0] & 1), None)
    return disposal, index


def _drawn(frame: npt.NDArray[np.uint8]) -> npt.NDArray[np.bool_]:
    """Which of the 256 palette indices a frame's pixels use."""
    drawn: npt.NDArray[np.bool_] = np.bincount(frame.ravel(), minlength=256) > 0
    return drawn


def _extra_controls(found: list[tuple[str, bytes]]) -> int:
    """How many graphic control extensions come after another before the same image, or after the
    last image: GIF89a allows one before an image, and a viewer reads no more."""
    extra, pending = 0, False
    for kind, _raw in found:
        if kind == "control":
            extra, pending = extra + pending, True
        elif kind == "image":
            pending = False
    return extra + pending


def _spare(drawn: npt.NDArray[np.bool_]) -> int:
    """The first palette index no pixel of an image uses (``drawn``: 256 flags, one an index)."""
    return int(np.argmin(drawn))


def _governed(
    header: bytes, found: list[tuple[str, bytes]], drawn: list[npt.NDArray[np.bool_]]
) -> dict[int, npt.NDArray[np.bool_]]:
    """Which palette indices the image after each graphic control (by its place in ``found``) uses
    (`_read`): 256 flags, none where no image follows it."""
    masks = reversed(_read(header, found, drawn))
    out, uses = dict[int, npt.NDArray[np.bool_]](), np.zeros(256, bool)
    for n in range(len(found) - 1, -1, -1):
        if found[n][0] == "image":
            uses = next(masks)
        elif found[n][0] == "control":
            out[n] = uses
    return out


def _spare_indices(
    header: bytes, found: list[tuple[str, bytes]], drawn: list[npt.NDArray[np.bool_]]
) -> list[str]:
    """Transparent indices (flag on) that no pixel of their image uses, as a finding where they vary
    and are not each the first unused index (`_spare`, what strip writes): any such index makes no
    pixel transparent, so each is a free byte a frame.  One value in all of them is not named (an
    encoder that keeps one index for transparency, as ffmpeg keeps 255, writes it where no pixel is
    transparent too)."""
    governed = _governed(header, found, drawn)
    spare = [
        (raw[6], _spare(governed[n]))
        for n, (kind, raw) in enumerate(found)
        if kind == "control" and len(raw) >= 7 and raw[2] >= 4 and raw[3] & 1 and not governed[n][raw[6]]
    ]
    values = {index for index, _ in spare}
    if len(values) > 1 and any(index != first for index, first in spare):
        return [f"{len(values)} different transparent indices that no pixel of their frame uses"]
    return []


def _unread_fields(header: bytes, found: list[tuple[str, bytes]]) -> list[str]:
    """Where fixed-size fields hold bits no viewer reads and no common encoder sets, as findings.

    Named: sort flags, reserved bits and the user-input flag (Pillow and ffmpeg leave them zero, as
    giflib does unless told: a bit a frame can spell text over an animation), table sizes and a
    background without their table, disposals 4-7, an aspect byte other than 0 (none) or 49 (square
    pixels, which some encoders write), and transparent indices with the flag off when the frames
    hold more than one value other than 0 and 255 (giflib writes 255 for none, others leave one
    index over from an earlier frame; only values that vary can spell text).  Not named: the colour
    resolution, which encoders set as they like (0 in Pillow, the table's depth or 7 in others),
    3 bits once a file.  `strip` zeroes all of them alike."""
    out = list[str]()
    flags = header[10]
    if flags & 0x08 or header[12] not in (0, 49) or (not flags & 0x80 and (flags & 0x07 or header[11])):
        out.append("reserved or unread bits set in the screen descriptor")
    images = [raw[9] for kind, raw in found if kind == "image"]
    odd = sum(1 for f in images if f & 0x38 or (not f & 0x80 and f & 0x07))
    if odd:
        out.append(f"reserved or unread bits set in {odd} image descriptors")
    laced = [(bool(raw[9] & 0x40), _laced(raw)) for kind, raw in found if kind == "image"]
    if len({flag for flag, _ in laced}) > 1 and any(flag != big for flag, big in laced):
        out.append("interlace flags that vary between images as no encoder sets them")
    controls = [raw[3:7] for kind, raw in found if kind == "control" and len(raw) >= 7 and raw[2] >= 4]
    odd = sum(1 for c in controls if c[0] & 0xE2 or c[0] >> 2 & 7 > 3)
    if odd:
        out.append(f"reserved or unread bits set in {odd} frame controls")
    left = {c[3] for c in controls if not c[0] & 1} - {0, 255}
    if len(left) > 1:
        out.append(f"{len(left)} different transparent indices in frame controls without transparency")
    return out


def clean_bytes(data: bytes, path: Path) -> bytes:
    """``data`` (read from ``path``) with the picture blocks alone, each image's data cut at its end
    code, colour table entries no viewer draws blanked and the fixed-size fields as Pillow writes
    them (the frames are the same)."""
    header, found, _trailer = blocks(data)
    frames = _frames(header, found, path)
    drawn = [_drawn(frame) for frame in frames]
    used, images, reads = iter(_used(header, found, drawn)), iter(frames), iter(_read(header, found, drawn))
    parts = [header[:6] + _screen(header) + _blank(header[13:], next(used))]
    controls, alone = list[bytes](), len(frames) == 1
    for kind, raw in found:
        if kind == "image":
            frame, read = next(images), next(reads)
            if controls:
                parts.append(_merged(controls, read))
                controls.clear()
            local = _table_size(raw[9])
            blanked = raw[:9] + bytes([_descriptor(raw, alone)]) + _blank(raw[10 : 10 + local], next(used))
            parts.append(_ended(blanked + raw[10 + local :], frame))
        elif kind == "control" and len(raw) >= 7 and raw[2] >= 4:
            controls.append(raw[3:7])  # one per image is written, none after the last (`_merged`)
        elif kind == "loop" and len(raw) >= 19 and raw[14] == 3:
            parts.append(b"\x21\xff\x0bNETSCAPE2.0\x03\x01" + raw[16:18] + b"\x00")
    return b"".join([*parts, b"\x3b"])


def _plain(kind: str, raw: bytes) -> bool:
    """A block that holds pictures or timing only: an image, or a frame's control or the loop count
    in their standard size (more sub-blocks after theirs can carry any text)."""
    if kind == "control":
        return len(raw) == 8 and raw[2] == 4
    if kind == "loop":
        return len(raw) == 19 and raw[14:16] == b"\x03\x01"
    return kind == "image"


def write_clean(src: Path, dst: Path) -> None:
    dst.write_bytes(clean_bytes(src.read_bytes(), src))


def scan(path: Path) -> list[Finding]:
    try:
        header, found, trailer = blocks(path.read_bytes())
    except NotClean as exc:
        return [Finding("unseen", f"GIF:unparsed ({exc})")]
    out = [Finding("unseen", f"GIF:{kind}") for kind, raw in found if not _plain(kind, raw)]
    out += [Finding("unseen", f"GIF:{place}") for place in _unread_fields(header, found)]
    extra = _extra_controls(found)
    if extra:
        out.append(Finding("unseen", f"GIF:{extra} frame controls more than one an image"))
    unread = [_unread(raw) for kind, raw in found if kind == "image"]
    hidden = sum(after for after, _, _ in unread)
    if hidden:
        out.append(Finding("unseen", f"GIF:{hidden} bytes after the images' end codes"))
    if any(past for _, past, _ in unread):
        out.append(Finding("unseen", "GIF:image data decodes past its picture"))
    if any(wide for _, _, wide in unread):
        out.append(Finding("unseen", f"GIF:{_WIDE}"))
    if any(_chunked_oddly(raw) for kind, raw in found if kind == "image"):
        out.append(Finding("unseen", "GIF:image data in sub-blocks of unusual sizes"))
    if trailer:
        out.append(Finding("unseen", f"GIF:{trailer} bytes after the trailer"))
    try:
        drawn = [_drawn(frame) for frame in _frames(header, found, path)]
        hidden = _hidden(header, found, _used(header, found, drawn))
    except NotClean as exc:
        out.append(Finding("unseen", f"GIF:{exc}"))
    else:
        out += [Finding("unseen", f"GIF:{place}") for place in _spare_indices(header, found, drawn)]
        if hidden:
            out.append(Finding("unseen", f"GIF:{hidden} colour table entries no viewer draws hold colours"))
    return out
