"""unseen: cover faces and remove identifying metadata from photos and videos, offline.

    >>> from unseen import protect_path, Settings
    >>> result = protect_path(Path("in.jpg"), Path("out/safe.jpg"), Settings(style="fill"))
    >>> result.status, result.faces

The library never prints: it logs to the ``unseen`` logger (silent unless the
program configures logging), and errors derive from `UnseenError`.  Importing
it changes one piece of global state, on purpose: it turns onnxruntime's
telemetry off for this process and the processes it starts (`unseen.offline`),
which is why it comes before anything that imports onnxruntime.

The names below load with their modules on first use: importing the package
itself loads none of numpy, PyAV or onnxruntime, so the command line can
catch a Ctrl-C that comes while it loads them (`unseen.__main__`).
"""

import logging
from importlib import import_module
from typing import TYPE_CHECKING

from . import offline  # noqa: F401  first: onnxruntime reads its telemetry switch once, on import
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

if TYPE_CHECKING:
    from .api import analyse_path, check_path, protect_path, strip_path
    from .datatypes import Detections, FileResult
    from .pipeline import Protector
    from .plan import Plan, Region, Track
    from .settings import Settings

# Where each public name lives.
_HOMES = {
    **dict.fromkeys(("analyse_path", "check_path", "protect_path", "strip_path"), "api"),
    **dict.fromkeys(("Detections", "FileResult"), "datatypes"),
    "Protector": "pipeline",
    **dict.fromkeys(("Plan", "Region", "Track"), "plan"),
    "Settings": "settings",
}


def __getattr__(name: str) -> object:
    """A public name, or a module of the package (``unseen.pipeline`` after ``import unseen``)."""
    if name in _HOMES:
        value = getattr(import_module(f".{_HOMES[name]}", __name__), name)
        globals()[name] = value  # once
        return value
    if name.startswith("__"):  # what tools probe modules for (__wrapped__, __file__ ...)
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    try:
        return import_module(f".{name}", __name__)  # which binds it here
    except ModuleNotFoundError as exc:
        if exc.name != f"{__name__}.{name}":  # a module of ours that failed to import something
            raise
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})


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
