"""exiftool as an independent judge, when it is installed (Debian: libimage-exiftool-perl)."""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import select
import shutil
import subprocess
import threading
import time
from pathlib import Path

from .findings import Finding
from .policy import allowed


def available() -> bool:
    return shutil.which("exiftool") is not None


ARGS = ("-j", "-a", "-u", "-G1", "-ee", "-n", "-b")
TIMEOUT_S = 120.0
UNKNOWN_TYPE = "Unknown file type"


# Ends exiftool when the process that started it dies (and keeps a user's config out).
WATCH = Path(__file__).with_name("exiftool_watch.config")


class _Session:
    """One exiftool kept running (``-stay_open``): starting Perl for every file costs ~0.3 s."""

    def __init__(self) -> None:
        self.proc = subprocess.Popen(
            ["exiftool", "-config", str(WATCH), "-stay_open", "True", "-@", "-"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,  # errors also arrive in the JSON, as ExifTool:Error
            env={**os.environ, "UNSEEN_EXIFTOOL_PARENT": str(os.getpid())},  # for `WATCH`
        )
        atexit.register(self.close)

    def ask(self, path: Path) -> str:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        # One argument per line, so a name may hold spaces but no newline.  No "--" (it would
        # swallow -execute too): an absolute path never starts with "-", so it cannot pass as an option.
        # The name as the file system holds it: a name in another encoding than UTF-8 (an old
        # camera's, a Windows share's) reaches Python as surrogates, which UTF-8 cannot encode.
        name = os.fsencode(path.absolute())
        if b"\n" in name:
            raise ValueError("file names with newlines cannot be passed to exiftool")
        self.proc.stdin.write(b"\n".join((*(a.encode() for a in ARGS), name, b"-execute")) + b"\n")
        self.proc.stdin.flush()
        # With -b a video's answer runs to megabytes: grow one buffer and look only at its tail.
        out = bytearray()
        deadline = time.monotonic() + TIMEOUT_S
        fd = self.proc.stdout.fileno()
        while not out[-64:].rstrip().endswith(b"{ready}"):
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                raise TimeoutError("exiftool did not answer")
            chunk = os.read(fd, 1 << 20)
            if not chunk:
                raise EOFError("exiftool stopped")
            out += chunk
        return out.rstrip()[: -len(b"{ready}")].decode("utf-8", "replace")

    def close(self) -> None:
        if self.proc.poll() is None and self.proc.stdin is not None and not self.proc.stdin.closed:
            with contextlib.suppress(OSError, ValueError):
                self.proc.stdin.write(b"-stay_open\nFalse\n")
                self.proc.stdin.close()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(timeout=5)
        if self.proc.poll() is None:
            self.proc.kill()


_session: _Session | None = None
# One question at a time on the one session: `Checker.check_all` judges files side by side.
_asking = threading.Lock()


def tags(path: Path) -> dict[str, object] | None:
    """All tags, unknown ones and embedded streams included, as ``Group:Tag`` keys; None without exiftool.

    Anything but a clean answer comes back as an ``ExifTool:Error`` tag, which no
    allowlist admits: a file exiftool cannot judge is never called clean.
    """
    global _session
    if not available():
        return None
    with _asking:
        answered = False
        try:
            if _session is None or _session.proc.poll() is not None:
                _session = _Session()
            answer = _session.ask(path)
            answered = True
        except (OSError, ValueError, TimeoutError, EOFError) as exc:
            return {"ExifTool:Error": f"exiftool failed: {exc}"}
        finally:
            # A question left unanswered (an error, or Ctrl-C while waiting) leaves its answer in the
            # pipe, where the next question would read it as its own: the next file gets a fresh exiftool.
            if not answered and _session is not None:
                _session.close()
                _session = None
    try:
        rows = json.loads(answer or "[]")
    except json.JSONDecodeError:
        return {"ExifTool:Error": "unreadable exiftool output"}
    return dict(rows[0]) if rows else {"ExifTool:Error": "exiftool could not read the file"}


def scan(path: Path, *, unknown_type_ok: bool = False) -> list[Finding] | None:
    """Tags outside the allowlist; ``unknown_type_ok``: exiftool not knowing the format is no finding
    (raw AMR, which our own walk has accounted for byte by byte)."""
    found = tags(path)
    if found is None:
        return None
    out = []
    for key, value in found.items():
        group, _, tag = key.partition(":")
        if key == "SourceFile" or allowed(group, tag, value):
            continue
        if unknown_type_ok and key == "ExifTool:Error" and value == UNKNOWN_TYPE:
            continue
        out.append(Finding("exiftool", key))
    return out
