"""Shared helpers: real images the tests write themselves, and the CLI run the way a user runs it.

Every test here goes through real files and real subprocesses.  The photo is
scikit-image's public-domain ``astronaut`` (512 x 512, one face).
"""

from __future__ import annotations

import hashlib
import json
import shutil
import struct
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pillow_heif
import pytest
from PIL import Image, ImageOps, ImageSequence
from skimage import data as skdata

pillow_heif.register_heif_opener()

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
needs_shared = pytest.mark.skipif(not SHARED.is_dir(), reason="../shared (evaluation data) is absent")
needs_exiftool = pytest.mark.skipif(shutil.which("exiftool") is None, reason="exiftool is not installed")

# The astronaut's face, brow to chin and ear to ear, as x0, y0, x1, y1 in the 512 px photo (by eye).
FACE = (185, 70, 265, 180)
# Lossy codecs move untouched pixels a little; a covered pixel must differ by more than this.
LOSSY_DIFF = 8

# exiftool family-0 groups that must never reach an output, and tag names that betray a
# location or an embedded picture whatever group they sit in.
FORBIDDEN_GROUPS = frozenset({"EXIF", "XMP", "IPTC", "MakerNotes", "ICC_Profile", "Photoshop"})
FORBIDDEN_NAME_PARTS = ("GPS", "Thumbnail", "Preview", "JpgFromRaw")


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


def tree_hashes(folder: Path) -> dict[Path, str]:
    return {p: sha256(p) for p in sorted(folder.rglob("*")) if p.is_file()}


def exiftool_tags(path: Path) -> dict[str, Any]:
    """Everything exiftool sees, embedded streams and unknown tags included, as ``G0:G1:Tag`` keys."""
    done = subprocess.run(
        ["exiftool", "-j", "-a", "-u", "-G0:1", "-ee", "--", str(path)],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    rows: list[dict[str, Any]] = json.loads(done.stdout)
    return rows[0]


def groups_of(tags: dict[str, Any]) -> set[str]:
    """Every group named in ``G0:G1:Tag`` keys (exiftool writes ``G0:Tag`` when both families agree)."""
    return {group for key in tags for group in key.split(":")[:-1]}


def identifying_tags(path: Path) -> list[str]:
    """The tags in ``path`` from a forbidden group, or naming GPS, a thumbnail or a preview."""
    found = []
    for key in exiftool_tags(path):
        group0, _, rest = key.partition(":")
        group1, _, name = rest.rpartition(":")
        if (
            group0 in FORBIDDEN_GROUPS
            or group1.startswith(("XMP", "ICC", "GPS"))
            or any(part in name for part in FORBIDDEN_NAME_PARTS)
        ):
            found.append(key)
    return found


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
