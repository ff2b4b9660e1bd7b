"""Atomic, never-overwriting output.

A file is written under a hidden temporary name in the output folder, synced,
checked by the caller, and only then linked to its final name.  ``os.link``
fails if the name exists, so a file that appeared meanwhile is never replaced.
Whatever goes wrong (a failed check, a full disk, Ctrl-C), the temporary file
is removed and no half file is left; an error writing it names the output.

A process killed outright (SIGKILL, the out-of-memory killer) cannot remove
its temporary file.  So while a temporary file exists, its writer holds a
shared lock on the folder (where folders can be locked: not on Windows), and
a process's first writer in a folder that finds it unheld removes the
temporary files there: they can only be a dead run's.  Only this machine's:
a lock on a folder of a network file system (NFS) holds only between the
processes of one machine, so each temporary name carries a short digest of
the machine's name, and other machines' files are left to a batch's start.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import secrets
import shutil
import socket
import sys
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from .errors import OutputError

# Each use of fcntl below repeats this test: mypy knows the module exists only inside one.
if sys.platform != "win32":
    import fcntl

TEMP_GLOB = ".unseen-*.part"
# This machine, in temporary names: a digest, so a name left behind says nothing of the machine.
HERE = hashlib.blake2b(socket.gethostname().encode(), digest_size=3).hexdigest()
OWN_TEMPS = f".unseen-{HERE}-*.part"  # this machine's
_swept: set[Path] = set()  # folders this process has cleared of dead runs' temporary files
# Temporary files not yet removed, and the thread whose `staged` block made each (`remove_unfinished`).
_unfinished: dict[Path, int] = {}


@contextmanager
def staged(final: Path) -> Iterator[Path]:
    """Yield a temporary path beside ``final``; on normal exit, publish it as ``final``."""
    try:
        final.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(why_not_written(final.parent, exc)) from exc
    temp = _temp_beside(final)
    with _writing_in(final.parent):
        _unfinished[temp] = threading.get_ident()
        try:
            yield temp
            _publish(temp, final)
        except OSError as exc:
            if not isinstance(exc.filename, str | bytes) or Path(os.fsdecode(exc.filename)) != temp:
                raise
            # Filling the hidden file failed (a full disk, a size limit): the error names the output.
            raise OutputError(why_not_written(final, exc)) from exc
        finally:
            _remove(temp)


def _remove(temp: Path) -> None:
    # On a read-only file system this fails too, and its error would hide the one that names the
    # output; the file then stays listed, for `remove_unfinished` to try again.
    with contextlib.suppress(OSError):
        temp.unlink(missing_ok=True)
        _unfinished.pop(temp, None)


def remove_unfinished() -> None:
    """Remove the temporary files that `staged` blocks of this thread began and have not removed:
    call it once the work that wrote them has ended, in whatever way.

    A block removes its own, except where Ctrl-C stops it in one place.  Python runs a signal's
    handler at its next check for one (at a call or a function's start, not after an operator),
    and one that comes too late for the block's last check, during a long numpy operator there
    (``a @ b``, an indexing) or in the few steps after it, is raised as the block's ``__exit__``
    begins, before the generator resumes: its ``finally`` is then left to the garbage collector,
    which a batch worker ending with ``os._exit`` never runs.
    """
    me = threading.get_ident()
    for temp in [temp for temp, thread in _unfinished.copy().items() if thread == me]:
        _remove(temp)


def _temp_beside(final: Path) -> Path:
    return final.parent / f".unseen-{HERE}-{secrets.token_hex(6)}.part"


@contextmanager
def _writing_in(folder: Path) -> Iterator[None]:
    """Hold ``folder`` shared while a temporary file is written there, having removed a dead run's
    temporary files if no one held it (the module's docstring says why)."""
    fd = _open_folder(folder)
    try:
        if fd is not None and sys.platform != "win32":
            # Once a process (a batch's folder holds thousands of files), this machine's files only.
            if folder not in _swept and _remove_unheld(folder, fd, OWN_TEMPS, blind=False):
                _swept.add(folder)
            with contextlib.suppress(OSError):
                fcntl.flock(fd, fcntl.LOCK_SH)  # waits only for a sweep in progress
        yield
    finally:
        if fd is not None:
            os.close(fd)


def sweep(folder: Path, pattern: str = TEMP_GLOB) -> None:
    """Remove the temporary files in ``folder`` matching ``pattern`` that no live writer holds;
    where folders cannot be locked, every one (the caller knows no other run writes there)."""
    fd = _open_folder(folder)
    try:
        _remove_unheld(folder, fd, pattern, blind=True)
    finally:
        if fd is not None:
            os.close(fd)


def _remove_unheld(folder: Path, fd: int | None, pattern: str, *, blind: bool) -> bool:
    """Remove ``folder``'s temporary files matching ``pattern`` unless a live writer holds it (``fd``
    is its descriptor, locked exclusively here until closed or relocked); where the folder cannot be
    locked, only if ``blind``.  True when they were removed."""
    if fd is not None and sys.platform != "win32":
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False  # a live writer's
        except OSError:  # no locks on this file system
            if not blind:
                return False
    elif not blind:
        return False
    _remove_temporaries(folder, pattern)
    return True


def held_folder(parent: Path, prefix: str) -> tuple[Path, int | None]:
    """A new private (0700) folder ``prefix``-random in ``parent``, and the descriptor that holds it
    shared until closed (None where folders cannot be locked): `remove_dead_folders` passes it by
    while its process lives.  It is made and held under another name before it takes its own, so
    a sweep starting meanwhile never finds it unheld."""
    staging = Path(tempfile.mkdtemp(prefix=".unseen-new-", dir=parent))
    fd = _open_folder(staging)
    if fd is not None and sys.platform != "win32":
        try:
            fcntl.flock(fd, fcntl.LOCK_SH)
        except OSError:  # no locks on this file system: no sweep will remove it either
            os.close(fd)
            fd = None
    final = parent / f"{prefix}{secrets.token_hex(8)}"
    try:
        os.rename(staging, final)
    except OSError:
        if fd is not None:
            os.close(fd)
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return final, fd


def remove_dead_folders(parent: Path, pattern: str) -> None:
    """Remove the folders of ``parent`` matching ``pattern`` (made by `held_folder`) that no live
    process holds: a run killed outright (SIGKILL, the out-of-memory killer, a power cut) cannot
    remove its own.  Only this user's, never through a link; where folders cannot be locked, none,
    since a live run's could not be told from a dead one's."""
    if sys.platform == "win32":
        return
    with contextlib.suppress(OSError):  # a folder that cannot be listed: nothing to sweep
        for folder in parent.glob(pattern):
            _remove_if_dead(folder)


def _remove_if_dead(folder: Path) -> None:
    if sys.platform == "win32":
        return
    try:
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    except OSError:  # gone, a link, not a folder, or another user's
        return
    try:
        if os.fstat(fd).st_uid != os.getuid():
            return
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:  # a live process holds it, or no locks here
            return
        shutil.rmtree(folder, ignore_errors=True)
    finally:
        os.close(fd)


def _open_folder(folder: Path) -> int | None:
    """A descriptor of ``folder`` to lock, or None where folders cannot be locked."""
    if sys.platform == "win32":
        return None
    try:
        return os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return None


def _remove_temporaries(folder: Path, pattern: str = TEMP_GLOB) -> None:
    with contextlib.suppress(OSError):  # a folder that cannot be listed (EIO, a stale NFS handle)
        for leftover in folder.glob(pattern):
            with contextlib.suppress(OSError):
                leftover.unlink()


def write_private(final: Path, data: bytes, *, replace: bool = False) -> None:
    """Publish ``data`` as ``final``, readable and writable by its owner only (plans say where people are).

    With ``replace``, an existing ``final`` is replaced in one step (a plan saved again after an edit).
    """
    if not replace:
        with staged(final) as temp:
            write_bytes(temp, data, mode=0o600)
        return
    temp = _temp_beside(final)
    with _writing_in(final.parent):
        try:
            write_bytes(temp, data, mode=0o600)
            os.replace(temp, final)
        except OSError as exc:
            raise OutputError(why_not_written(final, exc)) from exc
        finally:
            _remove(temp)
    _sync_dir(final.parent)


def write_bytes(path: Path, data: bytes, mode: int = 0o666) -> None:
    """Write and fsync; an OS failure names ``path``, so that `staged` can name the output instead."""
    try:
        with open(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode), "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
    except OSError as exc:
        exc.filename = exc.filename or str(path)  # a write through a descriptor names no file
        raise


def sync_file(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError as exc:
        exc.filename = exc.filename or str(path)
        raise


def _publish(temp: Path, final: Path) -> None:
    try:
        os.link(temp, final)
    except FileExistsError as exc:
        raise OutputError(f"{final}: already exists; unseen never overwrites a file") from exc
    except OSError as exc:
        if exc.errno not in (errno.EPERM, errno.EOPNOTSUPP, errno.EXDEV, errno.EMLINK):
            raise OutputError(why_not_written(final, exc)) from exc
        # File systems without hard links (FAT, some network mounts): check, then rename.
        if final.exists():
            raise OutputError(f"{final}: already exists; unseen never overwrites a file") from exc
        os.rename(temp, final)
    _sync_dir(final.parent)


def _sync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # some file systems refuse fsync on folders; the file itself is synced
    finally:
        os.close(fd)


def why_not_written(path: Path, exc: OSError) -> str:
    """One line naming the path and the reason an output could not be written."""
    reasons: dict[int, str] = {
        errno.ENOSPC: "disk full",
        errno.EFBIG: "file too large (a file size limit, or the file system's)",
        errno.EDQUOT: "disk quota exceeded",
        errno.EACCES: "permission denied",
        errno.EROFS: "read-only file system",
        errno.EEXIST: "a file is in the way of the folder",
        errno.ENOTDIR: "a part of the path is a file, not a folder",
    }
    return f"{path}: cannot write output: {reasons.get(exc.errno or 0, exc.strerror or str(exc))}"
