"""`protect` outputs carry pixels only: exiftool finds no EXIF, GPS, XMP, IPTC, ICC, maker notes or thumbnail.

The inputs are written here with real metadata (Pillow for EXIF/GPS/ICC,
exiftool for the face thumbnail, XMP, IPTC and Photoshop blocks) and, where
../shared is present, are the camera and phone files under data/metadata/.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from conftest import (
    SHARED,
    Run,
    copy_files,
    decodes,
    exiftool_tags,
    groups_of,
    identifying_tags,
    leaks,
    needs_exiftool,
    run_cli,
    shared_params,
    tag_table,
    write_tagged_photos,
)

pytestmark = needs_exiftool

SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".heic", ".heif", ".avif"}


@dataclass
class Made:
    indir: Path
    out: Path
    run: Run


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory, astronaut: np.ndarray) -> Made:
    root = tmp_path_factory.mktemp("metadata")
    indir = root / "in"
    write_tagged_photos(indir, astronaut, (".jpg", ".png", ".webp", ".heic", ".avif"))
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
    assert leaks(output) == []


def _shared_files() -> list[Path]:
    root = SHARED / "data" / "metadata"
    if not root.is_dir():
        return []
    return sorted(p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in SUFFIXES)


@pytest.fixture(scope="module")
def shared_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Run]:
    root = tmp_path_factory.mktemp("shared-metadata")
    indir = root / "in"
    copy_files(_shared_files(), SHARED / "data" / "metadata", indir)
    # --fast: what is checked here is metadata, which does not depend on the detector plan.
    run = run_cli("protect", indir, "-o", root / "out", "--json", "--fast")
    tag_table("unseen protect on ../shared/data/metadata (photos)", indir, run.records())
    return indir, run


@pytest.mark.parametrize(
    "relative", shared_params(str(p.relative_to(SHARED / "data" / "metadata")) for p in _shared_files())
)
def test_shared_metadata_file(shared_run: tuple[Path, Run], relative: str) -> None:
    indir, run = shared_run
    source = indir / relative
    record = {Path(r["path"]): r for r in run.records()}[source]
    if not decodes(source):
        # A file no decoder can open is refused loudly and leaves nothing behind.
        assert record["status"] in ("failed", "refused") and record["output"] is None
        assert record["error"]
        return
    assert record["status"] == "protected", record
    assert identifying_tags(Path(record["output"])) == []
