"""Sound-only recordings: `strip` copies the sound and nothing else, `protect` disguises the voice,
`check` reports what a recording gives away.

The recordings are written here (`sounds`): spoken testimony in M4A (AAC and
ALAC), MP3 with ID3v1 and ID3v2 (APIC, PRIV, GEOB, TXXX), WAV and RF64 with
``bext``, ``iXML``, ``LIST/INFO``, XMP and ID3 chunks, FLAC with Vorbis
comments and a PICTURE block, Ogg Vorbis and Ogg Opus with comments and cover
art, AMR in 3GP with 3GPP tags and a location, raw AMR, which has no room
for a tag, and raw AAC (ADTS) with ID3v2 and ID3v1 tags.  exiftool (``-a -u -G1 -ee``) is the judge, and the planted values
are also looked for byte by byte.
"""

from __future__ import annotations

import hashlib
import shutil
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest

import sounds
from conftest import (
    Run,
    exiftool_tags,
    needs_exiftool,
    needs_voice,
    pitch_change,
    run_cli,
    tag_table,
    tree_hashes,
    unallowed_in,
)
from unseen import kinds
from unseen.errors import UnsupportedError
from unseen.jobs import Job
from unseen.meta import amr, families
from unseen.meta import audio as meta_audio
from unseen.pipeline import Protector
from unseen.pipeline import audio as pipeline_audio
from unseen.settings import Settings
from unseen.strip import strip_file

# protect disguises every recording here, which needs the voice extra (pyworld; CPython 3.11 in CI).
pytestmark = [needs_exiftool, needs_voice]
ALL = {**sounds.WRITERS, "memo-alac.m4a": sounds.alac, **sounds.UNTAGGED}
# What a clean copy of each is written as, by content: the container stays, a sound-only video
# container becomes M4A (3GP for AMR).
SUFFIX = {"memo.m4a": ".m4a", "memo-alac.m4a": ".m4a", "interview.mp3": ".mp3", "field.wav": ".wav",
          "field-rf64.wav": ".wav", "archive.flac": ".flac", "crowd.ogg": ".ogg",
          "voice-note.opus": ".ogg", "call.3gp": ".3gp", "call.amr": ".amr", "recorder.aac": ".m4a"}  # fmt: skip
SEED = "seed = 3\n"  # a fixed voice for the pitch measurement; without it, every run draws its own


@dataclass
class Made:
    originals: Path
    hashes: dict[Path, str]
    stripped: Run
    protected: Run
    kept: Run

    def run(self, command: str) -> Run:
        return {"strip": self.stripped, "protect": self.protected, "keep": self.kept}[command]

    def pairs(self, command: str) -> list[tuple[Path, Path]]:
        return [(Path(r["path"]), Path(r["output"])) for r in self.run(command).records()]


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> Made:
    root = tmp_path_factory.mktemp("recordings")
    originals = root / "originals"
    sounds.write_all(originals, sounds.speech(), ALL)
    hashes = tree_hashes(originals)
    (root / "seed.toml").write_text(SEED)
    stripped = run_cli("strip", originals, "-o", root / "stripped", "--json")
    protected = run_cli(
        "protect", originals, "-o", root / "protected", "--json", "--config", root / "seed.toml"
    )
    kept = run_cli("protect", originals, "-o", root / "kept", "--json", "--audio", "keep")
    return Made(originals, hashes, stripped, protected, kept)


def test_every_recording_is_sound_by_its_content(made: Made) -> None:
    for name in ALL:
        found = kinds.identify(made.originals / name)
        assert (found.kind, found.suffix) == ("audio", SUFFIX[name]), name
    for _source, output in made.pairs("strip"):  # bare MP3 frames, RIFF, a fresh Ogg...
        assert kinds.identify(output).kind == "audio", output


@pytest.mark.parametrize("command", ["strip", "protect", "keep"])
def test_every_recording_is_written_with_a_neutral_name_and_the_originals_are_untouched(
    made: Made, command: str
) -> None:
    run = made.run(command)
    assert run.code == 0, run.stderr
    records = run.by_input()
    assert set(records) == set(ALL)
    for name, record in records.items():
        assert record["kind"] == "audio" and record["status"] in ("stripped", "protected"), record
        output = Path(record["output"])
        assert output.name.startswith("unseen-") and output.suffix == SUFFIX[name], output
    assert tree_hashes(made.originals) == made.hashes


@pytest.mark.parametrize("command", ["strip", "protect", "keep"])
def test_no_planted_value_and_no_tag_outside_the_allowlist_is_left(made: Made, command: str) -> None:
    records = made.run(command).records()
    before, after = tag_table(f"sound-only recordings, unseen {command}", made.originals, records)
    for source, output in made.pairs(command):
        planted = [s for s in sounds.PLANTED if s in source.read_bytes()]
        assert planted or source.suffix == ".amr", f"{source.name}: the test file carries nothing"
        data = output.read_bytes()
        assert not [s for s in sounds.PLANTED if s in data], output
        left = unallowed_in(after[output])
        if source.suffix == ".amr":  # exiftool does not read raw AMR: our frame walk is the judge
            assert left == ["ExifTool:Error"] and after[output][left[0]] == "Unknown file type"
            assert amr.scan(output) == [] and data.startswith(b"#!AMR\n")
            continue
        assert left == [], (source.name, left)
        values = " ".join(str(v) for v in exiftool_tags(output).values())
        assert not [s for s in sounds.PLANTED if s.decode() in values], source.name
        assert len(unallowed_in(before[source])) >= (0 if source.suffix == ".amr" else 4), source.name


@pytest.mark.parametrize("command", ["strip", "keep"])
def test_the_copied_sound_is_the_originals_packet_for_packet(made: Made, command: str) -> None:
    """A FLAC or an ALAC is written afresh (tests/test_joined_recordings.py): its samples are the
    original's, and so is the MD5 of them that a FLAC's STREAMINFO block carries."""
    for source, output in made.pairs(command):
        if source.suffix == ".flac":
            assert sounds.samples(output) == sounds.samples(source), source.name
            assert exiftool_tags(output)["FLAC:MD5Signature"] == exiftool_tags(source)["FLAC:MD5Signature"]
        elif source.name == "memo-alac.m4a":
            assert sounds.samples(output) == sounds.samples(source), source.name
        else:
            assert packets(output) == packets(source), source.name


@pytest.mark.parametrize("command", ["strip", "protect", "keep"])
def test_durations_stay_within_one_audio_frame(made: Made, command: str) -> None:
    for source, output in made.pairs(command):
        (before, frame_in), (after, frame_out) = heard(source), heard(output)
        assert abs(after - before) <= max(frame_in, frame_out), (source.name, before, after)


@pytest.mark.parametrize("name", ["field.wav", "memo.m4a", "voice-note.opus"])
def test_protect_disguises_the_voice(made: Made, name: str) -> None:
    output = Path(made.protected.by_input()[name]["output"])
    change = pitch_change(mono(made.originals / name), mono(output))
    print(f"{name}: median {change.median:+.2f} st, slope {change.slope:.2f}, spread {change.spread:.2f} st")
    assert change.voiced > 0.3, "the test recording should be speech"
    assert change.slope < 0.8, "the pitch contour must not be the original's moved by a constant"
    assert change.spread > 1.0


def test_check_reports_every_tagged_original_and_passes_every_output(made: Made) -> None:
    tagged = [made.originals / name for name in ALL if name not in sounds.UNTAGGED]
    run = run_cli("check", *tagged, "--json")
    assert run.code == 3 and "Traceback" not in run.stderr, run.stderr
    assert {r["status"] for r in run.records()} == {"dirty"}
    for command in ("strip", "protect", "keep"):
        outputs = [output for _source, output in made.pairs(command)]
        run = run_cli("check", *outputs, "--json")
        assert run.code == 0, (command, run.stdout, run.stderr)
        assert {r["status"] for r in run.records()} == {"clean"}


def test_check_names_what_a_voice_memo_gives_away(made: Made) -> None:
    run = run_cli("check", made.originals / "interview.mp3", made.originals / "field.wav")
    assert run.code == 3, run.stderr
    for item in (
        "APIC",
        "PRIV",
        "GEOB",
        "TXXX",
        "ID3v1",
        "bext chunk",
        "iXML chunk",
        "LIST chunk",
        "_PMX chunk",
    ):
        assert item in run.stderr, item


def test_damaged_and_empty_recordings_are_reported_without_a_traceback(made: Made, tmp_path: Path) -> None:
    damaged = tmp_path / "damaged"
    damaged.mkdir()
    for name in ALL:
        data = (made.originals / name).read_bytes()
        for cut in (len(data) // 2, 300, 40, 0):
            (damaged / f"{cut}-{name}").write_bytes(data[:cut])
    for args in (("check",), ("strip", "-o", tmp_path / "s"), ("protect", "-o", tmp_path / "p")):
        run = run_cli(*args, damaged, "--json")
        assert "Traceback" not in run.stderr and run.code in (0, 1, 3), (args, run.stderr[-2000:])
        records = run.by_input()
        assert len(records) == 4 * len(ALL)
        empty = [r for name, r in records.items() if name.startswith("0-")]
        assert all(r["status"] in ("refused", "failed", "dirty") for r in empty), empty


def test_a_recording_whose_sound_decodes_to_nothing_is_told_so(made: Made, tmp_path: Path) -> None:
    """A voice memo whose index says each chunk holds 4 billion samples (the robustness mutations on
    sound, seed 22) gives the decoder nothing: the disguise's muxer then wrote no file at all, and
    `protect` blamed the output ("cannot write output: No such file or directory"); with the voice
    kept, it wrote a copy no player could play.  It now names the input's sound either way (`strip`
    may still copy it as it is: never worse than its input)."""
    data = bytearray((made.originals / "memo.m4a").read_bytes())
    at = data.find(b"stsc")
    struct.pack_into(">I", data, at + 16, 0xFFFFFFFF)  # the first entry's samples per chunk
    memo = tmp_path / "in" / "memo.m4a"
    memo.parent.mkdir()
    memo.write_bytes(bytes(data))
    for audio in ("disguise", "keep"):  # kept, it was "protected" as a copy no player could play
        run = run_cli("protect", memo, "-o", tmp_path / audio, "--json", "--audio", audio)
        assert run.code == 1 and run.records()[0]["error"] == "its sound holds nothing that decodes", (
            run.stdout
        )
        assert not (tmp_path / audio).exists() or not any((tmp_path / audio).glob("*.m4a"))


def test_drop_is_refused_for_sound_before_anything_is_written(made: Made, tmp_path: Path) -> None:
    run = run_cli("protect", made.originals, "-o", tmp_path / "out", "--audio", "drop")
    assert run.code == 2 and "--audio drop would leave nothing" in run.stderr, run.stderr
    assert not (tmp_path / "out").exists()


def test_an_output_name_of_another_container_is_refused(made: Made, tmp_path: Path) -> None:
    for command in ("strip", "protect"):
        run = run_cli(command, made.originals / "memo.m4a", "-o", tmp_path / "memo.wav", "--json")
        (record,) = run.records()
        assert run.code == 1 and record["status"] == "refused" and ".m4a" in record["error"], run.stdout
    assert not list(tmp_path.iterdir())


def test_analyse_refuses_a_recording(made: Made, tmp_path: Path) -> None:
    run = run_cli("analyse", made.originals / "memo.m4a", "-o", tmp_path / "plans", "--json")
    (record,) = run.records()
    assert run.code == 1 and record["status"] == "refused" and "no picture" in record["error"]


def test_help_says_what_the_disguise_does_not_hide() -> None:
    run = run_cli("protect", "--help")
    text = " ".join(run.stdout.replace("│", " ").split())
    for words in ("disguise", "words", "accent", "background sounds"):
        assert words in text, words


def test_sound_in_a_container_mp4_cannot_carry_is_written_as_m4a(tmp_path: Path) -> None:
    speech = sounds.speech()
    inputs = tmp_path / "in"
    inputs.mkdir()
    sounds.encode(
        inputs / "talk.mka", "matroska", "vorbis", 44_100, speech, layout="stereo", title=sounds.PLACE
    )
    sounds.encode(inputs / "memo.mov", "mov", "pcm_s16le", 22_050, speech, title=sounds.PLACE)
    for command in ("strip", "protect"):
        run = run_cli(command, inputs, "-o", tmp_path / command, "--json")
        assert run.code == 0, run.stderr
        for name, record in run.by_input().items():
            output = Path(record["output"])
            assert output.suffix == ".m4a" and sounds.PLACE.encode() not in output.read_bytes()
            if command == "strip":
                assert record["note"].startswith("re-encoded"), record
            (before, frame_in), (after, frame_out) = heard(inputs / name), heard(output)
            assert abs(after - before) <= max(frame_in, frame_out), (name, before, after)
        assert run_cli("check", tmp_path / command).code == 0


def test_aac_in_mpeg_ts_is_copied_frame_for_frame(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Sound-only MPEG-TS (a recorder's or a broadcast's) carries each AAC frame behind an ADTS
    header, which MP4 leaves out: the copy's self-check refused every such file ("packets differ")
    until it compared the frames without their headers.  A copy with other frames is still refused."""
    inputs = tmp_path / "in"
    inputs.mkdir()
    source = sounds.encode(inputs / "radio.ts", "mpegts", "aac", 48_000, sounds.speech())
    with av.open(str(source)) as container:
        frames = [bytes(p)[7:] for p in container.demux(container.streams.audio[0]) if p.size]
    for command, extra in (("strip", ()), ("protect", ("--audio", "keep"))):
        run = run_cli(command, inputs, "-o", tmp_path / command, "--json", *extra)
        assert run.code == 0, run.stderr
        output = Path(run.records()[0]["output"])
        assert output.suffix == ".m4a"
        with av.open(str(output)) as container:
            assert [bytes(p) for p in container.demux(container.streams.audio[0]) if p.size] == frames
        assert run_cli("check", output).code == 0

    def other_frames(src: Path, dst: Path, container: str, codecs: set[str]) -> str:
        sounds.encode(dst, "ipod", "aac", 48_000, sounds.speech() * 0.5)
        return "remuxed"

    monkeypatch.setattr(meta_audio, "write_clean", other_frames)
    result = strip_file(Job(source, tmp_path / "out" / "radio.m4a"))
    assert result.status == "unverified" and "packets differ" in (result.error or ""), result


def test_raw_aac_is_judged_by_a_walk_of_its_frames(tmp_path: Path) -> None:
    """exiftool reads no untagged raw AAC file: our frame walk is the judge, so it must find what a
    tool can put there besides frames, and call a file of frames alone clean."""
    plain = sounds.encode(tmp_path / "plain.aac", "adts", "aac", 44_100, sounds.speech(2.0))
    data = plain.read_bytes()
    private, no_channels = bytearray(data), bytearray(data)
    private[2] |= 0x02
    no_channels[2] &= 0xFE  # channel configuration 0: a program config, with its comment, follows
    no_channels[3] &= 0x3F
    copyright_bits = bytearray(data)
    copyright_bits[3] |= 0x08
    cases = {
        "clean": data,
        "bytes at offset": data + sounds.PLACE.encode(),
        "ID3v1 tag": data + b"TAG" + sounds.PLACE.encode().ljust(125, b"\0"),
        "APE tag": data + b"APETAGEX" + bytes(24),
        "runs past the end": data[:-3],
        "private bit": bytes(private),
        "copyright identifier": bytes(copyright_bits),
        "program config": bytes(no_channels),
    }
    said = run_cli("protect", plain, "-o", tmp_path / "out")
    assert said.code == 0 and said.stderr.startswith("protected plain.aac -> "), said.stderr
    assert said.stderr.rstrip().endswith(".m4a (voice disguised)"), "a sound's line says what became of it"
    for expected, body in cases.items():
        path = tmp_path / f"{expected.replace(' ', '-')}.aac"
        path.write_bytes(body)
        run = run_cli("check", path)
        if expected == "clean":
            assert run.code == 0 and "clean" in run.stderr, run.stderr
        else:
            assert run.code == 3 and "ADTS:" in run.stderr and expected in run.stderr, (expected, run.stderr)


@pytest.mark.parametrize(
    "how", [{"layout": "stereo"}, {"quality": 4}], ids=["stereo-128k", "variable-bitrate"]
)
def test_an_mp3_is_copied(tmp_path: Path, how: dict[str, Any]) -> None:
    """Two ways FFmpeg's copy of an MP3 looked like metadata left, and `strip` (and `protect --audio
    keep`) refused every such file.  Stereo at 128 kbit/s: FFmpeg writes its name ("Lavf") in the
    Info frame it makes when the frame has room, and the copy's own scan took that for a tag.  A
    VBR MP3 (LAME's quality scale, what many recorders write): the copy opens with a Xing frame,
    from which exiftool derives an average bitrate ("Composite:AudioBitrate")."""
    inputs = tmp_path / "in"
    inputs.mkdir()
    sounds.encode(inputs / "memo.mp3", "mp3", "libmp3lame", 44_100, sounds.speech(), **how)
    for command, extra in (("strip", ()), ("protect", ("--audio", "keep"))):
        run = run_cli(command, inputs, "-o", tmp_path / command, "--json", *extra)
        assert run.code == 0, run.stderr
        output = Path(run.records()[0]["output"])
        assert packets(output) == packets(inputs / "memo.mp3")
        assert run_cli("check", output).code == 0


def test_an_mp3_whose_sound_changes_midway_is_disguised_and_kept(tmp_path: Path) -> None:
    """Two MP3s laid end to end, mono at 44.1 kHz then stereo at 22.05 kHz: the resamplers, set up by
    the first frame, refused the second part ("Frame does not match AudioResampler setup", a
    traceback; robustness suite, seed 19).  Both parts are now heard, in the disguise and in a copy."""
    first = sounds.encode(tmp_path / "a.mp3", "mp3", "libmp3lame", 44_100, sounds.speech(1.5))
    second = sounds.encode(
        tmp_path / "b.mp3", "mp3", "libmp3lame", 22_050, sounds.speech(1.5), layout="stereo"
    )
    joined = tmp_path / "in" / "joined.mp3"
    joined.parent.mkdir()
    # Laid end to end as `cat` does, the second part's ID3 tag and Info frame in the middle
    # (`unseen.meta.mp3`, tests/test_mp3_joins.py): the sound is its frames.
    joined.write_bytes(first.read_bytes() + second.read_bytes())
    copy = tmp_path / "copy.mp3"
    assert run_cli("strip", joined, "-o", copy).code == 0
    parts = sounds.seconds(copy)
    assert parts > sounds.seconds(first) + sounds.seconds(second) - 0.1
    for mode in ("disguise", "keep"):
        output = tmp_path / f"{mode}.mp3"
        run = run_cli("protect", joined, "-o", output, "--audio", mode)
        assert run.code == 0 and "Traceback" not in run.stderr, run.stderr
        assert abs(sounds.seconds(output) - parts) < 0.1, (mode, sounds.seconds(output), parts)
        assert run_cli("check", output).code == 0


ID3_TAG = b"ID3\x04\x00\x00\x00\x00\x00\x14" + bytes(20)  # an empty ID3v2.4 tag, 20 bytes of padding
MP3_FRAME = b"\xff\xfb\x90\x64"  # MPEG-1 layer III, 128 kbit/s, 44.1 kHz


@pytest.mark.parametrize(
    ("head", "family"),
    [
        (MP3_FRAME, "mp3"),
        (ID3_TAG + MP3_FRAME, "mp3"),
        (ID3_TAG + b"fLaC", "flac"),
        (b"RIFF\0\0\0\0WAVEfmt ", "wav"),
        (b"RF64\xff\xff\xff\xffWAVEds64", "wav"),
        (b"BW64\xff\xff\xff\xffWAVEds64", "wav"),
        (b"OggS\0\x02", "ogg"),
        (b"#!AMR\n\x3c", "amr"),
        (b"#!AMR-WB\n\x04", "amr"),
        (b"\xff\xf1\x50\x80", "video"),  # raw AAC (ADTS): FFmpeg's to read, written as M4A
        (b"RF64\xff\xff\xff\xffAVI ", None),
        (ID3_TAG + b"PK\x03\x04", None),
    ],
)
def test_sound_containers_are_known_by_their_first_bytes(
    tmp_path: Path, head: bytes, family: str | None
) -> None:
    path = tmp_path / "recording.bin"
    path.write_bytes(head + bytes(600))
    if family is None:
        with pytest.raises(UnsupportedError):
            families.identify(path)
    else:
        assert families.identify(path) == family


def test_a_copy_that_still_holds_tags_is_never_published(
    made: Made, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The self-check, not the writer, is what keeps a tagged file from being published."""

    def copy(src: Path, dst: Path, container: str, codecs: set[str]) -> str:
        shutil.copyfile(src, dst)
        return "remuxed"

    monkeypatch.setattr(meta_audio, "write_clean", copy)
    for name in ("interview.mp3", "field.wav", "memo.m4a"):
        job = Job(made.originals / name, tmp_path / "out" / f"clean{SUFFIX[name]}")
        result = strip_file(job)
        assert result.status == "unverified" and "metadata left" in (result.error or ""), result
        kept = Protector(Settings(audio="keep")).protect(job)
        assert kept.status == "unverified" and "metadata left" in (kept.error or ""), kept
    assert not list((tmp_path / "out").iterdir())


def test_a_voice_that_was_not_disguised_is_never_published(
    made: Made, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def untouched(src: Path, dst: Path, *_: object) -> None:
        meta_audio.write_clean(src, dst, "wav", {"pcm_s16le"})

    monkeypatch.setattr(pipeline_audio, "_disguise", untouched)
    job = Job(made.originals / "field.wav", tmp_path / "out" / "safe.wav")
    result = Protector(Settings(seed=1)).protect(job)
    assert result.status == "unverified" and "nearly the original" in (result.error or ""), result
    assert not list((tmp_path / "out").iterdir())


def packets(path: Path) -> list[tuple[str, str]]:
    """Each sound stream's codec and the SHA-256 of its packets, as FFmpeg demuxes them (raw AAC's
    without the 7-byte ADTS header FFmpeg writes before each frame, which MP4 leaves out)."""
    with av.open(str(path)) as container:
        streams = container.streams.audio
        digests = {s.index: hashlib.sha256() for s in streams}
        header = 7 if container.format.name == "aac" else 0
        for packet in container.demux(*streams):
            digests[packet.stream.index].update(bytes(packet)[header:])
        return [(s.codec_context.name, digests[s.index].hexdigest()) for s in streams]


def heard(path: Path) -> tuple[float, float]:
    """Seconds of decoded sound (encoder delay and padding trimmed), and the longest frame's seconds."""
    with av.open(str(path)) as container:
        stream = container.streams.audio[0]
        samples, frame = 0, 0.0
        for packet in container.demux(stream):
            if packet.duration and packet.time_base:
                frame = max(frame, float(packet.duration * packet.time_base))
            samples += sum(f.samples for f in stream.decode(packet))
        return samples / stream.rate, frame


def mono(path: Path, rate: int = 16_000) -> np.ndarray:
    resampler = av.AudioResampler(format="dbl", layout="mono", rate=rate)
    with av.open(str(path)) as container:
        parts = [f.to_ndarray()[0] for frame in container.decode(audio=0) for f in resampler.resample(frame)]
    return np.concatenate(parts)
