"""`protect` outputs carry pixels only: exiftool finds no EXIF, GPS, XMP, IPTC, ICC, maker notes or thumbnail.

The inputs are written here with real metadata (Pillow for EXIF/GPS/ICC,
exiftool for the face thumbnail, XMP, IPTC and Photoshop blocks) and, where
../shared is present, are the camera and phone files under data/metadata/.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageCms
from PIL.ExifTags import GPS, IFD, Base

from conftest import (
    FACE,
    SHARED,
    Run,
    exiftool_tags,
    groups_of,
    identifying_tags,
    needs_exiftool,
    run_cli,
    save,
)

pytestmark = needs_exiftool

SECRETS = (b"Jane Roe", b"SN-4711-0815", b"Canon EOS 5D", b"Kreuzberg")
SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".heic", ".heif", ".avif"}


def _exif() -> bytes:
    exif = Image.Exif()
    exif[Base.Make] = "Canon"
    exif[Base.Model] = "Canon EOS 5D"
    exif[Base.Artist] = "Jane Roe"
    exif.get_ifd(IFD.Exif).update(
        {Base.BodySerialNumber: "SN-4711-0815", Base.DateTimeOriginal: "2024:05:01 12:00:00"}
    )
    exif.get_ifd(IFD.GPSInfo).update(
        {
            GPS.GPSLatitudeRef: "N",
            GPS.GPSLatitude: (52.0, 29.0, 57.0),
            GPS.GPSLongitudeRef: "E",
            GPS.GPSLongitude: (13.0, 25.0, 35.0),
        }
    )
    return exif.tobytes()


def _inject(path: Path, thumb: Path) -> None:
    """Add what Pillow cannot write: a face thumbnail in IFD1, XMP, and IPTC/Photoshop where the format allows."""
    args = ["-ThumbnailImage<=" + str(thumb), "-XMP-dc:Creator=Jane Roe", "-XMP-exif:GPSLatitude=52.4992"]
    if path.suffix in (".jpg", ".png"):
        args += ["-IPTC:By-line=Jane Roe", "-IPTC:City=Kreuzberg", "-Photoshop:CopyrightFlag=True"]
    subprocess.run(["exiftool", "-q", "-q", "-overwrite_original", *args, str(path)], check=True)


@dataclass
class Made:
    indir: Path
    out: Path
    run: Run


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory, astronaut: np.ndarray) -> Made:
    root = tmp_path_factory.mktemp("metadata")
    indir = root / "in"
    small = np.asarray(Image.fromarray(astronaut).resize((256, 256)))
    x0, y0, x1, y1 = FACE
    thumb = save(astronaut[y0 - 20 : y1 + 20, x0 - 30 : x1 + 30], root / "thumb.jpg")
    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    for suffix in (".jpg", ".png", ".webp", ".heic", ".avif"):
        path = indir / f"tagged{suffix}"
        extra = {"comment": b"shot by Jane Roe"} if suffix == ".jpg" else {}
        save(small, path, exif=_exif(), icc_profile=srgb, **extra)
        _inject(path, thumb)
    out = root / "out"
    return Made(indir, out, run_cli("protect", indir, "-o", out, "--json"))


@pytest.mark.parametrize("suffix", [".jpg", ".png", ".webp", ".heic", ".avif"])
def test_inputs_really_carry_metadata(made: Made, suffix: str) -> None:
    tags = exiftool_tags(made.indir / f"tagged{suffix}")
    groups = groups_of(tags)
    assert {"GPS", "IFD0", "IFD1", "XMP-dc"} <= groups
    assert any(key.endswith(":ThumbnailImage") for key in tags)
    assert any(key.startswith("ICC_Profile:") for key in tags)
    if suffix in (".jpg", ".png"):
        assert {"IPTC", "Photoshop"} <= groups


def test_every_tagged_file_is_protected(made: Made) -> None:
    assert made.run.code == 0, made.run.stderr
    assert sorted(made.run.by_input()) == sorted(p.name for p in made.indir.iterdir())
    assert all(r["status"] == "protected" for r in made.run.records())


@pytest.mark.parametrize("suffix", [".jpg", ".png", ".webp", ".heic", ".avif"])
def test_output_has_no_identifying_tags(made: Made, suffix: str) -> None:
    output = Path(made.run.by_input()[f"tagged{suffix}"]["output"])
    assert identifying_tags(output) == []
    data = output.read_bytes()
    for secret in SECRETS:
        assert secret not in data
    # A second JPEG start marker would be an embedded thumbnail or preview.
    assert data.count(b"\xff\xd8\xff") == (1 if output.suffix == ".jpg" else 0)


def _shared_files() -> list[Path]:
    root = SHARED / "data" / "metadata"
    if not root.is_dir():
        return []
    return sorted(p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in SUFFIXES)


def _shared_params() -> list[object]:
    files = _shared_files()
    if not files:
        return [pytest.param("", marks=pytest.mark.skip(reason="../shared (evaluation data) is absent"))]
    root = SHARED / "data" / "metadata"
    return [pytest.param(str(p.relative_to(root)), id=str(p.relative_to(root))) for p in files]


@pytest.fixture(scope="module")
def shared_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Run]:
    root = tmp_path_factory.mktemp("shared-metadata")
    indir = root / "in"
    source = SHARED / "data" / "metadata"
    for path in _shared_files():
        target = indir / path.relative_to(source)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target)
    # --fast: what is checked here is metadata, which does not depend on the detector plan.
    return indir, run_cli("protect", indir, "-o", root / "out", "--json", "--fast")


def _decodes(path: Path) -> bool:
    try:
        with Image.open(path) as img:
            img.load()
        return True
    except (OSError, SyntaxError, ValueError, EOFError):
        return False


@pytest.mark.parametrize("relative", _shared_params())
def test_shared_metadata_file(shared_run: tuple[Path, Run], relative: str) -> None:
    indir, run = shared_run
    source = indir / relative
    record = {Path(r["path"]): r for r in run.records()}[source]
    if not _decodes(source):
        # A file no decoder can open is refused loudly and leaves nothing behind.
        assert record["status"] in ("failed", "refused") and record["output"] is None
        assert record["error"]
        return
    assert record["status"] == "protected", record
    assert identifying_tags(Path(record["output"])) == []
