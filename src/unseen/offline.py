"""Nothing about a run leaves the machine, or stays behind it: telemetry off before the libraries load.

onnxruntime's PyPI wheels record telemetry on Linux and macOS too since
2026 (Windows builds have long had it): a device id and a store of events
under ``~/.cache/Microsoft/DeveloperTools/.onnxruntime`` (which process ran,
when, on which system), and an uploader to Microsoft's collector.  Seen with
onnxruntime 1.32.0: every unseen run added events there.  The only switch that
stops all of it, the store and the device id included, is the environment
variable ``ORT_DISABLE_TELEMETRY=1``, and onnxruntime reads it once, when it
is first imported: set later, or through ``disable_telemetry_events()``, the
files are written all the same (tried).

So importing unseen sets it, before anything of unseen imports onnxruntime,
and worker processes inherit it.  A program that imported onnxruntime before
unseen has telemetry running already; unseen then refuses to open a model
(`ModelError` naming the fix) instead of running detection beside it.
Ray's usage report is turned off the same way where unseen starts Ray
(`unseen.cluster`).
"""

from __future__ import annotations

import os
import sys

from .errors import ModelError

ORT_SWITCH = "ORT_DISABLE_TELEMETRY"


def _off(value: str | None) -> bool:
    """Whether onnxruntime reads ``value`` as "telemetry off" (it takes 1, true or yes, any case)."""
    return (value or "").strip().lower() in ("1", "true", "yes")


# Whether onnxruntime was already loaded, with its telemetry on, when unseen was imported.  (A
# program that set the switch in its own code after importing onnxruntime passes this test with
# telemetry on: nothing in the process can tell when the variable was set.  The message says so.)
_LATE = "onnxruntime" in sys.modules and not _off(os.environ.get(ORT_SWITCH))
os.environ[ORT_SWITCH] = "1"


def ensure_no_telemetry() -> None:
    """Raise `ModelError` if onnxruntime in this process may be recording or sending telemetry."""
    if _LATE:
        raise ModelError(
            "onnxruntime was imported before unseen, so its telemetry is on in this process "
            "(a device id, a store of events in ~/.cache/Microsoft and uploads to Microsoft); "
            f"import unseen first, or start the program with {ORT_SWITCH}=1 in its environment "
            "(set in code after onnxruntime is imported, it no longer turns anything off)"
        )
