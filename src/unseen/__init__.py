"""unseen: cover faces and remove identifying metadata from photos and videos, offline.

    >>> from unseen import protect_path, Settings
    >>> result = protect_path(Path("in.jpg"), Path("out/safe.jpg"), Settings(style="fill"))
    >>> result.status, result.faces

The library never prints; errors derive from `UnseenError`.
"""

from .errors import (
    InputError,
    ModelError,
    OutputError,
    UnseenError,
    UnsupportedError,
    UsageError,
    VerificationError,
)
from .pipeline import Protector, protect_path
from .settings import Settings
from .types import Detections, FileResult, Region

__all__ = [
    "Detections",
    "FileResult",
    "InputError",
    "ModelError",
    "OutputError",
    "Protector",
    "Region",
    "Settings",
    "UnseenError",
    "UnsupportedError",
    "UsageError",
    "VerificationError",
    "protect_path",
]
