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
FORMAT_ERROR = "File format error"
# An ID3v2.4 tag of no frames: a 10-byte header whose size field is zero.
EMPTY_ID3 = b"ID3\x04\x00\x00\x00\x00\x00\x00"


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
            env=_watched(),
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
    return _first(answer)


def _watched() -> dict[str, str]:
    """The environment of an exiftool that `WATCH` ends when this process dies."""
    return {**os.environ, "UNSEEN_EXIFTOOL_PARENT": str(os.getpid())}


def _first(answer: str) -> dict[str, object]:
    """The tags of the one file exiftool's JSON ``answer`` is about."""
    try:
        rows = json.loads(answer or "[]")
    except json.JSONDecodeError:
        return {"ExifTool:Error": "unreadable exiftool output"}
    return dict(rows[0]) if rows else {"ExifTool:Error": "exiftool could not read the file"}


def scan(path: Path, *, unknown_type_ok: bool = False, mp3: bool = False) -> list[Finding] | None:
    """Tags outside the allowlist; ``unknown_type_ok``: exiftool not knowing the format is no finding
    (raw AMR, which our own walk has accounted for byte by byte); ``mp3``: the file is MPEG audio,
    which exiftool may misread when no tag opens it (`_bare_mp3_tags`)."""
    found = tags(path)
    if found is None:
        return None
    if mp3 and found.get("ExifTool:Error") == FORMAT_ERROR and not _opens_with_id3(path):
        found = _bare_mp3_tags(path)
    out = []
    for key, value in found.items():
        group, _, tag = key.partition(":")
        if key == "SourceFile" or allowed(group, tag, value):
            continue
        if unknown_type_ok and key == "ExifTool:Error" and value == UNKNOWN_TYPE:
            continue
        out.append(Finding("exiftool", key))
    return out


def _opens_with_id3(path: Path) -> bool:
    try:
        with path.open("rb") as f:
            return f.read(3) == b"ID3"
    except OSError:
        return True  # not asked again: the first answer stands


def _bare_mp3_tags(path: Path) -> dict[str, object]:
    """exiftool's answer for an MP3 that starts with its first frame, read behind an empty ID3v2 tag.

    Given such a file (what `strip` and `protect` write: no tags), exiftool 12 looks for an MPEG
    program stream's start codes (``00 00 01 C0``, ``00 00 01 B3``) in its first 8 KiB; sound can
    hold those bytes (FFmpeg 8.1's LAME did, in 1 s of speech), and exiftool then fails with "File
    format error" on a file it reads whole once a tag opens it.  So it is asked again, through a
    pipe (no copy on disk), about the same bytes behind a tag of no frames, whose 10 bytes are taken
    off the ID3 size it reports: a tag the file holds itself is still found and named as before.
    """
    try:
        with path.open("rb") as f:
            data = EMPTY_ID3 + f.read()
        done = subprocess.run(
            ["exiftool", "-config", str(WATCH), *ARGS, "-"],
            input=data,
            capture_output=True,
            timeout=TIMEOUT_S,
            env=_watched(),
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return {"ExifTool:Error": f"exiftool failed: {exc}"}
    found = _first(done.stdout.decode("utf-8", "replace"))
    own = found.pop("File:ID3Size", len(EMPTY_ID3))
    if own != len(EMPTY_ID3):
        found["File:ID3Size"] = own - len(EMPTY_ID3) if isinstance(own, int) else own
    return found
