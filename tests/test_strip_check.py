"""`unseen strip` removes every piece of metadata and leaves the pictures alone; `unseen check` says
what a file still gives away.

The inputs are written here: the astronaut as JPEG, PNG, WebP, TIFF and HEIC
with EXIF GPS, XMP, IPTC and a thumbnail of her face, and short MP4/MOV/MKV
clips with a location, a creation time, a chapter, subtitles and a data
stream.  Where ../shared is present, the camera and phone files under
data/metadata/ are stripped and checked too.  exiftool is the judge throughout.
"""

from __future__ import annotations

import base64
import io
import json
import os
import re
import struct
import subprocess
import sys
import time
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest
from PIL import Image

import sounds
from conftest import (
    FPS,
    FRAMES,
    SHARED,
    Run,
    copy_files,
    decodes,
    exiftool_tags,
    groups_of,
    identifying_in,
    leaks,
    make_clip,
    needs_exiftool,
    needs_shared,
    pixels,
    plays,
    produced,
    run_cli,
    save,
    shared_params,
    tag_table,
    unallowed_in,
    write_tagged_photos,
)
from unseen.check import Checker
from unseen.jobs import Job
from unseen.media.video import VideoReader
from unseen.meta import aac, exiftool, gif, hevc, isobmff, png, policy, setups, tiff, units
from unseen.meta import video as meta_video
from unseen.meta.findings import Finding
from unseen.settings import Settings
from unseen.strip import strip_file

pytestmark = needs_exiftool

PHOTOS = (".jpg", ".png", ".webp", ".tiff", ".heic")
VIDEOS = (".mp4", ".mov", ".mkv")
LOSSLESS = (".jpg", ".png")
VIDEO_TAGS = {"location": "+52.4992+013.4264/", "creation_time": "2024-05-01T12:00:00Z", "title": "Jane Roe"}
HIDDEN_TEXT = b"Jane Roe, Kreuzberg"  # in the subtitles, the chapter title and the data stream


def write_tagged_video(clip: Path, target: Path) -> None:
    """Copy ``clip``'s picture and sound into ``target`` (MP4, MOV or MKV), adding what cameras and
    editors add: container tags, a chapter, a subtitle stream and a data stream."""
    with av.open(str(clip)) as src, av.open(str(target), "w") as out:
        out.metadata.update(VIDEO_TAGS)
        copies = {s.index: out.add_stream_from_template(s) for s in src.streams}
        mkv = target.suffix == ".mkv"
        extras = [out.add_mux_stream("subrip" if mkv else "mov_text")]
        if target.suffix == ".mp4":
            extras.append(out.add_mux_stream("bin_data"))  # written as a GoPro-style telemetry track
        elif target.suffix == ".mov":
            # PyAV's MOV muxer takes no raw data stream; a timecode on the picture makes it
            # write one of its own (a tmcd track).
            copies[src.streams.video[0].index].metadata["timecode"] = "01:02:03:04"
        else:
            # Matroska has no data streams; an attachment is what it carries besides the media.
            out.add_attachment("owner.txt", "text/plain", HIDDEN_TEXT)
        chapter = {"title": HIDDEN_TEXT.decode()}
        out.set_chapters(
            [{"id": 1, "start": 0, "end": 1000, "time_base": Fraction(1, 1000), "metadata": chapter}]
        )
        # A mov_text sample is its text behind a 16-bit length; SubRip and data packets are the bytes alone.
        sample = len(HIDDEN_TEXT).to_bytes(2, "big") + HIDDEN_TEXT
        for stream in extras:
            packet = av.Packet(HIDDEN_TEXT if mkv or stream.type == "data" else sample)
            packet.stream, packet.time_base = stream, Fraction(1, 1000)
            packet.pts = packet.dts = 0
            packet.duration = 1000
            out.mux(packet)
        for packet in src.demux():
            if packet.size:  # not the end-of-stream marker
                packet.stream = copies[packet.stream.index]
                out.mux(packet)


@dataclass
class Made:
    photos: Path
    videos: Path
    stripped: Run
    protected: Run

    def stripped_output(self, name: str) -> Path:
        return Path(self.stripped.by_input()[name]["output"])

    def outputs(self, command: str) -> list[tuple[str, Path]]:
        run = self.stripped if command == "strip" else self.protected
        return [(name, Path(r["output"])) for name, r in sorted(run.by_input().items())]


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory, astronaut: np.ndarray) -> Made:
    root = tmp_path_factory.mktemp("strip")
    photos, videos = root / "photos", root / "videos"
    write_tagged_photos(photos, astronaut, PHOTOS)
    videos.mkdir()
    clip = make_clip(root / "clip.mp4", audio=True).path
    for suffix in VIDEOS:
        write_tagged_video(clip, videos / f"tagged{suffix}")
    stripped = run_cli("strip", photos, videos, "-o", root / "stripped", "--json")
    protected = run_cli("protect", videos, photos / "tagged.jpg", "-o", root / "protected", "--json")
    return Made(photos, videos, stripped, protected)


@pytest.mark.parametrize("suffix", PHOTOS)
def test_photo_inputs_really_carry_metadata(made: Made, suffix: str) -> None:
    tags = exiftool_tags(made.photos / f"tagged{suffix}")
    assert {"GPS", "IFD0", "IFD1", "XMP-dc"} <= groups_of(tags)
    if suffix != ".tiff":  # a TIFF's thumbnail is its second page, IFD1
        assert any(key.endswith(":ThumbnailImage") for key in tags)
    if suffix in (".jpg", ".png", ".tiff"):
        assert "IPTC" in groups_of(tags)


@pytest.mark.parametrize("suffix", VIDEOS)
def test_video_inputs_really_carry_metadata(made: Made, suffix: str) -> None:
    path = made.videos / f"tagged{suffix}"
    with av.open(str(path)) as container:
        tags = {key.lower() for key in container.metadata}
        kinds = {s.type for s in container.streams}
        assert {"location", "creation_time", "title"} <= tags
        assert len(container.chapters()) == 1
        assert {"video", "audio", "subtitle", "attachment" if suffix == ".mkv" else "data"} <= kinds
    assert HIDDEN_TEXT in path.read_bytes()


def test_strip_and_protect_take_every_file(made: Made) -> None:
    assert made.stripped.code == 0, made.stripped.stderr
    assert {r["status"] for r in made.stripped.records()} == {"stripped"}
    assert len(made.stripped.records()) == len(PHOTOS) + len(VIDEOS)
    assert made.protected.code == 0, made.protected.stderr
    assert {r["status"] for r in made.protected.records()} == {"protected"}


@pytest.mark.parametrize("command", ["strip", "protect"])
def test_nothing_identifying_is_left(made: Made, command: str) -> None:
    for name, output in made.outputs(command):
        tags = exiftool_tags(output, numeric=True)
        assert identifying_in(tags) == [], name
        assert unallowed_in(tags) == [], name
        assert leaks(output) == [], name
        if output.suffix == ".mp4":
            assert plays(output), name
        else:
            assert decodes(output), name
            with Image.open(output) as img:
                assert getattr(img, "n_frames", 1) == 1, f"{name}: a thumbnail page is left"


@pytest.mark.parametrize("suffix", LOSSLESS)
def test_jpeg_and_png_strip_is_lossless(made: Made, suffix: str) -> None:
    record = made.stripped.by_input()[f"tagged{suffix}"]
    assert record["note"] == "rewritten"
    with Image.open(made.photos / f"tagged{suffix}") as before, Image.open(record["output"]) as after:
        assert np.array_equal(np.asarray(before), np.asarray(after))


def test_check_lists_what_every_original_carries(made: Made) -> None:
    run = run_cli("check", made.photos, made.videos, "--no-faces", "--json")
    assert run.code == 3, run.stderr
    records = run.by_input()
    assert sorted(records) == sorted(f"tagged{s}" for s in PHOTOS + VIDEOS)
    for name, record in records.items():
        assert record["status"] == "dirty" and record["findings"], name
    assert any("GPS" in item for item in records["tagged.jpg"]["findings"])
    assert any("location" in item for item in records["tagged.mp4"]["findings"])


def test_check_passes_every_output(made: Made) -> None:
    # Strip leaves faces as they are: only the metadata is judged.
    stripped = run_cli("check", *(p for _, p in made.outputs("strip")), "--no-faces", "--json")
    assert stripped.code == 0, stripped.stdout + stripped.stderr
    protected = run_cli("check", *(p for _, p in made.outputs("protect")), "--json")
    assert protected.code == 0, protected.stdout + protected.stderr
    assert {r["status"] for r in stripped.records() + protected.records()} == {"clean"}


def test_check_still_sees_the_face_after_strip(made: Made) -> None:
    run = run_cli("check", made.stripped_output("tagged.jpg"), "--json")
    assert run.code == 3
    (record,) = run.records()
    assert record["faces"] >= 1
    assert all(item.startswith("face at") for item in record["findings"]), "only the face is left"


def test_check_without_faces_still_reads_the_picture(made: Made, tmp_path: Path) -> None:
    """`check --no-faces` called a TIFF whose picture does not decode (a directory with no strips)
    clean on its metadata alone: a file unseen cannot read is never clean.  A photo is read whole,
    a video's first frame; a clean output still passes."""
    entries = [(256, 4, 64), (257, 4, 64), (258, 3, 8), (259, 3, 1), (262, 3, 1), (277, 3, 1)]
    directory = struct.pack("<H", len(entries))
    directory += b"".join(struct.pack("<HHII", tag, kind, 1, value) for tag, kind, value in entries)
    stripless = tmp_path / "stripless.tif"
    stripless.write_bytes(b"II*\x00" + struct.pack("<I", 8) + directory + struct.pack("<I", 0))
    run = run_cli("check", stripless, "--no-faces")
    assert run.code == 1 and "cannot read the picture" in run.stderr, run.stderr
    clean = [p for _, p in made.outputs("protect")]
    assert {p.suffix for p in clean} >= {".jpg", ".mp4"}
    assert run_cli("check", *clean, "--no-faces").code == 0


def test_check_all_judges_two_files_at_once_as_one_at_a_time(made: Made, tmp_path: Path) -> None:
    """`Checker.check_all` (what `unseen check` runs) gives each file the verdict `check` gives it
    alone, in the order the files were given: a face, metadata, a broken file, clean outputs."""
    clean = [p for _, p in made.outputs("protect")]
    broken = tmp_path / "broken.jpg"  # a clean photo cut short: its pixels cannot be judged
    broken.write_bytes(next(p for p in clean if p.suffix == ".jpg").read_bytes()[:600])
    files = [
        made.stripped_output("tagged.jpg"),  # a face
        made.videos / "tagged.mp4",  # metadata
        broken,
        *clean,  # a video among them
    ]
    both = list(Checker(Settings(threads=2)).check_all(files))
    alone = [Checker(Settings(threads=1)).check(f) for f in files]
    assert [r.input for r in both] == files
    verdicts = [[(r.status, r.faces, r.findings, r.error) for r in run] for run in (both, alone)]
    assert verdicts[0] == verdicts[1]
    assert [r.status for r in both[:3]] == ["dirty", "dirty", "dirty"]
    assert any(f.startswith("pixels not checked") for f in both[2].findings), both[2].findings
    assert {r.status for r in both[3:]} == {"clean"}


def test_leaving_check_all_stops_the_video_being_judged(made: Made, monkeypatch: pytest.MonkeyPatch) -> None:
    """Ctrl-C in `unseen check` (or any error in its caller) ends a video's check at its next frame,
    rather than waiting for it to be decoded to the end."""
    decoded: list[int] = []
    frames = VideoReader.frames

    def slowly(reader: VideoReader) -> Iterator[av.VideoFrame]:
        for frame in frames(reader):
            decoded.append(1)
            time.sleep(0.1)  # so that the photo beside it is judged long before the video's end
            yield frame

    monkeypatch.setattr(VideoReader, "frames", slowly)
    results = Checker(Settings(threads=2)).check_all(
        [made.stripped_output("tagged.jpg"), made.videos / "tagged.mp4"]
    )
    assert next(results).status == "dirty"  # the photo, while the video is being judged
    results.close()  # what an exception in the caller does to the generator
    assert 0 < len(decoded) < FRAMES


def _timeline(path: Path) -> dict[str, Any]:
    """Frame count and, in seconds, when the picture starts and ends and when the sound does."""
    pictures, sounds = [], []
    with av.open(str(path)) as container:
        for frame in container.decode(video=0, audio=0):
            if isinstance(frame, av.AudioFrame):
                sounds.append((float(frame.time), frame.samples / frame.sample_rate))
            else:
                pictures.append(float(frame.time))
    start = pictures[0]
    return {
        "frames": len(pictures),
        "picture ends": pictures[-1] - start,
        "sound starts": sounds[0][0] - start,
        "sound ends": sum(sounds[-1]) - start,
    }


@pytest.mark.parametrize("suffix", VIDEOS)
def test_strip_keeps_every_frame_in_time_with_the_sound(made: Made, suffix: str) -> None:
    before = _timeline(made.videos / f"tagged{suffix}")
    after = _timeline(made.stripped_output(f"tagged{suffix}"))
    assert before["frames"] == after["frames"] == FRAMES
    assert plays(made.stripped_output(f"tagged{suffix}"))
    for moment in ("picture ends", "sound starts", "sound ends"):
        assert after[moment] == pytest.approx(before[moment], abs=1 / FPS), moment


@pytest.mark.parametrize(("suffix", "muxed_as"), [(".mov", "mov"), (".m4v", "mp4")])
def test_a_video_stripped_to_a_mov_or_m4v_asked_for_is_written_so(
    made: Made, tmp_path: Path, suffix: str, muxed_as: str
) -> None:
    """``strip IMG_0001.MOV -o clean.mov`` (a phone's clip, its suffix kept) was refused with "cannot
    write a clean copy as .mov", though protect writes one; a camera's MOV, with its timecode track,
    chapter and subtitles, now comes out as a MOV with nothing but its picture and sound."""
    target = tmp_path / f"clean{suffix}"
    run = run_cli("strip", made.videos / "tagged.mov", "-o", target)
    assert run.code == 0, run.stderr
    with av.open(str(target)) as out:
        assert muxed_as in out.format.name.split(",")
        assert {s.type for s in out.streams} == {"video", "audio"}
        assert not out.metadata.keys() - meta_video.STRUCTURAL_TAGS - {"encoder"}
    tags = exiftool_tags(target, numeric=True)
    assert identifying_in(tags) == [] and unallowed_in(tags) == [] and leaks(target) == []
    assert _timeline(target)["frames"] == FRAMES and plays(target)
    assert run_cli("check", target, "--no-faces").code == 0


@pytest.mark.parametrize(
    ("codec", "layout"),
    [("aac", "stereo"), ("aac", "5.1"), ("libmp3lame", "mono"), ("libmp3lame", "stereo"), ("ac3", "stereo"),
     ("ac3", "5.1"), ("eac3", "stereo"), ("alac", "5.1")],
)  # fmt: skip
def test_sound_a_mov_carries_is_copied_into_it_and_passes(tmp_path: Path, codec: str, layout: str) -> None:
    """FFmpeg's MOV muxer describes the sound's channels (a 'chan' atom: a bitmap of the channels
    present) and names AC-3's code in a 'wave' atom; those neutral values were taken for metadata
    left behind, so stripping to .mov failed for AC-3, E-AC-3, MP3 and 5.1 sound."""
    clip = _recording_part(tmp_path / "in.mp4", 16, 0.0, muxer="mp4", sound_codec=codec, layout=layout)
    run = run_cli("strip", clip, "-o", tmp_path / "clean.mov", "--json")
    assert run.code == 0, run.stderr
    afresh = "re-encoded: ALAC written afresh, losslessly (every sample kept)"  # like FLAC, never copied
    assert run.records()[0]["note"] == (afresh if codec == "alac" else "remuxed")
    with av.open(str(tmp_path / "clean.mov")) as out:
        assert out.streams.audio[0].codec_context.channels == av.AudioLayout(layout).nb_channels
    assert run_cli("check", tmp_path / "clean.mov", "--no-faces").code == 0


@pytest.mark.parametrize("suffix", [".mov", ".mp4"])
def test_hevc_is_copied_with_the_tag_apples_players_play(tmp_path: Path, suffix: str) -> None:
    """FFmpeg tags a copied HEVC stream hev1, and Apple's players play only hvc1: a phone's hvc1 clip
    came back as hev1."""
    clip = make_clip(tmp_path / "phone.mkv", codec="libx265").path
    run = run_cli("strip", clip, "-o", tmp_path / f"clean{suffix}")
    assert run.code == 0, run.stderr
    assert exiftool_tags(tmp_path / f"clean{suffix}")["QuickTime:Track1:CompressorID"] == "hvc1"
    assert plays(tmp_path / f"clean{suffix}")


def test_what_a_mov_cannot_carry_is_encoded_again_and_said(tmp_path: Path) -> None:
    """FFmpeg's MOV muxer refuses VP9, AV1, Opus and FLAC as they are ("cannot copy the streams
    (Invalid argument)", blamed on the input): a web clip asked for as a MOV is encoded again, and
    its line says so; as an MP4 the same clip is copied."""
    clip = make_clip(tmp_path / "web.webm", codec="libvpx-vp9", audio=True, sound_codec="libopus").path
    run = run_cli("strip", clip, "-o", tmp_path / "clean.mov", "--json")
    assert run.code == 0, run.stderr
    (record,) = run.records()
    assert (
        record["note"]
        == "re-encoded: vp9 to H.264, opus to AAC (a MOV cannot carry opus or vp9 as it is; an MP4 can)"
    )
    with av.open(str(tmp_path / "clean.mov")) as out:
        assert [s.codec_context.name for s in out.streams] == ["h264", "aac"]
    assert _timeline(tmp_path / "clean.mov")["frames"] == FRAMES
    run = run_cli("strip", clip, "-o", tmp_path / "clean.mp4", "--json")
    assert run.code == 0, run.stderr
    assert run.records()[0]["note"] == "remuxed"


@pytest.mark.parametrize(
    ("source", "suffix"), [("tagged.mp4", ".mkv"), ("tagged.mp4", ".jpg"), ("tagged.png", ".mov")]
)
def test_a_copy_in_a_form_strip_cannot_write_is_refused_with_what_it_can(
    made: Made, tmp_path: Path, source: str, suffix: str
) -> None:
    folder = made.videos if source.endswith(".mp4") else made.photos
    target = tmp_path / f"clean{suffix}"
    run = run_cli("strip", folder / source, "-o", target)
    assert run.code == 1
    (line,) = run.stderr.strip().splitlines()
    expected = "is a picture, not a video" if suffix == ".mov" else ".mp4, .m4v or .mov"
    assert source in line and expected in line, line
    assert not target.exists()


def _photo_with_a_past(folder: Path, astronaut: np.ndarray) -> Path:
    """A photo last changed ten years ago."""
    source = save(astronaut[:64, :64], folder / "holiday.png")
    long_ago = time.time() - 10 * 365 * 86400
    os.utime(source, (long_ago, long_ago))
    return source


def test_strip_output_has_a_fresh_time_and_a_neutral_name(tmp_path: Path, astronaut: np.ndarray) -> None:
    source = _photo_with_a_past(tmp_path / "in", astronaut)
    started = time.time()
    run = run_cli("strip", source, "-o", tmp_path / "out")
    assert run.code == 0, run.stderr
    (output,) = produced(tmp_path / "out")
    assert re.fullmatch(r"unseen-[0-9a-f]+\.png", output.name)
    assert output.stat().st_mtime >= started - 1
    kept = run_cli("strip", source, "-o", tmp_path / "kept", "--keep-names")
    assert kept.code == 0, kept.stderr
    assert [p.name for p in produced(tmp_path / "kept")] == ["holiday.png"]


def test_strip_copies_no_extended_attributes(tmp_path: Path, astronaut: np.ndarray) -> None:
    source = _photo_with_a_past(tmp_path / "in", astronaut)
    try:
        os.setxattr(source, "user.where", b"Kreuzberg")
    except OSError as exc:
        pytest.skip(f"this file system takes no extended attributes ({exc.strerror})")
    run = run_cli("strip", source, "-o", tmp_path / "out")
    assert run.code == 0, run.stderr
    (output,) = produced(tmp_path / "out")
    assert os.listxattr(output) == []


def _fake_dng(path: Path) -> None:
    # A TIFF with the DNGVersion tag (50706) is a camera RAW file, whatever its name says.
    Image.new("RGB", (16, 16)).save(path, "TIFF", tiffinfo={50706: b"\x01\x04\x00\x00"})


@pytest.mark.parametrize(
    ("name", "why"),
    [
        ("scan.pdf", "PDF"),
        ("album.zip", "archive"),
        ("camera.dng", "RAW"),
        ("camera-raw.tif", "RAW"),
    ],
)
def test_strip_refuses_what_it_cannot_clean(tmp_path: Path, name: str, why: str) -> None:
    source = tmp_path / name
    if name.endswith(".pdf"):
        source.write_bytes(b"%PDF-1.4\n% Jane Roe\n%%EOF\n")
    elif name.endswith(".zip"):
        source.write_bytes(b"PK\x03\x04" + bytes(26) + b"Jane Roe")
    else:
        _fake_dng(source)
    out = tmp_path / "out"
    run = run_cli("strip", source, "-o", out)
    assert run.code == 1
    (line,) = run.stderr.strip().splitlines()
    assert str(source) in line and why in line
    assert not out.exists()


# --- the camera and phone files in ../shared ---------------------------------------------------

METADATA = SHARED / "data" / "metadata"
# Cut down so far that no decoder shows a picture: these two may be refused, and only these.
UNREADABLE = {"exiftool/QuickTime.mov", "exiftool/QuickTime.heic"}


def _manifest() -> dict[str, dict[str, Any]]:
    """The manifest's rows by file; ``identifying`` maps exiftool tag names to what they said."""
    if not METADATA.is_dir():
        return {}
    lines = (METADATA / "manifest.jsonl").read_text().splitlines()
    return {row["file"]: row for row in map(json.loads, lines)}


@dataclass
class SharedRun:
    """One `strip` over the whole folder, exiftool's tags (``-n``) before and after, and `check` on both."""

    indir: Path
    strip: Run
    after: dict[Path, dict[str, Any]]
    check_in: Run
    check_out: Run

    def stripped(self, name: str) -> dict[str, Any]:
        return {r["path"]: r for r in self.strip.records()}[str(self.indir / name)]

    def checked(self, path: Path) -> dict[str, Any]:
        records = self.check_in.records() + self.check_out.records()
        return {r["path"]: r for r in records}[str(path)]


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> SharedRun:
    root = tmp_path_factory.mktemp("shared-strip")
    indir = copy_files([METADATA / name for name in _manifest()], METADATA, root / "in")
    run = run_cli("strip", indir, "-o", root / "out", "--json")
    _, after = tag_table("unseen strip on ../shared/data/metadata", indir, run.records())
    check_in = run_cli("check", indir, "--no-faces", "--json")
    check_out = run_cli("check", root / "out", "--no-faces", "--json")
    return SharedRun(indir, run, after, check_in, check_out)


@pytest.mark.parametrize("name", shared_params(sorted(_manifest())))
def test_shared_file_is_stripped_or_refused(shared: SharedRun, name: str) -> None:
    record = shared.stripped(name)
    assert shared.checked(shared.indir / name)["status"] == "dirty", "check must flag every original"
    if name in UNREADABLE:
        assert record["status"] in ("refused", "failed") and record["output"] is None
        assert record["error"]
        return
    assert record["status"] == "stripped", record
    output = Path(record["output"])
    tags = shared.after[output]
    identifying = _manifest()[name]["identifying"]
    leaked = [key for key in unallowed_in(tags) if key.split(":")[-1] in identifying]
    assert leaked == [], "the manifest's identifying items are still there"
    assert unallowed_in(tags) == [], "tags outside the allowlist"
    # What the camera wrote as text (owner, model, dates, comments) is gone from the bytes, too.
    texts = [v for v in identifying.values() if isinstance(v, str) and len(v.strip()) >= 4]
    data = output.read_bytes()
    assert [text for text in texts if text.encode() in data] == []
    assert plays(output) if output.suffix == ".mp4" else decodes(output)
    assert shared.checked(output)["status"] == "clean"


@needs_shared
def test_shared_check_exit_codes(shared: SharedRun) -> None:
    assert shared.check_in.code == 3, "every original carries something"
    assert shared.check_out.code == 0, shared.check_out.stdout
    assert shared.strip.code == 1, "the two unreadable files are refused"


# --- text where no tag names it (found in review) ---------------------------------------------------

HIDDEN = b"Owner=Alice Smith;GPS=51.5074,-0.1278"


def _gif_with_text_in_a_frame_control(path: Path) -> Path:
    frames = [Image.fromarray(np.full((16, 16, 3), v, np.uint8)) for v in (40, 200)]
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=100, loop=0)
    data = path.read_bytes()
    at = data.index(b"\x21\xf9\x04") + 7  # after the control block's four bytes, before its end
    path.write_bytes(data[:at] + bytes([len(HIDDEN)]) + HIDDEN + data[at:])
    return path


def _flac_with_text_in_its_padding(path: Path) -> Path:
    with av.open(str(path), "w") as out:
        stream = out.add_stream("flac", rate=8000)
        stream.layout = "mono"
        samples = (np.sin(np.arange(8000) / 5) * 8000).astype(np.int16)[None]
        frame = av.AudioFrame.from_ndarray(samples, format="s16", layout="mono")
        frame.sample_rate, frame.pts = 8000, 0
        for packet in [*stream.encode(frame), *stream.encode(None)]:
            out.mux(packet)
    data, at = bytearray(path.read_bytes()), 4
    while data[at] & 0x7F != 1:  # to the PADDING block
        assert not data[at] & 0x80, "FFmpeg wrote no padding"
        at += 4 + int.from_bytes(data[at + 1 : at + 4], "big")
    data[at + 4 : at + 4 + len(HIDDEN)] = HIDDEN
    path.write_bytes(bytes(data))
    return path


def _five_frames(path: Path, codec: str, extra: bytes = b"") -> Path:
    """Five 64x64 frames of flat grey in ``codec``, at 10 frames a second; ``extra`` ends every packet."""
    with av.open(str(path), "w") as out:
        stream = out.add_stream(codec, rate=10)
        stream.width = stream.height = 64
        stream.pix_fmt = "yuv420p"

        def mux(packets: list[av.Packet]) -> None:
            for packet in packets:
                if extra:
                    marked = av.Packet(bytes(packet) + extra)
                    marked.pts, marked.dts, marked.time_base = packet.pts, packet.dts, packet.time_base
                    marked.is_keyframe, marked.stream = packet.is_keyframe, stream
                    packet = marked
                out.mux(packet)

        for i in range(5):
            frame = av.VideoFrame.from_ndarray(np.full((64, 64, 3), 40 * i, np.uint8), format="rgb24")
            frame.pts = i
            mux(stream.encode(frame))
        mux(stream.encode(None))
    return path


def _mpeg4_part2_with_user_data(path: Path) -> Path:
    """MPEG-4 Part 2 video whose user data (start code 00 00 01 B2) names someone, in its decoder
    setup and before every frame."""
    user = b"\x00\x00\x01\xb2" + HIDDEN
    plain = path.with_suffix(".plain.mp4")
    _five_frames(plain, "mpeg4")
    with av.open(str(plain)) as src, av.open(str(path), "w", format="mp4") as out:
        ins = src.streams.video[0]
        dst = out.add_stream_from_template(ins)
        dst.codec_context.extradata = bytes(ins.codec_context.extradata or b"") + user
        for packet in src.demux(ins):
            if packet.size:
                marked = av.Packet(user + bytes(packet))
                marked.pts, marked.dts, marked.time_base = packet.pts, packet.dts, packet.time_base
                marked.is_keyframe, marked.stream = packet.is_keyframe, dst
                out.mux(marked)
    return path


def test_text_in_padding_or_a_frame_control_is_found_and_stripped(tmp_path: Path) -> None:
    """Room no tag names (a FLAC padding block, an MP4 `free` box, the sub-blocks of a GIF frame's
    control block) was taken for empty; filled with text, `check` called such files clean."""
    flac = _flac_with_text_in_its_padding(tmp_path / "padded.flac")
    mp4 = tmp_path / "free.mp4"
    make_clip(tmp_path / "base.mp4")
    mp4.write_bytes(
        (tmp_path / "base.mp4").read_bytes() + (8 + len(HIDDEN)).to_bytes(4, "big") + b"free" + HIDDEN
    )
    gif = _gif_with_text_in_a_frame_control(tmp_path / "control.gif")
    for path in (flac, mp4, gif):
        assert run_cli("check", path).code == 3, f"{path.name} was called clean"
    stripped = run_cli("strip", gif, "-o", tmp_path / "clean.gif")
    assert stripped.code == 0, stripped.stderr
    assert HIDDEN not in (tmp_path / "clean.gif").read_bytes()
    assert run_cli("check", tmp_path / "clean.gif").code == 0


@pytest.mark.parametrize("table", ["quantisation", "Huffman"])
def test_a_jpeg_table_no_decoder_reads_is_found_and_left_out(
    tmp_path: Path, astronaut: np.ndarray, table: str
) -> None:
    """A table defined for an id no component or scan reads can hold anything (text as its values)
    and a decoder never looks at it: `strip` kept it and `check` called the copy clean.  (Some
    cameras write one: Nikon's Coolpix a third quantisation table.)"""
    buf = io.BytesIO()
    Image.fromarray(astronaut).save(buf, "JPEG", quality=90)
    data = buf.getvalue()
    if table == "quantisation":  # table 3, eight-bit values: the text, padded to 64
        body = b"\x03" + HIDDEN.ljust(64, b" ")[:64]
        segment = b"\xff\xdb" + (len(body) + 2).to_bytes(2, "big") + body
    else:  # AC table 3 whose symbols are the text
        counts = bytes([0] * 7 + [len(HIDDEN)] + [0] * 8)
        body = b"\x13" + counts + HIDDEN
        segment = b"\xff\xc4" + (len(body) + 2).to_bytes(2, "big") + body
    source = tmp_path / "tables.jpg"
    source.write_bytes(data[:2] + segment + data[2:])
    found = run_cli("check", source, "--no-faces")
    assert found.code == 3 and f"JPEG:a {table} table no decoder reads" in found.stderr, found.stderr
    run = run_cli("strip", source, "-o", tmp_path / "clean.jpg")
    assert run.code == 0 and "rewritten" in run.stdout + run.stderr, run.stderr
    assert HIDDEN not in (tmp_path / "clean.jpg").read_bytes()
    with Image.open(io.BytesIO(data)) as plain:
        assert np.array_equal(pixels(tmp_path / "clean.jpg"), np.asarray(plain))
    assert run_cli("check", tmp_path / "clean.jpg", "--no-faces").code == 0


@pytest.mark.parametrize("table", ["quantisation", "Huffman"])
def test_a_progressive_jpegs_table_no_decoder_reads_is_found_and_left_out(
    tmp_path: Path, astronaut: np.ndarray, table: str
) -> None:
    """Tables counted as read that no decoder reads: a quantisation table redefined after a
    component's first scan (decoders fix it there), an AC table defined for a DC scan and
    redefined before the AC scans that name its id.  (Found in review.)"""
    buf = io.BytesIO()
    Image.fromarray(astronaut).save(buf, "JPEG", quality=90, progressive=True)
    data = buf.getvalue()
    first_scan = data.index(b"\xff\xda")
    if table == "quantisation":  # table 0 again, after the first scan: a second scan follows
        body = b"\x00" + HIDDEN.ljust(64, b" ")[:64]
        segment, at = (
            b"\xff\xdb" + (len(body) + 2).to_bytes(2, "big") + body,
            data.index(b"\xff\xc4", first_scan),
        )
    else:  # AC table 0 before the first scan, a DC scan; each AC scan brings its own
        counts = bytes([0] * 7 + [len(HIDDEN)] + [0] * 8)
        body = b"\x10" + counts + HIDDEN
        segment, at = b"\xff\xc4" + (len(body) + 2).to_bytes(2, "big") + body, first_scan
    source = tmp_path / "tables.jpg"
    source.write_bytes(data[:at] + segment + data[at:])
    with Image.open(io.BytesIO(data)) as plain:
        assert np.array_equal(pixels(source), np.asarray(plain)), "a decoder reads the table"
        found = run_cli("check", source, "--no-faces")
        assert found.code == 3 and f"JPEG:a {table} table no decoder reads" in found.stderr, found.stderr
        run = run_cli("strip", source, "-o", tmp_path / "clean.jpg")
        assert run.code == 0 and "rewritten" in run.stdout + run.stderr, run.stderr
        assert HIDDEN not in (tmp_path / "clean.jpg").read_bytes()
        assert np.array_equal(pixels(tmp_path / "clean.jpg"), np.asarray(plain))


def test_a_name_in_another_encoding_than_utf8_is_judged(tmp_path: Path, astronaut: np.ndarray) -> None:
    """A name from an old camera or a Windows share reaches Python as surrogates, and was sent to
    exiftool as UTF-8 would have it: it failed on every such file, which `check` then called
    not clean (``ExifTool:Error``)."""
    name = tmp_path / os.fsdecode(b"caf\xe9.png")
    try:
        save(astronaut, name)
    except (OSError, UnicodeEncodeError):
        pytest.skip("this file system takes UTF-8 names only")
    found = run_cli("check", name, "--no-faces")
    assert found.code == 0, found.stderr
    tags = exiftool.tags(name) or {}
    assert "ExifTool:Error" not in tags and tags.get("File:FileType") == "PNG", tags


def _mp4_with_text(base: bytes, where: str) -> bytes:
    """``base`` (an MP4 FFmpeg wrote) with ``HIDDEN``'s first bytes where readers skip them."""
    data = bytearray(base)
    if where == "free box to the end":  # size 0: exiftool reads it as empty
        return bytes(data) + bytes(4) + b"free" + HIDDEN
    if where == "after the last box":
        return bytes(data) + HIDDEN[:7]
    if where == "tag list's handler":  # its reserved fields, where FFmpeg and Apple write 'appl'
        at = data.index(b"mdirappl", data.index(b"udta")) + 4
        data[at : at + 12] = HIDDEN[:12]
        return bytes(data)
    if where == "movie header's reserved fields":
        at = data.index(b"mvhd") + 4 + 26  # version 0: after its times, rate and volume
        data[at : at + 10] = HIDDEN[:10]
    else:  # a sample entry's six reserved bytes
        at = data.index(b"stsd") + 4 + 8 + 8
        data[at : at + 6] = HIDDEN[:6]
    return bytes(data)


@pytest.mark.parametrize(
    ("where", "finding"),
    [
        ("free box to the end", "MP4:free box holds data"),
        ("after the last box", "MP4:7 bytes after the last box"),
        ("movie header's reserved fields", "MP4:moov/mvhd reserved fields hold data"),
        ("a sample entry's reserved bytes", "stsd sample entry's reserved bytes hold data"),
        ("tag list's handler", "MP4:moov/udta/meta/hdlr other than a tag list's handler"),
    ],
)
def test_text_where_mp4_readers_skip_it_is_found(tmp_path: Path, where: str, finding: str) -> None:
    """Room every reader skips: `check` called such files clean (`strip` writes its own boxes)."""
    make_clip(tmp_path / "base.mp4", tags={"title": "x"} if "tag list" in where else None)
    source = tmp_path / "marked.mp4"
    source.write_bytes(_mp4_with_text((tmp_path / "base.mp4").read_bytes(), where))
    assert plays(source)
    found = run_cli("check", source, "--no-faces")
    assert found.code == 3 and finding in found.stderr, found.stderr
    run = run_cli("strip", source, "-o", tmp_path / "clean.mp4")
    assert run.code == 0, run.stderr
    assert run_cli("check", tmp_path / "clean.mp4", "--no-faces").code == 0


def _mp4_grown(data: bytes, at: int, extra: bytes, boxes: list[bytes]) -> bytes:
    """``data`` with ``extra`` put in at ``at``, the sizes of the ``boxes`` around it (the nearest
    of each name before it) grown to hold it, and the chunk offsets past it moved on."""
    out = bytearray(data[:at] + extra + data[at:])
    for name in boxes:
        head = data.rindex(name, 0, at) - 4
        out[head : head + 4] = (int.from_bytes(out[head : head + 4], "big") + len(extra)).to_bytes(4, "big")
    table = out.find(b"stco")
    while table >= 0:
        for i in range(table + 12, table + 12 + 4 * int.from_bytes(out[table + 8 : table + 12], "big"), 4):
            offset = int.from_bytes(out[i : i + 4], "big")
            out[i : i + 4] = (offset + len(extra) * (offset >= at)).to_bytes(4, "big")
        table = out.find(b"stco", table + 4)
    return bytes(out)


_TO_STBL = [b"moov", b"trak", b"mdia", b"minf", b"stbl"]


@pytest.mark.parametrize(
    ("where", "finding"),
    [
        ("a second btrt", "stsd/avc1 has 2 btrt boxes"),
        ("after btrt's rates", "stsd/avc1/btrt holds more than its three rates"),
        ("after sgpd's entries", "stbl/sgpd holds more than its sample group entries"),
        ("in an sgpd entry of no known kind", "stbl/sgpd holds more than its sample group entries"),
    ],
)
def test_text_in_mp4_sample_descriptions_is_found(tmp_path: Path, where: str, finding: str) -> None:
    """A bit rate box (``btrt``) is three numbers, one a sample entry; a sample group description
    (``sgpd``, FFmpeg's ``roll`` for AAC's pre-roll) its entries.  Readers stop at those, and
    `check` called clean a file of `strip`'s with "Jane Roe" after them, in a second ``btrt`` or
    in a group of a kind none reads (`strip` writes its boxes afresh)."""
    make_clip(tmp_path / "made.mp4", audio=True)
    assert run_cli("strip", tmp_path / "made.mp4", "-o", tmp_path / "base.mp4").code == 0
    assert run_cli("check", tmp_path / "base.mp4", "--no-faces").code == 0
    base, name = (tmp_path / "base.mp4").read_bytes(), b"Jane Roe"
    if "btrt" in where:
        rates = base.index(b"btrt", base.index(b"avc1")) - 4
        if where == "a second btrt":
            marked = _mp4_grown(
                base, rates + 20, b"\0\0\0\x14btrt" + name + bytes(4), [*_TO_STBL, b"stsd", b"avc1"]
            )
        else:
            marked = _mp4_grown(base, rates + 20, name, [*_TO_STBL, b"stsd", b"avc1", b"btrt"])
    else:
        groups = base.index(b"sgpd") - 4
        end = groups + int.from_bytes(base[groups : groups + 4], "big")
        if where == "after sgpd's entries":
            marked = _mp4_grown(base, end, name, [*_TO_STBL, b"sgpd"])
        else:  # one more group description, its entries of a kind no reader knows, their length given
            entry = b"\0\0\0\x24sgpd\x01\0\0\0name\0\0\0\0\0\0\0\x01\0\0\0\x08" + name
            marked = _mp4_grown(base, end, entry, _TO_STBL)
    source = tmp_path / "marked.mp4"
    source.write_bytes(marked)
    assert plays(source)
    found = run_cli("check", source, "--no-faces")
    assert found.code == 3 and finding in found.stderr, found.stderr
    run = run_cli("strip", source, "-o", tmp_path / "clean.mp4")
    assert run.code == 0, run.stderr
    assert name not in (tmp_path / "clean.mp4").read_bytes()
    assert run_cli("check", tmp_path / "clean.mp4", "--no-faces").code == 0


def test_mpeg4_part2_video_is_encoded_again_not_copied(tmp_path: Path) -> None:
    """Its user data holds any text, where neither exiftool nor FFmpeg's tags look."""
    source = _mpeg4_part2_with_user_data(tmp_path / "part2.mp4")
    assert HIDDEN in source.read_bytes()
    run = run_cli("strip", source, "-o", tmp_path / "clean.mp4")
    assert run.code == 0, run.stderr
    assert HIDDEN not in (tmp_path / "clean.mp4").read_bytes()


def _faces_behind_a_plain_track(path: Path, astronaut: np.ndarray) -> Path:
    """An MP4 whose first picture track is flat grey and whose second shows a face (a phone's
    preview track, a second camera)."""
    face = np.ascontiguousarray(astronaut[:256:2, 64:320:2])  # 128x128, her face
    tracks = []
    for n, picture in enumerate((np.full_like(face, 90), face)):
        tracks.append(path.with_suffix(f".{n}.mp4"))
        with av.open(str(tracks[-1]), "w") as out:
            stream = out.add_stream("libx264", rate=10)
            stream.width = stream.height = 128
            stream.pix_fmt = "yuv420p"
            for i in range(5):
                frame = av.VideoFrame.from_ndarray(picture, format="rgb24")
                frame.pts = i
                out.mux(stream.encode(frame))
            out.mux(stream.encode(None))
    sources = [av.open(str(track)) for track in tracks]
    with av.open(str(path), "w") as out:
        # Every stream is added before the first packet is written.
        streams = [out.add_stream_from_template(src.streams.video[0], opaque=True) for src in sources]
        for src, dst in zip(sources, streams, strict=True):
            with src:
                for packet in src.demux(video=0):
                    if packet.size:
                        packet.stream = dst
                        out.mux(packet)
    return path


def test_a_second_picture_stream_is_named_by_check_and_left_out_by_strip(
    tmp_path: Path, astronaut: np.ndarray
) -> None:
    """Only the first picture stream is covered and audited: a face in a second one went through
    `strip` as it was, and `check` called the file clean, before and after."""
    source = _faces_behind_a_plain_track(tmp_path / "two.mp4", astronaut)
    found = run_cli("check", source)
    assert found.code == 3 and "stream1:a second picture stream" in found.stderr, found.stderr
    stripped = run_cli("strip", source, "-o", tmp_path / "clean.mp4")
    assert stripped.code == 0, stripped.stderr
    assert "1 other picture stream left out" in stripped.stdout + stripped.stderr
    protected = run_cli("protect", source, "-o", tmp_path / "covered.mp4")
    assert protected.code == 0, protected.stderr
    for name in ("clean.mp4", "covered.mp4"):
        with av.open(str(tmp_path / name)) as out:
            assert [s.type for s in out.streams] == ["video"], name
            assert sum(1 for _ in out.decode(video=0)) == 5
        assert run_cli("check", tmp_path / name).code == 0, name


def _sound_remuxed(source: Path, path: Path, setup: bytes = b"", packet_end: bytes = b"") -> Path:
    """``source``'s sound in the same container with ``setup`` after its decoder setup (in the
    same box: its size grown) and ``packet_end`` after every packet; or, for Opus, every packet of
    one frame made a packet of frames whose padding is ``packet_end``."""
    muxer = {".m4a": "ipod", ".ogg": "ogg"}[path.suffix]
    with av.open(str(source)) as src, av.open(str(path), "w", format=muxer) as out:
        sound = src.streams.audio[0]
        dst = out.add_stream_from_template(sound, opaque=True)
        if setup:
            grown = bytes(sound.codec_context.extradata or b"") + setup
            dst.codec_context.extradata = len(grown).to_bytes(4, "big") + grown[4:]
        for packet in src.demux(sound):
            if not packet.size:
                continue
            data = bytes(packet)
            # Surround: the streams before the last state their length (one-frame packets here).
            head = bytes(sound.codec_context.extradata or b"")
            streams = head[19] if head.startswith(b"OpusHead") and head[18] else 1
            at = _self_delimited(data, streams - 1)
            if packet_end and sound.codec_context.name == "opus" and data[at] & 3 == 0:
                data = data[:at] + bytes([data[at] | 3, 0x41, len(packet_end)]) + data[at + 1 :] + packet_end
            elif packet_end:
                data += packet_end
            marked = av.Packet(data)
            marked.pts, marked.dts, marked.duration = packet.pts, packet.dts, packet.duration
            marked.time_base, marked.is_keyframe, marked.stream = packet.time_base, packet.is_keyframe, dst
            out.mux(marked)
    return path


def _self_delimited(data: bytes, count: int) -> int:
    """Where the last stream of an Opus packet begins, past ``count`` self-delimited one-frame ones."""
    at = 0
    for _ in range(count):
        size, skip = (data[at + 1], 2) if data[at + 1] < 252 else (data[at + 1] + 4 * data[at + 2], 3)
        at += skip + size
    return at


@pytest.mark.parametrize(
    ("kind", "finding"),
    [
        ("alac setup", "Unknown_alac"),
        ("alac packets", None),  # bytes after a frame's end: no reader shows them, strip drops them
        ("opus padding", "opus packets holding padding that is not zeros"),
        ("opus 5.1 padding", "opus packets holding padding that is not zeros"),  # four streams
    ],
)
def test_text_where_sound_decoders_skip_it_is_found_and_stripped(
    tmp_path: Path, kind: str, finding: str | None
) -> None:
    """Room a decoder skips whatever it holds: bytes after ALAC's 24 bytes of settings, after an
    ALAC frame's end, or in an Opus packet's padding. `strip` copied them into its output and
    `check` called it clean."""
    name = HIDDEN.decode()
    if kind.startswith("alac"):
        plain = sounds.encode(tmp_path / "plain.m4a", "ipod", "alac", 44_100, sounds.speech(2.0))
        marked = tmp_path / "marked.m4a"
    else:
        layout = "5.1" if "5.1" in kind else "mono"
        plain = sounds.encode(tmp_path / "plain.ogg", "ogg", "libopus", 48_000, sounds.speech(2.0), layout)
        marked = tmp_path / "marked.ogg"
    if kind == "alac setup":
        _sound_remuxed(plain, marked, setup=HIDDEN)
    else:
        _sound_remuxed(plain, marked, packet_end=HIDDEN)
    assert HIDDEN in marked.read_bytes()
    assert sounds.samples(marked) == sounds.samples(plain), "the decoder does not skip it"
    if finding is not None:
        found = run_cli("check", marked)
        assert found.code == 3 and finding in found.stderr, found.stderr
    clean = tmp_path / f"clean{marked.suffix}"
    run = run_cli("strip", marked, "-o", clean)
    assert run.code == 0, run.stderr
    assert HIDDEN not in clean.read_bytes(), f"{name} copied"
    assert sounds.samples(clean) == sounds.samples(plain)
    assert run_cli("check", clean).code == 0


def _png_chunk(kind: bytes, body: bytes) -> bytes:
    return len(body).to_bytes(4, "big") + kind + body + zlib.crc32(kind + body).to_bytes(4, "big")


def _png_of(parts: list[tuple[bytes, bytes]]) -> bytes:
    return b"\x89PNG\r\n\x1a\n" + b"".join(_png_chunk(k, b) for k, b in parts)


def _png_parts(image: Image.Image) -> list[tuple[bytes, bytes]]:
    buf = io.BytesIO()
    image.save(buf, "PNG")
    data, at, parts = buf.getvalue(), 8, []
    while at < len(data):
        size = int.from_bytes(data[at : at + 4], "big")
        parts.append((data[at + 4 : at + 8], data[at + 8 : at + 8 + size]))
        at += 12 + size
    return parts


def _webp(parts: list[tuple[bytes, bytes]]) -> bytes:
    body = b"WEBP" + b"".join(k + len(p).to_bytes(4, "little") + p + b"\0" * (len(p) & 1) for k, p in parts)
    return b"RIFF" + len(body).to_bytes(4, "little") + body


def _webp_parts(image: Image.Image, **options: Any) -> list[tuple[bytes, bytes]]:
    buf = io.BytesIO()
    image.save(buf, "WEBP", lossless=True, **options)
    data, at, parts = buf.getvalue(), 12, []
    while at + 8 <= len(data):
        size = int.from_bytes(data[at + 4 : at + 8], "little")
        parts.append((data[at : at + 4], data[at + 8 : at + 8 + size]))
        at += 8 + size + (size & 1)
    return parts


def _hiding_picture(kind: str, astronaut: np.ndarray) -> tuple[bytes, str]:
    """A PNG or WebP that a viewer shows as plain grey, holding text or a face where no viewer
    looks; and what `check` names."""
    grey = Image.new("RGB", (128, 128), (90, 90, 90))
    face = Image.fromarray(astronaut).resize((128, 128))
    if kind == "webp second picture":
        return _webp(_webp_parts(grey) + _webp_parts(face)), "more than one VP8 or VP8L chunk"
    if kind == "webp animation fields":
        frames = _webp_parts(grey, save_all=True, append_images=[Image.new("RGB", (128, 128), (60, 60, 60))])
        marked = [(k, p + HIDDEN if k == b"ANIM" else p) for k, p in frames]
        return _webp(marked), "ANIM chunk longer than its fields"
    parts = _png_parts(grey)
    if kind == "png gamma":
        parts.insert(1, (b"gAMA", (45455).to_bytes(4, "big") + HIDDEN))
        return _png_of(parts), "gAMA chunk of"
    # An APNG that states one frame and holds two: a viewer shows the first alone.
    still = [p for p in parts if p[0] not in (b"IHDR", b"IEND")]
    hidden = [body for k, body in _png_parts(face) if k == b"IDAT"]
    control = (128).to_bytes(4, "big") * 2 + bytes(8) + (1).to_bytes(2, "big") * 2 + b"\0\0"
    animation = [(b"acTL", (1).to_bytes(4, "big") + bytes(4)), (b"fcTL", bytes(4) + control), *still]
    animation.append((b"fcTL", (1).to_bytes(4, "big") + control))
    animation += [(b"fdAT", (2 + n).to_bytes(4, "big") + body) for n, body in enumerate(hidden)]
    return _png_of([parts[0], *animation, parts[-1]]), "2 animation frames where 1 are stated"


@pytest.mark.parametrize("kind", ["webp second picture", "webp animation fields", "png gamma", "png frames"])
def test_what_a_picture_holds_beyond_what_a_viewer_shows_is_found_and_left_behind(
    tmp_path: Path, astronaut: np.ndarray, kind: str
) -> None:
    """Kept chunks were copied whole: text after the fields of ``gAMA`` or ``ANIM``, a second
    bitstream in a WebP (a viewer shows the first) or APNG frames beyond the stated count went
    through `strip`, and `check` called the output clean, the hidden face included."""
    data, finding = _hiding_picture(kind, astronaut)
    source = tmp_path / f"hiding.{kind.split()[0]}"
    source.write_bytes(data)
    with Image.open(source) as shown:
        assert np.asarray(shown.convert("RGB")).std() < 1, "a viewer should see plain grey"
    found = run_cli("check", source)
    assert found.code == 3 and finding in found.stderr, found.stderr
    clean = tmp_path / f"clean{source.suffix}"
    run = run_cli("strip", source, "-o", clean)
    assert run.code == 0, run.stderr
    assert HIDDEN not in clean.read_bytes()
    assert run_cli("check", clean).code == 0  # the face audit included
    assert source.read_bytes() == data


def _encoder(name: str) -> str:
    try:
        av.codec.Codec(name, "w")
    except av.codec.codec.UnknownCodecError:
        pytest.skip(f"this FFmpeg has no {name}")
    return name


# A unit of a kind no player needs, holding a name, as the encoder's raw output carries it: after
# a start code for H.264 (type 31: unspecified; 12: filler) and HEVC (62: unspecified, Dolby
# Vision's), with its size for an AV1 OBU (5: metadata).
STRAY_UNITS = {
    "h264 type 31": ("libx264", b"\x00\x00\x00\x01\x1f" + HIDDEN, "h264 NAL unit of type 31"),
    "h264 filler": ("libx264", b"\x00\x00\x00\x01\x0c" + HIDDEN, "h264 NAL unit of type 12"),
    "h264 data partition": ("libx264", b"\x00\x00\x00\x01\x02" + HIDDEN, "h264 NAL unit of type 2"),
    "h264 long delimiter": ("libx264", b"\x00\x00\x00\x01\x09\x10" + HIDDEN, "h264 NAL unit of type 9"),
    "hevc long delimiter": ("libx265", b"\x00\x00\x00\x01\x46\x01\x10" + HIDDEN, "hevc NAL unit of type 35"),
    "hevc type 62": ("libx265", b"\x00\x00\x00\x01\x7c\x01" + HIDDEN, "hevc NAL unit of type 62"),
    "av1 metadata": ("libsvtav1", bytes([5 << 3 | 2, len(HIDDEN)]) + HIDDEN, "av1 OBU of type 5"),
}


@pytest.mark.parametrize("name", STRAY_UNITS)
def test_a_unit_no_player_needs_is_found_and_stripped(tmp_path: Path, name: str) -> None:
    """Decoders skip unit types they do not know, so such a unit can carry a name that neither
    exiftool nor FFmpeg's tags see: `check` called these files clean and `strip` kept the name
    (and stopped on any AV1 video with a traceback)."""
    encoder, unit, finding = STRAY_UNITS[name]
    source = _five_frames(tmp_path / "marked.mp4", _encoder(encoder), unit)
    assert HIDDEN in source.read_bytes()
    found = run_cli("check", source)
    assert found.code == 3 and finding in found.stderr, found.stderr
    run = run_cli("strip", source, "-o", tmp_path / "clean.mp4")
    assert run.code == 0, run.stderr
    assert HIDDEN not in (tmp_path / "clean.mp4").read_bytes()
    with av.open(str(tmp_path / "clean.mp4")) as clean:
        assert clean.streams.video[0].codec_context.name in ("h264", "hevc", "libdav1d", "av1"), "copied"
        assert sum(1 for _ in clean.decode(video=0)) == 5
    assert run_cli("check", tmp_path / "clean.mp4").code == 0


def _rgb_frames(path: Path) -> list[bytes]:
    with av.open(str(path)) as clip:
        return [frame.to_ndarray(format="rgb24").tobytes() for frame in clip.decode(video=0)]


@pytest.mark.parametrize(
    ("encoder", "sps"), [("libx264", b"\x00\x00\x01\x67"), ("libx265", b"\x00\x00\x01\x42")]
)
def test_text_after_a_parameter_sets_fields_is_not_copied(tmp_path: Path, encoder: str, sps: bytes) -> None:
    """A decoder reads a sequence parameter set's fields and no further: text after them (here in
    a transport stream's in-band sets) went into `strip`'s copy, where no reader shows it."""
    plain = _five_frames(tmp_path / "plain.ts", _encoder(encoder))
    marked = tmp_path / "marked.ts"
    with av.open(str(plain)) as src, av.open(str(marked), "w", format="mpegts") as out:
        dst = out.add_stream_from_template(src.streams.video[0], opaque=True)
        for packet in src.demux(video=0):
            if packet.size:
                data = bytes(packet)
                at = data.find(sps)
                if at >= 0:  # the text ends the set: just before the next start code
                    end = data.find(b"\x00\x00\x01", at + len(sps))
                    end = end - (data[end - 1] == 0) if end >= 0 else len(data)
                    data = data[:end] + HIDDEN + data[end:]
                out.mux(_packet_like(packet, data, dst))
    assert HIDDEN in marked.read_bytes() and _rgb_frames(marked) == _rgb_frames(plain)
    codec = {"libx264": "h264", "libx265": "hevc"}[encoder]
    finding = f"mpegts:stream0:{codec} parameter sets with bytes after their fields"
    found = run_cli("check", marked, "--no-faces")  # called clean
    assert found.code == 3 and finding in found.stderr, found.stderr
    assert finding not in run_cli("check", plain, "--no-faces").stderr
    run = run_cli("strip", marked, "-o", tmp_path / "clean.mp4")
    assert run.code == 0, run.stderr
    assert HIDDEN not in (tmp_path / "clean.mp4").read_bytes()
    assert _rgb_frames(tmp_path / "clean.mp4") == _rgb_frames(plain)
    assert run_cli("check", tmp_path / "clean.mp4", "--no-faces").code == 0


@pytest.mark.parametrize(("encoder", "setup"), [("libx264", b"avcC"), ("libx265", b"hvcC")])
def test_text_after_a_parameter_sets_fields_in_a_decoder_setup_is_found(
    tmp_path: Path, encoder: str, setup: bytes
) -> None:
    """The same in an MP4's decoder setup (``avcC``, ``hvcC``): `check` called clean a file of
    `strip`'s with "Jane Roe" after the sequence parameter set's fields, which `strip` drops."""
    _five_frames(tmp_path / "made.mp4", _encoder(encoder))
    assert run_cli("strip", tmp_path / "made.mp4", "-o", tmp_path / "plain.mp4").code == 0
    assert run_cli("check", tmp_path / "plain.mp4", "--no-faces").code == 0
    data, name = (tmp_path / "plain.mp4").read_bytes(), b"Jane Roe"
    box = data.index(setup) + 4
    if setup == b"avcC":  # after its 5 fields and the count of sequence parameter sets
        length_at = box + 6
    else:  # the first array (the video parameter set's), then the sequence parameter set's
        arrays = box + 23
        length_at = arrays + 3 + 2 + int.from_bytes(data[arrays + 3 : arrays + 5], "big") + 3
        assert data[length_at - 3] & 0x3F == 33, "the sequence parameter set's array"
    length = int.from_bytes(data[length_at : length_at + 2], "big")
    end = length_at + 2 + length
    marked = bytearray(
        _mp4_grown(data, end, name, [*_TO_STBL, b"stsd", {b"avcC": b"avc1", b"hvcC": b"hvc1"}[setup], setup])
    )
    marked[length_at : length_at + 2] = (length + len(name)).to_bytes(2, "big")
    source = tmp_path / "marked.mp4"
    source.write_bytes(bytes(marked))
    assert _rgb_frames(source) == _rgb_frames(tmp_path / "plain.mp4")
    found = run_cli("check", source, "--no-faces")
    codec = {"libx264": "h264", "libx265": "hevc"}[encoder]
    assert (
        found.code == 3 and f"stream0:{codec} parameter sets with bytes after their fields" in found.stderr
    ), found.stderr
    run = run_cli("strip", source, "-o", tmp_path / "clean.mp4")
    assert run.code == 0, run.stderr
    assert name not in (tmp_path / "clean.mp4").read_bytes()
    assert run_cli("check", tmp_path / "clean.mp4", "--no-faces").code == 0


def _av1_header_grown(data: bytes, extra: bytes) -> bytes:
    """``data`` (OBUs) with ``extra`` after the payload of the sequence header that opens it."""
    size = data[1] + len(extra)
    assert data[0] == 1 << 3 | 2 and size < 0x80, "a sequence header OBU, its size in one byte"
    return bytes([data[0], size]) + data[2 : 2 + data[1]] + extra + data[2 + data[1] :]


def _av1_packets_grown(src: Path, dst: Path, extra: bytes) -> None:
    """``src``'s AV1 picture copied into ``dst``, ``extra`` after each packet's sequence header."""
    with av.open(str(src)) as clip, meta_video.writing(dst) as out:
        stream = out.add_stream_from_template(clip.streams.video[0], opaque=True)
        for packet in clip.demux(video=0):
            if packet.size:
                data = bytes(packet)
                data = _av1_header_grown(data, extra) if data[0] == 1 << 3 | 2 else data
                out.mux(_packet_like(packet, data, stream))


@pytest.mark.parametrize("where", ["packets", "setup"])
def test_bytes_after_an_av1_sequence_headers_fields_are_found(tmp_path: Path, where: str) -> None:
    """dav1d reads an AV1 sequence header's fields and no further: `check` called clean a file of
    `strip`'s with "Jane Roe" after them, in its key frames or its decoder setup (``av1C``).
    FFmpeg's own reader refuses such a header, so `strip` refuses the file."""
    _five_frames(tmp_path / "made.mp4", _encoder("libsvtav1"))
    plain, name = tmp_path / "plain.mp4", b"Jane Roe"
    assert run_cli("strip", tmp_path / "made.mp4", "-o", plain).code == 0
    assert run_cli("check", plain, "--no-faces").code == 0
    marked = tmp_path / "marked.mp4"
    if where == "setup":
        data = plain.read_bytes()
        obus = data.index(b"av1C") + 8  # after the box's name and av1C's 4 bytes
        assert data[obus] == 1 << 3 | 2, "a sequence header OBU"
        grown = bytearray(
            _mp4_grown(data, obus + 2 + data[obus + 1], name, [*_TO_STBL, b"stsd", b"av01", b"av1C"])
        )
        grown[obus + 1] += len(name)  # its size
        marked.write_bytes(bytes(grown))
    else:
        _av1_packets_grown(plain, marked, name)
    assert name in marked.read_bytes() and _rgb_frames(marked) == _rgb_frames(plain)
    found = run_cli("check", marked, "--no-faces")
    finding = "stream0:av1 parameter sets with bytes after their fields"
    assert found.code == 3 and finding in found.stderr, found.stderr
    run = run_cli("strip", marked, "-o", tmp_path / "clean.mp4")
    assert run.code == 1 and "cannot copy the streams" in run.stderr, run.stderr
    assert not (tmp_path / "clean.mp4").exists()


def test_bits_after_an_av1_sequence_headers_trailing_one_are_found(tmp_path: Path) -> None:
    """dav1d reads a sequence header's trailing one bit and no further, where FFmpeg's filter
    wants zeros to the byte's end and refuses the header at every length: `check` called clean a
    file with a bit set after the trailing one and "Jane Roe" after the header (the search found
    no length the filter takes, and called the header damaged), though dav1d shows its frames."""
    _five_frames(tmp_path / "made.mp4", _encoder("libsvtav1"))
    plain, marked = tmp_path / "plain.mp4", tmp_path / "marked.mp4"
    assert run_cli("strip", tmp_path / "made.mp4", "-o", plain).code == 0

    def spoiled(data: bytes) -> bytes:
        size = data[1]
        last = data[1 + size]
        assert data[0] == 1 << 3 | 2 and last & 1 == 0 and last, "a trailing one above bit 0"
        grown = data[2 : 1 + size] + bytes([last | 1]) + b"Jane Roe"
        return bytes([data[0], len(grown)]) + grown + data[2 + size :]

    with av.open(str(plain)) as clip, meta_video.writing(marked) as out:
        stream = out.add_stream_from_template(clip.streams.video[0], opaque=True)
        for packet in clip.demux(video=0):
            if packet.size:
                data = bytes(packet)
                out.mux(_packet_like(packet, spoiled(data) if data[0] == 1 << 3 | 2 else data, stream))
    assert b"Jane Roe" in marked.read_bytes() and _rgb_frames(marked) == _rgb_frames(plain)
    found = run_cli("check", marked, "--no-faces")
    finding = "stream0:av1 parameter sets with bytes after their fields"
    assert found.code == 3 and finding in found.stderr, found.stderr


def test_zeros_after_an_av1_sequence_header_are_no_finding(tmp_path: Path) -> None:
    """Zeros after a sequence header's trailing bits are allowed, as after H.264's parameter sets:
    `check` calls the file clean, and `strip`'s copy, whose header the filter writes without them."""
    _five_frames(tmp_path / "made.mp4", _encoder("libsvtav1"))
    plain, padded = tmp_path / "plain.mp4", tmp_path / "padded.mp4"
    assert run_cli("strip", tmp_path / "made.mp4", "-o", plain).code == 0
    _av1_packets_grown(plain, padded, bytes(3))
    assert padded.read_bytes() != plain.read_bytes()
    assert run_cli("check", padded, "--no-faces").code == 0
    assert run_cli("strip", padded, "-o", tmp_path / "clean.mp4").code == 0
    assert run_cli("check", tmp_path / "clean.mp4", "--no-faces").code == 0
    assert _rgb_frames(tmp_path / "clean.mp4") == _rgb_frames(plain)


def test_many_av1_sequence_headers_the_filter_refuses_cost_a_bounded_number_of_tries(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each sequence header FFmpeg's filter refuses whole was tried at up to 512 lengths: 10,000
    packets, each with a different header of random bytes, held `check` 31 s on a 6.6 MB file
    (2.5 s before).  Past a few such headers in a stream, a header refused whole is called one
    with bytes after its fields without a search; headers the filter takes still cost one try."""
    _five_frames(tmp_path / "made.mp4", _encoder("libsvtav1"))
    plain = tmp_path / "plain.mp4"
    assert run_cli("strip", tmp_path / "made.mp4", "-o", plain).code == 0
    tries = 0
    write = meta_video._Rewrite._av1_write

    def counted(self: Any, payload: bytes) -> bytes | None:
        nonlocal tries
        tries += 1
        return write(self, payload)

    monkeypatch.setattr(meta_video._Rewrite, "_av1_write", counted)
    rng = np.random.default_rng(7)
    with av.open(str(plain)) as clip:
        rewrite = meta_video._Rewrite(clip.streams.video[0], "av1")
        good = next(bytes(p) for p in clip.demux(video=0) if p.size and bytes(p)[0] == 1 << 3 | 2)
    tries = 0
    assert not rewrite._av1_longer(good)
    assert tries == 1
    refused = [units.sequence_header(bytes(rng.integers(0, 256, 600, dtype=np.uint8))) for _ in range(200)]
    found = [rewrite._av1_longer(obus) for obus in refused]
    assert tries < 40 * units.SEQUENCE_HEADER_MOST, tries
    assert any(found)
    tries = 0
    assert not rewrite._av1_longer(good) and tries <= 1


def _packet_like(packet: av.Packet, data: bytes, stream: Any) -> av.Packet:
    out = av.Packet(data)
    out.pts, out.dts, out.duration, out.time_base = packet.pts, packet.dts, packet.duration, packet.time_base
    out.is_keyframe, out.stream = packet.is_keyframe, stream
    return out


def _levels_clip(path: Path, codec: str, pix_fmt: str = "yuv420p") -> Path:
    """Twenty 64x64 frames, frame i all of grey level 10 i, at 10 frames a second, in ``codec``."""
    with av.open(str(path), "w") as out:
        stream = out.add_stream(codec, rate=10)
        stream.width = stream.height = 64
        stream.pix_fmt = pix_fmt
        for i in range(20):
            frame = av.VideoFrame.from_ndarray(np.full((64, 64, 3), 10 * i, np.uint8), format="rgb24")
            frame.pts = i
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    return path


def _levels_shown(path: Path) -> list[int]:
    """Each frame's mean grey level, in the order of the frames' times (as a player shows them)."""
    with av.open(str(path)) as clip:
        frames = [(f.pts, round(float(f.to_ndarray(format="gray").mean()))) for f in clip.decode(video=0)]
    return [level for _, level in sorted(frames)]


def test_an_avi_with_b_frames_is_written_in_the_order_its_frames_are_shown(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An AVI stores no presentation times: FFmpeg labels the pictures of H.264 with B-frames with
    their packets' times, in decoding order.  strip copied those times, and players showed the
    frames shuffled; protect failed ("output ends at 1.3 s").  Both now write them in order."""
    source = _levels_clip(tmp_path / "dashcam.avi", "libx264")
    with av.open(str(source)) as clip:
        assert [f.pts for f in clip.decode(video=0)][:5] == [1, 4, 3, 5, 2], "FFmpeg's times, as described"
    wanted = [10 * i for i in range(20)]
    strip = run_cli("strip", source, "-o", tmp_path / "stripped.mp4", "--json")
    assert strip.code == 0, strip.stderr
    assert "AVI's times" in strip.records()[0]["note"]
    protect = run_cli("protect", source, "-o", tmp_path / "protected.mp4")
    assert protect.code == 0, protect.stderr
    for output in ("stripped.mp4", "protected.mp4"):
        assert all(abs(a - b) <= 3 for a, b in zip(_levels_shown(tmp_path / output), wanted, strict=True))
        assert run_cli("check", tmp_path / output).code == 0
    # The guard: copied with the AVI's times, the file is refused, not published.
    monkeypatch.setattr(meta_video, "reorders_by_packet_times", lambda container, stream: False)
    result = strip_file(Job(source, tmp_path / "copied.mp4"))
    assert result.status == "unverified" and "order of their times" in (result.error or ""), result
    assert not (tmp_path / "copied.mp4").exists()


def test_motion_jpeg_keeps_its_full_range_when_encoded_again(tmp_path: Path) -> None:
    """Cameras record Motion JPEG in full range: strip encoded it again as if it were in video
    range, which stretched every level (a grey of 190 came out at 203)."""
    source = _levels_clip(tmp_path / "camera.avi", "mjpeg", "yuvj420p")
    run = run_cli("strip", source, "-o", tmp_path / "clean.mp4", "--json")
    assert run.code == 0 and run.records()[0]["note"] == "re-encoded: mjpeg to H.264", run.stderr
    assert _levels_shown(tmp_path / "clean.mp4") == _levels_shown(source)


def test_a_video_decoded_as_rgb_is_written_with_the_matrix_it_was_converted_with(tmp_path: Path) -> None:
    """PNG frames in a QuickTime file decode as RGB: the 4:2:0 H.264 that protect and strip write
    from them was tagged with the RGB matrix (H.264 allows it for 4:4:4 only), where it was made with
    BT.601, and a player that reads the tag shows wrong colours."""
    source = tmp_path / "screen.mov"
    with av.open(str(source), "w") as out:
        stream = out.add_stream("png", rate=10)
        stream.width, stream.height, stream.pix_fmt = 96, 64, "rgb24"
        picture = np.zeros((64, 96, 3), np.uint8)
        picture[:, :32, 0], picture[:, 32:64, 1], picture[:, 64:, 2] = 220, 200, 180
        for i in range(5):
            frame = av.VideoFrame.from_ndarray(picture, format="rgb24")
            frame.pts = i
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    assert run_cli("strip", source, "-o", tmp_path / "stripped.mp4").code == 0
    assert run_cli("protect", source, "-o", tmp_path / "protected.mp4").code == 0
    for name in ("stripped.mp4", "protected.mp4"):
        with av.open(str(tmp_path / name)) as clip:
            assert clip.streams.video[0].codec_context.colorspace == meta_video.BT601, name
            shown = next(clip.decode(video=0)).to_ndarray(format="rgb24").astype(int)
        assert np.abs(shown - picture).mean() < 4, name


@pytest.mark.parametrize(("muxer", "sound"), [("mpeg", "mp2"), ("vob", "ac3")])
def test_an_mpeg_program_stream_is_taken(tmp_path: Path, muxer: str, sound: str) -> None:
    """MPEG-2 in a program stream (.mpg; DVD camcorders' .vob, .mod and .tod) was refused as "not a
    photo, video or sound format": it is FFmpeg's to read, and written as MP4 like any video."""
    source = tmp_path / f"camcorder.{muxer}"
    with av.open(str(source), "w", format=muxer) as out:
        picture = out.add_stream("mpeg2video", rate=25)
        picture.width, picture.height, picture.pix_fmt = 64, 48, "yuv420p"
        audio = out.add_stream(sound, rate=48_000)
        audio.codec_context.layout = "stereo"
        for i in range(10):
            frame = av.VideoFrame.from_ndarray(np.full((48, 64, 3), 20 * i, np.uint8), format="rgb24")
            frame.pts = i
            out.mux(picture.encode(frame))
        out.mux(picture.encode(None))
        silence = av.AudioFrame.from_ndarray(np.zeros((1, 9600), np.float32), format="flt", layout="mono")
        silence.sample_rate, silence.pts = 48_000, 0
        resampler = av.AudioResampler(
            format=audio.codec_context.format.name, layout="stereo", rate=48_000,
            frame_size=audio.codec_context.frame_size or None,
        )  # fmt: skip
        for frame in [*resampler.resample(silence), None]:
            out.mux(audio.encode(frame))
    for command, extra in (("strip", ()), ("protect", ("--audio", "keep"))):
        run = run_cli(command, source, "-o", tmp_path / f"{command}.mp4", *extra)
        assert run.code == 0, run.stderr
        assert run_cli("check", tmp_path / f"{command}.mp4", "--no-faces").code == 0


def test_a_stream_cut_after_an_open_gop_start_is_encoded_again(tmp_path: Path) -> None:
    """A file cut without encoding again can begin at a picture that is not an IDR one; decoders
    start there only from the recovery point an SEI names, and the copy keeps no SEI, so strip wrote
    a file of which no frame decodes (and refused it).  Such a stream is now encoded again."""
    whole = tmp_path / "whole.ts"
    with av.open(str(whole), "w", format="mpegts") as out:
        stream = out.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        stream.codec_context.options = {
            "bf": "3",
            "x264-params": "open-gop=1:keyint=12:min-keyint=12:scenecut=0",
        }
        for i in range(48):
            frame = av.VideoFrame.from_ndarray(np.full((48, 64, 3), 4 * i, np.uint8), format="rgb24")
            frame.pts = i
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    cut = tmp_path / "cut.ts"
    with av.open(str(whole)) as src, av.open(str(cut), "w", format="mpegts") as out:
        picture = out.add_stream_from_template(src.streams.video[0], opaque=True)
        keyframes = 0
        for packet in src.demux(src.streams.video[0]):
            keyframes += packet.is_keyframe
            if packet.size and keyframes >= 2:  # from the second keyframe, an open-GOP I picture
                packet.stream = picture
                out.mux(packet)
    with av.open(str(cut)) as clip:
        shown = sum(1 for _ in clip.decode(video=0))
    run = run_cli("strip", cut, "-o", tmp_path / "clean.mp4", "--json")
    assert run.code == 0, run.stderr
    assert "does not start at an IDR picture" in run.records()[0]["note"]
    with av.open(str(tmp_path / "clean.mp4")) as clean:
        assert sum(1 for _ in clean.decode(video=0)) == shown
    assert run_cli("check", tmp_path / "clean.mp4", "--no-faces").code == 0


def test_an_mpeg_ts_video_is_copied(tmp_path: Path) -> None:
    """Camcorders write H.264 in MPEG-TS (.mts, .m2ts): the unit filter handed on the TS codec tag,
    which the MP4 muxer refuses, so every such strip failed with "Invalid data"."""
    plain = _five_frames(tmp_path / "plain.mp4", "libx264")
    source = tmp_path / "camcorder.ts"
    with av.open(str(plain)) as src, av.open(str(source), "w", format="mpegts") as out:
        picture = src.streams.video[0]
        dst = out.add_stream_from_template(picture, opaque=True)
        for packet in src.demux(picture):  # the muxer turns them into start-code units itself
            if packet.size:
                packet.stream = dst
                out.mux(packet)
    run = run_cli("strip", source, "-o", tmp_path / "clean.mp4")
    assert run.code == 0, run.stderr
    with av.open(str(tmp_path / "clean.mp4")) as clean:
        assert clean.streams.video[0].codec_context.name == "h264", "copied"
        assert sum(1 for _ in clean.decode(video=0)) == 5
    assert run_cli("check", tmp_path / "clean.mp4", "--no-faces").code == 0


def _recording_part(
    path: Path,
    first: int,
    start_s: float,
    sound_s: float | None = 0.6,
    reordered: int = 2,
    muxer: str = "mpegts",
    sound_codec: str = "aac",
    layout: str = "stereo",
) -> Path:
    """An MPEG-TS part as a camcorder writes it: 15 frames at 25 fps (0.6 s), whose grey levels count up
    from ``first``, and ``sound_s`` of an AAC tone (None: no sound stream), its clock starting at
    ``start_s``; ``reordered`` B-frames at most in a row (0: frames in the order shown, as many
    phones' and cameras' live streams have them).  Or the same in another ``muxer``'s container,
    the tone in ``sound_codec`` on every channel of ``layout``."""
    with av.open(str(path), "w", format=muxer) as out:
        picture = out.add_stream("libx264", rate=25)
        picture.width, picture.height, picture.pix_fmt = 64, 48, "yuv420p"
        picture.codec_context.options = {"bf": str(reordered)}
        sound = out.add_stream(sound_codec, rate=48_000) if sound_s is not None else None
        if sound is not None:
            sound.layout = layout
        for i in range(15):
            frame = av.VideoFrame.from_ndarray(np.full((48, 64, 3), first + 8 * i, np.uint8), format="rgb24")
            frame.pts = round(start_s * 25) + i
            out.mux(picture.encode(frame))
        out.mux(picture.encode(None))
        if sound is None or sound_s is None:
            return path
        tone = (0.1 * np.sin(np.arange(round(48_000 * sound_s)) / 8)).astype(np.float32)
        channels = np.tile(tone, (av.AudioLayout(layout).nb_channels, 1))
        audio = av.AudioFrame.from_ndarray(channels, format="fltp", layout=layout)
        audio.sample_rate, audio.pts = 48_000, round(start_s * 48_000)
        resampler = av.AudioResampler(
            format=sound.codec_context.format.name,
            layout=layout,
            rate=48_000,
            frame_size=sound.codec_context.frame_size or 1024,
        )
        for chunk in [*resampler.resample(audio), None]:
            out.mux(sound.encode(chunk))
    return path


def _pictures(path: Path) -> tuple[list[int], list[float]]:
    """A video's grey levels and frame times in the order a player shows them."""
    with av.open(str(path)) as clip:
        frames = sorted((f.time, int(f.to_ndarray(format="rgb24")[0, 0, 0])) for f in clip.decode(video=0))
    return [level for _, level in frames], [t for t, _ in frames]


def _shown(path: Path) -> tuple[list[int], list[float], float]:
    """`_pictures`, and when the video's sound is heard again after the first part's (0.3 s of it,
    from about 0.06 s; never: infinity)."""
    with av.open(str(path)) as clip:
        heard = [
            float(f.time)
            for f in clip.decode(audio=0)
            if f.time > 0.45 and np.abs(f.to_ndarray()).max() > 0.02
        ]
    return (*_pictures(path), min(heard, default=float("inf")))


@pytest.mark.parametrize("second_starts_s", [0.0, 3600.0], ids=["restarted", "an-hour-on"])
def test_recordings_laid_end_to_end_are_stripped_and_protected_in_order(
    tmp_path: Path, second_starts_s: float
) -> None:
    """Camcorders split recordings into MPEG-TS parts, and people join parts or whole recordings with
    ``cat``: each part's clock starts anew (or an hour on).  `strip` failed ("cannot copy the streams")
    and `protect` refused the join ("a corrupt packet": FFmpeg flags a packet just before a jump of the
    continuity counter); with that flag let through, `protect` interleaved the two parts' frames, and
    its sound, timed by counting samples, ran early by what the first part's sound fell short of its
    picture.  Now each part follows the one before, sound in step with picture, and the note says so."""
    joined = tmp_path / "joined.mts"
    parts = [
        _recording_part(tmp_path / "a.mts", 16, 0.0, sound_s=0.3),
        _recording_part(tmp_path / "b.mts", 136, second_starts_s),
    ]
    joined.write_bytes(b"".join(p.read_bytes() for p in parts))
    shown = [16 + 8 * i for i in range(15)] + [136 + 8 * i for i in range(15)]
    for command, output, extra in (("strip", "clean.mp4", ()), ("protect", "safe.mp4", ("--audio", "keep"))):
        run = run_cli(command, joined, "-o", tmp_path / output, "--json", *extra)
        assert run.code == 0, run.stderr
        assert "2 parts laid end to end" in run.records()[0]["note"], "the user is told"
        levels, times, second_sound = _shown(tmp_path / output)
        assert np.abs(np.array(levels) - shown).max() <= 3, (command, levels)
        assert np.all(np.diff(times) > 0.03) and times[-1] - times[0] < 1.3, (command, times)
        assert abs(second_sound - times[15]) < 0.05, (command, second_sound, times[15])
        assert run_cli("check", tmp_path / output, "--no-faces").code == 0


@pytest.mark.parametrize("second_starts_s", [0.6, 5.6], ids=["one-clock", "a-pause"])
def test_segments_on_one_clock_are_protected_whole(tmp_path: Path, second_starts_s: float) -> None:
    """A live stream saved as its segments laid end to end (HLS: one clock running on, each segment
    beginning with a keyframe), or a recorder paused for 5 s (less than a join's leap): the continuity
    counter's jump flags a packet, no join moves a clock, and `protect` refused the file ("a corrupt
    packet near frame 13") where `strip` copied it.  Frames in the order shown, no B-frames, as many
    phones' and cameras' streams have them (with B-frames the reordered times happened to open a
    join)."""
    joined = tmp_path / "stream.ts"
    parts = [
        _recording_part(tmp_path / "a.ts", 16, 0.0, reordered=0),
        _recording_part(tmp_path / "b.ts", 136, second_starts_s, reordered=0),
    ]
    joined.write_bytes(b"".join(p.read_bytes() for p in parts))
    shown = [16 + 8 * i for i in range(15)] + [136 + 8 * i for i in range(15)]
    _, times_in = _pictures(joined)
    for command, output, extra in (("strip", "clean.mp4", ()), ("protect", "safe.mp4", ("--audio", "keep"))):
        run = run_cli(command, joined, "-o", tmp_path / output, *extra)
        assert run.code == 0, run.stderr
        levels, times = _pictures(tmp_path / output)
        assert np.abs(np.array(levels) - shown).max() <= 3, (command, levels)
        assert np.allclose(np.diff(times), np.diff(times_in), atol=0.002), (command, times, times_in)
        assert run_cli("check", tmp_path / output, "--no-faces").code == 0


@pytest.mark.parametrize(
    ("name", "muxer", "clock_s"),
    [
        ("recording.mts", "mpegts", 2**33 / 90_000 - 0.3),
        ("recording.mts", "mpegts", 3600.0),
        ("cut.mkv", "matroska", 3600.0),
    ],
    ids=["just-before-the-wrap", "an-hour-on", "an-mkv-cut-an-hour-in"],
)
def test_a_recording_begins_at_0_with_every_frame_wherever_its_clock_stood(
    tmp_path: Path, name: str, muxer: str, clock_s: float
) -> None:
    """A transport stream's clock starts wherever the recorder's stood, and an MP4 kept that as an
    empty stretch first: a broadcast recorded an hour into its clock gave a file that played an hour
    of nothing.  The clock's times are 33-bit counts of 90 kHz, which run over every 26.5 hours;
    FFmpeg gives the times before the wrap as negative, and an MP4 hides pictures with negative
    times as lead-in: `strip` wrote a file that showed only the frames after the wrap (and said
    nothing), and `protect` refused it (fewer frames out than in).  Every output now begins at 0 (its
    first picture or sound, whichever comes first).  An MKV cut from a longer recording keeps its
    times too, and had the same empty hour."""
    clip = _recording_part(tmp_path / name, 16, clock_s, muxer=muxer)
    with av.open(str(clip)) as made:
        assert made.start_time  # not 0 (just before the wrap, FFmpeg gives it as negative)
    for command, output, extra in (("strip", "clean.mp4", ()), ("protect", "safe.mp4", ("--audio", "keep"))):
        run = run_cli(command, clip, "-o", tmp_path / output, *extra)
        assert run.code == 0, run.stderr
        levels, times = _pictures(tmp_path / output)
        assert len(levels) == 15 and np.abs(np.array(levels) - [16 + 8 * i for i in range(15)]).max() <= 3, (
            command,
            levels,
        )
        # The sound begins first, by the AAC encoder's priming (1024 samples, 21 ms).
        assert 0 <= times[0] < 0.03 and np.allclose(np.diff(times), 0.04, atol=0.002), (command, times)
        assert run_cli("check", tmp_path / output, "--no-faces").code == 0


def test_a_part_without_sound_before_one_with_it_begins_at_0_and_keeps_its_sound(tmp_path: Path) -> None:
    """A picture-only part whose clock stood an hour on, then a part with sound whose clock stood at
    1 s.  FFmpeg's start of a stream is its first time anywhere in the file, so the sound's start
    (1 s) counted as the file's, and the first part's pictures began an hour in; and the second
    part's sound, muxed ahead of its picture and first seen before the join, kept the first
    part's clock and was lost (one packet an hour before the start).  Now the file begins at 0
    and the second part's sound is heard with its picture."""
    joined = tmp_path / "joined.mts"
    parts = [
        _recording_part(tmp_path / "a.mts", 16, 3600.0, sound_s=None),
        _recording_part(tmp_path / "b.mts", 136, 1.0),
    ]
    joined.write_bytes(b"".join(p.read_bytes() for p in parts))
    for command, output, extra in (("strip", "clean.mp4", ()), ("protect", "safe.mp4", ("--audio", "keep"))):
        run = run_cli(command, joined, "-o", tmp_path / output, *extra)
        assert run.code == 0, run.stderr
        levels, times, second_sound = _shown(tmp_path / output)
        assert len(levels) == 30 and times[0] < 0.01 and times[-1] < 1.3, (command, times)
        assert abs(second_sound - times[15]) < 0.05, (command, second_sound, times[15])
        assert run_cli("check", tmp_path / output, "--no-faces").code == 0


def test_a_sound_copy_that_no_longer_decodes_is_not_published(tmp_path: Path) -> None:
    """A voice memo whose time scale was damaged (``mdhd``: 3.4 billion ticks a second): copied as it
    is, the MP4 muxer's edit list hid every packet, and the copy, which decoded to nothing, was
    published as "stripped" (the length check allows one frame's difference, and a frame lasted
    minutes).  It is now unverified and not written (found by the robustness suite, seed 11)."""
    memo = tmp_path / "memo.m4a"
    with av.open(str(memo), "w", format="ipod") as out:
        sound = out.add_stream("aac", rate=22_050, layout="mono")
        tone = av.AudioFrame.from_ndarray(
            (0.1 * np.sin(np.arange(33_075) / 8)).astype(np.float32)[None, :], format="flt", layout="mono"
        )
        tone.sample_rate, tone.pts = 22_050, 0
        resampler = av.AudioResampler(format="fltp", layout="mono", rate=22_050, frame_size=1024)
        for chunk in [*resampler.resample(tone), None]:
            out.mux(sound.encode(chunk))
    data = bytearray(memo.read_bytes())
    struct.pack_into(">I", data, data.find(b"mdhd") + 16, 0xC800_0000)
    memo.write_bytes(bytes(data))
    run = run_cli("strip", memo, "-o", tmp_path / "clean.m4a", "--json")
    assert run.records()[0]["status"] == "unverified", run.stdout
    assert run.records()[0]["error"] == "the sound no longer decodes"
    assert not (tmp_path / "clean.m4a").exists()


def test_a_transport_stream_that_lost_packets_is_still_refused(tmp_path: Path) -> None:
    """The corrupt flag of a packet passes only just before a join: a recording that lost three
    TS packets of its picture in the middle (a broadcast's reception, a bad card) is refused by
    `protect`, as before, and names where."""
    whole = tmp_path / "whole.ts"
    rng = np.random.default_rng(0)
    with av.open(str(whole), "w", format="mpegts") as out:
        picture = out.add_stream("libx264", rate=25)
        picture.width, picture.height, picture.pix_fmt = 160, 120, "yuv420p"
        noise = rng.integers(0, 255, (120, 160, 3), np.uint8)
        for i in range(50):
            frame = av.VideoFrame.from_ndarray(np.roll(noise, 3 * i, 1), format="rgb24")
            frame.pts = i
            out.mux(picture.encode(frame))
        out.mux(picture.encode(None))
    data = whole.read_bytes()
    packets = [data[i : i + 188] for i in range(0, len(data), 188)]
    video = [i for i, p in enumerate(packets) if (p[1] & 0x1F) << 8 | p[2] == 0x100]
    lost = set(video[len(video) // 2 : len(video) // 2 + 3])
    damaged = tmp_path / "damaged.ts"
    damaged.write_bytes(b"".join(p for i, p in enumerate(packets) if i not in lost))
    run = run_cli("protect", damaged, "-o", tmp_path / "safe.mp4")
    assert run.code != 0 and "a corrupt packet near frame" in run.stderr, run.stderr
    assert not (tmp_path / "safe.mp4").exists()
    assert run_cli("protect", whole, "-o", tmp_path / "whole.mp4").code == 0, "the guard's control"


def test_ac3_and_eac3_sound_is_copied_with_its_setup_judged(tmp_path: Path) -> None:
    """AVCHD camcorders record AC-3 beside H.264 in MPEG-TS, broadcasts E-AC-3: exiftool shows the
    copy's ``dac3`` or ``dec3`` as an opaque value that no rule allowed, so strip refused every such
    file.  Each is now allowed in its plain form: its fields, the reserved bits zero, nothing after."""
    plain = _five_frames(tmp_path / "plain.mp4", "libx264")
    camcorder = tmp_path / "camcorder.mts"
    with av.open(str(plain)) as src, av.open(str(camcorder), "w", format="mpegts") as out:
        picture = out.add_stream_from_template(src.streams.video[0], opaque=True)
        sound = out.add_stream("ac3", rate=48_000)
        for packet in src.demux(src.streams.video[0]):
            if packet.size:
                packet.stream = picture
                out.mux(packet)
        silence = av.AudioFrame.from_ndarray(np.zeros((1, 24_000), np.float32), format="flt", layout="mono")
        silence.sample_rate, silence.pts = 48_000, 0
        resampler = av.AudioResampler(format="fltp", layout="stereo", rate=48_000, frame_size=1536)
        for frame in [*resampler.resample(silence), None]:
            out.mux(sound.encode(frame))
    broadcast = sounds.encode(tmp_path / "broadcast.ts", "mpegts", "eac3", 48_000, sounds.speech(1.0))
    for source in (camcorder, broadcast):
        run = run_cli("strip", source, "-o", tmp_path / "clean", "--json")
        assert run.code == 0, run.stderr
        assert run_cli("check", run.records()[-1]["output"], "--no-faces").code == 0
    dac3, dec3 = bytes.fromhex("1008c0"), bytes.fromhex("0300200200")
    cases = {
        "Unknown_dac3": (dac3, [dac3[:2] + b"\xc1", dac3 + HIDDEN]),
        "Unknown_dec3": (dec3, [dec3[:2] + b"\x21" + dec3[3:], dec3 + HIDDEN, dec3 + b"\x02\x00"]),
    }
    for tag, (plain_setup, hiding) in cases.items():
        assert policy.allowed("Track1", tag, "base64:" + base64.b64encode(plain_setup).decode()), tag
        for value in hiding:
            assert not policy.allowed("Track1", tag, "base64:" + base64.b64encode(value).decode()), value


def test_units_that_do_not_add_up_and_an_av1_setup_with_metadata_are_findings() -> None:
    """A unit's length past its packet hides bytes no parser reads; AV1's setup may carry
    metadata OBUs as its frames may."""
    avcc = bytes([1, 100, 0, 10, 0xFF])  # 4-byte lengths
    slice_ = b"\x65\x88"
    assert units.strays("h264", len(slice_).to_bytes(4, "big") + slice_, avcc) == set()
    assert units.strays("h264", (9).to_bytes(4, "big") + slice_, avcc) == {-1}
    assert units.strays("h264", b"\x00\x00\x01\x65\x88\x00\x00\x01\x1f" + HIDDEN, b"") == {31}
    assert units.strays("h264", b"\x00\x00\x01\x06\x05", b"") == set(), "SEI: x264 writes it"
    assert units.strays("h264", b"\x00\x00\x01\x09\x10\x00\x00\x01\x0b", b"") == set(), "a plain delimiter"
    sequence_header = bytes([1 << 3 | 2, 2, 0, 0])
    metadata = bytes([5 << 3 | 2, len(HIDDEN)]) + HIDDEN
    assert units.strays("av1", sequence_header + metadata, b"") == {5}
    assert units.strays("av1", bytes([5 << 3 | 2, 0x80]), b"") == {-1}
    av1c = bytes([0x81, 0, 0x0C, 0])
    assert units.av1_setup_clean(av1c + sequence_header)
    assert not units.av1_setup_clean(av1c + sequence_header + metadata)
    assert not units.av1_setup_clean(av1c + sequence_header[:3])


def _top_box(data: bytes, kind: bytes) -> tuple[int, int]:
    """(start, size) of the first top-level box of ``kind`` in MP4 ``data``."""
    at = 0
    while data[at + 4 : at + 8] != kind:
        at += int.from_bytes(data[at : at + 4], "big")
    return at, int.from_bytes(data[at : at + 4], "big")


def test_bytes_in_mdat_that_no_track_reads_are_found_and_stripped(tmp_path: Path) -> None:
    """Players read only the samples the tables point at, so the rest of `mdat` can hold anything:
    `check` called such a file clean."""
    make_clip(tmp_path / "base.mp4")
    data = (tmp_path / "base.mp4").read_bytes()
    at, size = _top_box(data, b"mdat")
    hidden = data[:at] + (size + len(HIDDEN)).to_bytes(4, "big") + data[at + 4 : at + size] + HIDDEN
    source = tmp_path / "hidden.mp4"
    source.write_bytes(hidden + data[at + size :])
    assert plays(source)
    found = run_cli("check", source)
    assert found.code == 3 and f"mdat holds {len(HIDDEN)} byte(s) that no track reads" in found.stderr
    run = run_cli("strip", source, "-o", tmp_path / "clean.mp4")
    assert run.code == 0, run.stderr
    assert HIDDEN not in (tmp_path / "clean.mp4").read_bytes()
    assert run_cli("check", tmp_path / "clean.mp4", "--no-faces").code == 0
    at = data.index(b"stsz")  # one size for all samples, and four billion of them: no array made
    bomb = data[: at + 8] + (1).to_bytes(4, "big") + (0xFFFFFFFF).to_bytes(4, "big") + data[at + 16 :]
    (tmp_path / "bomb.mp4").write_bytes(bomb)
    assert isobmff.scan(tmp_path / "bomb.mp4")
    # FFmpeg builds an index entry per claimed sample when it opens the file (a billion: 24 GB), so
    # such a file is refused before FFmpeg sees it.
    for command in (["check"], ["strip", "-o", tmp_path / "s.mp4"], ["protect", "-o", tmp_path / "p.mp4"]):
        run = run_cli(command[0], tmp_path / "bomb.mp4", *command[1:])
        assert run.code == 1 and "more than the file holds" in run.stderr, (command, run.stderr)
    at = data.index(b"stsc")  # its first run starting at chunk 0: tables no player can follow
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(data[: at + 12] + bytes(4) + data[at + 16 :])
    assert "sample tables do not add up" in run_cli("check", broken).stderr


@pytest.mark.parametrize(
    ("where", "finding"),
    [
        ("after", f"{len(HIDDEN)} bytes after its pixels"),
        ("between", "bytes between its colour table and its pixels"),
        ("reserved", "its header's reserved fields hold data"),
    ],
)
def test_bytes_no_bmp_reader_shows_are_found(tmp_path: Path, where: str, finding: str) -> None:
    """A viewer reads the rows from where the header says they start, and no further: `check`
    called a BMP with a name after its pixels, before them, or in its header clean."""
    rng = np.random.default_rng(6)
    Image.fromarray(rng.integers(0, 256, (48, 64, 3), dtype=np.uint8)).save(tmp_path / "plain.bmp")
    data = bytearray((tmp_path / "plain.bmp").read_bytes())
    if where == "after":
        data += HIDDEN
    elif where == "between":  # the pixels moved on, the name before them
        start = int.from_bytes(data[10:14], "little")
        data[start:start] = HIDDEN
        data[10:14] = (start + len(HIDDEN)).to_bytes(4, "little")
    else:
        data[6:10] = HIDDEN[:4]
    source = tmp_path / "hidden.bmp"
    source.write_bytes(bytes(data))
    assert np.array_equal(pixels(source), pixels(tmp_path / "plain.bmp"))
    found = run_cli("check", source, "--no-faces")
    assert found.code == 3 and f"BMP: {finding}" in found.stderr, found.stderr
    assert run_cli("check", tmp_path / "plain.bmp", "--no-faces").code == 0
    run = run_cli("strip", source, "-o", tmp_path / "clean.bmp")
    assert run.code == 0, run.stderr
    assert HIDDEN[:4] not in (tmp_path / "clean.bmp").read_bytes()
    assert run_cli("check", tmp_path / "clean.bmp", "--no-faces").code == 0


def test_bytes_no_tiff_directory_points_at_are_found(tmp_path: Path) -> None:
    """A reader follows the offsets, so bytes none reaches are never shown: `check` called a TIFF
    with a name after its picture clean."""
    rng = np.random.default_rng(5)
    page = Image.fromarray(rng.integers(0, 256, (48, 64, 3), dtype=np.uint8))
    page.save(tmp_path / "plain.tiff", compression="tiff_lzw")
    source = tmp_path / "hidden.tiff"
    source.write_bytes((tmp_path / "plain.tiff").read_bytes() + HIDDEN)
    found = run_cli("check", source, "--no-faces")
    assert found.code == 3 and f"TIFF: {len(HIDDEN)} byte(s) that no directory points at" in found.stderr
    run = run_cli("strip", source, "-o", tmp_path / "clean.tiff")
    assert run.code == 0, run.stderr
    assert HIDDEN not in (tmp_path / "clean.tiff").read_bytes()
    for clean in (tmp_path / "plain.tiff", tmp_path / "clean.tiff"):
        assert run_cli("check", clean, "--no-faces").code == 0, clean.name
    cut = tmp_path / "cut.tiff"
    cut.write_bytes((tmp_path / "plain.tiff").read_bytes()[:12])
    assert "TIFF: its structure cannot be followed" in run_cli("check", cut, "--no-faces").stderr
    # Directories of 65,535 entries each, every one starting inside the one before: a walk of all
    # of them took minutes for a file under 1 MB, so the entries are counted and capped.
    chained = bytearray(b"II*\x00" + (8).to_bytes(4, "little") + b"\xff" * (2 + 12 * 65535 + 12 * 10 + 4))
    for k in range(10):
        at = 8 + 12 * k + 2 + 12 * 65535
        chained[at : at + 4] = (8 + 12 * (k + 1)).to_bytes(4, "little")
    (tmp_path / "chained.tiff").write_bytes(bytes(chained))
    assert tiff.scan(tmp_path / "chained.tiff")[0].item.endswith("(too many directory entries)")
    # One directory repeating a strip offsets tag of 12,000 values 12,000 times (a file of 190 KB):
    # every value was read, one at a time, for minutes; the values read in all are now capped.
    entries = values = 12_000
    table = 8 + 2 + 12 * entries + 4
    repeated = b"".join((273).to_bytes(2, "little") + (4).to_bytes(2, "little") + values.to_bytes(4, "little")
                        + table.to_bytes(4, "little") for _ in range(entries))  # fmt: skip
    header = b"II*\x00" + (8).to_bytes(4, "little") + entries.to_bytes(2, "little")
    (tmp_path / "repeated.tiff").write_bytes(header + repeated + bytes(4 + 4 * values))
    assert tiff.scan(tmp_path / "repeated.tiff")[0].item.endswith(
        "(too many strips, tiles or directories pointed at)"
    )


def _tiff_last_strip_grown(data: bytes, extra: bytes) -> bytes:
    """A little-endian TIFF of one directory with its last strip moved to the end of the file and
    ``extra`` after it, the strip's byte count grown to take it in; its old place zeroed (a gap
    of zeros is allowed)."""
    return _tiff_last_strip_made(data, lambda strip: strip + extra)


def _tiff_last_strip_made(data: bytes, make: Callable[[bytes], bytes]) -> bytes:
    """A little-endian TIFF of one directory with its last strip made anew by ``make`` from the
    old one and moved to the end of the file, its byte count set to match; its old place zeroed."""
    ifd, out = int.from_bytes(data[4:8], "little"), bytearray(data)
    where: dict[int, tuple[int, int]] = {}  # tag: (place of its last value, width)
    for i in range(int.from_bytes(data[ifd : ifd + 2], "little")):
        at = ifd + 2 + 12 * i
        tag, count = (
            int.from_bytes(data[at : at + 2], "little"),
            int.from_bytes(data[at + 4 : at + 8], "little"),
        )
        width = 2 if int.from_bytes(data[at + 2 : at + 4], "little") == 3 else 4
        values = at + 8 if width * count <= 4 else int.from_bytes(data[at + 8 : at + 12], "little")
        where[tag] = (values + width * (count - 1), width)
    (offset_at, offset_width), (count_at, count_width) = where[273], where[279]
    start = int.from_bytes(data[offset_at : offset_at + offset_width], "little")
    length = int.from_bytes(data[count_at : count_at + count_width], "little")
    strip = make(data[start : start + length])
    out[start : start + length] = bytes(length)
    out[offset_at : offset_at + offset_width] = len(data).to_bytes(offset_width, "little")
    out[count_at : count_at + count_width] = len(strip).to_bytes(count_width, "little")
    return bytes(out) + strip


@pytest.mark.parametrize(
    ("compression", "rows"),
    [
        (None, 48),
        (None, 13),
        ("packbits", 13),
        ("tiff_adobe_deflate", 48),
        ("tiff_deflate", 13),
        ("tiff_lzw", 48),
        ("tiff_lzw", 13),
    ],
)
def test_text_in_a_tiff_strip_past_its_picture_is_found(tmp_path: Path, compression: str, rows: int) -> None:
    """A strip's byte count may claim more than its picture: a decoder reads the rows the picture
    has, or to the end of its compressed data, and stops.  `check` called clean a TIFF whose last
    strip took in "Jane Roe" after its picture (`strip` writes the pixels afresh)."""
    rng = np.random.default_rng(6)
    picture = rng.integers(0, 256, (48, 64, 3), dtype=np.uint8)
    picture[:24] = 90  # runs for PackBits to make
    plain = tmp_path / "plain.tiff"
    Image.fromarray(picture).save(
        plain, compression=compression, tiffinfo={278: rows}, strip_size=rows * 64 * 3
    )
    assert len(Image.open(plain).tag_v2[279]) == -(-48 // rows)  # the last of 13 rows is shorter
    source = tmp_path / "hidden.tiff"
    source.write_bytes(_tiff_last_strip_grown(plain.read_bytes(), b"Jane Roe"))
    assert np.array_equal(pixels(source), picture)
    assert run_cli("check", plain, "--no-faces").code == 0
    found = run_cli("check", source, "--no-faces")
    assert found.code == 3 and "TIFF: 8 byte(s) in its strips or tiles past the picture" in found.stderr, (
        found.stderr
    )
    run = run_cli("strip", source, "-o", tmp_path / "clean.tiff")
    assert run.code == 0, run.stderr
    assert b"Jane Roe" not in (tmp_path / "clean.tiff").read_bytes()
    assert run_cli("check", tmp_path / "clean.tiff", "--no-faces").code == 0


def test_the_strips_of_a_ycbcr_tiff_are_not_called_a_structure_that_cannot_be_followed(
    tmp_path: Path,
) -> None:
    """A YCbCr TIFF's strips, whose decoded size the walk does not count (subsampled rows), are
    not judged for bytes past their picture; they were named "its structure cannot be followed"
    (strips paired with sizes none of them had).  Its YCbCr tags are judged elsewhere."""
    rng = np.random.default_rng(9)
    path = tmp_path / "ycbcr.tiff"
    Image.fromarray(rng.integers(0, 256, (32, 24, 3), dtype=np.uint8)).convert("YCbCr").save(path)
    assert Image.open(path).tag_v2[262] == 6
    assert tiff.scan(path) == []


@pytest.mark.parametrize("compression", ["tiff_lzw", "tiff_adobe_deflate"])
def test_text_after_the_end_code_of_a_ycbcr_tiffs_strip_is_found(tmp_path: Path, compression: str) -> None:
    """A YCbCr TIFF's strips are not sized here, but bytes after an LZW or Deflate strip's end lie
    past any picture: `check` called clean a YCbCr TIFF with "Jane Roe" after its last strip's end
    code.  The strips as Pillow writes them are still clean."""
    rng = np.random.default_rng(9)
    plain = tmp_path / "ycbcr.tiff"
    Image.fromarray(rng.integers(0, 256, (32, 24, 3), dtype=np.uint8)).convert("YCbCr").save(
        plain, compression=compression
    )
    assert Image.open(plain).tag_v2[262] == 6
    assert tiff.scan(plain) == []
    source = tmp_path / "hidden.tiff"
    source.write_bytes(_tiff_last_strip_grown(plain.read_bytes(), b"Jane Roe, 12 Elm Street"))
    assert np.array_equal(pixels(source), pixels(plain))
    found = [re.sub(r"\d+", "N", f.item) for f in tiff.scan(source)]
    assert found == ["TIFF: N byte(s) in its strips or tiles past the picture"]


def test_tiff_strips_pointing_at_the_same_bytes_are_walked_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every strip of a TIFF may point at the same bytes: 20,000 strips all at one 10-byte LZW
    strip (a 160 KB file) took 1 s to walk, each again, so the 2 million strips the walk reads
    (16 MB) would take minutes.  Strips alike (place, size, picture, compression) are walked once."""
    buffer = io.BytesIO()
    Image.fromarray(np.zeros((1, 64), np.uint8)).save(buffer, "TIFF", compression="tiff_lzw")
    made = Image.open(io.BytesIO(buffer.getvalue()))
    offset, count = made.tag_v2[273][0], made.tag_v2[279][0]
    strips = 20_000
    data = bytearray(b"II*\0\0\0\0\0" + buffer.getvalue()[offset : offset + count])
    data += bytes(len(data) % 2)
    offsets = len(data)
    data += struct.pack(f"<{strips}I", *[8] * strips) + struct.pack(f"<{strips}I", *[count] * strips)
    tags = [(256, 4, 1, 64), (257, 4, 1, strips), (258, 3, 1, 8), (259, 3, 1, 5), (262, 3, 1, 1)]
    tags += [
        (273, 4, strips, offsets),
        (277, 3, 1, 1),
        (278, 4, 1, 1),
        (279, 4, strips, offsets + 4 * strips),
    ]
    struct.pack_into("<I", data, 4, len(data))
    data += struct.pack("<H", len(tags))
    for tag, kind, n, value in tags:
        data += struct.pack("<HHI", tag, kind, n) + struct.pack(
            "<HH" if kind == 3 else "<I", *([value, 0] if kind == 3 else [value])
        )
    data += bytes(4)
    path = tmp_path / "same.tiff"
    path.write_bytes(bytes(data))
    walks = 0
    walk = tiff._STREAMS[5]

    def counted(stream: bytes, needed: int) -> Any:
        nonlocal walks
        walks += 1
        return walk(stream, needed)

    monkeypatch.setitem(tiff._STREAMS, 5, counted)
    assert tiff.scan(path) == []
    assert walks == 1


@pytest.mark.parametrize("mode", ["RGB", "YCbCr", "L"])
def test_text_after_the_end_of_a_tiff_jpeg_strip_is_found(tmp_path: Path, mode: str) -> None:
    """A JPEG strip ends at its end-of-image marker, where libtiff's decoder stops: bytes after it
    are never shown.  `tiff.scan` passed "Jane Roe" there (whatever the photometric: a YCbCr
    strip's size is not counted, and is not needed).  `check` names such a TIFF's JPEGTables tag
    today either way; this finding stands apart from it."""
    rng = np.random.default_rng(10)
    plain = tmp_path / "plain.tiff"
    picture = Image.fromarray(rng.integers(0, 256, (64, 48, 3), dtype=np.uint8)).convert(mode)
    picture.save(plain, compression="jpeg", strip_size=48 * 3 * 16)
    assert Image.open(plain).tag_v2[259] == 7 and len(Image.open(plain).tag_v2[273]) > 1
    source = tmp_path / "hidden.tiff"
    source.write_bytes(_tiff_last_strip_grown(plain.read_bytes(), b"Jane Roe"))
    assert np.array_equal(pixels(source), pixels(plain))
    assert tiff.scan(plain) == []
    assert [f.item for f in tiff.scan(source)] == ["TIFF: 8 byte(s) in its strips or tiles past the picture"]


def _lzw(data: bytes, *, old: bool = False) -> bytes:
    """``data`` LZW-coded as libtiff codes a strip: a Clear code first, greedy matches, a Clear
    when the table is full, the end code last; codes most significant bit first, widening one
    code early, or in the old style (``old``: least significant bit first, widening on time)."""
    codes, table, word = [256], dict[bytes, int](), b""
    for byte in data:
        if word + bytes([byte]) in table or not word:
            word += bytes([byte])
            continue
        codes.append(table.get(word, word[0]))
        table[word + bytes([byte])] = 258 + len(table)
        word = bytes([byte])
        if len(table) == 4094 - 258:
            codes.append(256)
            table.clear()
    codes += [table.get(word, word[0]), 257] if word else [257]
    packed, bits, width, since = 0, 0, 9, 0
    for code in codes:
        packed = packed | code << bits if old else packed << width | code
        bits += width
        since = 0 if code == 256 else since + 1
        width = 9 if code == 256 else 9 + sum(258 + since - 1 >= (1 << w) - (not old) for w in (9, 10, 11))
    if old:
        return packed.to_bytes(-(-bits // 8), "little")
    return (packed << (-bits % 8)).to_bytes(-(-bits // 8), "big")


@pytest.mark.parametrize(
    ("case", "old"),
    [
        ("none", False),
        ("after the end code", False),
        ("past the picture", False),
        ("no end code", False),
        ("none", True),
        ("after the end code", True),
        ("past the picture", True),
    ],
)
def test_lzw_codes_in_a_tiff_strip_past_its_picture_are_found(tmp_path: Path, case: str, old: bool) -> None:
    """An LZW strip's codes are followed to the picture's last byte, where libtiff stops: `check`
    called clean a TIFF whose strip held "Jane Roe" after its end code, or coded as more picture
    than the picture has (with or without an end code after it), or either in the old style
    libtiff still reads (bits in the other order); Pillow shows the same pixels.  The strip
    coded with nothing more is clean in either style.  `strip` writes the pixels afresh."""
    rng = np.random.default_rng(7)
    picture = rng.integers(0, 4, (40, 24, 3), dtype=np.uint8)
    picture[20:] = rng.integers(0, 256, (20, 24, 3), dtype=np.uint8)  # codes 9 to 12 bits wide
    plain = tmp_path / "plain.tiff"
    Image.fromarray(picture).save(plain, compression="tiff_lzw")
    text = b"Jane Roe, 12 Elm Street" * 20
    stream = {
        "none": _lzw(picture.tobytes(), old=old),
        "after the end code": _lzw(picture.tobytes(), old=old) + text,
        "past the picture": _lzw(picture.tobytes() + text, old=old),
        "no end code": _lzw(picture.tobytes() + text)[:-2],
    }[case]
    source = tmp_path / "hidden.tiff"
    source.write_bytes(_tiff_last_strip_made(plain.read_bytes(), lambda _strip: stream))
    assert np.array_equal(pixels(source), picture)
    assert not tiff.scan(plain)
    found = [re.sub(r"\d+", "N", f.item) for f in tiff.scan(source)]
    assert found == ([] if case == "none" else ["TIFF: N byte(s) in its strips or tiles past the picture"])
    if case == "past the picture" and not old:
        run = run_cli("check", source, "--no-faces")
        assert run.code == 3 and "past the picture" in run.stderr, run.stderr
        run = run_cli("strip", source, "-o", tmp_path / "clean.tiff")
        assert run.code == 0, run.stderr
        assert run_cli("check", tmp_path / "clean.tiff", "--no-faces").code == 0


@pytest.mark.parametrize("mode", ["L", "RGB", "RGBA"])
def test_pillows_own_lzw_tiffs_have_nothing_past_their_pictures(tmp_path: Path, mode: str) -> None:
    """Pillow's (libtiff's) LZW strips end with the end code and zero bits to the byte, whatever
    the picture: sizes from a pixel to many strips, one of several tables, noise, flat colour and
    few colours, with and without the horizontal predictor."""
    rng = np.random.default_rng(8)
    for height, width in [(1, 1), (3, 5), (64, 48), (300, 257)]:
        noise = rng.integers(0, 256, (height, width, len(mode)), dtype=np.uint8)
        for n, picture in enumerate([noise, np.full_like(noise, 7), noise // 64 * 60]):
            image = Image.fromarray(picture.squeeze(-1) if mode == "L" else picture, mode)
            for predictor, strip_size in [(1, 1 << 20), (2, 8192)]:
                path = tmp_path / f"{height}x{width}-{n}-{predictor}.tiff"
                image.save(path, compression="tiff_lzw", tiffinfo={317: predictor}, strip_size=strip_size)
                assert (Image.open(path).tag_v2[259], Image.open(path).tag_v2[317]) == (5, predictor)
                assert not tiff.scan(path), (path.name, tiff.scan(path))
    assert len(Image.open(tmp_path / "300x257-0-1.tiff").tag_v2[273]) == 1
    assert len(Image.open(tmp_path / "300x257-0-2.tiff").tag_v2[273]) > 1
    assert run_cli("check", tmp_path / "300x257-0-2.tiff", "--no-faces").code == 0


def test_a_tiff_strip_that_inflates_to_gigabytes_is_judged_in_little_memory(tmp_path: Path) -> None:
    """The Deflate strip of a TIFF is inflated to find what lies past its picture.  A strip of
    300 KB that inflates to 300 MB, in a TIFF declaring a 16384 x 16384 grey picture, was inflated
    whole, into memory; it is now inflated a megabyte at a time, and its compressed bytes left
    unread past the picture are still named."""
    stream = zlib.compress(bytes(300 << 20), 9)
    side, at = 16384, 8 + 2 + 9 * 12 + 4
    entries = [(256, 4, side), (257, 4, side), (258, 3, 8), (259, 3, 8), (262, 3, 1)]
    entries += [(273, 4, at), (277, 3, 1), (278, 4, side), (279, 4, len(stream))]
    ifd = struct.pack("<H", len(entries)) + b"".join(
        struct.pack("<HHII", tag, kind, 1, value) for tag, kind, value in entries
    )
    bomb = tmp_path / "bomb.tiff"
    bomb.write_bytes(b"II*\0" + struct.pack("<I", 8) + ifd + bytes(4) + stream)
    # Python's own count of what it allocated (zlib's buffers among it): a child's ru_maxrss
    # starts from its parent's, the test process, which is large.
    measure = (
        "import sys, tracemalloc; from pathlib import Path; from unseen.meta import tiff; "
        "tracemalloc.start(); found = tiff.scan(Path(sys.argv[1])); "
        "print(tracemalloc.get_traced_memory()[1] >> 20, [f.item for f in found])"
    )
    done = subprocess.run(
        [sys.executable, "-c", measure, str(bomb)], capture_output=True, text=True, check=True
    )
    peak, found = done.stdout.split(" ", 1)
    assert int(peak) < 50, f"{peak} MB at its peak"
    assert "past the picture" in found, found


def _png(path: Path, size: tuple[int, int], image_data: bytes, *, interlaced: bool = False) -> Path:
    """An 8-bit grey PNG of ``size`` whose IDAT holds ``image_data`` as given."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return len(body).to_bytes(4, "big") + kind + body + zlib.crc32(kind + body).to_bytes(4, "big")

    header = size[0].to_bytes(4, "big") + size[1].to_bytes(4, "big") + bytes([8, 0, 0, 0, int(interlaced)])
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", image_data) + chunk(b"IEND", b"")
    )
    return path


def test_png_image_data_a_viewer_never_reads_is_found_and_stripped(tmp_path: Path) -> None:
    """Bytes after the end of IDAT's zlib stream, or inflating past the picture's last row, are never
    drawn: strip kept them (the image data is copied byte for byte) and `check` called the file clean."""
    rows = np.random.default_rng(3).integers(0, 256, (20, 31), dtype=np.uint8)
    raw = np.hstack([np.zeros((20, 1), np.uint8), rows]).tobytes()  # filter type 0 per row
    after_end = _png(tmp_path / "after_end.png", (31, 20), zlib.compress(raw) + HIDDEN)
    past_rows = _png(tmp_path / "past_rows.png", (31, 20), zlib.compress(raw + HIDDEN))
    for source, why in ((after_end, f"{len(HIDDEN)} bytes after the image data's end"), (past_rows, "past")):
        assert np.array_equal(np.asarray(Image.open(source)), rows), "viewers show the picture alone"
        found = run_cli("check", source, "--no-faces")
        assert found.code == 3 and why in found.stderr, found.stderr
        clean = tmp_path / f"clean_{source.name}"
        run = run_cli("strip", source, "-o", clean)
        assert run.code == 0, run.stderr
        idat = b"".join(raw[8:-4] for kind, raw in png.chunks(clean.read_bytes())[0] if kind == b"IDAT")
        inflate = zlib.decompressobj()
        assert HIDDEN not in inflate.decompress(idat) + inflate.unused_data
        assert np.array_equal(np.asarray(Image.open(clean).convert("L")), rows), "the same picture"
        assert run_cli("check", clean, "--no-faces").code == 0
    # Adam7: seven passes of their own rows, each with its filter byte, and no byte more.
    interlaced = b"".join(
        bytes([0]) + rows[y, x0::dx].tobytes()
        for x0, y0, dx, dy in (
            (0, 0, 8, 8),
            (4, 0, 8, 8),
            (0, 4, 4, 8),
            (2, 0, 4, 4),
            (0, 2, 2, 4),
            (1, 0, 2, 2),
            (0, 1, 1, 2),
        )
        for y in range(y0, 20, dy)
    )
    adam7 = _png(tmp_path / "adam7.png", (31, 20), zlib.compress(interlaced), interlaced=True)
    assert np.array_equal(np.asarray(Image.open(adam7)), rows)
    assert run_cli("check", adam7, "--no-faces").code == 0


def test_palette_entries_no_pixel_uses_are_found_and_blanked(tmp_path: Path) -> None:
    """A palette picture's unused entries are never drawn, nor is a truecolour picture's suggested
    palette: strip copied them as they were (text as colours) and `check` called the file clean.
    Entries an animation's later frame uses are kept: that frame draws with them."""
    indices = (np.arange(24 * 32).reshape(24, 32) // 192).astype(np.uint8)  # entries 0-3
    palette = bytearray(256 * 3)
    palette[:12] = bytes([200, 30, 30, 30, 200, 30, 30, 30, 200, 250, 250, 250])
    palette[60 : 60 + len(HIDDEN)] = HIDDEN
    first, second = Image.fromarray(indices, "P"), Image.fromarray(indices + 4, "P")  # 4-7 later
    palette[12:24] = bytes(range(100, 112))
    for frame in (first, second):
        frame.putpalette(bytes(palette))
    still, moving = tmp_path / "still.png", tmp_path / "moving.png"
    first.save(still)
    first.save(moving, save_all=True, append_images=[second], duration=100)
    rgb = tmp_path / "rgb.png"
    Image.fromarray(np.full((8, 8, 3), 90, np.uint8)).save(rgb)
    found, _ = png.chunks(rgb.read_bytes())
    suggested = tmp_path / "suggested.png"
    suggested.write_bytes(
        png.SIGNATURE
        + b"".join(raw if kind != b"IDAT" else _png_chunk(b"PLTE", HIDDEN[:30]) + raw for kind, raw in found)
    )
    cases = {still: "palette entries no pixel uses", moving: "palette entries no pixel uses"}
    cases[suggested] = "a palette in a picture that draws without one"
    for source, why in cases.items():
        assert HIDDEN[:30] in source.read_bytes()
        check = run_cli("check", source, "--no-faces")
        assert check.code == 3 and why in check.stderr, check.stderr
        clean = tmp_path / f"clean_{source.name}"
        run = run_cli("strip", source, "-o", clean)
        assert run.code == 0 and "rewritten" in run.stderr, run.stderr
        assert HIDDEN[:8] not in clean.read_bytes()
        assert run_cli("check", clean, "--no-faces").code == 0
        with Image.open(source) as before, Image.open(clean) as after:
            for n in range(getattr(before, "n_frames", 1)):
                before.seek(n)
                after.seek(n)
                assert np.array_equal(np.asarray(before.convert("RGB")), np.asarray(after.convert("RGB")))
    with Image.open(tmp_path / "clean_moving.png") as after:
        assert after.getpalette()[12:24] == list(range(100, 112)), "the second frame's entries stay"


def test_gif_data_after_an_image_end_code_is_found_and_stripped(tmp_path: Path) -> None:
    """A decoder stops at an image's end code, so sub-blocks after it are never read: strip copied
    them with the image and `check` called the file clean.  The copy now ends at the end code."""
    rng = np.random.default_rng(4)
    frames = [Image.fromarray(rng.integers(0, 256, (30, 40, 3), dtype=np.uint8)) for _ in range(2)]
    plain = tmp_path / "plain.gif"
    frames[0].save(plain, save_all=True, append_images=frames[1:], duration=100, loop=0)
    header, found, _ = gif.blocks(plain.read_bytes())
    marked = [
        raw[:-1] + bytes([len(HIDDEN)]) + HIDDEN + b"\x00" if kind == "image" else raw for kind, raw in found
    ]
    source = tmp_path / "hidden.gif"
    source.write_bytes(header + b"".join(marked) + b"\x3b")
    with Image.open(source) as shown, Image.open(plain) as drawn:
        for n in range(2):
            shown.seek(n)
            drawn.seek(n)
            assert np.array_equal(np.asarray(shown.convert("RGB")), np.asarray(drawn.convert("RGB")))
    found_ = run_cli("check", source, "--no-faces")
    assert found_.code == 3 and f"GIF:{2 * len(HIDDEN)} bytes after the images' end codes" in found_.stderr
    run = run_cli("strip", source, "-o", tmp_path / "clean.gif")
    assert run.code == 0, run.stderr
    assert (tmp_path / "clean.gif").read_bytes() == plain.read_bytes(), "cut at the end codes, nothing else"
    assert run_cli("check", tmp_path / "clean.gif", "--no-faces").code == 0


def test_unused_grey_ramp_entries_say_nothing_unless_mixed_with_black(tmp_path: Path) -> None:
    """A greyscale table holds every level, used or not: not a finding.  Black and the ramp's grey
    mixed across the unused entries spell a bit each: found (in review)."""
    indices = (np.arange(16 * 16).reshape(16, 16) // 64).astype(np.uint8) * 80  # levels 0, 80, 160, 240
    ramp = bytes(v for i in range(256) for v in (i, i, i))
    bits = bytearray(ramp)
    for entry in range(1, 200, 2):
        if entry % 80:
            bits[3 * entry : 3 * entry + 3] = bytes(3)  # black where a bit is 0
    for name, table, found in (("grey.png", ramp, False), ("bits.png", bytes(bits), True)):
        picture = Image.fromarray(indices, "P")
        picture.putpalette(table)
        picture.save(tmp_path / name)
        check = run_cli("check", tmp_path / name, "--no-faces")
        assert (check.code == 3) == found and ("palette entries" in check.stderr) == found, check.stderr


def test_gif_colour_table_entries_no_viewer_draws_are_found_and_blanked(tmp_path: Path) -> None:
    """Entries of a GIF's global or local colour table that no pixel uses are never drawn: strip
    copied them (text as colours) and `check` called the file clean.  What a viewer may draw stays:
    the entries any frame uses (a later one too, its transparent entry among them), the background.
    A transparent entry no pixel uses is drawn by no viewer: it goes too (found in review: 3 bytes a
    frame went through)."""
    table = bytearray(768)
    table[:30] = bytes(range(60, 90))  # entries 0-9
    table[120 : 120 + len(HIDDEN)] = HIDDEN
    local = bytearray(768)
    local[:6] = bytes(range(150, 156))  # entries 0-1
    local[300 : 300 + len(HIDDEN)] = HIDDEN
    still = bytes([0, 1, 2, 3] * 16)
    transparent_nine = b"\x21\xf9\x04\x01\x0a\x00\x09\x00"
    source = tmp_path / "hidden.gif"
    source.write_bytes(
        b"GIF89a" + bytes([8, 0, 8, 0, 0xF7, 8, 0]) + table  # background: entry 8
        + b"\x21\xf9\x04\x00\x0a\x00\x00\x00" + _literal_image(still, 8)
        + transparent_nine + _literal_image(bytes([4, 5, 6, 7, 9] * 12 + [4] * 4), 8)
        + b"\x21\xf9\x04\x01\x0a\x00\x65\x00" + _literal_image(bytes([0, 1] * 32), 8, bytes(local))
        + b"\x3b"
    )  # fmt: skip
    check = run_cli("check", source, "--no-faces")
    assert check.code == 3 and "GIF:26 colour table entries no viewer draws" in check.stderr, check.stderr
    clean = tmp_path / "clean.gif"
    run = run_cli("strip", source, "-o", clean)
    assert run.code == 0, run.stderr
    written = clean.read_bytes()
    assert HIDDEN[:6] not in written and HIDDEN[-6:] not in written
    assert written[13 : 13 + 768] == bytes(range(60, 90)) + bytes(738), "entries 0-9 stay"
    assert bytes(range(150, 156)) + bytes(762) in written, "the local table's two"
    assert run_cli("check", clean, "--no-faces").code == 0
    with Image.open(source) as before, Image.open(clean) as after:
        for n in range(3):
            before.seek(n)
            after.seek(n)
            assert np.array_equal(np.asarray(before.convert("RGBA")), np.asarray(after.convert("RGBA")))


def test_decoder_setups_are_allowed_in_their_plain_form_only(tmp_path: Path) -> None:
    """exiftool shows an MP4 track's decoder setup as an opaque value, so its name alone passed any
    bytes put into it: text after H.264's parameter sets, a comment block in FLAC's, initialisation
    data in VP9's."""
    with av.open(str(_five_frames(tmp_path / "x264.mp4", "libx264"))) as clip:
        avcc = bytes(clip.streams.video[0].codec_context.extradata or b"")
    assert avcc[1] == 100 and avcc[-1] == 0, "High profile: four fixed bytes, no SPS extension"
    sei_as_extension = avcc[:-1] + b"\x01" + (1 + len(HIDDEN)).to_bytes(2, "big") + b"\x06" + HIDDEN
    streaminfo = b"\x80" + (34).to_bytes(3, "big") + bytes(34)
    vpcc = bytes.fromhex("01000000000a820202020000")
    cases = {
        "AVCConfiguration": (avcc, [avcc + HIDDEN, sei_as_extension]),
        "AVCConfiguration ": (avcc[:1] + bytes([244]) + avcc[2:], []),  # High 4:4:4: x264 at CRF 0
        "Unknown_dfLa": (
            bytes(4) + streaminfo,
            [bytes(4) + b"\x04" + streaminfo[1:] + b"\x84" + len(HIDDEN).to_bytes(3, "big") + HIDDEN],
        ),
        "Unknown_vpcC": (vpcc, [vpcc[:-2] + len(HIDDEN).to_bytes(2, "big") + HIDDEN, vpcc + HIDDEN]),
    }
    for case, (plain, hiding) in cases.items():
        tag = case.strip()
        assert policy.allowed("Track1", tag, "base64:" + base64.b64encode(plain).decode()), case
        for value in hiding:
            assert not policy.allowed("Track1", tag, "base64:" + base64.b64encode(value).decode()), case
    padded = bytes(4) + b"\x00" + streaminfo[1:] + b"\x81" + (8).to_bytes(3, "big")
    assert setups.flac(padded + bytes(8)) and not setups.flac(padded + HIDDEN[:8])


def _gif_of_literals(path: Path, pixels: bytes, side: int) -> Path:
    """A ``side`` x ``side`` grey GIF whose image data is ``pixels`` (`_literal_image`)."""
    screen = side.to_bytes(2, "little") * 2
    grey = bytes(v for i in range(256) for v in (i, i, i))
    path.write_bytes(b"GIF89a" + screen + b"\xf7\x00\x00" + grey + _literal_image(pixels, side) + b"\x3b")
    return path


def _literal_image(pixels: bytes, side: int, table: bytes = b"") -> bytes:
    """A ``side`` x ``side`` GIF image block at the corner, with its own 256-entry ``table`` if
    given, whose data is ``pixels``, each a literal 9-bit code (a clear code every 200 keeps the
    width), then the end code."""
    codes = [c for n, value in enumerate(pixels) for c in ((256, value) if n % 200 == 0 else (value,))]
    packed = sum(code << (9 * n) for n, code in enumerate([*codes, 257]))
    data = packed.to_bytes(-(-9 * (len(codes) + 1) // 8), "little")
    blocks = b"".join(bytes([len(data[i : i + 255])]) + data[i : i + 255] for i in range(0, len(data), 255))
    size = side.to_bytes(2, "little") * 2
    return b"\x2c" + bytes(4) + size + bytes([0x87 if table else 0]) + table + b"\x08" + blocks + b"\x00"


def test_gif_codes_that_decode_past_the_picture_are_found_and_stripped(tmp_path: Path) -> None:
    """A decoder stops at the picture's last pixel, so literal codes after it, before the end code,
    are never shown: `check` called such a GIF clean and strip copied them."""
    picture = np.random.default_rng(6).integers(0, 256, 64, dtype=np.uint8)
    plain = _gif_of_literals(tmp_path / "plain.gif", picture.tobytes(), 8)
    source = _gif_of_literals(tmp_path / "past.gif", picture.tobytes() + HIDDEN, 8)
    for path in (plain, source):
        assert np.array_equal(np.asarray(Image.open(path)).ravel(), picture), "viewers show the picture alone"
    assert run_cli("check", plain, "--no-faces").code == 0
    found = run_cli("check", source, "--no-faces")
    assert found.code == 3 and "GIF:image data decodes past its picture" in found.stderr, found.stderr
    run = run_cli("strip", source, "-o", tmp_path / "clean.gif")
    assert run.code == 0, run.stderr
    assert np.array_equal(np.asarray(Image.open(tmp_path / "clean.gif").convert("L")).ravel(), picture)
    assert run_cli("check", tmp_path / "clean.gif", "--no-faces").code == 0


def test_a_gif_frame_with_no_colour_table_has_no_entries_to_blank(tmp_path: Path) -> None:
    """GIF89a lets a frame have no colour table at all, neither its own nor a global one (a viewer
    then draws it with a default palette).  The colour table walk decoded such a frame with a table
    of none, which no decoder reads: `check` called a valid file's image data undecodable and
    `strip` re-encoded it.  It has no entries to hide anything in; a table beside it is still
    walked, and image data that does not decode is still found."""
    picture = bytes(range(64))
    screen = b"GIF89a" + (8).to_bytes(2, "little") * 2 + b"\x00\x00\x00"  # no global colour table
    plain = tmp_path / "plain.gif"
    plain.write_bytes(screen + _literal_image(picture, 8) + b"\x3b")
    with Image.open(plain) as shown:
        assert np.asarray(shown).tobytes() == picture, "Pillow reads it (as greyscale)"
    check = run_cli("check", plain, "--no-faces")
    assert check.code == 0, check.stderr
    run = run_cli("strip", plain, "-o", tmp_path / "clean.gif", "--json")
    assert run.code == 0 and run.records()[0]["note"] == "rewritten", run.stdout + run.stderr
    assert (tmp_path / "clean.gif").read_bytes() == plain.read_bytes(), "nothing in it to remove"
    local = bytearray(bytes(range(192)) + bytes(576))  # entries 0-63 used
    local[300 : 300 + len(HIDDEN)] = HIDDEN
    mixed = tmp_path / "mixed.gif"
    mixed.write_bytes(
        screen + _literal_image(picture, 8, bytes(local)) + _literal_image(picture, 8) + b"\x3b"
    )
    found = run_cli("check", mixed, "--no-faces")
    assert found.code == 3 and "colour table entries no viewer draws hold colours" in found.stderr, (
        found.stderr
    )
    assert "does not decode" not in found.stderr
    run = run_cli("strip", mixed, "-o", tmp_path / "mixed-clean.gif", "--json")
    assert run.code == 0 and run.records()[0]["note"] == "rewritten", run.stdout + run.stderr
    assert HIDDEN[:6] not in (tmp_path / "mixed-clean.gif").read_bytes()
    assert run_cli("check", tmp_path / "mixed-clean.gif", "--no-faces").code == 0
    broken = tmp_path / "broken.gif"
    corner = b"\x2c" + bytes(4) + (8).to_bytes(2, "little") * 2 + b"\x00"  # 8 x 8, no table of its own
    garbage = b"\x08\x05" + bytes([255] * 5) + b"\x00"  # codes 511: entries the decoder has not made
    broken.write_bytes(screen + corner + garbage + b"\x3b")
    found = run_cli("check", broken, "--no-faces")
    assert found.code == 3 and "GIF:image data does not decode" in found.stderr, found.stderr


def _gif_at_code_size(path: Path, size: int, pixels: list[int], after: bytes = b"") -> Path:
    """A 16 x 16 grey GIF whose image data has LZW minimum code size ``size``: ``pixels`` as literal
    codes (a clear code before the table would widen them), the end code, then ``after``.  At size
    0 the codes are one bit wide: there is no room for the end code, and the pixels fill the bytes."""
    clear, width = 1 << size, size + 1
    every = (1 << size) - 2 if 2 <= size < 8 else 200
    codes = [c for n, v in enumerate(pixels) for c in ((clear, v) if n % every == 0 else (v,))]
    codes = [*codes, clear + 1] if size else list(pixels)
    packed = sum(code << (width * n) for n, code in enumerate(codes))
    data = packed.to_bytes(-(-width * len(codes) // 8), "little") + after
    blocks = b"".join(bytes([len(data[i : i + 255])]) + data[i : i + 255] for i in range(0, len(data), 255))
    side = (16).to_bytes(2, "little") * 2
    grey = bytes(v for i in range(256) for v in (i, i, i))
    image = b"\x2c" + bytes(4) + side + b"\x00" + bytes([size]) + blocks + b"\x00"
    path.write_bytes(b"GIF89a" + side + b"\xf7\x00\x00" + grey + image + b"\x3b")
    return path


@pytest.mark.parametrize(
    ("size", "where"),
    [*((size, "after") for size in (0, 1, 2, 8, 9, 10, 11, 12)), (9, "high bits"), (12, "high bits")],
)
def test_gif_text_hidden_at_any_code_size_pillow_reads_is_found_and_stripped(
    tmp_path: Path, size: int, where: str
) -> None:
    """Pillow reads an LZW minimum code size of 0 to 12, not GIF89a's 2 to 8 alone; the end code
    walk followed 1 to 11.  At 0 and 12 text after the end code (after the last pixel at 0, where
    no end code fits) went through strip and `check` called the file clean.  Above 8 a pixel's
    literal code has up to 4 bits more than its 8, which the decoder drops: text in them went
    through too.  A plain file at any of these sizes keeps its pixels; its data is written anew at
    code size 8 (an encoder's choices, the code size among them, can spell text), and strip leaves
    that output as it is."""
    top = min(1 << size, 256) if size else 1
    picture = np.random.default_rng(size).integers(0, top, 256).tolist()
    plain = _gif_at_code_size(tmp_path / "plain.gif", size, picture)
    if where == "after":
        source = _gif_at_code_size(tmp_path / "hidden.gif", size, picture, HIDDEN)
    else:
        bits, extra = int.from_bytes(HIDDEN, "little"), size - 8
        wide = [v | (bits >> (extra * n) & ((1 << extra) - 1)) << 8 for n, v in enumerate(picture)]
        source = _gif_at_code_size(tmp_path / "hidden.gif", size, wide)
    for path in (plain, source):
        with Image.open(path) as shown:
            assert np.asarray(shown).ravel().tolist() == picture, "Pillow shows the picture alone"
    assert run_cli("check", plain, "--no-faces").code == 0
    run = run_cli("strip", plain, "-o", tmp_path / "plain-clean.gif", "--json")
    assert run.code == 0 and run.records()[0]["note"] == "rewritten", run.stdout + run.stderr
    written = (tmp_path / "plain-clean.gif").read_bytes()
    assert written[781:791] == plain.read_bytes()[781:791] and written[791] == 8, (
        "data written anew at size 8"
    )
    with Image.open(tmp_path / "plain-clean.gif") as shown:
        assert np.asarray(shown.convert("L")).ravel().tolist() == picture, "the same pixels"
    again = run_cli("strip", tmp_path / "plain-clean.gif", "-o", tmp_path / "again.gif")
    assert again.code == 0 and (tmp_path / "again.gif").read_bytes() == written, "its own output as it was"
    finding = {
        "after": "decodes past its picture"
        if size == 0
        else f"GIF:{len(HIDDEN)} bytes after the images' end",
        "high bits": "GIF:image data codes pixels wider than 8 bits",
    }[where]
    found = run_cli("check", source, "--no-faces")
    assert found.code == 3 and finding in found.stderr, found.stderr
    clean = tmp_path / "clean.gif"
    run = run_cli("strip", source, "-o", clean)
    assert run.code == 0, run.stderr
    assert HIDDEN[:8] not in clean.read_bytes()
    with Image.open(clean) as shown:
        assert np.asarray(shown.convert("L")).ravel().tolist() == picture
    assert run_cli("check", clean, "--no-faces").code == 0


def _sub_block_sizes(path: Path) -> list[list[int]]:
    """The sizes of each image's data sub-blocks in the GIF at ``path``, the end 0 left out."""
    _header, found, _ = gif.blocks(path.read_bytes())
    out = list[list[int]]()
    for kind, raw in found:
        if kind == "image":
            pos, sizes = 11 + (3 << ((raw[9] & 7) + 1) if raw[9] & 0x80 else 0), list[int]()
            while raw[pos]:
                sizes.append(raw[pos])
                pos += 1 + raw[pos]
            out.append(sizes)
    return out


def test_gif_text_in_the_sizes_of_image_data_sub_blocks_is_found_and_chunked_anew(tmp_path: Path) -> None:
    """Each data sub-block starts with its length, 1 to 255, and a decoder joins them: the lengths
    are a free byte each.  Strip copied an image's sub-blocks as they were when nothing followed
    its end code, so sizes of 74, 97, 110, 101 ... spelled "Jane Roe" through it, and `check`
    called the file clean.  The same LZW bytes chunked at 255 (as Pillow does) come out."""
    picture = np.random.default_rng(8).integers(0, 256, (40, 40), dtype=np.uint8)
    plain = tmp_path / "plain.gif"
    Image.fromarray(picture).save(plain)
    header, found, _ = gif.blocks(plain.read_bytes())
    assert [len(sizes) > 4 and set(sizes[:-1]) == {255} for sizes in _sub_block_sizes(plain)] == [True]
    name = b"Jane Roe"
    rebuilt = list[bytes]()
    for kind, raw in found:
        if kind == "image":
            at = 10 + (3 << ((raw[9] & 7) + 1) if raw[9] & 0x80 else 0)
            codes, pos = bytearray(), at + 1
            while raw[pos]:
                codes += raw[pos + 1 : pos + 1 + raw[pos]]
                pos += 1 + raw[pos]
            sizes = [*name, *[255] * ((len(codes) - sum(name)) // 255)]
            sizes.append(len(codes) - sum(sizes))
            assert 0 < sizes[-1] < 255
            starts = np.cumsum([0, *sizes]).tolist()
            chunks = [bytes([n]) + codes[a : a + n] for n, a in zip(sizes, starts, strict=False)]
            raw = raw[: at + 1] + b"".join(chunks) + b"\x00"
        rebuilt.append(raw)
    source = tmp_path / "jane.gif"
    source.write_bytes(header + b"".join(rebuilt) + b"\x3b")
    assert name in bytes(_sub_block_sizes(source)[0])
    with Image.open(source) as shown:
        assert np.array_equal(np.asarray(shown), picture), "the same picture"
    assert run_cli("check", plain, "--no-faces").code == 0, "Pillow's 255-byte chunks are no finding"
    found_ = run_cli("check", source, "--no-faces")
    assert found_.code == 3 and "GIF:image data in sub-blocks of unusual sizes" in found_.stderr, (
        found_.stderr
    )
    for command, output in (("strip", "clean.gif"), ("protect", "safe.gif")):
        run = run_cli(command, source, "-o", tmp_path / output)
        assert run.code == 0, run.stderr
        for sizes in _sub_block_sizes(tmp_path / output):
            assert set(sizes[:-1]) <= {255} and 0 < sizes[-1] <= 255, (command, sizes)
            assert name not in bytes(sizes), command
        with Image.open(tmp_path / output) as shown:
            assert np.array_equal(np.asarray(shown.convert("L")), picture), command
        assert run_cli("check", tmp_path / output, "--no-faces").code == 0, command
    clean = run_cli("strip", plain, "-o", tmp_path / "plain-clean.gif")
    assert clean.code == 0, clean.stderr
    assert (tmp_path / "clean.gif").read_bytes() == (tmp_path / "plain-clean.gif").read_bytes()
    assert (tmp_path / "plain-clean.gif").read_bytes() == plain.read_bytes(), "Pillow's file as it was"


def _lzw_with_clears(pixels: list[int], clears_after: set[int]) -> bytes:
    """GIF LZW data at code size 8 for ``pixels``, greedy matches, with the current match cut and a
    clear code written after each pixel in ``clears_after`` (the picture decodes the same), in
    sub-blocks of 255 bytes; the table is never full for the small pictures it is used on."""
    emitted = [(256, 9)]
    table, entries, width, after_clear, prefix = dict[tuple[int, int], int](), 258, 9, True, -1

    def emit(code: int) -> None:
        nonlocal entries, width, after_clear
        emitted.append((code, width))
        if after_clear:
            after_clear = False
            return
        entries += 1  # as the decoder counts: one entry a code after the first since a clear
        if entries == 1 << width and width < 12:
            width += 1

    for n, value in enumerate(pixels):
        if prefix < 0:
            prefix = value
        elif (prefix, value) in table:
            prefix = table[prefix, value]
        else:
            emit(prefix)
            table[prefix, value] = 258 + len(table)
            prefix = value
        if n in clears_after:
            emit(prefix)
            emitted.append((256, width))
            table, entries, width, after_clear, prefix = {}, 258, 9, True, -1
    if prefix >= 0:
        emit(prefix)
    emitted.append((257, width))
    packed, shift = 0, 0
    for code, bits in emitted:
        packed, shift = packed | code << shift, shift + bits
    data = packed.to_bytes(-(-shift // 8), "little")
    return b"".join(bytes([len(data[i : i + 255])]) + data[i : i + 255] for i in range(0, len(data), 255))


def test_gif_text_in_where_clear_codes_are_placed_is_written_anew(tmp_path: Path) -> None:
    """An encoder chooses where to write clear codes (one where the table is not full changes no
    pixel) and how long a match to write: a clear after chosen pixels spelled "Jane Roe" a bit each,
    the picture decoded the same, and strip copied the LZW bytes while `check` called the copy
    clean.  Each frame's data is now written anew from its pixels by one encoder (Pillow's)."""
    picture = np.random.default_rng(9).integers(0, 256, (40, 40), dtype=np.uint8)
    plain = tmp_path / "plain.gif"
    Image.fromarray(picture).save(plain)
    header, found, _ = gif.blocks(plain.read_bytes())
    bits = int.from_bytes(b"Jane Roe", "big")
    clears = {25 * n + 24 for n in range(64) if bits >> (63 - n) & 1}  # a bit every 25 pixels
    rebuilt = list[bytes]()
    for kind, raw in found:
        if kind == "image":
            at = 10 + (3 << ((raw[9] & 7) + 1) if raw[9] & 0x80 else 0)
            assert raw[at] == 8 and raw[9] & 0x40, "Pillow interlaces a picture this tall"
            stored = np.concatenate([picture[0::8], picture[4::8], picture[2::4], picture[1::2]])
            raw = raw[: at + 1] + _lzw_with_clears(stored.ravel().tolist(), clears) + b"\x00"
        rebuilt.append(raw)
    source = tmp_path / "jane.gif"
    source.write_bytes(header + b"".join(rebuilt) + b"\x3b")
    assert source.read_bytes() != plain.read_bytes()
    with Image.open(source) as shown:
        assert np.array_equal(np.asarray(shown), picture), "the same picture"
    for name, path in (("plain", plain), ("jane", source)):
        run = run_cli("strip", path, "-o", tmp_path / f"{name}-clean.gif")
        assert run.code == 0, run.stderr
        assert run_cli("check", tmp_path / f"{name}-clean.gif", "--no-faces").code == 0, name
    clean = (tmp_path / "jane-clean.gif").read_bytes()
    assert clean == (tmp_path / "plain-clean.gif").read_bytes(), "no clear code of the input's survives"
    assert clean == plain.read_bytes(), "Pillow's file as it was"
    with Image.open(tmp_path / "jane-clean.gif") as shown:
        assert np.array_equal(np.asarray(shown), picture)


JANE_BITS = [int(bit) for byte in b"Jane Roe" for bit in f"{byte:08b}"]


def _bits_at(n: int, width: int) -> int:
    """The ``n``-th ``width`` bits of "Jane Roe" (zero past its end), as a number."""
    bits = (JANE_BITS + [0] * (width * (n + 1)))[width * n : width * (n + 1)]
    return int("".join(map(str, bits)), 2)


def _pillow_animation(path: Path) -> Path:
    """Pillow's GIF of 24 frames of 12 x 10 on one 16-colour palette, each pixel changing every
    frame (so Pillow writes whole frames, no transparency), disposal 3, at the default settings
    but the palette kept as given (it then writes no transparent index of its own)."""
    base = np.random.default_rng(11).integers(0, 16, (10, 12), dtype=np.uint8)
    palette = np.random.default_rng(12).integers(0, 256, 48, dtype=np.uint8).tobytes()
    frames = list[Image.Image]()
    for n in range(24):
        frames.append(Image.fromarray((base + n) % 16, "P"))
        frames[-1].putpalette(palette)
    frames[0].save(
        path, save_all=True, append_images=frames[1:], duration=80, loop=0, disposal=3, optimize=False
    )
    return path


def _gif_fields(
    source: Path,
    path: Path,
    screen: bytes | None = None,
    descriptor: Callable[[int, int], int] | None = None,
    control: Callable[[int, bytes], bytes] | None = None,
) -> Path:
    """``source`` with its screen descriptor's bytes 10-12 set to ``screen``, each image's flags
    set by ``descriptor(n, flags)`` and each graphic control's four bytes by ``control(n, fields)``
    (n counts from 0)."""
    header, found, _ = gif.blocks(source.read_bytes())
    if screen is not None:
        header = header[:10] + screen + header[13:]
    images = controls = 0
    rebuilt = list[bytes]()
    for kind, raw in found:
        if kind == "image" and descriptor is not None:
            raw, images = raw[:9] + bytes([descriptor(images, raw[9])]) + raw[10:], images + 1
        elif kind == "control" and control is not None:
            raw, controls = raw[:3] + control(controls, raw[3:7]) + raw[7:], controls + 1
        rebuilt.append(raw)
    path.write_bytes(header + b"".join(rebuilt) + b"\x3b")
    return path


def _gif_frames(path: Path) -> list[np.ndarray[Any, Any]]:
    """Each frame as Pillow shows it, in RGBA."""
    with Image.open(path) as shown:
        out = list[np.ndarray[Any, Any]]()
        for n in range(getattr(shown, "n_frames", 1)):
            shown.seek(n)
            out.append(np.asarray(shown.convert("RGBA")))
        return out


def test_gif_text_in_the_unread_bits_of_fixed_size_fields_is_found_and_zeroed(tmp_path: Path) -> None:
    """The screen descriptor, each image descriptor and each frame's control were copied bit for bit:
    their sort flags, reserved bits, table sizes without a table, the user-input flag, disposals 4-7,
    the aspect byte and a transparent index with its flag off spelled "Jane Roe" over 24 frames
    (Pillow draws the same frames) and `check` called the file clean.  Strip now writes each field
    as Pillow does (its own files come out as they were) and `check` names each place.  The colour
    resolution is the encoder's to choose (Pillow writes 0, others the table's depth): strip zeroes
    it, `check` leaves it unnamed, as it does one index left over with the flag off (ffmpeg leaves
    one in its first frame's control)."""
    plain = _pillow_animation(tmp_path / "plain.gif")
    header, found, _ = gif.blocks(plain.read_bytes())
    flags = header[10]
    assert flags & 0xF8 == 0x80 and header[11:13] == b"\0\0"
    assert sum(kind == "image" for kind, _ in found) == 24
    assert all(raw[9] & 0x7F in (0, 3) for kind, raw in found if kind == "image"), "not interlaced"
    assert all(raw[3:7] == b"\x0c\x08\x00\x00" for kind, raw in found if kind == "control"), "no transparency"
    name = b"Jane Roe"

    def _spare(n: int, flags: int) -> int:
        """Reserved and sort bits, 3 a frame, and a table size where there is no table."""
        return _bits_at(n, 3) << 3 | (0 if flags & 0x80 else 5)

    descriptors = [raw[9] for kind, raw in found if kind == "image"]
    marked = sum(_spare(n, flags) > 0 for n, flags in enumerate(descriptors))
    places: dict[str, tuple[Path, str | None]] = {
        "screen": (
            _gif_fields(plain, tmp_path / "screen.gif", screen=bytes([flags | 0x08, 0, name[0]])),
            "GIF:reserved or unread bits set in the screen descriptor",
        ),
        "descriptors": (
            _gif_fields(plain, tmp_path / "descriptors.gif", descriptor=lambda n, f: f | _spare(n, f)),
            f"GIF:reserved or unread bits set in {marked} image descriptors",
        ),
        "controls": (
            _gif_fields(
                plain,
                tmp_path / "controls.gif",
                control=lambda n, c: (
                    bytes([(b := _bits_at(n, 6)) >> 3 << 5 | (4 + (b >> 1 & 3)) << 2 | (b & 1) << 1]) + c[1:]
                ),
            ),
            "GIF:reserved or unread bits set in 24 frame controls",
        ),
        "indices": (
            _gif_fields(
                plain, tmp_path / "indices.gif", control=lambda n, c: c[:3] + name[n % 8 : n % 8 + 1]
            ),
            "GIF:7 different transparent indices in frame controls without transparency",
        ),
        "resolution": (
            _gif_fields(plain, tmp_path / "resolution.gif", screen=bytes([flags | 0x50, 0, 0])),
            None,
        ),
        "leftover": (
            _gif_fields(plain, tmp_path / "leftover.gif", control=lambda n, c: c[:3] + bytes([n and 31])),
            None,
        ),
    }
    drawn = _gif_frames(plain)
    assert run_cli("check", plain, "--no-faces").code == 0
    for place, (source, finding) in places.items():
        assert source.read_bytes() != plain.read_bytes(), place
        shown = _gif_frames(source)
        assert len(shown) == 24 and all(np.array_equal(a, b) for a, b in zip(shown, drawn, strict=True)), (
            place
        )
        check = run_cli("check", source, "--no-faces")
        if finding is None:
            assert check.code == 0, (place, check.stderr)
        else:
            assert check.code == 3 and finding in check.stderr, (place, check.stderr)
        clean = tmp_path / f"clean-{place}.gif"
        run = run_cli("strip", source, "-o", clean)
        assert run.code == 0, run.stderr
        assert clean.read_bytes() == plain.read_bytes(), f"{place}: the fields as Pillow wrote them"
        assert run_cli("check", clean, "--no-faces").code == 0, place


def test_gif_undefined_disposals_are_written_as_pillow_draws_them(tmp_path: Path) -> None:
    """GIF89a defines disposals 0-3; Pillow draws 4-7 as 3 (restore the previous picture), as
    browsers draw 4.  Strip copied them, two free bits a frame; it now writes 3, which shows the
    same frames, where 1 (keep) would not: a frame of 4 x 4 over one of 8 x 8, then one of 2 x 2."""
    rng = np.random.default_rng(14)
    grey = bytes(v for i in range(256) for v in (i, i, i))
    sides = (8, 4, 2)
    images = [
        _literal_image(bytes(rng.integers(0, 256, side * side, dtype=np.uint8)), side) for side in sides
    ]

    def animation(name: str, disposal: int) -> Path:
        control = b"\x21\xf9\x04" + bytes([disposal << 2]) + b"\x0a\x00\x00\x00"
        path = tmp_path / name
        path.write_bytes(
            b"GIF89a\x08\x00\x08\x00\xf7\x00\x00" + grey + b"".join(control + i for i in images) + b"\x3b"
        )
        return path

    restored, kept = animation("d3.gif", 3), animation("d1.gif", 1)
    drawn = _gif_frames(restored)
    assert not all(np.array_equal(a, b) for a, b in zip(_gif_frames(kept), drawn, strict=True)), "it shows"
    assert gif.scan(restored) == [] and gif.scan(kept) == []
    written = gif.clean_bytes(restored.read_bytes(), restored)
    for disposal in range(4, 8):
        source = animation(f"d{disposal}.gif", disposal)
        assert all(np.array_equal(a, b) for a, b in zip(_gif_frames(source), drawn, strict=True)), disposal
        assert gif.scan(source) == [Finding("unseen", "GIF:reserved or unread bits set in 3 frame controls")]
        clean = tmp_path / f"clean{disposal}.gif"
        clean.write_bytes(gif.clean_bytes(source.read_bytes(), source))
        assert clean.read_bytes() == written, disposal
        assert all(np.array_equal(a, b) for a, b in zip(_gif_frames(clean), drawn, strict=True)), disposal


def test_gif_fields_of_files_without_a_global_table_are_zeroed(tmp_path: Path) -> None:
    """Without a global colour table the screen's table size and background index are read by no
    viewer: strip copied a byte and three bits of text there, and `check` called the file clean."""
    picture = bytes(np.random.default_rng(12).integers(0, 2, 64, dtype=np.uint8))
    table = bytes(range(100, 106)) + bytes(762)
    body = _literal_image(picture, 8, table) + b"\x3b"
    plain, source = tmp_path / "plain.gif", tmp_path / "screen.gif"
    plain.write_bytes(b"GIF89a\x08\x00\x08\x00\x00\x00\x00" + body)
    source.write_bytes(b"GIF89a\x08\x00\x08\x00\x07J\x00" + body)
    assert np.array_equal(_gif_frames(source)[0], _gif_frames(plain)[0])
    check = run_cli("check", source, "--no-faces")
    assert check.code == 3 and "GIF:reserved or unread bits set in the screen descriptor" in check.stderr
    run = run_cli("strip", source, "-o", tmp_path / "clean.gif")
    assert run.code == 0, run.stderr
    clean = (tmp_path / "clean.gif").read_bytes()
    assert clean[6:13] == b"\x08\x00\x08\x00\x00\x00\x00"
    assert np.array_equal(_gif_frames(tmp_path / "clean.gif")[0], _gif_frames(plain)[0])
    assert run_cli("check", tmp_path / "clean.gif", "--no-faces").code == 0


@pytest.mark.parametrize(
    "case",
    ["still P 4", "still RGBA", "still L interlaced", "moving RGB", "moving transparent", "moving P 2"],
)
def test_gif_fields_pillow_writes_are_kept_and_no_finding(tmp_path: Path, case: str) -> None:
    """Pillow's own GIFs, which `protect` writes, keep every fixed-size field through strip and draw
    no finding from them: any mode, animated, transparent, interlaced, small tables, local tables."""
    rng = np.random.default_rng(13)
    path = tmp_path / "pillow.gif"
    if case == "still P 4":
        picture = Image.fromarray(rng.integers(0, 4, (9, 7), dtype=np.uint8), "P")
        picture.putpalette(rng.integers(0, 256, 12, dtype=np.uint8).tobytes())
        picture.save(path)
    elif case == "still RGBA":
        rgba = rng.integers(0, 256, (20, 30, 4), dtype=np.uint8)
        rgba[..., 3] = np.where(rgba[..., 3] > 128, 255, 0)
        Image.fromarray(rgba).save(path)
    elif case == "still L interlaced":
        Image.fromarray(rng.integers(0, 256, (40, 30), dtype=np.uint8)).save(path)
    elif case == "moving P 2":
        frames = [Image.fromarray(rng.integers(0, 2, (20, 30), dtype=np.uint8), "P") for _ in range(3)]
        for frame in frames:
            frame.putpalette(b"\x10\x20\x30\xf0\xe0\xd0")
        frames[0].save(path, save_all=True, append_images=frames[1:], duration=50, disposal=1)
    else:
        frames = [Image.fromarray(rng.integers(0, 256, (20, 30, 3), dtype=np.uint8)) for _ in range(3)]
        options: dict[str, Any] = {"duration": [40, 60, 80], "loop": 0}
        if case == "moving transparent":
            options |= {"transparency": 0, "disposal": 2}
        frames[0].save(path, save_all=True, append_images=frames[1:], **options)
    data = path.read_bytes()
    _header, found, _ = gif.blocks(data)
    assert case != "still L interlaced" or any(raw[9] & 0x40 for kind, raw in found if kind == "image")
    assert case != "moving transparent" or any(raw[3] & 1 for kind, raw in found if kind == "control")
    assert case != "moving RGB" or any(raw[9] & 0x80 for kind, raw in found if kind == "image"), (
        "local tables"
    )
    assert gif.scan(path) == []
    assert gif.clean_bytes(data, path) == data


# AAC-LC at 44.1 kHz with channel configuration 0, so a program config follows: one front channel
# pair, then (byte-aligned) the comment's length and the comment.
AAC_SETUP_WITH_COMMENT = bytes.fromhex("12000504000020") + bytes([len(HIDDEN)]) + HIDDEN


def test_an_aac_setup_comment_is_found_and_emptied(tmp_path: Path) -> None:
    """AAC's setup may describe its channels in a program config, which ends in free text that
    players ignore: `check` called such a file clean and `strip` copied the text."""
    plain = sounds.encode(tmp_path / "plain.m4a", "ipod", "aac", 44_100, sounds.speech(1.0), layout="stereo")
    source = tmp_path / "commented.m4a"
    with av.open(str(plain)) as src, av.open(str(source), "w", format="ipod") as out:
        sound = src.streams.audio[0]
        dst = out.add_stream_from_template(sound, opaque=True)
        dst.codec_context.extradata = AAC_SETUP_WITH_COMMENT
        for packet in src.demux(sound):
            if packet.size:
                packet.stream = dst
                out.mux(packet)
    assert HIDDEN in source.read_bytes()
    found = run_cli("check", source)
    assert found.code == 3 and "AAC setup (a program config comment)" in found.stderr, found.stderr
    run = run_cli("strip", source, "-o", tmp_path / "clean.m4a")
    assert run.code == 0, run.stderr
    assert HIDDEN not in (tmp_path / "clean.m4a").read_bytes()
    with av.open(str(tmp_path / "clean.m4a")) as clean:
        assert clean.streams.audio[0].codec_context.extradata == bytes.fromhex("1200050400002000")
        assert clean.streams.audio[0].codec_context.layout.nb_channels == 2
        assert sum(1 for _ in clean.decode(audio=0)) > 40, "copied whole"
    assert run_cli("check", tmp_path / "clean.m4a").code == 0


def test_an_aac_setup_is_read_to_its_last_field() -> None:
    """A decoder stops at the setup's last field, so bytes after it (or a comment) hold anything."""
    assert aac.judged(bytes.fromhex("1210")) is None, "AAC-LC, stereo by number"
    assert aac.judged(bytes.fromhex("121056e500")) is None, "FFmpeg's: HE-AAC signalled after, no SBR"
    assert aac.judged(bytes.fromhex("1210") + HIDDEN) == f"{len(HIDDEN)} byte(s) after its fields"
    assert aac.plain(bytes.fromhex("1210") + HIDDEN) == bytes.fromhex("1210")
    assert aac.plain(bytes.fromhex("121056e500") + HIDDEN) == bytes.fromhex("121056e500")
    assert aac.read(AAC_SETUP_WITH_COMMENT).comment == (7, 8 + len(HIDDEN))
    assert aac.judged(AAC_SETUP_WITH_COMMENT) == "a program config comment"
    assert aac.plain(AAC_SETUP_WITH_COMMENT) == bytes.fromhex("1200050400002000")
    assert aac.judged(AAC_SETUP_WITH_COMMENT[:10]) == "AAC setup cut short"
    assert aac.judged(bytes.fromhex("f94880")) == "AAC object type 42 is not read here", "USAC, escaped"


def _hevc_clip(path: Path) -> Path:
    """A short HEVC clip from x265, which writes its whole command line into an SEI unit of the
    decoder setup and of the first frame."""
    _five_frames(path, _encoder("libx265"))
    return path


def test_hevc_is_copied_without_the_sei_of_its_setup_and_frames(tmp_path: Path) -> None:
    """HEVC's decoder setup (hvcC) carries SEI units as well as its parameter sets: a copy keeps the
    parameter sets only, and a setup holding more is a finding."""
    source = _hevc_clip(tmp_path / "x265.mp4")
    assert b"x265 (build" in source.read_bytes()
    assert run_cli("check", source).code == 3
    run = run_cli("strip", source, "-o", tmp_path / "clean.mp4")
    assert run.code == 0, run.stderr
    assert b"x265 (build" not in (tmp_path / "clean.mp4").read_bytes()
    with av.open(str(tmp_path / "clean.mp4")) as clean:
        assert clean.streams.video[0].codec_context.name == "hevc", "copied, not encoded again"
        assert sum(1 for _ in clean.decode(video=0)) == 5
    assert run_cli("check", tmp_path / "clean.mp4").code == 0


def test_an_hevc_setup_keeps_its_parameter_sets_in_either_form(tmp_path: Path) -> None:
    """The setup comes as hvcC (as MP4 stores it) or as start-code units (as FFmpeg's filter hands
    it on): either way only the parameter sets stay, and a cut one is not clean."""
    with av.open(str(_hevc_clip(tmp_path / "x265.mp4"))) as clip:
        setup = bytes(clip.streams.video[0].codec_context.extradata or b"")
    assert setup[:1] == b"\x01" and b"x265 (build" in setup and not hevc.holds_only_parameter_sets(setup)
    cleaned = hevc.parameter_sets_only(setup)
    assert b"x265 (build" not in cleaned and hevc.holds_only_parameter_sets(cleaned)
    assert len(cleaned) > 23, "the parameter sets stay"
    assert not hevc.holds_only_parameter_sets(cleaned[:-1])


def test_gif_text_in_transparent_indices_no_pixel_uses_is_found_and_written_anew(tmp_path: Path) -> None:
    """With its flag on, a frame's transparent index that no pixel of the frame uses makes no pixel
    transparent, whichever it is: strip copied it and `check` called the file clean, so "Jane Roe"
    went through in 8 frames' indices (the 16-colour frames use indices 0-15 alone).  Strip now
    writes the first index no pixel uses, `check` names indices that vary, and the frames are the
    same.  One index kept for every frame (ffmpeg keeps 255) is not named."""
    plain = _pillow_animation(tmp_path / "plain.gif")
    name = b"Jane Roe"
    source = _gif_fields(
        plain,
        tmp_path / "hidden.gif",
        control=lambda n, c: bytes([c[0] | 1]) + c[1:3] + name[n % 8 : n % 8 + 1],
    )
    drawn = _gif_frames(plain)
    assert all(np.array_equal(a, b) for a, b in zip(_gif_frames(source), drawn, strict=True)), (
        "the same frames"
    )
    found = run_cli("check", source, "--no-faces")
    assert found.code == 3 and "GIF:7 different transparent indices that no pixel" in found.stderr, (
        found.stderr
    )
    clean = tmp_path / "clean.gif"
    run = run_cli("strip", source, "-o", clean)
    assert run.code == 0, run.stderr
    _header, written, _ = gif.blocks(clean.read_bytes())
    assert {raw[3:7] for kind, raw in written if kind == "control"} == {b"\x0d\x08\x00\x10"}, "index 16"
    assert all(np.array_equal(a, b) for a, b in zip(_gif_frames(clean), drawn, strict=True)), (
        "the same frames"
    )
    assert run_cli("check", clean, "--no-faces").code == 0
    again = tmp_path / "again.gif"
    assert run_cli("strip", clean, "-o", again).code == 0 and again.read_bytes() == clean.read_bytes()
    kept = _gif_fields(
        plain, tmp_path / "kept.gif", control=lambda n, c: bytes([c[0] | 1]) + c[1:3] + b"\xff"
    )
    assert run_cli("check", kept, "--no-faces").code == 0, "one index in every frame"


def test_gif_frame_controls_more_than_one_an_image_are_found_and_written_as_one(tmp_path: Path) -> None:
    """GIF89a allows one graphic control before an image; Pillow reads every one before it (the
    last delay, the last disposal other than 0, the last transparent index with its flag on) and
    none after the last image.  Strip copied each: two free bytes of delay a control spelled text
    in controls put before the real ones and after the last image, and `check` called it clean.
    Strip now writes one an image, as Pillow reads them, and `check` names the others."""
    plain = _pillow_animation(tmp_path / "plain.gif")
    header, found, _ = gif.blocks(plain.read_bytes())
    pairs = [HIDDEN[i : i + 2].ljust(2, b" ") for i in range(0, len(HIDDEN), 2)]
    extra = [b"\x21\xf9\x04\x00" + pair + b"\x00\x00" for pair in pairs]
    rebuilt = [
        extra[n % len(extra)] + raw if kind == "control" else raw for n, (kind, raw) in enumerate(found)
    ]
    source = tmp_path / "controls.gif"
    source.write_bytes(header + b"".join(rebuilt) + extra[0] + b"\x3b")
    assert all(np.array_equal(a, b) for a, b in zip(_gif_frames(source), _gif_frames(plain), strict=True))
    found_run = run_cli("check", source, "--no-faces")
    assert found_run.code == 3 and "GIF:25 frame controls more than one an image" in found_run.stderr, (
        found_run.stderr
    )
    clean = tmp_path / "clean.gif"
    run = run_cli("strip", source, "-o", clean)
    assert run.code == 0, run.stderr
    assert clean.read_bytes() == plain.read_bytes(), "one control an image, as Pillow read them"


def test_gif_entries_pillow_draws_where_no_pixel_uses_them_are_kept(tmp_path: Path) -> None:
    """Pillow fills the screen around a first frame without transparency with its table's entry 0,
    and draws a frame disposed to background in its transparent index's colour, opaque when the
    first frame has no transparency.  Strip blanked both entries where no pixel used them (the
    frames Pillow drew turned black there), and wrote such a transparent index anew as another.
    They are kept now, and `check` passes what strip writes."""
    rng = np.random.default_rng(21)
    table = rng.integers(1, 256, 768, dtype=np.uint8).tobytes()
    screen = b"GIF89a\x08\x00\x08\x00\x00\x00\x00"
    corner = tmp_path / "corner.gif"
    pixels = rng.integers(1, 256, 16, dtype=np.uint8).tobytes()  # no pixel uses index 0
    corner.write_bytes(screen + _literal_image(pixels, 4, table) + b"\x3b")
    disposed = tmp_path / "disposed.gif"
    grey = bytes(v for i in range(256) for v in (i, i, i))
    first = _literal_image(rng.integers(0, 100, 64, dtype=np.uint8).tobytes(), 8, table)
    second = _literal_image(rng.integers(0, 100, 16, dtype=np.uint8).tobytes(), 4, table)
    third = _literal_image(rng.integers(0, 100, 4, dtype=np.uint8).tobytes(), 2, table)
    to_background = b"\x21\xf9\x04\x09\x0a\x00\xc8\x00"  # disposal 2, transparent index 200, unused
    disposed.write_bytes(
        b"GIF89a\x08\x00\x08\x00\xf7\x00\x00" + grey + first + to_background + second + third + b"\x3b"
    )
    for source in (corner, disposed):
        clean = tmp_path / f"clean-{source.name}"
        run = run_cli("strip", source, "-o", clean)
        assert run.code == 0, run.stderr
        drawn, shown = _gif_frames(source), _gif_frames(clean)
        assert all(np.array_equal(a, b) for a, b in zip(shown, drawn, strict=True)), source.name
        assert run_cli("check", clean, "--no-faces").code == 0, source.name


def test_gif_text_in_interlace_flags_is_found_and_written_as_pillow_sets_them(tmp_path: Path) -> None:
    """An image's interlace flag only orders its rows: coded in either order, the pixels are the
    same.  Strip kept each flag as it was, so 16 frames' flags spelled "Ja" and `check` called the
    file clean.  Strip now writes the flag as Pillow does in an animation (off), so its files come
    out as they were, and `check` names flags that follow no encoder's rule (all off, all on, or on
    where an image is 16 pixels or more each way, as Pillow sets it on a file of one image)."""
    rng = np.random.default_rng(31)
    palette = rng.integers(0, 256, 48, dtype=np.uint8).tobytes()
    pictures = list[Image.Image]()
    for _ in range(16):
        pictures.append(Image.fromarray(rng.integers(0, 16, (20, 24), dtype=np.uint8), "P"))
        pictures[-1].putpalette(palette)
    plain = tmp_path / "plain.gif"
    pictures[0].save(plain, save_all=True, append_images=pictures[1:], duration=80, loop=0, optimize=False)
    header, found, _ = gif.blocks(plain.read_bytes())
    assert [bool(raw[9] & 0x40) for kind, raw in found if kind == "image"] == [False] * 16
    indices = iter(gif._frames(header, found, plain))
    bits = iter(JANE_BITS[:16])
    rebuilt = list[bytes]()
    for kind, raw in found:
        if kind == "image":
            at, bit = 10 + (3 << ((raw[9] & 7) + 1) if raw[9] & 0x80 else 0), next(bits)
            codes = gif._encoded(next(indices), bool(bit))
            chunks = b"".join(
                bytes([len(codes[i : i + 255])]) + codes[i : i + 255] for i in range(0, len(codes), 255)
            )
            raw = raw[:9] + bytes([raw[9] & 0xBF | bit << 6]) + raw[10:at] + b"\x08" + chunks + b"\x00"
        rebuilt.append(raw)
    source = tmp_path / "laced.gif"
    source.write_bytes(header + b"".join(rebuilt) + b"\x3b")
    assert all(np.array_equal(a, b) for a, b in zip(_gif_frames(source), _gif_frames(plain), strict=True))
    assert run_cli("check", plain, "--no-faces").code == 0
    found_run = run_cli("check", source, "--no-faces")
    assert found_run.code == 3 and "GIF:interlace flags that vary" in found_run.stderr, found_run.stderr
    clean = tmp_path / "clean.gif"
    run = run_cli("strip", source, "-o", clean)
    assert run.code == 0, run.stderr
    assert clean.read_bytes() == plain.read_bytes(), "the flags as Pillow set them"
