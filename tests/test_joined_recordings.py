"""Recordings laid end to end, and bytes appended to one: what tag readers do not see is found by
`check` and never reaches what `strip` and `protect` write, and every part's sound is kept.

MP3 (`unseen.meta.mp3`): each part is what a phone or recorder writes (`sounds`): LAME's Info
frame first, an ID3v2.4 tag in front (place, GPS, artist, date, cover art, PRIV, GEOB, TXXX)
and an ID3v1 tag at the end; a third kind of tag, APEv2 (which mutagen writes), sits at the end
of one part.  The parts are joined byte for byte, as ``cat`` joins them.  FLAC
(`unseen.meta.flac`): two tagged files joined the same way, and tags or bytes appended to one;
FLAC is written afresh, its samples (and their MD5 in STREAMINFO) the original's.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import av
import numpy as np
import pytest
from mutagen.apev2 import APEv2
from mutagen.flac import FLAC

import sounds
from conftest import exiftool_tags, needs_exiftool, needs_voice, run_cli, tree_hashes
from unseen.meta import exiftool, flac, mp3

SEGMENTS = 3


@pytest.fixture(scope="module")
def parts(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    root = tmp_path_factory.mktemp("parts")
    made = [root / f"part{i}.mp3" for i in range(SEGMENTS)]
    for i, path in enumerate(made):
        sounds.WRITERS["interview.mp3"](path, sounds.speech(1.0 + 0.4 * i))
    ape = APEv2()  # type: ignore[no-untyped-call]
    ape["Title"] = sounds.PLACE
    ape.save(made[1])  # mutagen puts it after the part's ID3v1 tag
    return made


@pytest.fixture()
def joined(parts: list[Path], tmp_path: Path) -> Path:
    folder = tmp_path / "in"
    folder.mkdir()
    path = folder / "recording.mp3"
    path.write_bytes(b"".join(p.read_bytes() for p in parts))
    return path


def test_the_walk_names_every_tag_between_the_parts(joined: Path, parts: list[Path]) -> None:
    found = mp3.walk(joined.read_bytes())
    kinds = [what for _offset, what in found.between]
    # Part 1 ends with ID3v1; part 2 opens with ID3v2 and its Info frame, ends with ID3v1 and APEv2;
    # part 3 opens the same way.  The first part's ID3v2 and Info frame are where every MP3 has them.
    assert kinds == [
        "an ID3v1 tag", "an ID3v2 tag", "an encoder's header frame (Xing, Info or VBRI)",
        "an ID3v1 tag", "an APEv2 tag", "an ID3v2 tag", "an encoder's header frame (Xing, Info or VBRI)",
    ], kinds  # fmt: skip
    assert [what for _offset, what in found.tail] == ["an ID3v1 tag"]
    assert len(found.frames) == SEGMENTS
    for i, ((start, end), part) in enumerate(zip(found.frames, parts, strict=True)):
        alone = mp3.walk(part.read_bytes())
        assert alone.between == [] and [w for _o, w in alone.tail] == (
            ["an ID3v1 tag", "an APEv2 tag"] if part == parts[1] else ["an ID3v1 tag"]
        )
        # Every frame of the part is in its run, but a later part's Info frame.
        (first, last), info = alone.frames[0], mp3.frame_length(part.read_bytes(), alone.frames[0][0])
        assert end - start == last - first - (info if i else 0)


def test_check_finds_a_tag_inside_a_file_whose_start_and_end_are_clean(
    parts: list[Path], tmp_path: Path
) -> None:
    """The hole this closes: mutagen and exiftool read a file's start and end, so a clean copy of one
    part with a tagged part laid after it passed `check` as clean."""
    clean = tmp_path / "clean.mp3"
    assert run_cli("strip", parts[0], "-o", clean).code == 0
    tag_end = mp3.walk(parts[1].read_bytes()).frames[0][0]  # the part's ID3v2 tag, and nothing else
    data = clean.read_bytes()
    hidden = tmp_path / "hidden.mp3"
    hidden.write_bytes(data + parts[1].read_bytes()[:tag_end] + data[mp3.frame_length(data, 0) :])
    assert mp3.walk(hidden.read_bytes()).between == [(len(data), "an ID3v2 tag")]
    run = run_cli("check", hidden)
    assert run.code == 3, run.stderr
    assert "MP3:an ID3v2 tag at byte" in run.stderr and "Traceback" not in run.stderr, run.stderr


@pytest.mark.parametrize("command", [("strip",), ("protect", "--audio", "keep")], ids=["strip", "keep"])
def test_joined_parts_are_copied_without_the_tags_between_them(
    joined: Path, parts: list[Path], tmp_path: Path, command: tuple[str, ...]
) -> None:
    before = tree_hashes(joined.parent)
    output = tmp_path / "out.mp3"
    run = run_cli(*command, joined, "-o", output)
    assert run.code == 0 and "Traceback" not in run.stderr, run.stderr
    data = output.read_bytes()
    assert not [s for s in sounds.PLANTED if s in data]
    assert run_cli("check", output).code == 0
    # The copy holds every part's sound, packet for packet, as FFmpeg reads each part alone.
    assert _packets(output) == [p for part in parts for p in _packets(part)]
    assert tree_hashes(joined.parent) == before


@needs_exiftool
def test_a_copy_whose_sound_holds_a_start_code_is_judged_clean(parts: list[Path], tmp_path: Path) -> None:
    """Sound can hold ``00 00 01 C0`` (FFmpeg 8.1's LAME wrote it in a second of speech); in the first
    8 KiB of an MP3 that no tag opens (what `strip` writes), exiftool took it for an MPEG program
    stream and failed with "File format error", so `check` refused what `strip` wrote.  A tag the
    file holds is still found by exiftool, behind the empty tag it is asked again with."""
    copy = tmp_path / "copy.mp3"
    assert run_cli("strip", parts[0], "-o", copy).code == 0
    data = bytearray(copy.read_bytes())
    first = mp3.frame_length(data, 0)
    second = first + mp3.frame_length(data, first)
    assert first and mp3.frame_length(data, second), "frames from the first byte"
    data[second + 64 : second + 68] = b"\0\0\x01\xc0"  # inside the third frame's sound
    copy.write_bytes(data)
    assert exiftool.tags(copy)["ExifTool:Error"] == exiftool.FORMAT_ERROR  # what exiftool alone says
    run = run_cli("check", copy)
    assert run.code == 0, run.stderr
    v1 = b"TAG" + sounds.PLACE.encode()[:30].ljust(30, b"\0") + bytes(95)  # an ID3v1 tag naming the place
    copy.write_bytes(bytes(data) + v1)
    run = run_cli("check", copy)
    assert run.code == 3 and "ID3v1:Title (exiftool)" in run.stderr, run.stderr


@needs_voice
def test_joined_parts_are_disguised_whole(joined: Path, parts: list[Path], tmp_path: Path) -> None:
    output = tmp_path / "out.mp3"
    run = run_cli("protect", joined, "-o", output)
    assert run.code == 0 and "Traceback" not in run.stderr, run.stderr
    assert run_cli("check", output).code == 0
    # Each part as it plays alone, and at each join the later part's encoder delay and padding (two
    # frames at most), which a player trims only at the start and end of a file.
    each, joins = sum(sounds.seconds(p) for p in parts), 2 * 1152 / 44_100 * (SEGMENTS - 1)
    assert -0.1 < sounds.seconds(output) - each < 0.1 + joins, (sounds.seconds(output), each)


def test_a_video_whose_mp3_sound_holds_the_tags_of_its_parts_is_copied_without_them(
    joined: Path, parts: list[Path], tmp_path: Path
) -> None:
    """The same sound put into a video as it is (``ffmpeg -i recording.mp3 ... -c copy``): FFmpeg's
    demuxer hands on each tag inside a packet, the MP4 took it as sound, and `check` called the copy
    clean."""
    video = _into_video(joined, tmp_path / "video.mkv")
    run = run_cli("check", video)
    assert run.code == 3 and "mp3 packets holding an ID3v2 tag" in run.stderr, run.stderr
    # `strip` copies the frames; `protect --audio keep` decodes them (its decoder refused the tag).
    for command in (("strip",), ("protect", "--audio", "keep")):
        output = tmp_path / f"{command[0]}.mp4"
        run = run_cli(*command, video, "-o", output)
        assert run.code == 0 and "Traceback" not in run.stderr, run.stderr
        assert not [s for s in sounds.PLANTED if s in output.read_bytes()]
        assert run_cli("check", output).code == 0
        assert sounds.seconds(output) > sum(sounds.seconds(p) for p in parts) - 0.1  # every part's sound


def _into_video(sound_file: Path, video: Path) -> Path:
    """A 2 s Matroska video with the sound of ``sound_file`` copied in packet for packet, as FFmpeg's
    demuxer cuts them (``ffmpeg -i sound ... -c copy``)."""
    with av.open(str(sound_file)) as sound, av.open(str(video), "w") as out:
        picture = out.add_stream("libx264", rate=25)
        picture.width, picture.height, picture.pix_fmt = 64, 48, "yuv420p"
        voice = out.add_stream_from_template(sound.streams.audio[0])
        for i in range(50):
            frame = av.VideoFrame.from_ndarray(np.full((48, 64, 3), 4 * i, np.uint8), format="rgb24")
            frame.pts = i
            out.mux(picture.encode(frame))
        out.mux(picture.encode(None))
        at = 0  # each packet timed after the one before, as a muxer needs (a second part starts at 0)
        for packet in sound.demux(sound.streams.audio[0]):
            if packet.size:
                packet.pts = packet.dts = at
                at += packet.duration or 0
                packet.stream = voice
                out.mux(packet)
    assert sounds.PLANTED[2] in video.read_bytes()  # the artist
    return video


@pytest.mark.parametrize(
    ("between", "named"),
    [
        (b"LYRICSBEGIN" + b"x" * 40 + b"LYRICSEND", "a Lyrics3 tag"),
        (b"TAG" + b"\x00" * 125, "an ID3v1 tag"),
    ],
    ids=["lyrics3", "id3v1"],
)
def test_what_lies_between_two_runs_of_frames_is_named_and_left_out(
    parts: list[Path], tmp_path: Path, between: bytes, named: str
) -> None:
    clean, path = _with_inserted(parts[0], between, tmp_path)
    found, cut = mp3.walk(path.read_bytes()), _middle(clean.read_bytes())
    assert found.between == [(cut, named)] and found.tail == []
    assert found.frames == [(0, cut), (cut + len(between), clean.stat().st_size + len(between))]
    output = tmp_path / "out.mp3"
    assert run_cli("strip", path, "-o", output).code == 0
    assert _packets(output) == _packets(clean)


@pytest.mark.parametrize("between", [b'{"lat": 52.4992, "lon": 13.4264}', bytes(300)], ids=["text", "zeros"])
def test_a_frame_that_other_bytes_follow_is_left_out_with_them(
    parts: list[Path], tmp_path: Path, between: bytes
) -> None:
    """Whether the frame before them was cut short, its stated length holding part of them (text a
    tool wrote between two parts), cannot be told: it goes with them (found in review).  So it does
    before zero bytes, which an encoder's Info frame is mostly made of: a cut frame whose stated
    length ended there took the text before them as sound."""
    clean, path = _with_inserted(parts[0], between, tmp_path)
    data, cut = clean.read_bytes(), _middle(clean.read_bytes())
    starts = _frame_starts(data, 0)
    before = starts[starts.index(cut) - 1]
    found = mp3.walk(path.read_bytes())
    assert found.found == [(before, mp3.CUT)] and found.frames[0] == (0, before)
    output = tmp_path / "out.mp3"
    assert run_cli("strip", path, "-o", output).code == 0
    assert b"52.4992" not in output.read_bytes()
    dropped = starts.index(before) - 1  # the packets begin after the Info frame
    assert _packets(output) == [p for i, p in enumerate(_packets(clean)) if i != dropped]


def test_a_last_frame_cut_short_is_left_out(parts: list[Path], tmp_path: Path) -> None:
    """A recording that stops mid-frame: the frame's stated length may hold anything after the cut."""
    clean = tmp_path / "clean.mp3"
    assert run_cli("strip", parts[0], "-o", clean).code == 0
    data = clean.read_bytes()
    last = _frame_starts(data, 0)[-1]
    for cut, kind in ((last + 100, mp3.CUT), (last + 2, mp3.PARTIAL)):
        found = mp3.walk(data[:cut])
        assert found.frames == [(0, last)] and found.tail == [(last, kind)]
        assert found.found == ([] if kind == mp3.PARTIAL else [(last, kind)])
        source = tmp_path / f"cut{cut}.mp3"
        source.write_bytes(data[:cut])
        output = tmp_path / f"out{cut}.mp3"
        run = run_cli("strip", source, "-o", output)
        assert run.code == 0, run.stderr
        assert run_cli("check", output).code == 0


def _middle(data: bytes) -> int:
    """A frame start near the middle of ``data``, a clean MP3 from FFmpeg."""
    starts = _frame_starts(data, 0)
    return starts[len(starts) // 2]


def _with_inserted(part: Path, between: bytes, tmp_path: Path) -> tuple[Path, Path]:
    """A clean copy of ``part``, and the same with ``between`` inserted before its middle frame."""
    clean = tmp_path / "clean.mp3"
    assert run_cli("strip", part, "-o", clean).code == 0
    data = clean.read_bytes()
    path = tmp_path / "in.mp3"
    path.write_bytes(data[: _middle(data)] + between + data[_middle(data) :])
    return clean, path


def test_a_file_that_is_not_mpeg_audio_is_all_named() -> None:
    found = mp3.walk(b"not an mp3 at all")
    assert found.frames == [] and found.tail == [(0, "bytes that are not MPEG audio")]
    assert mp3.walk(b"").plain


def _packets(path: Path) -> list[str]:
    with av.open(str(path)) as container:
        return [hashlib.sha256(bytes(p)).hexdigest() for p in container.demux(audio=0) if p.size]


@pytest.fixture(scope="module")
def archives(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    root = tmp_path_factory.mktemp("flac")
    made = [root / f"archive{i}.flac" for i in range(2)]
    for i, path in enumerate(made):
        sounds.WRITERS["archive.flac"](path, sounds.speech(1.0 + 0.5 * i))
    return made


ID3V1 = (
    b"TAG" + sounds.PLACE.encode()[:30].ljust(30, b"\0") + sounds.ARTIST.encode().ljust(30, b"\0") + bytes(65)
)


@pytest.mark.parametrize(
    ("case", "named"),
    [
        ("joined", "another stream's header (STREAMINFO, VORBIS_COMMENT, PICTURE"),
        ("id3v1", "bytes after the last frame"),
        ("appended", "bytes after the last frame"),
    ],
)
def test_a_flac_with_bytes_no_tag_reader_sees_is_written_afresh_without_them(
    archives: list[Path], tmp_path: Path, case: str, named: str
) -> None:
    """Copied packet for packet, each of these kept the bytes inside a frame's packet (FFmpeg's parser
    finds a frame's end by its checksum alone), and `check` called the copy clean."""
    first = archives[0].read_bytes()
    tail = {"joined": archives[1].read_bytes(), "id3v1": ID3V1, "appended": b"met Jane Roe at noon " * 8}[
        case
    ]
    folder = tmp_path / "in"
    folder.mkdir()
    source = folder / "recording.flac"
    source.write_bytes(first + tail)
    before = tree_hashes(folder)
    run = run_cli("check", source)
    assert run.code == 3 and f"FLAC:{named}" in run.stderr, run.stderr
    for command in (("strip",), ("protect", "--audio", "keep")):
        output = tmp_path / f"{command[0]}.flac"
        run = run_cli(*command, source, "-o", output)
        assert run.code == 0 and "written afresh, losslessly" in run.stderr + run.stdout, run.stderr
        assert not [s for s in sounds.PLANTED if s in output.read_bytes()], case
        assert run_cli("check", output).code == 0
        assert sounds.samples(output) == sounds.samples(source)
    if case == "joined":  # both parts' samples, as the decoder reads the joined file
        assert abs(sounds.seconds(source) - sounds.seconds(archives[0]) - sounds.seconds(archives[1])) < 0.01
    assert tree_hashes(folder) == before


@pytest.mark.parametrize("bits", [24, 32])
def test_a_deep_flac_keeps_its_depth_and_its_samples(tmp_path: Path, bits: int) -> None:
    """FFmpeg's encoder wrote 24 bits of a 32-bit FLAC unless told (found in review)."""
    source = _flac(tmp_path / "deep.flac", bits, 48_000, "stereo")
    output = tmp_path / "clean.flac"
    run = run_cli("strip", source, "-o", output)
    assert run.code == 0, run.stderr
    assert sounds.samples(output) == sounds.samples(source)
    tags, original = exiftool_tags(output), exiftool_tags(source)
    assert tags["FLAC:BitsPerSample"] == original["FLAC:BitsPerSample"] == bits
    assert tags["FLAC:MD5Signature"] == original["FLAC:MD5Signature"]


def test_flacs_of_other_rates_laid_end_to_end_are_refused_in_words(tmp_path: Path) -> None:
    first = _flac(tmp_path / "a.flac", 16, 44_100, "stereo").read_bytes()
    source = tmp_path / "joined.flac"
    source.write_bytes(first + _flac(tmp_path / "b.flac", 16, 8_000, "mono").read_bytes())
    run = run_cli("strip", source, "-o", tmp_path / "out.flac")
    assert run.code == 1 and "its sound changes rate or channels midway" in run.stderr, run.stderr
    assert "internal error" not in run.stderr and not (tmp_path / "out.flac").exists()


def test_flacs_laid_end_to_end_in_a_video_keep_every_sample(archives: list[Path], tmp_path: Path) -> None:
    """The decoder gives the frames of the packet that holds the second header no time: the MP4
    muxer refused the times the encoder made up (found in review)."""
    joined = tmp_path / "joined.flac"
    joined.write_bytes(archives[0].read_bytes() + archives[1].read_bytes())
    video = _into_video(joined, tmp_path / "video.mkv")
    output = tmp_path / "clean.mp4"
    run = run_cli("strip", video, "-o", output)
    assert run.code == 0, run.stderr
    assert run_cli("check", output).code == 0
    assert sounds.samples(output) == sounds.samples(video)


def _flac(path: Path, bits: int, rate: int, layout: str) -> Path:
    """Half a second of noise as a FLAC of ``bits`` bits per sample (16: s16; 24 or 32: s32)."""
    channels = av.AudioLayout(layout).nb_channels
    wide = bits > 16
    noise = np.random.default_rng(bits).integers(-(2 ** (bits - 1)), 2 ** (bits - 1), (channels, rate // 2))
    noise = (noise * (2 ** (32 - bits)) if wide else noise).astype(np.int32 if wide else np.int16)
    with av.open(str(path), "w") as out:
        stream = out.add_stream("flac", rate=rate)
        stream.layout, stream.format = layout, "s32" if wide else "s16"
        stream.codec_context.options = {"bits_per_raw_sample": str(bits), "strict": "experimental"}
        frame = av.AudioFrame.from_ndarray(
            noise.T.reshape(1, -1).copy(), format=stream.format.name, layout=layout
        )
        frame.sample_rate, frame.pts = rate, 0
        for packet in [*stream.encode(frame), *stream.encode(None)]:
            out.mux(packet)
    return path


def test_the_flac_checksum_is_the_formats_own(archives: list[Path]) -> None:
    """Every frame FFmpeg's parser cuts from a tagged file sums to 0, its own checksum included."""
    with av.open(str(archives[0])) as container:
        frames = [bytes(p) for p in container.demux(audio=0) if p.size]
    assert len(frames) > 5 and not [f for f in frames if flac.crc16(f)]
    assert flac.crc16(frames[0] + b"x")


def test_a_video_whose_flac_sound_holds_appended_bytes_is_written_without_them(
    archives: list[Path], tmp_path: Path
) -> None:
    """FLAC in a video was copied packet for packet like any sound an MP4 carries, and so were the
    bytes appended after its last frame; it is written afresh there too."""
    appended = tmp_path / "appended.flac"
    appended.write_bytes(archives[0].read_bytes() + ID3V1)
    video = _into_video(appended, tmp_path / "video.mkv")
    run = run_cli("check", video)
    assert run.code == 3 and "flac packets holding bytes after the last frame" in run.stderr, run.stderr
    output = tmp_path / "clean.mp4"
    run = run_cli("strip", video, "-o", output, "--json")
    assert run.code == 0 and "FLAC written afresh" in run.records()[0]["note"], run.stdout + run.stderr
    assert not [s for s in sounds.PLANTED if s in output.read_bytes()]
    assert run_cli("check", output).code == 0
    assert sounds.samples(output) == sounds.samples(appended)


def _frame_starts(data: bytes, start: int) -> list[int]:
    """Where each frame of the run beginning at ``start`` begins."""
    starts, pos = [], start
    while pos < len(data) and mp3.frame_length(data, pos):
        starts.append(pos)
        pos += mp3.frame_length(data, pos)
    return starts


def test_a_part_cut_short_does_not_hide_the_next_parts_tag(parts: list[Path], tmp_path: Path) -> None:
    """A part whose last frame was cut short (a flat battery), the next part laid after it: the cut
    frame's stated length held the start of the next part's ID3v2 tag, so the tag went into the copy
    as sound, and `check` called the copy clean (found in review)."""
    first = parts[0].read_bytes()
    first = first[: len(first) - 128]  # its ID3v1 tag left off: the recording stopped mid-frame
    last = _frame_starts(first, mp3.walk(first).frames[0][0])[-1]
    source = tmp_path / "in.mp3"
    source.write_bytes(first[: last + 40] + parts[1].read_bytes())
    found = mp3.walk(source.read_bytes())
    assert found.between[:2] == [(last, mp3.CUT), (last + 40, mp3.ID3V2)], found.between
    run = run_cli("check", source)
    assert run.code == 3 and "MP3:a frame cut short" in run.stderr, run.stderr
    output = tmp_path / "out.mp3"
    assert run_cli("strip", source, "-o", output).code == 0
    assert not [s for s in sounds.PLANTED if s in output.read_bytes()]
    assert run_cli("check", output).code == 0


def test_a_tag_that_exactly_fills_a_cut_frame_is_still_found(parts: list[Path], tmp_path: Path) -> None:
    """The cut frame's stated length ends exactly where the tag does, and a frame follows: by lengths
    alone the file is frames end to end, and the tag would pass as sound."""
    clean = tmp_path / "clean.mp3"
    assert run_cli("strip", parts[0], "-o", clean).code == 0
    data = clean.read_bytes()
    starts = _frame_starts(data, 0)
    tag = b"ID3\x04\x00\x00\x00\x00\x00\x20" + sounds.ARTIST.encode().ljust(32, b"\0")
    frame = starts[10]
    cut = frame + mp3.frame_length(data, frame) - len(tag)
    hidden = data[:cut] + tag + data[starts[11] :]
    assert mp3.frame_length(hidden, frame) and mp3.frame_length(hidden, cut + len(tag))  # lengths add up
    assert mp3.walk(hidden).found == [(frame, mp3.CUT), (cut, mp3.ID3V2)]


def test_a_tag_whose_size_is_damaged_does_not_swallow_the_rest(parts: list[Path], tmp_path: Path) -> None:
    clean = tmp_path / "clean.mp3"
    assert run_cli("strip", parts[0], "-o", clean).code == 0
    data = clean.read_bytes()
    middle = _frame_starts(data, 0)[len(_frame_starts(data, 0)) // 2]
    source = tmp_path / "in.mp3"
    source.write_bytes(data[:middle] + b"ID3\x04\x00\x00\x7f\x7f\x7f\x7f" + data[middle:])  # 256 MB stated
    found = mp3.walk(source.read_bytes())
    assert found.found == [(middle, mp3.NOT_AUDIO)] and found.frames[-1][1] == len(data) + 10
    output = tmp_path / "out.mp3"
    assert run_cli("strip", source, "-o", output).code == 0
    assert abs(sounds.seconds(output) - sounds.seconds(clean)) < 0.05  # the sound after the tag is kept


def test_thousands_of_things_between_frames_are_counted_not_listed(tmp_path: Path) -> None:
    source = tmp_path / "crafted.mp3"
    source.write_bytes(MP3_HEADER_RUN + (b"LYRICSBEGIN" + b"x" * 35) * 20_000)
    run = run_cli("check", source)
    assert run.code == 3 and "more things between the frames" in run.stderr, run.stderr[-500:]
    assert run.stderr.count("Lyrics3") <= mp3.SHOWN


MP3_HEADER_RUN = b"".join(b"\xff\xfb\x90\x64" + bytes(413) for _ in range(4))  # 128 kbit/s, 44.1 kHz


def test_a_flac_whose_comment_is_not_utf8_is_judged(archives: list[Path], tmp_path: Path) -> None:
    """The packet walk opened the file with FFmpeg's tags read strictly: a damaged comment was an
    internal error in `check` (robustness suite, seed 42)."""
    data = bytearray(archives[0].read_bytes())
    data[data.find(sounds.PLACE.encode()) + 1] = 0xA0
    source = tmp_path / "damaged.flac"
    source.write_bytes(bytes(data))
    run = run_cli("check", source)
    assert run.code == 3 and "internal error" not in run.stderr and "FLAC:title" in run.stderr, run.stderr


@pytest.mark.parametrize("layout", ["5.1", "2.1"])
def test_a_flac_for_speakers_keeps_its_speaker_mask(tmp_path: Path, layout: str) -> None:
    """FFmpeg writes which speakers a 5.1 or 2.1 FLAC's channels go to as a comment, a hex mask; the
    scan took it for a tag, and `strip` refused every such file (found in review).  A mask comment
    that holds anything else is still a finding."""
    source = _flac(tmp_path / "speakers.flac", 16, 48_000, layout)
    output = tmp_path / "clean.flac"
    run = run_cli("strip", source, "-o", output)
    assert run.code == 0, run.stderr
    assert run_cli("check", output).code == 0
    assert sounds.samples(output) == sounds.samples(source)
    tags = FLAC(output)
    assert tags["WAVEFORMATEXTENSIBLE_CHANNEL_MASK"] == ["0x3f" if layout == "5.1" else "0xb"]
    tags["WAVEFORMATEXTENSIBLE_CHANNEL_MASK"] = sounds.PLACE
    tags.save()
    run = run_cli("check", output)
    assert run.code == 3 and "waveformatextensible_channel_mask" in run.stderr.lower(), run.stderr
