"""unseen: cover faces and remove identifying metadata from photos and videos, offline.

    >>> from unseen import protect_path, Settings
    >>> result = protect_path(Path("in.jpg"), Path("out/safe.jpg"), Settings(style="fill"))
    >>> result.status, result.faces

The library never prints: it logs to the ``unseen`` logger (silent unless the
program configures logging), and errors derive from `UnseenError`.  Importing
it changes one piece of global state, on purpose: it turns onnxruntime's
telemetry off for this process and the processes it starts (`unseen.offline`),
which is why it comes before anything that imports onnxruntime.
"""

import logging

from . import offline  # noqa: F401  first: onnxruntime reads its telemetry switch once, on import
from .api import analyse_path, check_path, protect_path, strip_path
from .datatypes import Detections, FileResult
from .errors import (
    InputError,
    ModelError,
    OutputError,
    PlanError,
    UnseenError,
    UnsupportedError,
    UsageError,
    VerificationError,
)
from .pipeline import Protector
from .plan import Plan, Region, Track
from .settings import Settings

__version__ = "0.2.0"

logging.getLogger(__name__).addHandler(logging.NullHandler())

__all__ = [
    "Detections",
    "FileResult",
    "InputError",
    "ModelError",
    "OutputError",
    "Plan",
    "PlanError",
    "Protector",
    "Region",
    "Settings",
    "Track",
    "UnseenError",
    "UnsupportedError",
    "UsageError",
    "VerificationError",
    "__version__",
    "analyse_path",
    "check_path",
    "protect_path",
    "strip_path",
]
