"""Shared helpers: real images the tests write themselves, and the CLI run the way a user runs it.

Every test here goes through real files and real subprocesses.  The photo is
scikit-image's public-domain ``astronaut`` (512 x 512, one face).
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import re
import shutil
import struct
import subprocess
import sys
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np
import pillow_heif
import pytest
from demo import camera_exif
from PIL import Image, ImageCms, ImageOps, ImageSequence
from skimage import data as skdata

from unseen.meta.policy import allowed

pillow_heif.register_heif_opener()

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
needs_shared = pytest.mark.skipif(not SHARED.is_dir(), reason="../shared (evaluation data) is absent")
needs_exiftool = pytest.mark.skipif(shutil.which("exiftool") is None, reason="exiftool is not installed")


def _has_cuda() -> bool:
    import onnxruntime  # here, not above: unseen (imported above) sets its telemetry switch first

    return "CUDAExecutionProvider" in onnxruntime.get_available_providers()


HAS_CUDA = _has_cuda()
# The refusals of --device cuda are for machines without it; the CUDA checks for a machine with it.
without_cuda = pytest.mark.skipif(
    HAS_CUDA, reason="this machine has CUDA; the refusal is for machines without it"
)
needs_cuda = pytest.mark.skipif(not HAS_CUDA, reason="needs onnxruntime-gpu and an NVIDIA GPU")
# Debian's chromium, driven by Playwright; never Playwright's own browser download.
CHROMIUM = shutil.which("chromium")
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip
needs_voice = pytest.mark.skipif(
    importlib.util.find_spec("pyworld") is None, reason="the voice extra (pyworld) is not installed"
)

# The astronaut's face, brow to chin and ear to ear, as x0, y0, x1, y1 in the 512 px photo (by eye).
FACE = (185, 70, 265, 180)
# Lossy codecs move untouched pixels a little; a covered pixel must differ by more than this.
LOSSY_DIFF = 8

# exiftool family-0 groups that must never reach an output, and tag names that betray a
# location or an embedded picture whatever group they sit in.
FORBIDDEN_GROUPS = frozenset({"EXIF", "XMP", "IPTC", "MakerNotes", "ICC_Profile", "Photoshop"})
FORBIDDEN_NAME_PARTS = ("GPS", "Thumbnail", "Preview", "JpgFromRaw")
# An MP4 movie header's timing fields, which only share the word "Preview".
MOVIE_HEADER_TIMES = frozenset({"PreviewTime", "PreviewDuration"})
# What the tagged test files say about their owner, camera and place; no output may hold any of it.
SECRETS = (b"Jane Roe", b"032024001234", b"Canon EOS 5D", b"Kreuzberg", b"52.4992")
# Tables of before/after tag counts that tests print; repeated in pytest's terminal summary.
SUMMARY: list[str] = []
# Other reports for the run's summary, as (title, text): what the robustness and fault tests ran.
REPORTS: list[tuple[str, str]] = []


@dataclass
class Run:
    code: int
    stdout: str
    stderr: str

    def records(self) -> list[dict[str, Any]]:
        """The ``--json`` objects; fails if stdout holds anything else."""
        return [json.loads(line) for line in self.stdout.splitlines() if line.strip()]

    def by_input(self) -> dict[str, dict[str, Any]]:
        return {Path(r["path"]).name: r for r in self.records()}


def unseen_cmd(*args: object) -> list[str]:
    return [sys.executable, "-m", "unseen", *map(str, args)]


def with_sitecustomize(
    folder: Path, code: str, base: Mapping[str, str] | None = None, **extra: str
) -> dict[str, str]:
    """An environment (``base``, else this process's, plus ``extra``) in which every Python started,
    the command line and its workers alike, runs ``code`` first: a `sitecustomize` in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "sitecustomize.py").write_text(code)
    env = {**(os.environ if base is None else base), **extra}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(folder), env.get("PYTHONPATH")]))
    return env


def run_cli(
    *args: object,
    prefix: Sequence[str] = (),
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    timeout: float = 600,
) -> Run:
    done = subprocess.run(
        [*prefix, *unseen_cmd(*args)], capture_output=True, text=True, env=env, cwd=cwd, timeout=timeout
    )
    return Run(done.returncode, done.stdout, done.stderr)


_STATE_HOME = pytest.StashKey[str]()


def pytest_configure(config: pytest.Config) -> None:
    """Batches keep their resume keys in this user's state folder (`unseen.batch.keys_home`): the tests'
    go to a folder of the test run's own, set before any test module copies the environment."""
    folder = tempfile.mkdtemp(prefix="unseen-test-state-")
    config.stash[_STATE_HOME] = folder
    os.environ["XDG_STATE_HOME"] = os.environ["LOCALAPPDATA"] = folder


def pytest_unconfigure(config: pytest.Config) -> None:
    if folder := config.stash.get(_STATE_HOME, None):
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def state_home(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A state folder of this test's own, where the batches it runs keep their resume keys (other
    tests share the run's, which environments copied at import, as test_faults' is, point to too)."""
    folder = tmp_path_factory.mktemp("state")
    monkeypatch.setenv("XDG_STATE_HOME", str(folder))
    monkeypatch.setenv("LOCALAPPDATA", str(folder))
    return folder


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict[str, Any]) -> dict[str, Any]:
    """pytest-playwright's launch, on Debian's chromium, headless (each test gets a fresh profile).

    Without chromium the browser tests skip, saying why, except in CI, where they fail.
    """
    if CHROMIUM is None:
        if os.environ.get("CI"):
            pytest.fail("Debian's chromium is missing; .ci/run installs it (apt-get install chromium)")
        pytest.skip("Debian's chromium is not installed (apt-get install chromium); CI installs it")
    return {**browser_type_launch_args, "executable_path": CHROMIUM, "headless": True, "args": CHROMIUM_ARGS}


@pytest.fixture(scope="session")
def astronaut() -> np.ndarray:
    return np.asarray(skdata.astronaut())


def save(array: np.ndarray, path: Path, **options: Any) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path, **options)
    return path


def frames_of(path: Path) -> list[np.ndarray]:
    """Every frame as a viewer shows it: orientation applied, RGB."""
    with Image.open(path) as img:
        return [
            np.asarray(ImageOps.exif_transpose(f).convert("RGB")).astype(np.int16)
            for f in ImageSequence.Iterator(img)
        ]


def pixels(path: Path) -> np.ndarray:
    return frames_of(path)[0]


def changed_share(before: np.ndarray, after: np.ndarray, box: tuple[int, int, int, int], diff: int) -> float:
    """Share of the box's pixels where some channel moved by more than ``diff``."""
    x0, y0, x1, y1 = box
    delta = np.abs(after[y0:y1, x0:x1, :3].astype(np.int16) - before[y0:y1, x0:x1, :3].astype(np.int16))
    return float((delta > diff).any(axis=-1).mean())


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# What a run into a folder keeps there besides its outputs, so that it can resume (unseen.batch).
BOOKKEEPING = frozenset({".unseen-state.jsonl", ".unseen-lock"})


def produced(folder: Path, *, recursive: bool = False) -> list[Path]:
    """What a run left in ``folder``: outputs, subfolders, any leftover, but not its resume state and lock."""
    found = folder.rglob("*") if recursive else folder.iterdir()
    return sorted(p for p in found if p.name not in BOOKKEEPING)


def write_clip(path: Path, frames: Iterable[np.ndarray], fps: int, **options: str) -> None:
    """Encode RGB frames (all one size) as H.264 in MP4, frame i at timestamp i of 1/fps."""
    images = list(frames)
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=fps)
        stream.height, stream.width = images[0].shape[:2]
        stream.pix_fmt = "yuv420p"
        stream.codec_context.time_base = Fraction(1, fps)
        stream.options = {"crf": "10", **options}
        for i, img in enumerate(images):
            frame = av.VideoFrame.from_ndarray(img, format="rgb24")
            frame.pts = i
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)


def decoded(path: Path) -> list[np.ndarray]:
    """Every frame of a video as RGB, in signed integers ready for differences."""
    with av.open(str(path)) as c:
        return [f.to_ndarray(format="rgb24").astype(np.int16) for f in c.decode(video=0)]


def tree_hashes(folder: Path) -> dict[Path, str]:
    return {p: sha256(p) for p in sorted(folder.rglob("*")) if p.is_file()}


def exiftool_tags(path: Path, *, numeric: bool = False) -> dict[str, Any]:
    """Everything exiftool sees, embedded streams and unknown tags included, as ``G0:G1:Tag`` keys."""
    return exiftool_tags_of([path], numeric=numeric)[path]


def exiftool_tags_of(paths: Sequence[Path], *, numeric: bool = False) -> dict[Path, dict[str, Any]]:
    """`exiftool_tags` for many files with one exiftool process; ``numeric``: raw values (``-n``),
    binary data as base64 (``-b``), as `unseen.meta.exiftool` reads them for the allowlist."""
    if not paths:
        return {}
    done = subprocess.run(
        [
            "exiftool",
            "-j",
            "-a",
            "-u",
            "-G0:1",
            "-ee",
            *(["-n", "-b"] if numeric else []),
            "--",
            *map(str, paths),
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    rows: list[dict[str, Any]] = json.loads(done.stdout)
    found = {Path(row["SourceFile"]): row for row in rows}
    return {path: found[path] for path in paths}


def groups_of(tags: dict[str, Any]) -> set[str]:
    """Every group named in ``G0:G1:Tag`` keys (exiftool writes ``G0:Tag`` when both families agree)."""
    return {group for key in tags for group in key.split(":")[:-1]}


def identifying_tags(path: Path) -> list[str]:
    """The tags in ``path`` from a forbidden group, or naming GPS, a thumbnail or a preview."""
    return identifying_in(exiftool_tags(path))


def identifying_in(tags: dict[str, Any]) -> list[str]:
    # A TIFF's pixel layout lives in IFD0, which exiftool files under EXIF: structure, not metadata.
    tiff = tags.get("File:FileType") == "TIFF"
    found = []
    for key in tags:
        group0, _, rest = key.partition(":")
        group1, _, name = rest.rpartition(":")
        if tiff and group1 == "IFD0" and allowed(group1, name):
            continue
        if (
            group0 in FORBIDDEN_GROUPS
            or group1.startswith(("XMP", "ICC", "GPS"))
            or (any(part in name for part in FORBIDDEN_NAME_PARTS) and name not in MOVIE_HEADER_TIMES)
        ):
            found.append(key)
    return found


def unallowed_in(tags: dict[str, Any]) -> list[str]:
    """The tags outside unseen's allowlist; ``tags`` must come from `exiftool_tags` with ``numeric``."""
    found = []
    for key, value in tags.items():
        *groups, name = key.split(":")
        if key != "SourceFile" and not allowed(groups[-1], name, value):
            found.append(key)
    return found


def leaks(path: Path) -> list[str]:
    """What in ``path`` could identify someone: identifying tags, a test secret, an embedded picture."""
    found = identifying_tags(path)
    data = path.read_bytes()
    found += [secret.decode() for secret in SECRETS if secret in data]
    # A second JPEG start (SOI, then a marker) would be an embedded thumbnail or preview.
    markers, expected = len(re.findall(rb"\xff\xd8\xff[\xc0-\xfe]", data)), 1 if path.suffix == ".jpg" else 0
    if markers != expected:
        found.append(f"{markers} JPEG start markers, expected {expected}")
    return found


def decodes(path: Path) -> bool:
    """Whether Pillow (with the HEIF plugin) decodes the picture."""
    try:
        with Image.open(path) as img:
            img.load()
        return True
    except (OSError, SyntaxError, ValueError, EOFError):
        return False


def plays(path: Path) -> bool:
    """Whether PyAV decodes every picture frame of a video."""
    try:
        with av.open(str(path)) as container:
            return sum(1 for _ in container.decode(video=0)) > 0
    except (av.error.FFmpegError, IndexError):
        return False


Tags = dict[str, Any]


def tag_table(
    title: str, root: Path, records: list[dict[str, Any]]
) -> tuple[dict[Path, Tags], dict[Path, Tags]]:
    """Print, and keep for the run's summary, a table of what each input carried and its output carries.

    ``records`` are a run's ``--json`` objects for inputs under ``root``.  Counted are
    all tags but exiftool's own and the file system's, and in brackets those outside
    the allowlist.  Returns exiftool's tags (``numeric``) of the inputs and the outputs.
    """
    before = exiftool_tags_of([Path(r["path"]) for r in records], numeric=True)
    after = exiftool_tags_of([Path(r["output"]) for r in records if r["output"]], numeric=True)

    def counts(tags: Tags | None) -> str:
        if tags is None:
            return "-"
        own = [k for k in tags if k != "SourceFile" and not {"ExifTool", "System"} & set(k.split(":")[:-1])]
        return f"{len(own)} ({len(unallowed_in(tags))})"

    rows = [
        (str(Path(r["path"]).relative_to(root)), r["status"], counts(before[Path(r["path"])]),
         counts(after[Path(r["output"])] if r["output"] else None))
        for r in records
    ]  # fmt: skip
    width = max(len(row[0]) for row in rows)
    lines = [title, f"{'file':{width}}  {'result':10}  tags (not allowed) before -> after"]
    lines += [f"{name:{width}}  {status:10}  {a:>10} -> {b}" for name, status, a, b in rows]
    text = "\n".join(lines)
    print("\n" + text)
    SUMMARY.append(text)
    return before, after


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    for text in SUMMARY:
        terminalreporter.write_sep("-", "metadata before and after")
        terminalreporter.write_line(text)
    for title, text in REPORTS:
        terminalreporter.write_sep("-", title)
        terminalreporter.write_line(text)


def shared_params(names: Iterable[str]) -> list[Any]:
    """One test parameter per file under ../shared, or a single skipped one where it is absent."""
    params = [pytest.param(name, id=name) for name in names]
    return params or [
        pytest.param("", marks=pytest.mark.skip(reason="../shared (evaluation data) is absent"))
    ]


def copy_files(files: Iterable[Path], source: Path, dest: Path) -> Path:
    """Copy ``files`` (all under ``source``) to the same places under ``dest``."""
    for path in files:
        target = dest / path.relative_to(source)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target)
    return dest


def inject_metadata(path: Path, thumb: Path) -> None:
    """Add what Pillow cannot write: a face thumbnail in IFD1, XMP, and IPTC/Photoshop where the format allows."""
    args = ["-ThumbnailImage<=" + str(thumb), "-XMP-dc:Creator=Jane Roe", "-XMP-exif:GPSLatitude=52.4992"]
    if path.suffix in (".jpg", ".png", ".tiff"):
        args += ["-IPTC:By-line=Jane Roe", "-IPTC:City=Kreuzberg", "-Photoshop:CopyrightFlag=True"]
    if path.suffix == ".tiff":
        args.append("-m")  # both pages Pillow writes share one ExifIFD: a minor error that stops exiftool
        args.append("-IFD1:SubfileType#=1")  # the second page is the thumbnail: marked so, as TIFF asks
    subprocess.run(["exiftool", "-q", "-q", "-overwrite_original", *args, str(path)], check=True)


def write_tagged_photos(folder: Path, astronaut: np.ndarray, suffixes: Iterable[str]) -> list[Path]:
    """``folder/tagged<suffix>``: the astronaut at 256 px with EXIF (GPS, owner, camera serial), an
    sRGB profile, XMP, IPTC where the format allows, and a thumbnail of her face."""
    small = np.asarray(Image.fromarray(astronaut).resize((256, 256)))
    x0, y0, x1, y1 = FACE
    face = astronaut[y0 - 20 : y1 + 20, x0 - 30 : x1 + 30]
    thumb = save(face, folder.parent / "thumb.jpg")
    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    paths = []
    for suffix in suffixes:
        path = folder / f"tagged{suffix}"
        extra: dict[str, Any] = {"comment": b"shot by Jane Roe"} if suffix == ".jpg" else {}
        if suffix == ".tiff":
            # exiftool writes no EXIF thumbnail into a TIFF: there, a thumbnail is a second,
            # smaller page (IFD1), so the face goes in as one.
            extra = {"save_all": True, "append_images": [Image.fromarray(face)]}
        save(small, path, exif=camera_exif(), icc_profile=srgb, **extra)
        inject_metadata(path, thumb)
        paths.append(path)
    return paths


def swapped_primaries_icc() -> bytes:
    """An RGB display profile (ICC v2) like sRGB but with the red and green primaries swapped.

    A reader that converts such a picture to sRGB swaps its R and G channels,
    which a test can see in the pixels; one that drops the profile does not.
    """

    def s15(v: float) -> bytes:
        return struct.pack(">i", round(v * 65536))

    def xyz(x: float, y: float, z: float) -> bytes:
        return b"XYZ \0\0\0\0" + s15(x) + s15(y) + s15(z)

    srgb_curve = b"para\0\0\0\0" + struct.pack(">HH", 3, 0)
    srgb_curve += b"".join(s15(v) for v in (2.4, 1 / 1.055, 0.055 / 1.055, 1 / 12.92, 0.04045))
    name = b"swapped primaries\0"
    desc = (
        b"desc\0\0\0\0" + struct.pack(">I", len(name)) + name + struct.pack(">IIHB", 0, 0, 0, 0) + bytes(67)
    )
    d50 = (0.9642, 1.0, 0.8249)
    tags = [
        (b"desc", desc),
        (b"wtpt", xyz(*d50)),
        (b"rXYZ", xyz(0.3851, 0.7169, 0.0971)),  # sRGB's green colorant
        (b"gXYZ", xyz(0.4361, 0.2225, 0.0139)),  # sRGB's red colorant
        (b"bXYZ", xyz(0.1431, 0.0606, 0.7141)),
        (b"rTRC", srgb_curve),
        (b"gTRC", srgb_curve),
        (b"bTRC", srgb_curve),
    ]
    start = 128 + 4 + 12 * len(tags)
    table, body = b"", b""
    for sig, payload in tags:
        payload += bytes(-len(payload) % 4)
        table += sig + struct.pack(">II", start + len(body), len(payload))
        body += payload
    header = struct.pack(">I", start + len(body)) + bytes(4) + struct.pack(">I", 0x02100000)
    header += b"mntrRGB XYZ " + bytes(12) + b"acsp" + bytes(28) + xyz(*d50)[8:]
    header += bytes(128 - len(header))
    return header + struct.pack(">I", len(tags)) + table + body


W, H, FPS, FRAMES = 160, 96, 15, 24
# Small clips of the astronaut's face moving over a coloured background.
CLIP_FACE = np.asarray(Image.fromarray(skdata.astronaut()[40:200, 160:290]).resize((36, 44)))


@dataclass
class Clip:
    path: Path
    boxes: list[tuple[int, int, int, int]]  # the face in each frame, x0, y0, x1, y1
    pts: list[int] = field(default_factory=list)


def face_box(i: int) -> tuple[int, int, int, int]:
    """Left to right in FRAMES frames; longer clips walk across again."""
    x = int(8 + (W - 52) * (i % FRAMES) / (FRAMES - 1))
    y = int(24 + 8 * np.sin(i / 3))
    return x, y, x + CLIP_FACE.shape[1], y + CLIP_FACE.shape[0]


def make_clip(
    path: Path,
    *,
    audio: bool = False,
    rotation: int = 0,
    pts: list[int] | None = None,
    full_range: bool = False,
    tags: dict[str, str] | None = None,
    codec: str = "libx264",
    sound_codec: str = "aac",
) -> Clip:
    rng = np.random.default_rng(0)
    background = rng.integers(40, 220, (H // 8, W // 8, 3)).astype(np.uint8).repeat(8, 0).repeat(8, 1)
    stamps = pts or list(range(FRAMES))
    boxes = []
    with av.open(str(path), "w") as out:
        out.metadata.update(tags or {})
        video = out.add_stream(codec, rate=FPS)
        video.width, video.height = (H, W) if rotation % 180 else (W, H)
        video.pix_fmt = "yuvj420p" if full_range else "yuv420p"
        video.codec_context.time_base = Fraction(1, FPS * 4)
        if rotation:
            video.set_display_rotation(rotation)
        sound = out.add_stream(sound_codec, rate=16000) if audio else None
        for i, stamp in enumerate(stamps):
            img = background.copy()
            x0, y0, x1, y1 = face_box(i)
            img[y0:y1, x0:x1] = CLIP_FACE
            boxes.append((x0, y0, x1, y1))
            # Stored turned the other way, so that the display matrix turns it back upright.
            stored = np.ascontiguousarray(np.rot90(img, -rotation // 90)) if rotation else img
            frame = av.VideoFrame.from_ndarray(stored, format="rgb24")
            frame.pts, frame.time_base = stamp, Fraction(1, FPS * 4)
            for packet in video.encode(frame):
                out.mux(packet)
        for packet in video.encode(None):
            out.mux(packet)
        if sound is not None:
            write_tone(out, sound, seconds=len(stamps) / FPS)
    return Clip(path, boxes, stamps)


@dataclass(frozen=True)
class PitchChange:
    """How a disguised voice's pitch contour relates to the original's, where both are voiced."""

    median: float  # semitones
    slope: float  # of the output's log-pitch against the input's: 1 for a constant shift
    spread: float  # standard deviation of the shift, in semitones
    voiced: float  # share of frames voiced in both


def contour(x: np.ndarray, rate: int = 16_000) -> np.ndarray:
    """F0 every 5 ms (WORLD's DIO and StoneMask), 0 where unvoiced."""
    import pyworld

    x = np.ascontiguousarray(x, np.float64)
    f0, t = pyworld.dio(x, rate, frame_period=5.0)
    return np.asarray(pyworld.stonemask(x, f0, t, rate))


def pitch_change(before: np.ndarray, after: np.ndarray, rate: int = 16_000) -> PitchChange:
    """The disguise's measure: the output's contour against the input's, frame by frame."""
    a, b = contour(before, rate), contour(after, rate)
    n = min(len(a), len(b))
    a, b = a[:n], b[:n]
    both = (a > 0) & (b > 0)
    ratio = np.log2(b[both] / a[both])
    slope = float(np.polyfit(np.log2(a[both]), np.log2(b[both]), 1)[0])
    return PitchChange(float(np.median(ratio) * 12), slope, float(np.std(ratio) * 12), float(both.mean()))


def write_tone(out: av.container.OutputContainer, sound: av.audio.stream.AudioStream, seconds: float) -> None:
    t = np.arange(int(16000 * seconds)) / 16000
    tone = (0.2 * np.sin(2 * np.pi * 180 * t)).astype(np.float32)
    for start in range(0, len(tone), 1024):
        frame = av.AudioFrame.from_ndarray(tone[None, start : start + 1024], format="flt", layout="mono")
        frame.sample_rate, frame.pts = 16000, start
        for packet in sound.encode(frame):
            out.mux(packet)
    for packet in sound.encode(None):
        out.mux(packet)
