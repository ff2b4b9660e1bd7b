"""Sound-only recordings the audio tests write themselves, one per container, tagged the way phones,
messengers, field recorders and tag editors tag them.

The sound is speech from Debian's ``espeak-ng`` when it is installed (the pitch
test needs a voice), else a gliding tone.  Every tagged file carries a place in
its title, GPS in a comment, an artist and a creation date; cover art where the
container has room for one; the M4A files a chapter named after the place; the WAV and RF64 files a BWF
``bext`` chunk (originator and origination time), a ``cart`` chunk, an
``iXML`` chunk with a location, a ``LIST/INFO`` chunk, XMP (``_PMX``) and an
ID3 chunk.  Nothing here is written
by unseen's own code.
"""

from __future__ import annotations

import hashlib
import io
import shutil
import struct
import subprocess
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from mutagen import flac, id3, mp4, oggopus, oggvorbis
from PIL import Image

PLACE = "Kreuzberg, Oranienplatz"
GPS = "GPS 52.4992 N, 13.4264 E"
ARTIST = "Jane Roe"
DATE = "2024-05-01T12:00:00"
ORIGINATOR = "Zoom H5 #032024001234"
# Bytes no output may hold: the place, the coordinates, the person, the recorder's serial, the date.
PLANTED = (b"Kreuzberg", b"52.4992", b"Jane Roe", b"032024001234", b"2024-05-01", b"2024:05:01")
SPEECH = (
    "This is my testimony. We gathered at the square at noon, and the police arrived "
    "a few minutes later. I saw them close the street from both sides."
)
RATE = 22_050


def speech(seconds: float = 6.0) -> np.ndarray:
    """Mono float speech at ``RATE`` (espeak-ng), or a gliding tone where espeak-ng is absent."""
    espeak = shutil.which("espeak-ng")
    if espeak is None:
        t = np.arange(int(seconds * RATE)) / RATE
        f0 = 110 * 2 ** (t / seconds)
        return (0.3 * np.sin(2 * np.pi * np.cumsum(f0) / RATE)).astype(np.float32)
    wav = subprocess.run([espeak, "--stdout", SPEECH], capture_output=True, check=True).stdout
    with av.open(io.BytesIO(wav)) as container:
        resampler = av.AudioResampler(format="flt", layout="mono", rate=RATE)
        parts = [f.to_ndarray()[0] for frame in container.decode(audio=0) for f in resampler.resample(frame)]
    return np.concatenate(parts)


def cover_jpeg() -> bytes:
    rng = np.random.default_rng(7)
    buf = io.BytesIO()
    Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)).save(buf, "JPEG", comment=ARTIST)
    return buf.getvalue()


def encode(
    path: Path,
    fmt: str,
    codec: str,
    rate: int,
    sound: np.ndarray,
    layout: str = "mono",
    chapter: str | None = None,
    quality: int | None = None,
    **tags: str,
) -> Path:
    """``sound`` (mono float at ``RATE``) encoded with ``codec`` into container ``fmt``; at a
    constant ``quality`` (a variable bitrate: LAME's 0-9) where given."""
    with av.open(str(path), "w", format=fmt) as out:
        out.metadata.update(tags)
        if chapter is not None:
            meta = {"title": chapter}
            out.set_chapters(
                [{"id": 1, "start": 0, "end": 2000, "time_base": Fraction(1, 1000), "metadata": meta}]
            )
        # FFmpeg's own Vorbis encoder is marked experimental (and takes stereo only).
        options = {"strict": "experimental"} if codec == "vorbis" else {}
        stream = out.add_stream(codec, rate=rate, options=options)
        stream.codec_context.layout = layout
        if quality is not None:
            stream.codec_context.qscale = quality
            stream.codec_context.flags |= av.codec.context.Flags.qscale
        resampler = av.AudioResampler(
            format=stream.codec_context.format.name,
            layout=layout,
            rate=rate,
            frame_size=stream.codec_context.frame_size or None,
        )
        frame = av.AudioFrame.from_ndarray(sound[None, :].astype(np.float32), format="flt", layout="mono")
        frame.sample_rate, frame.pts, frame.time_base = RATE, 0, Fraction(1, RATE)
        done = 0
        for chunk in [*resampler.resample(frame), *resampler.resample(None)]:
            chunk.pts, chunk.time_base = done, Fraction(1, rate)
            done += chunk.samples
            for packet in stream.encode(chunk):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return path


def _m4a(path: Path, sound: np.ndarray, codec: str = "aac") -> None:
    encode(
        path, "ipod", codec, 44_100, sound,
        chapter=f"Arrival at {PLACE}", location="+52.4992+013.4264/", creation_time=DATE + "Z",
    )  # fmt: skip
    tags = mp4.MP4(path)
    tags["\xa9nam"], tags["\xa9cmt"], tags["\xa9ART"], tags["\xa9day"] = PLACE, GPS, ARTIST, DATE
    tags["covr"] = [mp4.MP4Cover(cover_jpeg(), mp4.MP4Cover.FORMAT_JPEG)]
    tags.save()


def alac(path: Path, sound: np.ndarray) -> None:
    """A voice memo recorded lossless, as iPhones do when asked."""
    _m4a(path, sound, "alac")


def _mp3(path: Path, sound: np.ndarray) -> None:
    encode(path, "mp3", "libmp3lame", 44_100, sound)
    _id3(path)


def _aac(path: Path, sound: np.ndarray) -> None:
    """Raw AAC in ADTS frames, as some Android recorders write it, tagged the way MP3 is."""
    encode(path, "adts", "aac", 44_100, sound)
    _id3(path)


def _id3(path: Path) -> None:
    """An ID3v2.4 tag in front of ``path`` and an ID3v1 tag at its end."""
    tags = id3.ID3()
    tags.add(id3.TIT2(encoding=3, text=PLACE))
    tags.add(id3.COMM(encoding=3, lang="eng", desc="", text=GPS))
    tags.add(id3.TPE1(encoding=3, text=ARTIST))
    tags.add(id3.TDRC(encoding=3, text=DATE))
    tags.add(id3.APIC(encoding=3, mime="image/jpeg", type=3, desc="cover", data=cover_jpeg()))
    tags.add(id3.PRIV(owner="recorder.example", data=ORIGINATOR.encode()))
    tags.add(id3.GEOB(encoding=3, mime="text/plain", filename="where.txt", desc="place", data=GPS.encode()))
    tags.add(id3.TXXX(encoding=3, desc="location", text=PLACE))
    tags.save(path, v1=id3.ID3v1SaveOptions.CREATE, v2_version=4)


def _flac(path: Path, sound: np.ndarray) -> None:
    encode(path, "flac", "flac", 44_100, sound)
    tags = flac.FLAC(path)
    tags["title"], tags["comment"], tags["artist"], tags["date"] = PLACE, GPS, ARTIST, DATE
    tags.add_picture(_picture())
    tags.save()


def _picture() -> flac.Picture:
    picture = flac.Picture()
    picture.type, picture.mime, picture.desc, picture.data = 3, "image/jpeg", "cover", cover_jpeg()
    picture.width = picture.height = 32
    picture.depth = 24
    return picture


def _ogg(path: Path, sound: np.ndarray, opus: bool) -> None:
    if opus:
        encode(path, "ogg", "libopus", 48_000, sound)
        tags: oggopus.OggOpus | oggvorbis.OggVorbis = oggopus.OggOpus(path)
    else:
        encode(path, "ogg", "vorbis", 44_100, sound, layout="stereo")
        tags = oggvorbis.OggVorbis(path)
    tags["title"], tags["comment"], tags["artist"], tags["date"] = PLACE, GPS, ARTIST, DATE
    import base64

    tags["metadata_block_picture"] = [base64.b64encode(_picture().write()).decode()]
    tags.save()


def _chunk(kind: bytes, payload: bytes) -> bytes:
    return kind + struct.pack("<I", len(payload)) + payload + b"\0" * (len(payload) & 1)


def riff_extras() -> bytes:
    """The chunks a field recorder and a tag editor add to a WAV: bext, iXML, LIST/INFO, XMP, ID3."""
    bext = ("Testimony " + PLACE).encode().ljust(256, b"\0")  # description
    bext += ORIGINATOR.encode().ljust(32, b"\0") + ARTIST.encode().ljust(
        32, b"\0"
    )  # originator, its reference
    bext += b"2024-05-01" + b"12:00:00" + struct.pack("<Q", 0) + struct.pack("<H", 1) + bytes(64 + 190)
    ixml = (
        f'<?xml version="1.0"?><BWFXML><PROJECT>{PLACE}</PROJECT><NOTE>{GPS}</NOTE>'
        f"<LOCATION><LOCATION_NAME>{PLACE}</LOCATION_NAME><LOCATION_GPS>52.4992, 13.4264</LOCATION_GPS>"
        "</LOCATION></BWFXML>"
    ).encode()
    info = b"INFO" + b"".join(
        _chunk(k, v.encode() + b"\0")
        for k, v in ((b"INAM", PLACE), (b"ICMT", GPS), (b"IART", ARTIST), (b"ICRD", DATE))
    )
    xmp = (
        b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
        b'<rdf:Description xmlns:dc="http://purl.org/dc/elements/1.1/" dc:creator="Jane Roe"/>'
        b"</rdf:RDF></x:xmpmeta>"
    )
    tags = id3.ID3()
    tags.add(id3.TIT2(encoding=3, text=PLACE))
    tags.add(id3.APIC(encoding=3, mime="image/jpeg", type=3, desc="cover", data=cover_jpeg()))
    id3_data = io.BytesIO()
    tags.save(id3_data, v2_version=4)
    cart = b"0101" + PLACE.encode().ljust(64, b"\0") + ARTIST.encode().ljust(64, b"\0") + bytes(1900)
    return (
        _chunk(b"bext", bext)
        + _chunk(b"cart", cart)
        + _chunk(b"iXML", ixml)
        + _chunk(b"LIST", info)
        + _chunk(b"_PMX", xmp)
        + _chunk(b"id3 ", id3_data.getvalue())
    )


def _wav(path: Path, sound: np.ndarray, rf64: bool) -> None:
    plain = encode(path.with_suffix(".plain.wav"), "wav", "pcm_s16le", RATE, sound).read_bytes()
    plain_path = path.with_suffix(".plain.wav")
    plain_path.unlink()
    fmt = plain[12 : 12 + 8 + int.from_bytes(plain[16:20], "little")]
    data_at = plain.index(b"data", 12)
    samples = plain[data_at + 8 : data_at + 8 + int.from_bytes(plain[data_at + 4 : data_at + 8], "little")]
    extras = riff_extras()
    if not rf64:
        body = b"WAVE" + fmt + extras + _chunk(b"data", samples)
        path.write_bytes(b"RIFF" + struct.pack("<I", len(body)) + body)
        return
    # RF64: sizes of 0xFFFFFFFF in the RIFF and data headers, the real ones in a ds64 chunk first.
    ds64 = _chunk(b"ds64", struct.pack("<QQQI", 0, len(samples), 0, 0))
    data = b"data" + b"\xff\xff\xff\xff" + samples + b"\0" * (len(samples) & 1)
    body = b"WAVE" + ds64 + fmt + extras + data
    riff_size = 4 + len(body)
    body = (
        body[:4]
        + _chunk(b"ds64", struct.pack("<QQQI", riff_size, len(samples), 0, 0))
        + body[4 + len(ds64) :]
    )
    path.write_bytes(b"RF64" + b"\xff\xff\xff\xff" + body)


def _amr(path: Path, sound: np.ndarray) -> None:
    encode(path, "amr", "libopencore_amrnb", 8000, sound)


def _3gp(path: Path, sound: np.ndarray) -> None:
    encode(
        path, "3gp", "libopencore_amrnb", 8000, sound,
        title=PLACE, artist=ARTIST, comment=GPS, location="+52.4992+013.4264/", creation_time=DATE + "Z",
    )  # fmt: skip


# Name -> writer.  Each name's suffix is the one a phone or recorder gives such a file.
WRITERS: dict[str, Callable[[Path, np.ndarray], None]] = {
    "memo.m4a": _m4a,
    "interview.mp3": _mp3,
    "field.wav": lambda p, s: _wav(p, s, rf64=False),
    "field-rf64.wav": lambda p, s: _wav(p, s, rf64=True),
    "archive.flac": _flac,
    "crowd.ogg": lambda p, s: _ogg(p, s, opus=False),
    "voice-note.opus": lambda p, s: _ogg(p, s, opus=True),
    "call.3gp": _3gp,
    "recorder.aac": _aac,
}
UNTAGGED = {"call.amr": _amr}  # raw AMR has no room for a tag


def write_all(
    folder: Path, sound: np.ndarray, names: dict[str, Callable[[Path, np.ndarray], None]]
) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, writer in names.items():
        writer(folder / name, sound)
        paths.append(folder / name)
    return paths


def seconds(path: Path) -> float:
    """Seconds of sound the first sound stream of ``path`` decodes to."""
    with av.open(str(path)) as sound:
        return sum(f.samples / f.sample_rate for f in sound.decode(audio=0))


def samples(path: Path) -> str:
    """The SHA-256 of the first sound stream's decoded samples."""
    with av.open(str(path)) as sound:
        digest = hashlib.sha256()
        for frame in sound.decode(audio=0):
            digest.update(frame.to_ndarray().tobytes())
        return digest.hexdigest()
