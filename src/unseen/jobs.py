"""Which files a run takes and where each output goes, decided before any work starts.

Outputs get neutral random names unless ``keep_names``; the input-to-output
mapping lives only in the results the caller asked for.  Every planned output
is checked up front, so a run that would overwrite anything stops before it
writes a byte.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from . import kinds
from .datatypes import FileKind, FileResult
from .errors import InputError, InternalError, OutputError, UnseenError, UsageError, unreadable
from .media.image import EXTENSIONS, pixel_limit
from .write import why_not_written

log = logging.getLogger("unseen")

OUT_OF_MEMORY = (
    "not enough memory to handle it; nothing was written (it may fit with one file at a time: --jobs 1)"
)
OUT_OF_MEMORY_CHECKING = "not enough memory to judge it"
SUFFIX_FORMATS = {".jpg": "jpeg", ".jpeg": "jpeg", ".png": "png", ".webp": "webp", ".tif": "tiff",
                  ".tiff": "tiff", ".bmp": "bmp", ".gif": "gif"}  # fmt: skip


@dataclass(frozen=True)
class Job:
    source: Path
    target: Path  # final output path; the format follows its suffix


def handled(job: Job, work: Callable[[kinds.FileKind], FileResult], max_pixels: int) -> FileResult:
    """Run ``work`` on one file, known by its content, and turn any failure into its result.

    One file's error never stops a batch: an `UnseenError` becomes a refused,
    unverified or failed result with its one-line reason, an `OSError`
    while writing (a folder that cannot be made, a full disk) one that names
    the path, memory running out a failed one that says so, and any other
    error a failed one that says it is unseen's (`InternalError`).
    """
    started = time.perf_counter()
    kind: FileKind = "other"
    cap = pixel_limit.set(max_pixels)
    try:
        found = kinds.identify(job.source)
        kind = found.kind
        result = work(found)
    except Exception as exc:  # not KeyboardInterrupt: Ctrl-C and a stopping batch unwind past this
        result = failed(job.source, exc, kind, job.target)
    finally:
        pixel_limit.reset(cap)
    result.seconds = time.perf_counter() - started
    return result


def failed(source: Path, exc: Exception, kind: FileKind, target: Path | None = None) -> FileResult:
    """The result of a file whose handling raised ``exc`` (`handled` says how each kind of error
    reads).  ``target``: the output being written, None where nothing is (`unseen check`), where
    an `OSError` is the input's."""
    if isinstance(exc, UnseenError):
        log.info("%s: %s", source, exc)
        return FileResult.of_error(source, exc, kind)
    if isinstance(exc, OSError):
        if target is None:
            return FileResult.of_error(source, unreadable(source, exc), kind)
        where = Path(exc.filename) if exc.filename else target
        return FileResult.of_error(source, OutputError(why_not_written(where, exc)), kind)
    if isinstance(exc, MemoryError):
        # Freed by now (what held it has unwound); the next file may well fit.
        why = OUT_OF_MEMORY if target is not None else OUT_OF_MEMORY_CHECKING  # `check` has no --jobs
        return FileResult.of_error(source, UnseenError(why), kind)
    log.error("%s: internal error", source, exc_info=exc)
    written = None if target is None else target.exists()  # outputs never replace a file
    return FileResult.of_error(source, InternalError(exc, written=written), kind)


# A batch's own files in its output folder (`unseen.batch`): its resume state and its lock.
STATE = ".unseen-state.jsonl"
LOCK = ".unseen-lock"


def collect(
    inputs: list[Path], out: Path | None = None, *, everything: bool = False
) -> list[tuple[Path, Path | None]]:
    """Every file to process, with the folder it was found under (None for a file given directly).

    Nothing under ``out`` is taken from a folder: an output folder inside an input folder would
    otherwise give its outputs back as inputs on every rerun.  Hidden files and folders are left
    out, unless ``everything`` (`unseen check`: a folder about to be shared is shared whole, a
    zip takes its hidden files and the folders it links to), which still leaves out a batch's own
    state and lock.
    """
    skip = out.resolve() if out is not None else None
    found: list[tuple[Path, Path | None]] = []
    for item in inputs:
        if item.is_dir():
            if skip is not None and item.resolve() == skip:
                raise UsageError(
                    f"{out} is an input folder: write the outputs to another folder (a shell pattern such "
                    "as photos/* names the output folder too once it exists: list the inputs without it)"
                )
            files = sorted(
                p
                for p in (_everything(item) if everything else item.rglob("*"))
                if p.is_file()
                and (not _hidden(p, item) if not everything else not _batch_own(p))
                and (skip is None or not p.resolve().is_relative_to(skip))
            )
            found.extend((p, item) for p in files)
        else:
            found.append((item, None))  # missing files fail later, one line each
    return found


def _hidden(path: Path, root: Path) -> bool:
    return any(part.startswith(".") for part in path.relative_to(root).parts)


def _batch_own(path: Path) -> bool:
    """Whether ``path`` is a batch's own empty lock or its resume state of today's kind, which
    names no input and holds no key (`unseen.batch`); a file of either name holding anything else
    (an older state with its key beside the digests, a photo) is judged."""
    try:
        if path.name == LOCK:
            return path.stat().st_size == 0
        if path.name == STATE:
            with open(path, "rb") as fh:
                head = json.loads(fh.readline())
            return isinstance(head, dict) and "run" in head and "key" not in head
    except (OSError, ValueError):
        pass
    return False


def _unlisted(exc: OSError) -> None:
    """`os.walk` skips a folder it cannot list; `check` must not call a folder clean unread."""
    raise InputError(Path(exc.filename or "."), f"this folder cannot be read ({exc.strerror or exc})")


def _everything(root: Path) -> Iterator[Path]:
    """Every file under ``root``, hidden or not, through linked folders too, each folder once
    (a link back up the tree ends there); `InputError` for a folder it cannot list."""
    seen: set[str] = set()
    for folder, folders, files in os.walk(root, followlinks=True, onerror=_unlisted):
        real = os.path.realpath(folder)
        if real in seen:
            folders.clear()
            continue
        seen.add(real)
        yield from (Path(folder) / name for name in files)


def plan(
    inputs: list[Path],
    out: Path,
    *,
    out_format: str,
    keep_names: bool,
    audio: str | None = None,
) -> list[Job]:
    """Map inputs to outputs.  ``out_format`` is ``same`` or a format name; ``audio`` is protect's mode."""
    return planned(inputs, out, out_format=out_format, keep_names=keep_names, audio=audio).todo


@dataclass(frozen=True)
class Planned:
    """The jobs of a run: those to do, those an earlier run into the same folder finished."""

    todo: list[Job]
    done: list[Job]
    folder: Path | None  # the output folder; None when one input goes to one named file


def planned(
    inputs: list[Path],
    out: Path,
    *,
    out_format: str,
    keep_names: bool,
    plans: bool = False,
    finished: Callable[[Job], Job | None] | None = None,
    check_clashes: bool = True,
    audio: str | None = None,
) -> Planned:
    """Map inputs to outputs (or, with ``plans``, to plan files in the folder ``out``).

    ``finished(job)`` names the output an earlier run wrote for the job's
    input, if any: those jobs are set aside, and only the others must not
    overwrite anything (unless ``check_clashes`` is off: a first look, to
    learn which folder the run will own).  ``audio`` is protect's sound mode:
    ``drop`` is refused for a sound-only input before any work starts.
    """
    files = collect(inputs, out)
    if not files:
        raise UsageError("no input files found")
    if audio == "drop":
        _refuse_dropped_sound(files)
    single_file = (
        not plans and len(files) == 1 and files[0][1] is None and not out.is_dir() and out.suffix != ""
    )
    if single_file:
        jobs, folder = [Job(files[0][0], out)], None
    else:
        if out.exists() and not out.is_dir():
            raise UsageError(
                f"{out} is a file; "
                + ("plans go into a folder" if plans else "with several inputs, -o must be a folder")
            )

        def name(src: Path, root: Path | None) -> Path:
            return _plan_name(src, root, keep_names) if plans else _name(src, root, out_format, keep_names)

        jobs, folder = [Job(src, out / name(src, root)) for src, root in files], out
    done: list[Job] = []
    todo: list[Job] = []
    for job in jobs:
        earlier = finished(job) if finished is not None else None
        (done if earlier is not None else todo).append(earlier or job)
    if check_clashes:
        refuse_clashes(todo, {p.resolve() for p, _ in files})
    return Planned(todo, done, folder)


def _refuse_dropped_sound(files: list[tuple[Path, Path | None]]) -> None:
    """``--audio drop`` would leave nothing of a sound-only file: stop before any work, naming it."""
    for path, _root in files:
        try:
            kind = kinds.identify(path).kind
        except UnseenError:
            continue  # refused later with its own reason
        if kind == "audio":
            raise UsageError(
                f"--audio drop would leave nothing of {path}, a sound-only recording: "
                "use --audio disguise (the default for sound) or --audio keep"
            )


def plan_outputs(inputs: list[Path], out: Path, *, keep_names: bool) -> list[Job]:
    """Map inputs to plan files in the folder ``out``: ``plan-<random>.json``, or the input's name."""
    return planned(inputs, out, out_format="same", keep_names=keep_names, plans=True).todo


def _plan_name(src: Path, root: Path | None, keep_names: bool) -> Path:
    if not keep_names:
        return Path(f"plan-{secrets.token_hex(5)}.json")
    rel = src.relative_to(root) if root is not None else Path(src.name)
    return rel.with_name(rel.name + ".json")


def _name(src: Path, root: Path | None, out_format: str, keep_names: bool) -> Path:
    suffix = target_suffix(src, out_format)
    if not keep_names:
        return Path(f"unseen-{secrets.token_hex(5)}{suffix}")
    rel = src.relative_to(root) if root is not None else Path(src.name)
    return rel.with_suffix(suffix)


def target_suffix(src: Path, out_format: str) -> str:
    """The output extension: the chosen format's, else the one the input's content calls for."""
    try:
        kind = kinds.identify(src)
    except UnseenError:
        return src.suffix.lower() or ".bin"  # refused later with its reason, one line, nothing written
    if kind.kind == "image" and out_format != "same":
        return EXTENSIONS[out_format]
    return kind.suffix


def refuse_clashes(jobs: list[Job], sources: set[Path] | None = None) -> None:
    """`UsageError` when a job would overwrite an input (of ``sources``, default its own) or any file."""
    sources = sources if sources is not None else {job.source.resolve() for job in jobs}
    seen: set[Path] = set()
    for job in jobs:
        target = job.target.resolve()
        if target in sources:
            raise UsageError(f"{job.target} is an input; unseen never writes over an original")
        if job.target.exists():
            raise UsageError(f"{job.target} already exists; unseen never overwrites a file")
        if target in seen:
            raise UsageError(f"two inputs would both be written to {job.target}; drop --keep-names")
        seen.add(target)
