"""One exception tree for the whole library.

    UnseenError                  anything unseen raises on purpose
    ├── UsageError               the request itself is wrong (bad option, would overwrite)
    ├── InputError               one input cannot be read: missing, no permission, corrupt,
    │   └── UnsupportedError     not a format we can protect (refused, never passed through)
    ├── PlanError                a plan is malformed, points outside its picture or is for another file
    ├── OutputError              the output cannot be written (disk full, no permission)
    ├── VerificationError        the written file failed its self-check and was removed
    ├── ModelError               a detector's weights are missing or do not match their pin
    └── InternalError            anything else one file met: a bug of unseen's, or a library's
                                 error no one foresaw, kept to that file's result

The CLI maps these to exit codes; the library never prints.
"""

from __future__ import annotations

import traceback
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


class InternalError(UnseenError):
    """An error no part of unseen raised on purpose, met while handling one file.

    A batch of thousands must not end at the first file a bug or an unforeseen library error
    meets, nor stop at that file on every rerun: the file fails alone, loudly, with nothing
    written (every output is published only after its self-check), and the run goes on.
    """

    def __init__(self, exc: Exception) -> None:
        where = traceback.extract_tb(exc.__traceback__)[-1:]
        at = f" at {Path(where[0].filename).name}:{where[0].lineno}" if where else ""
        super().__init__(
            f"internal error, nothing was written ({type(exc).__name__}{at}: {exc}); "
            "please report it with the file's format, not the file"
        )
