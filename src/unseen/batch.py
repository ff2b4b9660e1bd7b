"""Many files at once: every core, a run that resumes after a crash, one run per output folder.

Workers are processes, each building its models once (a `Protector` made in
the worker's initializer) with onnxruntime's threads split between them, so
that workers do not fight over cores.  Results come back as files finish.

A state file in the output folder (``.unseen-state.jsonl``, owner-only)
notes each input when its work starts and when it ends.  Rerunning the same
command after a crash, a kill or Ctrl-C skips every input whose output was
published (outputs appear only after their self-check, so an output that
exists is a good one), removes the hidden temporary files a killed run left,
and redoes the rest.  Inputs are known by a keyed digest of what they hold
(read once per run, at about 1.7 GB/s here: 40 GB of photos in some 25 s, a
share of a run that protects them in hours), so a file touched, copied with
new times or under a moved folder is still done, and one whose bytes changed
is new.  The file names no input.

The key is never in the folder: whoever got the folder (a zip takes hidden
files along) and held a suspected original could otherwise compute its
digest and tell which output was made from it, the link the outputs' random
names hide.  It lives in this user's private state folder (`keys_home`, owner
only), in a file named by a random run id, the one thing the folder's state
says of it, with the run's settings (cover boxes, kept ids: nothing the
outputs do not show, but nothing a folder needs to carry either).  A rerun
where that file is missing (another machine or user, the file removed) is
refused: it could neither skip what is done nor redo it without duplicates.
A folder an unseen of state 2 filled (its key in the folder) is taken over:
the key moves out, and the run says that copies made before still link.

Runs with other settings, another command or other plans are refused in a
folder that holds one (a folder ``strip`` made holds no protected file), and
a lock (``.unseen-lock``) refuses a second run into the folder while one is
going.  A line cut short by a kill is left out when the state is read back.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import hashlib
import hmac
import json
import logging
import multiprocessing
import os
import queue
import re
import secrets
import signal
import stat
import sys
import threading
import time
import warnings
from collections.abc import Callable, Generator
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, replace
from multiprocessing import get_context
from multiprocessing.connection import Connection
from multiprocessing.connection import wait as connection_wait
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import IO, Any, Literal

from .datatypes import FileResult, FrameHook
from .errors import OutputError, UnseenError, UsageError
from .jobs import LOCK, STATE, Job
from .plan import Plan
from .settings import Settings
from .write import OWN_TEMPS, TEMP_GLOB, remove_unfinished, sweep, why_not_written, write_private

log = logging.getLogger(__name__)
Mode = Literal["protect", "strip", "analyse"]
STOP_S = 30.0  # how long an interrupted worker may take to unwind its file before it is killed
# How the parent stops a worker gently (`_stop`); SIGTERM is what the pool itself sends when it
# breaks, and it must end a worker.  Windows has neither (its SIGTERM ends a process outright).
GENTLE = getattr(signal, "SIGUSR1", signal.SIGTERM)
HELD = {signal.SIGINT, signal.SIGTERM, GENTLE}  # until a starting worker has its handlers
STATE_VERSION = 3  # 1 knew inputs by path, size and time; 2 kept its key in the folder
RUN_ID = re.compile(r"[0-9a-f]{32}")  # what the state names a run's private file by
KEYS_WHERE = "(where resume keys are kept: XDG_STATE_HOME, or LOCALAPPDATA on Windows)"
# Settings that change what an output holds; a folder holds the outputs of one set of them.
FINGERPRINT = ("style", "format", "keep_names", "fast", "jpeg_quality", "extra_boxes", "cover", "keep",
               "audio", "crf", "detect_every", "max_pixels", "targets")  # fmt: skip


@dataclass(frozen=True)
class Task:
    """What a worker needs to build its models once."""

    mode: Mode
    settings: Settings
    plans: dict[str, Plan] | None = None
    record: bool = False  # keep each video's plan in its result (for a report)


def worker(task: Task, frames: FrameHook | None = None) -> Callable[[Job], FileResult]:
    """The function that handles one job of ``task``, models loaded; ``frames`` hears how far a
    video has come."""
    if task.mode == "strip":
        from .strip import strip_file

        return lambda job: strip_file(job, task.settings)
    from .pipeline import Protector

    protector = Protector(task.settings, record=task.record, frames=frames)
    if task.mode == "analyse":
        return _trimmed(protector.analyse)
    return _trimmed(lambda job: protector.protect(job, task.plans))


def _trimmed(handle: Callable[[Job], FileResult]) -> Callable[[Job], FileResult]:
    """``handle``, handing the heaps' free pages back to the system after each file (`bounded_heaps`
    keeps them during one: a worker that protected a 4K clip would otherwise hold its peak for the
    rest of the batch)."""

    def one(job: Job) -> FileResult:
        try:
            return handle(job)
        finally:
            _trim_heaps()

    return one


def run(
    task: Task, jobs: list[Job], processes: int, frames: FrameHook | None = None
) -> Generator[FileResult, None, None]:
    """Results of ``jobs`` as they finish, with ``processes`` workers (in this process when 1);
    ``frames`` hears how far each video has come, in this process's thread that called it or in
    one that relays what the workers say.

    Close it (`contextlib.closing`) where the caller may stop early: closing stops the workers.
    """
    if processes <= 1 or len(jobs) <= 1:
        handle = worker(task, frames)
        for job in jobs:
            try:
                result = handle(job)
            finally:
                remove_unfinished()  # of a file Ctrl-C stopped (`remove_unfinished` says why)
            yield result
        return
    threads = max(1, (os.cpu_count() or 1) // processes)
    task = replace(task, settings=task.settings.replace(threads=threads))
    if task.settings.device != "cpu":
        # A device that cannot start fails here, once; onnxruntime is otherwise the workers' to load.
        from .detect.runtime import probe

        probe(task.settings)
    # spawn: the same start on Linux, macOS and Windows, and no copy of a parent's threads.
    context = get_context("spawn")
    heard, told = context.Pipe(duplex=False) if frames is not None else (None, None)
    relay = _Relay(heard, frames, jobs) if heard is not None and frames is not None else None
    with (
        ProcessPoolExecutor(processes, context, _start, (task, told)) as pool,
        relay or contextlib.nullcontext(),
    ):
        # Futures are handed over as they end, by a callback in the pool's own thread: the futures'
        # `wait` takes every pending future's lock on each call (a cost that grows with the batch),
        # and a Ctrl-C landing between those takes leaves a lock held that the pool's thread then
        # waits on for ever, at the interpreter's exit.
        ended: queue.SimpleQueue[Future[FileResult]] = queue.SimpleQueue()
        started: list[BaseProcess] = []
        try:
            with _held():
                for job in jobs:
                    pool.submit(_handle, job).add_done_callback(ended.put)
            # The workers, all started by now: a pool that breaks forgets them, though one may
            # still be unwinding its file, which the run must wait for.
            started = list((getattr(pool, "_processes", None) or {}).values())
            for _ in jobs:
                yield ended.get().result()
        except BaseException as exc:
            # Ctrl-C (or a crash here, or the caller closing this generator): no new file starts,
            # and the files in progress are interrupted the same way, so each worker removes its
            # hidden temporary file; the workers end once the pool has nothing left for them.
            workers = started or list((getattr(pool, "_processes", None) or {}).values())
            if not isinstance(exc, BrokenProcessPool):
                # A broken pool has shut itself down, and its thread may hold the lock this call
                # takes until a worker in a long native call ends: only `_interrupt` ends that.
                pool.shutdown(wait=False, cancel_futures=True)  # forgets its processes: listed first
            _interrupt(workers)
            if isinstance(exc, BrokenProcessPool):
                raise UnseenError(
                    "a worker process ended without a word (out of memory, or killed); "
                    "no partial output was published: rerun the same command to go on"
                ) from None
            raise


@contextlib.contextmanager
def _held() -> Generator[None, None, None]:
    """Ctrl-C, SIGTERM and the gentle stop held back while this thread starts the workers: they are
    born holding them too (a blocked signal stays blocked across exec), and `_start` lets them
    through once its handlers are in place (a worker still importing printed a traceback, or died
    and broke the pool).  Here a signal that comes meanwhile is raised at the end: raised inside
    the start of a worker, it had left that worker without its instructions (another traceback).
    Blocking this thread is not enough for that: a library's native threads (OpenBLAS') take the
    signal for the process, so the handlers only note it until then."""
    if sys.platform == "win32":
        yield
        return
    heard: list[int] = []
    main = threading.current_thread() is threading.main_thread()
    handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)} if main else {}
    handlers = {sig: handler for sig, handler in handlers.items() if handler is not None}  # None: set in C
    for sig in handlers:
        signal.signal(sig, lambda signum, frame: heard.append(signum))
    before = signal.pthread_sigmask(signal.SIG_BLOCK, HELD)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, before)  # one pending now goes to the recorders
        came: BaseException | None = None
        for sig, handler in handlers.items():
            # A signal for a handler already put back raises here: the others are put back all the same.
            try:
                signal.signal(sig, handler)
            except BaseException as exc:
                came = came or exc
                signal.signal(sig, handler)  # raised just before it was put back, or just after
        if came is not None:
            raise came
        if heard:
            signal.raise_signal(heard[0])


def _interrupt(workers: list[BaseProcess], patience_s: float = STOP_S) -> None:
    """Stop every worker the way Ctrl-C stops one process: a file in progress unwinds (its hidden
    temporary file removed) and no other starts.  A worker still going after ``patience_s`` (a
    native call that does not return), or when a second Ctrl-C cuts the wait short, is killed:
    what it left goes as the run ends (`Folder`), or with the rerun if it has not died by then.

    The workers are not made to exit (`GENTLE`, not SIGTERM): a pool whose workers die is
    "broken", and CPython 3.12 up to 3.12.7 and 3.13.0 can then deadlock the pool's thread
    (python/cpython#125451), which the interpreter waits for at exit.
    """
    alive: dict[int, BaseProcess] = {}  # by sentinel
    for process in workers:
        with contextlib.suppress(OSError, ValueError):
            if process.pid is not None and process.is_alive():
                os.kill(process.pid, GENTLE)
                alive[process.sentinel] = process
    try:
        deadline = time.monotonic() + patience_s
        while alive and (left := deadline - time.monotonic()) > 0:
            ended = set(connection_wait(list(alive), left))
            alive = {sentinel: p for sentinel, p in alive.items() if sentinel not in ended}
    finally:
        for process in alive.values():  # its sentinel is open: not reaped, its pid its own
            with contextlib.suppress(OSError, ValueError):
                process.kill()


_handle_one: Callable[[Job], FileResult] | None = None
_busy = False
_stopping = False  # told to stop (`_stop`): no file starts any more
_ending = False  # told to end (`_end`): it does once the file in progress has unwound
_unwinding = False  # the file in progress was interrupted
_parent = 0  # the run that started this worker

# glibc's mallopt parameters: the most heaps (arenas) threads may spread over, the size from
# which a buffer gets pages of its own (32 MiB: a 4K RGB frame is 24), and the free space at a
# heap's top that it keeps rather than hands back (and adds when it grows).
_M_ARENA_MAX = -8
_M_MMAP_THRESHOLD = -3
_M_TRIM_THRESHOLD = -1
_M_TOP_PAD = -2
_OWN_PAGES_FROM = 32 << 20
_KEPT_FREE = 64 << 20
_TRIM_FROM = 256 << 20  # free bytes in the heaps after a file that are handed back (`_trim_heaps`)


def bounded_heaps(arenas: int = 2) -> None:
    """Keep glibc's heaps few and their freed frames for reuse; a no-op on other systems.

    A video's detection threads, its decoder's and onnxruntime's allocate
    frame-sized buffers each in their own heap, and the freed space of one heap
    is not reused by another: a 60 s 1080p clip grew from 0.7 to 1.5 GB over
    the pass (2.0 GB at the check) where two heaps keep it at 0.72-0.76 GB (1.15
    GB at the check).  Two heaps alone still handed freed buffers back to the
    system as soon as a few lay free at a heap's top (glibc's own threshold
    follows the largest buffer it has mapped, a frame or two), and the kernel
    zeroed their pages again for the next frame or the next YuNet call of the
    audit (its library allocates and clears its layers' buffers on each call:
    three quarters of the faults on a 1080p clip, by `perf`).  Keeping 64 MiB
    of free top (and growing by as much), with buffers up to 32 MiB (a 4K
    frame) taken from the heaps: `--fast` on the scorer's 12 s
    clip 470,000-580,000 page faults → 190,000 (what loading the libraries and
    models touches once), 1.7 s of system time → 0.7-0.8, 11.9-12.3 s → 10.7-
    11.4 s; the default on a 10 s 1080p clip 920,000-970,000 → 370,000 faults,
    17.5 → 16.3 s, its peak 1.12-1.16 → 1.24 GB (1.29 GB at 60 s: still flat);
    60 photos 1.36 million → 0.65 million, 3.1 → 1.6 s of system time.  Keeping
    a free top without the fixed threshold is worse than neither: glibc then
    stops raising that threshold itself (2.6 million faults on the clip).
    The command line's process and each batch worker call this before they
    start threads, a Ray actor as it starts; a program using the library
    chooses for itself.
    """
    libc = _glibc()
    if libc is None:
        return
    with contextlib.suppress(AttributeError):
        libc.mallopt(_M_ARENA_MAX, arenas)
        # Not on a 32-bit system, whose whole address space is a few of these.
        if sys.maxsize > 2**32 and libc.mallopt(_M_MMAP_THRESHOLD, _OWN_PAGES_FROM):
            libc.mallopt(_M_TRIM_THRESHOLD, _KEPT_FREE)
            libc.mallopt(_M_TOP_PAD, _KEPT_FREE)


class _HeapInfo(ctypes.Structure):
    """glibc's ``struct mallinfo2`` (2.33 and later): the heaps' bytes, ``fordblks`` those free."""

    _fields_ = [
        (name, ctypes.c_size_t)
        for name in (
            "arena",
            "ordblks",
            "smblks",
            "hblks",
            "hblkhd",
            "usmblks",
            "fsmblks",
            "uordblks",
            "fordblks",
            "keepcost",
        )
    ]


def _trim_heaps() -> None:
    """Hand the free pages of glibc's heaps back to the system where more than `_TRIM_FROM` lie
    free (all of them where glibc cannot say); a no-op on other systems.  Always trimming cost
    the photos their reuse: 20 dev photos took 587,000 page faults against 283,000."""
    libc = _glibc()
    if libc is None:
        return
    with contextlib.suppress(AttributeError):
        if libc.mallinfo2().fordblks <= _TRIM_FROM:
            return
    with contextlib.suppress(AttributeError):
        libc.malloc_trim(0)


@functools.cache
def _glibc() -> ctypes.CDLL | None:
    """The C library, opened once, on Linux (where its heaps are glibc's); None elsewhere."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(None)
    except OSError:
        return None
    with contextlib.suppress(AttributeError):
        libc.mallinfo2.restype = _HeapInfo
    return libc


class _Relay:
    """A thread that hands what the workers say of their videos' frames to the caller's hook.

    Each note is one small write into a pipe (whole, whoever else writes), made before the
    worker hands back its result, so a video's last note is read before the run ends (though
    perhaps after the result: the caller ignores notes of a finished file).  The thread only
    reads: a worker killed in the middle of a note holds no lock it waits on.
    """

    def __init__(self, told: Connection, frames: FrameHook, jobs: list[Job]) -> None:
        self.told, self.frames = told, frames
        self.sources = {_key(job.source): job.source for job in jobs}
        self.ending = threading.Event()
        self.thread = threading.Thread(target=self._run, name="unseen-frames", daemon=True)

    def __enter__(self) -> _Relay:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.ending.set()
        self.thread.join(timeout=5)

    def _run(self) -> None:
        with contextlib.suppress(EOFError, OSError):
            while True:
                if self.told.poll(0.1):
                    key, written, total = self.told.recv()
                    if key in self.sources:
                        self._tell(self.sources[key], written, total)
                elif self.ending.is_set():  # ended, and every note read
                    return

    def _tell(self, source: Path, written: int, total: int) -> None:
        """Hand one note on.  A hook that fails loses that note, never the reading: a pipe no one
        reads fills, and the workers writing to it would wait for ever."""
        try:
            self.frames(source, written, total)
        except Exception:
            log.warning("the frame hook failed", exc_info=True)


class _Teller:
    """A worker's frame hook: at most a few notes a second for each video, and its last frame."""

    EVERY_S = 0.25

    def __init__(self, told: Connection) -> None:
        self.told = told
        self.last: dict[Path, float] = {}

    def __call__(self, source: Path, written: int, total: int) -> None:
        now = time.monotonic()
        if written < total and now - self.last.get(source, 0.0) < self.EVERY_S:
            return
        self.last[source] = now
        self.told.send((_key(source), written, total))


def _key(source: Path) -> str:
    """A short name for an input in a note: a note stays far below what a pipe writes whole."""
    return hashlib.blake2b(os.fsencode(source), digest_size=8).hexdigest()


def _start(task: Task, told: Connection | None) -> None:
    global _handle_one, _parent
    bounded_heaps()
    started_by = multiprocessing.parent_process()
    _parent = started_by.pid if started_by is not None and started_by.pid else os.getppid()
    # Ctrl-C reaches the whole process group; the parent alone decides, and stops the workers
    # gently (`_interrupt`, `_stop`).  SIGTERM (`kill`, the pool when it breaks, a parent that
    # died) unwinds a file in progress and ends the worker (`_end`).
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, _end)
    if GENTLE != signal.SIGTERM:
        signal.signal(GENTLE, _stop)
    if sys.platform != "win32":  # held while the parent started this worker (`_held`)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, HELD)
    _stop_with_parent()
    # YuNet's OpenMP threads read this when its library loads (in `worker`): without it every
    # worker starts one thread per core, and they fight over the cores the workers share.
    os.environ.setdefault("OMP_NUM_THREADS", str(task.settings.threads))
    if not sys.warnoptions:  # a worker is the command line's own process: no library warning on stderr
        warnings.simplefilter("ignore")
    if not _stopping:  # stopped while starting: no models to load (`_handle` refuses every job)
        _handle_one = worker(task, _Teller(told) if told is not None else None)


_PR_SET_PDEATHSIG = 1


def _stop_with_parent() -> None:
    """SIGTERM (`_end`) comes to this worker when the run that started it dies, even by SIGKILL:
    the worker would otherwise go on publishing into a folder whose lock is gone, racing the
    rerun (its pool holds its own end of every pipe, so it would never see them close).  Linux
    sends it (``PR_SET_PDEATHSIG``); elsewhere a thread watches for the parent to change."""
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    else:
        threading.Thread(target=_watch_parent, name="unseen-parent", daemon=True).start()
    if os.getppid() != _parent:  # the parent died before the request was made
        os._exit(0)


def _watch_parent() -> None:
    while os.getppid() == _parent:
        time.sleep(1.0)
    os.kill(os.getpid(), signal.SIGTERM)


def _end(signum: int, frame: object) -> None:
    """SIGTERM: unwind the file in progress (`staged` removes its temporary file), then end."""
    global _ending
    _ending = True
    if not _busy:
        os._exit(0)  # idle: nothing to clean up
    _unwind()  # told twice (the pool breaking, then the parent gone): the unwinding goes on


def _stop(signum: int, frame: object) -> None:
    """The parent's gentle stop: unwind the file in progress, start no other, and stay until the
    pool lets the worker go (`_interrupt` says why)."""
    global _stopping
    _stopping = True
    if _busy:
        _unwind()


def _unwind() -> None:
    """Interrupt the file in progress, once: a second signal must not land in its unwinding."""
    global _unwinding
    if not _unwinding:
        _unwinding = True
        raise KeyboardInterrupt


def _handle(job: Job) -> FileResult:
    global _busy, _unwinding
    try:
        _busy = True
        if _stopping or _handle_one is None:
            raise KeyboardInterrupt  # queued before the run was interrupted: it does not start
        return _handle_one(job)
    finally:
        _unwinding = True  # no interrupt lands in the cleaning up
        remove_unfinished()  # of a file the interrupt stopped (`remove_unfinished` says why)
        _busy = _unwinding = False
        if _ending:
            os._exit(0)


class Folder:
    """An output folder a run owns: its lock, its state, the leftovers of a killed run."""

    def __init__(
        self, out: Path, settings: Settings, mode: Mode = "protect", plans: dict[str, Plan] | None = None
    ) -> None:
        self.out = out
        self.settings = {name: _plain(getattr(settings, name)) for name in FINGERPRINT}
        # What a folder's outputs are (protected files, stripped ones, plans) and the plans they were
        # made from: a folder ``strip`` filled must never pass for one of protected files.
        self.settings["mode"] = mode
        self.settings["plans"] = _digest(plans) if plans else None
        self._lock: IO[str] | None = None
        self.made = False
        self.key = b""
        self.run = ""  # names the private file that holds the key (`keys_home`)
        self._begun = False  # this run began the folder's state (`_begin`)
        self.note: str | None = None  # for the user, when an older folder's key was moved out
        # Each input's digest, and the outputs earlier runs noted for it: two inputs with the same
        # bytes each have an output of their own.
        self.records: dict[str, list[str]] = {}
        self._digests: dict[Path, str] = {}  # read once per run
        self._claimed: set[str] = set()  # outputs a rerun already gave back to an input

    def __enter__(self) -> Folder:
        made = _missing(self.out)
        self.made = bool(made)
        lock_was_there = True  # until known otherwise: a lock that may be another's is never removed
        try:
            try:
                lock_was_there = (self.out / LOCK).exists()
                self.out.mkdir(parents=True, exist_ok=True)
                self._lock = _locked(self.out / LOCK)
                self._read()
            except OSError as exc:  # an output folder that cannot be made or written: one line, exit 1
                raise OutputError(why_not_written(Path(exc.filename or self.out), exc)) from exc
            self._sweep(TEMP_GLOB)  # a killed run's
        except BaseException:
            self._undo(made, lock_was_there)
            raise
        return self

    def _undo(self, made: list[Path], lock_was_there: bool) -> None:
        """A run refused before it began (its key not kept, its state not written) leaves nothing it
        made: not the state and key it began, not a lock that was not there, not the folders it made
        (``made``, deepest first; each only while empty)."""
        if self._lock is None:  # never held: the lock and the state are another run's, or none
            for folder in made:
                with contextlib.suppress(OSError):
                    folder.rmdir()
            return
        try:
            with contextlib.suppress(OSError, OutputError):
                if self._begun:
                    (self.out / STATE).unlink(missing_ok=True)
                    (keys_home() / f"{self.run}.json").unlink(missing_ok=True)
            if not lock_was_there:
                with contextlib.suppress(OSError):
                    (self.out / LOCK).unlink(missing_ok=True)  # still held: no other run takes it
        finally:
            self._lock.close()
            self._lock = None
        for folder in made:
            with contextlib.suppress(OSError):
                folder.rmdir()

    def _sweep(self, pattern: str) -> None:
        """Remove the hidden temporary files matching ``pattern`` under the folder that no live
        writer holds (one may be writing a single file here), except in another run's folder below."""
        for folder in {leftover.parent for leftover in self.out.rglob(pattern)}:
            if not self._nested(folder):
                sweep(folder, pattern)

    def _nested(self, folder: Path) -> bool:
        """Whether ``folder`` is, or lies in, another run's folder below this one (it has a lock of
        its own): its temporary files may be that run's work in progress."""
        while folder != self.out and self.out in folder.parents:
            if (folder / LOCK).exists():
                return True
            folder = folder.parent
        return False

    def __exit__(self, kind: type[BaseException] | None, *exc: object) -> None:
        if self._lock is None:
            return
        try:
            if kind is not None:
                # Stopped: what a worker left (killed mid-file by `_interrupt`, or a temporary file
                # its own cleanup missed), this machine's only: another's may still be unwinding.
                with contextlib.suppress(OSError):  # a folder that cannot be walked: the rerun's then
                    self._sweep(OWN_TEMPS)
            # A run that made the folder and published nothing in it leaves nothing behind either
            # (a folder that cannot be listed now is left as it is).
            with contextlib.suppress(OSError, OutputError):
                if self.made and all(p.name in (STATE, LOCK) for p in self.out.iterdir()):
                    for name in (STATE, LOCK):
                        (self.out / name).unlink(missing_ok=True)
                    self.out.rmdir()
                    if self.run:
                        (keys_home() / f"{self.run}.json").unlink(missing_ok=True)
        finally:
            self._lock.close()

    def _read(self) -> None:
        path = self.out / STATE
        if not path.exists():
            self._begin()
            return
        text = path.read_text("utf-8", errors="replace")
        lines = [row for row in map(_parsed, text.splitlines()) if row is not None]
        if not lines or not {"run", "key"} & lines[0].keys():
            if any(p.name not in (STATE, LOCK) for p in self.out.iterdir()):
                raise UsageError(f"{self.out} holds files and a damaged {STATE}; choose another folder")
            path.unlink()  # killed while writing its first line: nothing was done here
            self._read()
            return
        head = lines[0]
        self.key, settings = self._unlocked(head)
        if settings != self.settings:
            held = settings if isinstance(settings, dict) else {}
            changed = sorted(k for k in self.settings if held.get(k) != self.settings[k])
            raise UsageError(
                f"{self.out} holds the outputs of a run with other settings ({', '.join(changed)}); "
                "rerun with the same options or choose another folder"
            )
        if not text.endswith("\n"):
            self._append_raw("\n")  # a line cut short by a kill stays a line of its own, left out
            text += "\n"
        if "key" in head:
            self._take_over(head, text)
        for record in lines[1:]:
            if "input" in record and "output" in record:
                self._note(str(record["input"]), str(record["output"]))

    def _begin(self) -> None:
        """A new state: the key first, in its private file, then the state naming it (a kill between
        leaves an unused key file behind, never a state whose key was not kept)."""
        self.run, self.key = secrets.token_hex(16), secrets.token_bytes(16)
        self._begun = True  # the state and the key are this run's: a refusal now removes both
        _keep_key(self.run, self.key, self.settings)
        self._append({"state": STATE_VERSION, "run": self.run})

    def _unlocked(self, head: dict[str, Any]) -> tuple[bytes, object]:
        """The key and the settings of the run that began the folder's state ``head`` starts."""
        if head.get("state") == 2 and "key" in head:  # the key in the folder (`_take_over`)
            return bytes.fromhex(str(head["key"])), head.get("settings")
        if head.get("state") != STATE_VERSION:
            raise UsageError(
                f"{self.out} was filled by an older unseen, which knew inputs by their names and times; "
                "choose another folder"
            )
        self.run = str(head.get("run"))
        return _kept_key(self.out, self.run)

    def _take_over(self, head: dict[str, Any], text: str) -> None:
        """Move the key of a folder an older unseen filled out of it, the way `_begin` keeps one: its
        state is then written again without it, in one step (a kill before leaves the old state)."""
        self.run = secrets.token_hex(16)
        _keep_key(self.run, self.key, self.settings)
        rest = (line for line in text.splitlines(keepends=True) if _parsed(line) != head)
        start = json.dumps({"state": STATE_VERSION, "run": self.run}) + "\n"
        write_private(self.out / STATE, (start + "".join(rest)).encode("utf-8"), replace=True)
        self.note = (
            f"{self.out} held its resume key, which an older unseen kept there; it is now in {keys_home()}. "
            "A copy of the folder made before (a zip, a share) still tells anyone holding an original "
            "which output it became"
        )

    def _note(self, digest: str, output: str) -> None:
        noted = self.records.setdefault(digest, [])
        if output not in noted:
            noted.append(output)

    def identity(self, source: Path) -> str:
        """A keyed digest of the bytes of ``source`` (read once per run): the same bytes give the same
        one.  Something other than a regular file (a pipe, a device) is known by its path only: its
        bytes cannot be read twice, and /dev/zero never ends."""
        if source not in self._digests:
            mac = hmac.new(self.key, digestmod=hashlib.sha256)
            if stat.S_ISREG(source.stat().st_mode):
                with open(source, "rb") as fh:
                    for chunk in iter(lambda: fh.read(1 << 20), b""):
                        mac.update(chunk)
            else:
                mac.update(b"not a regular file\0" + os.fsencode(source.resolve()))
            self._digests[source] = mac.hexdigest()[:32]
        return self._digests[source]

    def done(self, job: Job) -> Job | None:
        """The job as first run when ``job``'s input was finished by an earlier run, else None.

        With ``--keep-names`` only the output named for the input counts; otherwise any
        published output noted for the same bytes that no other input was given back.
        """
        try:
            noted = self.records.get(self.identity(job.source), [])
        except OSError:
            return None  # a missing or unreadable input fails later with its own reason
        for name in noted:
            output = self.out / name
            if name in self._claimed or (self.settings["keep_names"] and output != job.target):
                continue
            if output.exists():
                self._claimed.add(name)
                return Job(job.source, output)
        return None

    def started_all(self, jobs: list[Job]) -> None:
        """Note every job as started, in one write: a rerun then knows their outputs as this run's."""
        records = []
        for job in jobs:
            with contextlib.suppress(OSError):  # a missing input fails later with its own reason
                records.append(self._record(job, "started"))
        self._append(*records)

    def finished(self, job: Job, result: FileResult) -> None:
        """Note how ``job`` ended.  A note that cannot be made (a full disk) loses nothing: the
        start's note already names the output, and a rerun skips it if it was published."""
        with contextlib.suppress(OSError, OutputError):  # an input gone since the start: its own reason
            self._append(self._record(job, result.status))

    def _record(self, job: Job, event: str) -> dict[str, object]:
        record: dict[str, object] = {
            "input": self.identity(job.source),
            "output": str(job.target.relative_to(self.out)),
            "event": event,
        }
        self._note(str(record["input"]), str(record["output"]))
        return record

    def _append(self, *records: dict[str, object]) -> None:
        if records:
            self._append_raw("".join(json.dumps(r) + "\n" for r in records))

    def _append_raw(self, text: str) -> None:
        try:
            fd = os.open(self.out / STATE, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
            with open(fd, "a", encoding="utf-8") as fh:
                fh.write(text)
                fh.flush()
                os.fsync(fh.fileno())
        except OSError as exc:  # a full disk: one line, exit 1, before any work starts
            raise OutputError(why_not_written(self.out / STATE, exc)) from exc


def keys_home() -> Path:
    """This user's private folder of resume keys, never in an output folder (the module's docstring
    says why): ``$XDG_STATE_HOME/unseen/runs`` (``~/.local/state``), ``%LOCALAPPDATA%\\unseen\\runs``."""
    try:
        if sys.platform == "win32":  # pragma: no cover - Windows
            root = Path(os.environ.get("LOCALAPPDATA") or Path.home() / "AppData" / "Local")
        else:
            xdg = os.environ.get("XDG_STATE_HOME", "")
            root = Path(xdg) if os.path.isabs(xdg) else Path.home() / ".local" / "state"
    except RuntimeError as exc:  # no home folder to be found
        raise OutputError(f"no home folder to keep resume keys in ({exc}); set XDG_STATE_HOME") from exc
    return root / "unseen" / "runs"


def _keep_key(run: str, key: bytes, settings: dict[str, object]) -> None:
    """Keep a run's key and settings in `keys_home`, in folders and a file only this user can read."""
    home = keys_home()
    try:
        for folder in (home.parent, home):
            folder.mkdir(mode=0o700, parents=True, exist_ok=True)
            if sys.platform != "win32":
                os.chmod(folder, 0o700)  # one made before, by hand or with a looser umask
        write_private(home / f"{run}.json", json.dumps({"key": key.hex(), "settings": settings}).encode())
    except OSError as exc:
        raise OutputError(f"{why_not_written(Path(exc.filename or home), exc)} {KEYS_WHERE}") from exc
    except OutputError as exc:
        raise OutputError(f"{exc} {KEYS_WHERE}") from exc


def _kept_key(out: Path, run: str) -> tuple[bytes, object]:
    """The key and settings `_keep_key` kept for ``run``; where they are not here, a refusal: the
    folder's inputs cannot be known again, and redoing them all would put a second output beside each."""
    home = keys_home()
    try:
        if not RUN_ID.fullmatch(run):
            raise FileNotFoundError(run)
        kept = json.loads((home / f"{run}.json").read_text("utf-8"))
        return bytes.fromhex(kept["key"]), kept["settings"]
    except FileNotFoundError:
        raise OutputError(
            f"{out} was filled by a run whose resume key is not in {home} (another machine or user, "
            "or the key was removed), so what is done there cannot be told; write to a new folder"
        ) from None
    except OSError as exc:
        raise OutputError(
            f"the resume key of {out} in {home} cannot be read ({exc.strerror or exc})"
        ) from exc
    except (ValueError, KeyError, TypeError) as exc:
        raise OutputError(f"the resume key of {out} in {home} is damaged; write to a new folder") from exc


def _missing(folder: Path) -> list[Path]:
    """The folders that making ``folder`` (parents too) would make, deepest first."""
    missing: list[Path] = []
    while not folder.exists() and folder != folder.parent:
        missing.append(folder)
        folder = folder.parent
    return missing


def _parsed(line: str) -> dict[str, Any] | None:
    """One state line, or None for a blank one or one a kill cut short."""
    try:
        row = json.loads(line)
    except ValueError:
        return None
    return row if isinstance(row, dict) else None


def _digest(plans: dict[str, Plan]) -> str:
    """One digest of every plan a run covers from, whatever order they were given in."""
    h = hashlib.sha256()
    for name in sorted(plans):
        h.update(
            name.encode("utf-8", "surrogateescape") + b"\0" + plans[name].model_dump_json().encode() + b"\0"
        )
    return h.hexdigest()


def _plain(value: object) -> object:
    return [_plain(v) for v in value] if isinstance(value, tuple) else value


def _locked(path: Path) -> IO[str]:
    """Hold an exclusive lock on ``path`` until the returned file is closed (also when killed)."""
    fh = open(path, "a+", encoding="utf-8")  # noqa: SIM115  (held open as the lock)
    try:
        _lock_file(fh)
    except OSError:
        fh.close()
        raise UsageError(
            f"another unseen run is writing into {path.parent}; wait for it to end or choose another folder"
        ) from None
    return fh


if sys.platform == "win32":  # pragma: no cover - Windows

    def _lock_file(fh: IO[str]) -> None:
        import msvcrt

        msvcrt.locking(fh.fileno(), msvcrt.LK_NBLCK, 1)

else:

    def _lock_file(fh: IO[str]) -> None:
        import fcntl

        fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)


@dataclass
class Summary:
    """What a batch did, for the closing line."""

    done: int = 0
    skipped: int = 0
    failed: dict[str, str] | None = None
    seconds: float = 0.0

    def add(self, result: FileResult) -> None:
        if result.status == "skipped":
            self.skipped += 1
        elif result.error:
            self.failed = {**(self.failed or {}), str(result.input): result.error}
        else:
            self.done += 1
