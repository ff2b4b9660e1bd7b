"""One exception tree for the whole library.

    UnseenError                  anything unseen raises on purpose
    ├── UsageError               the request itself is wrong (bad option, would overwrite)
    ├── InputError               one input cannot be read: missing, no permission, corrupt,
    │   └── UnsupportedError     not a format we can protect (refused, never passed through)
    ├── PlanError                a plan is malformed, points outside its picture or is for another file
    ├── OutputError              the output cannot be written (disk full, no permission)
    ├── VerificationError        the written file failed its self-check and was removed
    └── ModelError               a detector's weights are missing or do not match their pin

The CLI maps these to exit codes; the library never prints.
"""

from __future__ import annotations

from pathlib import Path


class UnseenError(Exception):
    """Base of every error unseen raises on purpose."""


class UsageError(UnseenError):
    """The request cannot be carried out as asked."""


class InputError(UnseenError):
    """An input file cannot be read."""

    def __init__(self, path: Path, why: str) -> None:
        super().__init__(f"{path}: {why}")
        self.path = path
        self.why = why


def unreadable(path: Path, exc: OSError) -> InputError:
    """The one-line reason an input could not be opened, in the words every command uses."""
    reasons = {
        FileNotFoundError: "no such file",
        IsADirectoryError: "is a folder",
        PermissionError: "permission denied",
    }
    return InputError(path, reasons.get(type(exc), f"cannot be read ({exc.strerror or exc})"))


class UnsupportedError(InputError):
    """A file of a kind unseen refuses rather than passing it through."""


class PlanError(UnseenError):
    """A plan cannot be used: malformed, inconsistent, or made for another file."""


class OutputError(UnseenError):
    """An output cannot be written."""


class VerificationError(UnseenError):
    """A written file did not pass the self-check; it has been removed."""


class ModelError(UnseenError):
    """A detector cannot be loaded."""
