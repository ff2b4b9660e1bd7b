"""exiftool as an independent judge, when it is installed (Debian: libimage-exiftool-perl)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

from .findings import Finding
from .policy import allowed


def available() -> bool:
    return shutil.which("exiftool") is not None


def tags(path: Path) -> dict[str, object] | None:
    """All tags, unknown ones and embedded streams included, as ``Group:Tag`` keys; None without exiftool."""
    if not available():
        return None
    done = subprocess.run(
        ["exiftool", "-j", "-a", "-u", "-G1", "-ee", "-n", "-b", "--", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    try:
        rows = json.loads(done.stdout or "[]")
    except json.JSONDecodeError:
        return {"ExifTool:Error": done.stderr.strip() or "unreadable exiftool output"}
    return dict(rows[0]) if rows else {}


def scan(path: Path) -> list[Finding] | None:
    found = tags(path)
    if found is None:
        return None
    out = []
    for key, value in found.items():
        group, _, tag = key.partition(":")
        if key == "SourceFile" or allowed(group, tag, value):
            continue
        out.append(Finding("exiftool", key))
    return out
