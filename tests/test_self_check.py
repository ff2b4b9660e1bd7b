"""Every self-check guard fires: a file broken at one stage is never published.

Each test breaks one stage of the pipeline (patched where the pipeline looks
it up) and requires the self-check to catch it: the result is ``unverified``
(or ``failed`` for an output that cannot be written), the output is absent and
no hidden ``.unseen-*.part`` file is left beside it.  Detection is scripted
(`scripted`) so that the regions, and thus the checks, are the same every run.
"""

from __future__ import annotations

import contextlib
import io
import itertools
import multiprocessing
import re
import struct
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from fractions import Fraction
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import av
import numpy as np
import pytest
from demo import camera_exif
from PIL import Image

import conftest
from conftest import (
    FACE,
    FPS,
    FRAMES,
    H,
    W,
    changed_share,
    decoded,
    make_clip,
    pixels,
    plays,
    produced,
    run_cli,
    save,
    sha256,
    tree_hashes,
)
from scripted import AuditScripted, Scripted, scripted_profile
from unseen.boxes import IntBoxes
from unseen.cover import cover
from unseen.datatypes import Detections, FileResult
from unseen.errors import VerificationError
from unseen.jobs import Job
from unseen.media import image as image_io
from unseen.media.image import Picture
from unseen.media.video_out import OutputKind, VideoEncoder, open_output
from unseen.meta import video as meta_video
from unseen.pipeline import Protector
from unseen.pipeline import video as video_pipeline
from unseen.pipeline.video import AUDIT_PASSES, _Run
from unseen.plan import ManualBox, Shown
from unseen.settings import Settings
from unseen.verify.audit import Beside, audited_frames
from unseen.verify.video import Expected, PixelsLost, Sampler, Verdicts, check_video

# Where the scripted detector finds the clip's face: a fixed box over the middle of its path.
CLIP_BOX = (40.0, 16.0, 110.0, 80.0, 0.9)
SECRET = "Jane Roe"
# The astronaut's face as a scripted detection.
FACE_ROW = (float(FACE[0]), float(FACE[1]), float(FACE[2]), float(FACE[3]), 0.9)
# The real stages, taken before any test patches them.
ENCODE = image_io.encode


@pytest.fixture(autouse=True)
def scripts(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Finding sees the astronaut's face; the audit sees nothing unless a test says otherwise."""
    monkeypatch.setattr(Scripted, "SCRIPT", [FACE_ROW])
    monkeypatch.setattr(AuditScripted, "SCRIPT", [])
    yield


def protector(**options: object) -> Protector:
    return Protector(Settings(seed=1, **options), profile=scripted_profile())  # type: ignore[arg-type]


def photo(tmp_path: Path, astronaut: np.ndarray, suffix: str = ".png") -> Job:
    source = save(
        astronaut, tmp_path / "in" / f"photo{suffix}", **({"quality": 95} if suffix == ".jpg" else {})
    )
    return Job(source, tmp_path / "out" / f"safe{suffix}")


def clip(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Job:
    monkeypatch.setattr(Scripted, "SCRIPT", [CLIP_BOX])
    (tmp_path / "in").mkdir()
    source = make_clip(tmp_path / "in" / "clip.mp4").path
    return Job(source, tmp_path / "out" / "clip.mp4")


def leftovers(folder: Path) -> list[str]:
    """Everything in the output folder, hidden temporary files included."""
    return sorted(p.name for p in produced(folder, recursive=True)) if folder.exists() else []


def covers_by_hand(error: str, box: tuple[float, float, float, float], at: float | None = None) -> None:
    """The error ends in a ``--cover`` argument that covers ``box`` (at ``at`` seconds of a video)."""
    hint = ManualBox.parse(error.split("--cover ")[1].split()[0])
    x0, y0, x1, y1 = box
    assert hint.x <= x0 and hint.y <= y0 and hint.x + hint.w >= x1 and hint.y + hint.h >= y1, (hint, box)
    if at is not None:
        assert hint.span is not None and hint.span[0] <= at <= hint.span[1], hint


def unverified(job: Job, result: FileResult, why: str) -> None:
    """The guard fired: unverified for ``why``, nothing published, nothing half-written left."""
    assert result.status == "unverified", result
    assert result.error is not None and why in result.error, result.error
    assert result.output is None
    assert not job.target.exists()
    assert leftovers(job.target.parent) == []


# Photos


def test_photo_cover_not_applied_is_unverified(
    tmp_path: Path, astronaut: np.ndarray, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Guard: check_covered, when the cover never reaches the pixels."""
    job = photo(tmp_path, astronaut)
    digest = sha256(job.source)
    monkeypatch.setattr("unseen.pipeline.photo.cover", lambda image, boxes, style, rng: image.copy())
    unverified(job, protector().protect(job), "not covered")
    assert sha256(job.source) == digest


def test_photo_cover_in_the_wrong_place_is_unverified(
    tmp_path: Path, astronaut: np.ndarray, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Guard: check_covered, when the cover lands beside the face (boxes shifted by their width)."""
    job = photo(tmp_path, astronaut)

    def beside(image: np.ndarray, boxes: IntBoxes, style: str, rng: np.random.Generator) -> np.ndarray:
        shifted = np.asarray(boxes, np.int64).copy()
        width = shifted[:, 2] - shifted[:, 0]
        shifted[:, 0] += width
        shifted[:, 2] = np.minimum(shifted[:, 2] + width, image.shape[1])
        assert (shifted[:, 0] < shifted[:, 2]).all(), "the shifted box must stay in the picture"
        return cover(image, shifted, style, rng)

    monkeypatch.setattr("unseen.pipeline.photo.cover", beside)
    unverified(job, protector().protect(job), "not covered")


def _with_metadata(data: bytes, fmt: str) -> bytes:
    """``data`` (a PNG or JPEG) with the same pixels and a camera's EXIF, plus a tEXt chunk in a PNG."""
    if fmt == "jpeg":
        # An APP1 segment spliced in right after SOI: the compressed pixels stay byte for byte.
        exif = camera_exif()
        return data[:2] + b"\xff\xe1" + struct.pack(">H", len(exif) + 2) + exif + data[2:]
    from PIL.PngImagePlugin import PngInfo

    info = PngInfo()
    info.add_text("Author", SECRET)
    buf = io.BytesIO()
    with Image.open(io.BytesIO(data)) as img:
        img.save(buf, "PNG", pnginfo=info, exif=camera_exif())
    leaky: bytes = buf.getvalue()
    return leaky


@pytest.mark.parametrize("suffix", [".png", ".jpg"])
def test_photo_metadata_left_by_the_encoder_is_unverified(
    tmp_path: Path, astronaut: np.ndarray, monkeypatch: pytest.MonkeyPatch, suffix: str
) -> None:
    """Guard: the metadata scan, when the encoder's output carries EXIF (and a PNG text chunk)."""
    job = photo(tmp_path, astronaut, suffix)

    def leaky(picture: Picture, frames: list[np.ndarray], fmt: str, quality: int) -> bytes:
        return _with_metadata(ENCODE(picture, frames, fmt, quality), fmt)

    monkeypatch.setattr("unseen.pipeline.photo.image_io.encode", leaky)
    unverified(job, protector().protect(job), "metadata left")


def test_photo_kept_region_changed_is_unverified(
    tmp_path: Path, astronaut: np.ndarray, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Guard: check_kept, when a region left visible by consent is covered all the same."""
    job = photo(tmp_path, astronaut)

    def everything(image: np.ndarray, boxes: IntBoxes, style: str, rng: np.random.Generator) -> np.ndarray:
        h, w = image.shape[:2]
        return cover(image, np.array([[0, 0, w, h]], np.int64), style, rng)

    monkeypatch.setattr("unseen.pipeline.photo.cover", everything)
    unverified(job, protector(keep=("r1",)).protect(job), "kept region")


@pytest.fixture
def only_audit_sees_face(monkeypatch: pytest.MonkeyPatch) -> None:
    """Finding misses the astronaut's face; the audit of the written file sees it."""
    monkeypatch.setattr(Scripted, "SCRIPT", [])
    monkeypatch.setattr(AuditScripted, "SCRIPT", [FACE_ROW])


@pytest.mark.usefixtures("only_audit_sees_face")
def test_photo_audit_face_is_covered_in_a_further_pass(tmp_path: Path, astronaut: np.ndarray) -> None:
    """Audit loop: a face finding missed but the audit sees is covered in a further pass and published."""
    job = photo(tmp_path, astronaut)
    p = Protector(Settings(seed=1), profile=scripted_profile(audit="scripted-audit"))
    result = p.protect(job)
    assert result.status == "protected", result
    assert result.output == job.target and result.regions == 1
    assert changed_share(pixels(job.source), pixels(job.target), FACE, 0) >= 0.9
    assert leftovers(job.target.parent) == [job.target.name]


@pytest.mark.usefixtures("only_audit_sees_face")
def test_photo_audit_face_still_seen_after_further_passes_is_unverified(
    tmp_path: Path, astronaut: np.ndarray, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Audit loop: a face the audit still sees after every further pass fails the file."""
    # The audit can no longer tell unseen's cover from a face, so it keeps seeing one there.
    monkeypatch.setattr("unseen.verify.audit.cover_noise", lambda rgb: np.zeros(rgb.shape[:2], bool))
    job = photo(tmp_path, astronaut)
    p = Protector(Settings(seed=1), profile=scripted_profile(audit="scripted-audit"))
    result = p.protect(job)
    unverified(job, result, "still visible after 2 further passes; nothing was written")
    covers_by_hand(str(result.error), FACE)


# Videos


def test_video_frame_dropped_before_the_encoder_is_unverified(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Guard: the frame count, when one frame never reaches the encoder."""
    job = clip(tmp_path, monkeypatch)
    encode = VideoEncoder.encode
    calls = itertools.count()

    def drop_last(self: VideoEncoder, packed: np.ndarray, pts: int, duration: int) -> None:
        # The last frame, so that the sampled frames before it still line up and the count is what fails.
        if next(calls) != FRAMES - 1:
            encode(self, packed, pts, duration)

    monkeypatch.setattr("unseen.pipeline.video.VideoEncoder.encode", drop_last)
    result = protector().protect(job)
    unverified(job, result, f"output has {FRAMES - 1} frames")


def counted_passes(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """Whether each pass's encoder was held to the input's bitrate, one entry per pass."""
    capped: list[bool] = []
    start = VideoEncoder.__init__

    def counted(self: VideoEncoder, *args: Any) -> None:
        start(self, *args)
        capped.append(self.capped)

    monkeypatch.setattr(VideoEncoder, "__init__", counted)
    return capped


@pytest.mark.parametrize(("crf", "passes"), [(None, [True, False]), (18, [False])])
def test_video_cover_not_applied_is_unverified(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, crf: int | None, passes: list[bool]
) -> None:
    """Guard: the sampled frames' cover check, when frames reach the encoder uncovered.  The default's
    size cap gets the blame first (a further pass without it); an asked-for CRF has no cap to drop."""
    job = clip(tmp_path, monkeypatch)
    capped = counted_passes(monkeypatch)
    monkeypatch.setattr("unseen.pipeline.video._Run._covered", lambda self, planar, boxes: planar)
    unverified(job, protector(crf=crf).protect(job), "not covered")
    assert capped == passes


def test_video_cover_smoothed_under_the_size_cap_gets_a_pass_without_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Encoder starved: a face whose tones sit at the cover noise's mean, and a size cap far below what
    the noise needs (seen for real once, on a 1080p street clip).  x264 smooths the noise to its mean,
    so most of the face's pixels come out within a codec's tolerance of what they were: the cover
    check fails that pass, and the further pass without the cap covers the face and is published."""
    rng = np.random.default_rng(0)
    monkeypatch.setattr(conftest, "CLIP_FACE", rng.integers(127, 130, conftest.CLIP_FACE.shape, np.uint8))
    job = clip(tmp_path, monkeypatch)
    monkeypatch.setattr(
        "unseen.media.video_out._size_cap", lambda bps, _: {"maxrate": "2k", "bufsize": "2k"} if bps else {}
    )
    capped = counted_passes(monkeypatch)
    result = protector().protect(job)
    assert result.status == "protected", result
    assert capped == [True, False]
    box = tuple(int(v) for v in CLIP_BOX[:4])
    before, after = decoded(job.source), decoded(job.target)
    shares = [changed_share(a, b, box, 6) for a, b in zip(before, after, strict=True)]  # type: ignore[arg-type]
    assert min(shares) >= 0.9, shares
    assert leftovers(job.target.parent) == [job.target.name]


def test_video_cover_beside_the_face_is_unverified_in_frame_pixels(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Guard: the sampled frames' cover check, on the window around the boxes, when the cover lands beside
    the face; the message names the region in the frame's pixels, not the window's."""
    job = clip(tmp_path, monkeypatch)
    covered = _Run._covered

    def beside(self: _Run, planar: np.ndarray, boxes: IntBoxes) -> np.ndarray:
        shifted = np.asarray(boxes, np.int64).copy()
        shifted[:, [0, 2]] += shifted[:, 2:3] - shifted[:, 0:1]
        return covered(self, planar, shifted)

    monkeypatch.setattr("unseen.pipeline.video._Run._covered", beside)
    result = protector().protect(job)
    unverified(job, result, "not covered")
    assert result.error is not None
    found = re.search(r"region (\d+),(\d+)-(\d+),(\d+) is not covered", result.error)
    assert found, result.error
    x0, y0, x1, y1 = map(int, found.groups())
    fx0, fy0, fx1, fy1, _ = CLIP_BOX
    assert x0 <= fx0 and y0 <= fy0 and x1 >= fx1 and y1 >= fy1, (found.group(0), CLIP_BOX)


def test_video_metadata_left_by_the_muxer_is_unverified(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Guard: the metadata scan, when the container is written with a title tag."""
    job = clip(tmp_path, monkeypatch)

    @contextlib.contextmanager
    def tagged(path: Path, kind: OutputKind) -> Iterator[object]:
        with open_output(path, kind) as out:
            out.metadata["title"] = SECRET
            yield out

    monkeypatch.setattr("unseen.pipeline.video.open_output", tagged)
    unverified(job, protector().protect(job), "metadata left")


def audited_clip(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Job, Protector, list[int]]:
    """The clip, its face missed by finding and seen by the audit; the detections each pass ran."""
    job = clip(tmp_path, monkeypatch)
    monkeypatch.setattr(Scripted, "SCRIPT", [])
    monkeypatch.setattr(AuditScripted, "SCRIPT", [CLIP_BOX])
    passes: list[int] = []
    find, write = _Run._find, video_pipeline._write

    def counted_find(self: _Run, *args: Any) -> Any:
        passes[-1] += 1
        return find(self, *args)

    def counted_write(*args: Any, **kwargs: Any) -> Any:
        passes.append(0)
        return write(*args, **kwargs)

    monkeypatch.setattr(_Run, "_find", counted_find)
    monkeypatch.setattr(video_pipeline, "_write", counted_write)
    # At a named CRF, not under the size cap: held to this clip's 148 kbit/s, x264 smooths the cover's
    # noise in the first frames until the audit's box lies only 0.76 on what `cover_noise` marks, a hair
    # over `ON_COVER`, and x264's bytes move a little in a long-lived process (docs/video.md), so
    # the number of further passes was luck (four passes once in CI).  The loop is what these tests
    # are about; the cap's own pass has its tests below.
    settings = Settings(seed=1, crf=18)
    return job, Protector(settings, profile=scripted_profile(audit="scripted-audit")), passes


def test_video_audit_face_is_covered_in_a_further_pass(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Audit loop: a face the audit (in its own thread) sees in the written clip is covered in a further
    pass, around every frame it was seen in, and the file published."""
    job, p, passes = audited_clip(tmp_path, monkeypatch)
    result = p.protect(job)
    assert result.status == "protected", result
    assert len(passes) == 2 and passes[0] > 0 and passes[1] == 0, f"detections by pass: {passes}"
    box = tuple(int(v) for v in CLIP_BOX[:4])
    before, after = decoded(job.source), decoded(job.target)
    shares = [changed_share(a, b, box, 12) for a, b in zip(before, after, strict=True)]  # type: ignore[arg-type]
    assert min(shares) >= 0.9, shares
    assert leftovers(job.target.parent) == [job.target.name]


def test_video_audit_face_still_seen_after_further_passes_is_unverified(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Audit loop: a face the audit still sees after every further pass fails the clip."""
    monkeypatch.setattr("unseen.verify.audit.cover_noise", lambda rgb: np.zeros(rgb.shape[:2], bool))
    job, p, passes = audited_clip(tmp_path, monkeypatch)
    result = p.protect(job)
    unverified(job, result, f"still visible after {AUDIT_PASSES} further passes (frame 0, frame")
    assert "Cover those places by hand with --cover" in str(result.error)
    covers_by_hand(str(result.error), CLIP_BOX[:4], at=0.0)
    assert passes[1:] == [0] * AUDIT_PASSES, f"detections by pass: {passes}"


@pytest.mark.parametrize(
    ("outcomes", "capped", "published"),
    [
        # The audit's further passes, then the cap: the pass without it still comes.
        (["seen"] * AUDIT_PASSES + ["lost", "clean"], [True] * (AUDIT_PASSES + 1) + [False], True),
        # The cap first: the audit keeps all of its further passes.
        (["lost"] + ["seen"] * AUDIT_PASSES + ["clean"], [True] + [False] * (AUDIT_PASSES + 1), True),
        (["lost"] + ["seen"] * (AUDIT_PASSES + 1), [True] + [False] * (AUDIT_PASSES + 1), False),
    ],
)
def test_video_the_pass_without_the_cap_is_not_one_of_the_audits(
    monkeypatch: pytest.MonkeyPatch, outcomes: list[str], capped: list[bool], published: bool
) -> None:
    """The further-pass loop, its passes scripted: what each pass ends in, and whether it was capped."""
    run = SimpleNamespace(
        rate=Fraction(30),
        width=W,
        height=H,
        written=FRAMES,
        most_faces=1,
        regions=lambda: 1,
        reader=SimpleNamespace(joins=meta_video.Joins()),
        shown=lambda: Shown(np.arange(FRAMES) / 30, np.arange(1, FRAMES + 1) / 30),
    )
    face = Detections.from_boxes(np.array([CLIP_BOX[:4]], np.float32), np.array([0.9], np.float32), "audit")
    asked: list[bool] = []

    def scripted(*args: Any, replay: bool, capped: bool) -> tuple[Any, list[Any], PixelsLost | None]:
        assert replay == bool(asked), "only the first pass runs the detectors"
        asked.append(capped)
        outcome = outcomes[len(asked) - 1]
        return (
            run,
            [(3, face)] if outcome == "seen" else [],
            PixelsLost("smoothed") if outcome == "lost" else None,
        )

    monkeypatch.setattr(video_pipeline, "_write", scripted)
    ctx: Any = SimpleNamespace(record=None, settings=Settings())
    job = Job(Path("in.mp4"), Path("out.mp4"))
    if published:
        video_pipeline.protect_video(job, ctx)
    else:
        with pytest.raises(VerificationError, match=f"after {AUDIT_PASSES} further passes"):
            video_pipeline.protect_video(job, ctx)
    assert asked == capped


def test_video_unbroken_passes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Control: the same clip, nothing broken, is published (so the failures above are the guards')."""
    job = clip(tmp_path, monkeypatch)
    result = protector().protect(job)
    assert result.status == "protected", result
    assert plays(job.target)
    assert leftovers(job.target.parent) == [job.target.name]


def test_photo_unbroken_passes(tmp_path: Path, astronaut: np.ndarray) -> None:
    """Control: the same photo, nothing broken, is published (so the failures above are the guards')."""
    job = photo(tmp_path, astronaut)
    result = protector().protect(job)
    assert result.status == "protected", result
    assert changed_share(pixels(job.source), pixels(job.target), FACE, 0) >= 0.9
    assert leftovers(job.target.parent) == [job.target.name]


# Outputs that cannot be written, even by root (which ignores permission bits)


@pytest.fixture(scope="module")
def small(astronaut: np.ndarray) -> np.ndarray:
    return np.asarray(Image.fromarray(astronaut).resize((256, 256)))


def test_output_under_a_file_fails_and_the_next_input_runs_library(
    tmp_path: Path, small: np.ndarray, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Guard: the staged write, when the output's folder is a regular file (library)."""
    monkeypatch.setattr(Scripted, "SCRIPT", [(92.0, 35.0, 133.0, 90.0, 0.9)])  # FACE at 256 px
    a, b = save(small, tmp_path / "in" / "a.png"), save(small, tmp_path / "in" / "b.png")
    out = tmp_path / "out"
    out.mkdir()
    afile = out / "afile"
    afile.write_bytes(b"not a folder")
    before = tree_hashes(tmp_path / "in")
    p = protector()
    bad = p.protect(Job(a, afile / "out.png"))
    good = p.protect(Job(b, out / "b.png"))
    assert bad.status == "failed" and bad.output is None, bad
    assert bad.error is not None and str(afile) in bad.error and "\n" not in bad.error
    assert good.status == "protected", good
    assert tree_hashes(tmp_path / "in") == before
    assert afile.read_bytes() == b"not a folder"
    assert leftovers(out) == ["afile", "b.png"]


def _error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("error:")]


def test_output_under_a_file_fails_cli_single(tmp_path: Path, small: np.ndarray) -> None:
    """Guard: the staged write via the CLI, ``-o tmp/afile/out.png`` where ``afile`` is a file."""
    source = save(small, tmp_path / "in.png")
    afile = tmp_path / "afile"
    afile.write_bytes(b"not a folder")
    digest = sha256(source)
    run = run_cli("protect", source, "-o", afile / "out.png")
    assert run.code == 1, run.stderr
    errors = _error_lines(run.stderr)
    assert len(errors) == 1 and str(afile) in errors[0], run.stderr
    assert "Traceback" not in run.stderr
    assert sha256(source) == digest
    assert afile.read_bytes() == b"not a folder"
    assert leftovers(tmp_path) == ["afile", "in.png"]


def test_output_under_a_file_fails_cli_and_the_next_input_runs(tmp_path: Path, small: np.ndarray) -> None:
    """Guard: with --keep-names, one input's subfolder is a file in the output folder; the other is done."""
    indir, out = tmp_path / "in", tmp_path / "out"
    save(small, indir / "sub" / "x.png")
    save(small, indir / "y.png")
    out.mkdir()
    (out / "sub").write_bytes(b"not a folder")
    before = tree_hashes(indir)
    run = run_cli("protect", indir, "-o", out, "--keep-names")
    assert run.code == 1, run.stderr
    errors = _error_lines(run.stderr)
    assert len(errors) == 1 and str(out / "sub") in errors[0] and "x.png" in errors[0], run.stderr
    assert "Traceback" not in run.stderr
    assert tree_hashes(indir) == before
    assert (out / "sub").read_bytes() == b"not a folder"
    assert leftovers(out) == ["sub", "y.png"]
    x0, y0, x1, y1 = FACE
    assert changed_share(small, pixels(out / "y.png"), (x0 // 2, y0 // 2, x1 // 2, y1 // 2), 0) >= 0.9


# A further pass takes again the audit's verdicts of frames that decode as before.


def expected_of(path: Path) -> Expected:
    """What the self-check expects of ``path`` as it is: its frames and times, no sampled boxes."""
    with av.open(str(path)) as c:
        frames = list(c.decode(video=0))
    end = frames[-1].pts + frames[-1].duration
    return Expected(len(frames), frames[0].pts, end, frames[0].time_base, Sampler(len(frames)))


def counted_audits(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The frames `Audit.visible` is asked about, in order (the audit's lanes call it)."""
    asked: list[int] = []
    unkept = Beside._unkept

    def counted(self: Beside, index: int, *args: Any) -> Any:
        asked.append(index)
        return unkept(self, index, *args)

    monkeypatch.setattr(Beside, "_unkept", counted)
    return asked


def test_video_verdicts_are_taken_again_only_for_frames_that_decode_the_same(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same file checked again is not audited again; a file whose frames decode otherwise is,
    whatever was said before (the verdicts kept here say no face, the audit sees one)."""
    monkeypatch.setattr(AuditScripted, "SCRIPT", [CLIP_BOX])
    monkeypatch.setattr("unseen.verify.video.meta.scan", lambda path: [])  # the test clip's own tags
    asked = counted_audits(monkeypatch)
    audit = Protector(Settings(seed=1), profile=scripted_profile(audit="scripted-audit")).audit
    clip = make_clip(tmp_path / "a.mp4").path
    verdicts = Verdicts()
    seen = check_video(clip, expected_of(clip), audit, verdicts)
    audited = sorted(audited_frames(FRAMES))
    assert [frame for frame, _ in seen] == audited and sorted(asked) == audited and verdicts.reused == 0
    again = check_video(clip, expected_of(clip), audit, verdicts)
    assert [(f, d.xyxy.tolist()) for f, d in again] == [(f, d.xyxy.tolist()) for f, d in seen]
    assert sorted(asked) == audited and verdicts.reused == len(audited), "the same pixels, audited again"
    verdicts.said = {frame: (digest, Detections.empty()) for frame, (digest, _) in verdicts.said.items()}
    other = make_clip(tmp_path / "b.mp4", full_range=True).path  # the same picture, decoded a little lighter
    assert [frame for frame, _ in check_video(other, expected_of(other), audit, verdicts)] == audited
    assert verdicts.reused == 0 and len(asked) == 2 * len(audited)


def test_video_further_pass_audits_only_the_frames_it_can_have_changed(tmp_path: Path) -> None:
    """A face the audit saw in the last frame of a 4 s clip is covered around it in a further pass;
    x264 writes the frames well before that byte for byte as before, and their verdicts are taken
    again: the further pass audits only the frames from a little before the new covers on.

    In a fresh process (`_further_pass`): in the suite's own, after a thousand tests, x264 once
    wrote the second file's first frames otherwise, so that every frame was audited again (a cost
    only, as a frame that decodes otherwise is always audited; the cause is not known, see
    docs/video.md), while the same test alone or with its file passed every time."""
    total = 60
    spawn = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(1, mp_context=spawn) as child:
        first, further, changed = child.submit(_further_pass, tmp_path, total).result()
    reach = round(video_pipeline.AUDIT_REACH_S * FPS)
    assert first == len(audited_frames(total)) and 0 < further < first / 2, (first, further, changed)
    assert min(changed) >= total - 1 - reach - 12, (
        f"frames long before the new covers audited again: {changed}"
    )


def _further_pass(tmp_path: Path, total: int) -> tuple[int, int, list[int]]:
    """Protect a ``total``-frame clip whose first file's audit sees a face in its last frame: how
    many frames the first file's audit judged, how many the further pass's, and which."""
    monkeypatch = pytest.MonkeyPatch()
    monkeypatch.setattr(Scripted, "SCRIPT", [])
    (tmp_path / "in").mkdir()
    source = make_clip(tmp_path / "in" / "long.mp4", pts=[4 * i for i in range(total)]).path  # 15 fps
    job = Job(source, tmp_path / "out" / "long.mp4")
    asked = counted_audits(monkeypatch)
    passes: list[int] = []
    write, unkept = video_pipeline._write, Beside._unkept

    def counted_write(*args: Any, **kwargs: Any) -> Any:
        passes.append(len(asked))
        return write(*args, **kwargs)

    def seen_last(self: Beside, index: int, *args: Any) -> Any:
        found = unkept(self, index, *args)
        if len(passes) == 1 and index == total - 1:  # the first file's last frame shows a face
            return index, Detections.from_boxes(
                np.array([CLIP_BOX[:4]], np.float32), np.array([0.9], np.float32), "audit"
            )
        return found

    monkeypatch.setattr(video_pipeline, "_write", counted_write)
    monkeypatch.setattr(Beside, "_unkept", seen_last)
    result = Protector(Settings(seed=1), profile=scripted_profile()).protect(job)
    assert result.status == "protected", result
    return passes[1], len(asked) - passes[1], list(asked[passes[1] :])
