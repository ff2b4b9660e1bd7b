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

import os
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


CUT = "…"  # ends a text cut short: what it cut may be a file's name, which the report looks for


def cut(text: str, length: int = 200) -> str:
    """``text`` up to ``length`` characters, marked with `CUT` where it went on."""
    return text if len(text) <= length else text[:length] + CUT


class InternalError(UnseenError):
    """An error no part of unseen raised on purpose, met while handling one file.

    A batch of thousands must not end at the first file a bug or an unforeseen library error
    meets, nor stop at that file on every rerun: the file fails alone, loudly, and the run goes
    on.  Outputs are published only after their self-check, so what ``written`` says is whether
    that file's checked output was already in place when the error came (None: nothing is
    written for this file at all, as in `unseen check`).  The message names where the error rose,
    in unseen's code and, when it differs, in the library beneath; the error's own text is cut
    short, as it may quote the file.
    """

    def __init__(self, exc: Exception, *, written: bool | None = None) -> None:
        frames = traceback.extract_tb(exc.__traceback__)
        ours = [f for f in frames if f"{os.sep}unseen{os.sep}" in f.filename]
        places = list(
            dict.fromkeys(f"{Path(f.filename).name}:{f.lineno or '?'}" for f in (*ours[-1:], *frames[-1:]))
        )
        at = f" at {places[0]}" + (f" (in {places[1]})" if len(places) > 1 else "") if places else ""
        state = {None: "", False: ", nothing was written", True: " after its checked output was written"}
        super().__init__(
            f"internal error{state[written]} ({type(exc).__name__}{at}: {cut(str(exc))}); "
            "please report it with the file's format, not the file"
        )
