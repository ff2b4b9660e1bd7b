"""The command line: the only place that prints, draws progress or picks exit codes.

Exit codes: 0 every file done, 1 some file failed or was refused, 2 usage
error, 3 a self-check or ``check`` found something, 130 interrupted (Ctrl-C),
143 terminated (SIGTERM).
"""

from __future__ import annotations

import contextlib
import json
import signal
import sys
import threading
import time
import warnings
import webbrowser
from collections.abc import Callable, Generator, Iterable, Iterator
from pathlib import Path
from types import FrameType
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeRemainingColumn

from . import batch
from . import jobs as jobs_mod
from . import plan as plan_mod
from . import settings as settings_mod
from .datatypes import FileResult
from .errors import UnseenError, UsageError
from .jobs import plan as plan_jobs
from .jobs import plan_outputs
from .settings import Settings

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_CHECK, EXIT_INTERRUPTED, EXIT_TERMINATED = 0, 1, 2, 3, 130, 143

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Cover faces, disguise voices and remove identifying metadata from photos, videos and sound "
    "recordings, offline.",
)
# soft_wrap: one error is one line, whatever the terminal's width, so scripts can grep it.
LISTED_FAILURES = 20  # failures named again in a batch's closing lines
err = Console(stderr=True, highlight=False, soft_wrap=True, markup=False)  # names may hold [brackets]


@app.callback()
def _root() -> None:
    """Keeps subcommands explicit (`unseen protect ...`) even while there is only one."""


ConfigOpt = Annotated[Path | None, typer.Option("--config", help="TOML file with default options.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="One JSON object per input file on stdout.")]
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="Print only errors.")]


KeepOpt = Annotated[
    list[str] | None,
    typer.Option("--keep", help="Leave the region or track with this plan id visible (consent; repeatable)."),
]
CoverOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--cover", help="Also cover x,y,w,h; in a video x,y,w,h@t0-t1 covers it from t0 to t1 s (repeatable)."
    ),
]
FastOpt = Annotated[bool, typer.Option("--fast", help="One scale: faster, misses more small faces.")]
TargetsOpt = Annotated[
    str | None,
    typer.Option(
        "--targets",
        help="What to cover, comma-separated (default faces,heads). faces: always. heads: the heads of "
        "people the face detectors cannot see (seen from behind or above). persons: whole bodies. "
        "plates: licence plates, WEAK (an old Haar cascade; it misses many plates, check by eye). "
        "text: signs, badges, shop fronts (also protest signs, so never by default).",
    ),
]
KeepNamesOpt = Annotated[bool, typer.Option("--keep-names", help="Keep input base names.")]
JobsOpt = Annotated[
    int | None,
    typer.Option(
        "--jobs",
        "-j",
        help="Files handled at once, each in its own process (default: every core, one per 3.5 GB of memory).",
    ),
]
MaxPixelsOpt = Annotated[
    int | None,
    typer.Option(
        "--max-pixels",
        help="Refuse a picture or video frame larger than this many pixels, before decoding it "
        "(default 250 million, at most 2,147,483,647; a decompression bomb is refused).",
    ),
]
InputsArg = Annotated[
    list[Path], typer.Argument(help="Photos, videos, sound recordings or folders (searched recursively).")
]
ReportOpt = Annotated[
    Path | None,
    typer.Option(
        "--report",
        help="Write report.html and report.json here: what was covered, left visible and checked (no input names).",
    ),
]
StyleOpt = Annotated[
    str | None, typer.Option(help="fill (default, strongest); pixelate or blur: weaker, both add noise.")
]
FormatOpt = Annotated[
    str | None,
    typer.Option("--format", help="same (default; HEIC/AVIF become JPEG), png, jpeg or webp."),
]


def _targets(text: str | None) -> tuple[str, ...] | None:
    return None if text is None else tuple(t.strip() for t in text.split(",") if t.strip())


def _parse_box(text: str) -> tuple[int, int, int, int]:
    try:
        x, y, w, h = (int(v) for v in text.split(","))
    except ValueError as exc:
        raise typer.BadParameter(f"{text!r} is not x,y,w,h") from exc
    return x, y, w, h


@app.command()
def analyse(
    inputs: InputsArg,
    out: Annotated[Path, typer.Option("-o", "--out", help="Folder for the plans (one .json per input).")],
    fast: FastOpt = False,
    targets: TargetsOpt = None,
    keep_names: KeepNamesOpt = False,
    keep: KeepOpt = None,
    cover: CoverOpt = None,
    jobs: JobsOpt = None,
    max_pixels: MaxPixelsOpt = None,
    config: ConfigOpt = None,
    as_json: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Find every face and write a plan per input (no media); edit it, then `protect --plan`.

    A plan says where people are in a picture: it is written readable by you
    only, and must never be shared with the outputs.
    """

    def work() -> int:
        opts = settings_mod.load(
            config, fast=fast or None, keep_names=keep_names or None, jobs=jobs, max_pixels=max_pixels,
            keep=tuple(keep or ()) or None, cover=tuple(cover or ()) or None, targets=_targets(targets),
        )  # fmt: skip
        task = batch.Task("analyse", opts)
        return exit_code(_batch(task, inputs, out, plans=True, as_json=as_json, quiet=quiet))

    raise typer.Exit(_guarded(work))


@app.command()
def protect(
    inputs: InputsArg,
    out: Annotated[Path, typer.Option("-o", "--out", help="Output folder, or a file path for one input.")],
    style: StyleOpt = None,
    format: FormatOpt = None,
    keep_names: KeepNamesOpt = False,
    fast: FastOpt = False,
    targets: TargetsOpt = None,
    report: ReportOpt = None,
    plan: Annotated[
        Path | None,
        typer.Option("--plan", help="Render from a plan (from `unseen analyse`), or a folder of plans."),
    ] = None,
    keep: KeepOpt = None,
    cover: CoverOpt = None,
    extra_box: Annotated[
        list[str] | None, typer.Option("--extra-box", help="Also cover x,y,w,h (repeatable).")
    ] = None,
    audio: Annotated[
        str | None,
        typer.Option(
            help="A video's sound: drop (default), keep or disguise. A sound-only recording: disguise "
            "(default) or keep (metadata removed, voice as recorded); drop is refused for it."
        ),
    ] = None,
    crf: Annotated[
        int | None,
        typer.Option(
            help="Video quality (H.264 CRF, lower is better). Default: 18, but never above 1.1x the "
            "input's bitrate, so that outputs stay as sendable as their inputs; a CRF given here is not capped."
        ),
    ] = None,
    detect_every: Annotated[
        int | None,
        typer.Option(
            help="Video: a full detection pass on every k-th frame (default 2, and around the faces being "
            "tracked on the frames between; 3 with --fast, tracking alone between)."
        ),
    ] = None,
    device: Annotated[
        str | None,
        typer.Option(
            help="cpu (default) or cuda (needs `pip install 'unseen\\[gpu]'` and an NVIDIA driver)."
        ),
    ] = None,
    jobs: JobsOpt = None,
    max_pixels: MaxPixelsOpt = None,
    ray: Annotated[
        str | None,
        typer.Option(
            "--ray",
            help="Run on Ray Data (pip install 'unseen\\[cluster]'): 'local' starts Ray here; "
            "'auto' or ray://HOST:PORT joins a cluster. Inputs and -o must be on storage every node sees.",
        ),
    ] = None,
    config: ConfigOpt = None,
    as_json: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Cover every face and write clean copies; originals are never touched.

    Into a folder, a run can be resumed: rerun the same command after a crash
    or Ctrl-C and it skips what is done.

    Sound-only recordings (voice memos, WAV, MP3, FLAC, Ogg, AMR) get their voice
    disguised by default: the pitch contour is flattened and moved and the
    formants warped, with settings drawn for each file and never stored. The
    disguise does not hide the words, the language and accent, the speaking rate,
    or background sounds, and someone holding other recordings of the speaker may
    still recognise them: it stops casual recognition, it is not anonymity.
    """

    def work() -> int:
        boxes = tuple(_parse_box(b) for b in extra_box or [])
        opts = settings_mod.load(
            config, style=style, format=format, fast=fast or None, keep_names=keep_names or None,
            extra_boxes=boxes or None, audio=audio, crf=crf, device=device,
            detect_every=detect_every, keep=tuple(keep or ()) or None, cover=tuple(cover or ()) or None,
            jobs=jobs, max_pixels=max_pixels, targets=_targets(targets),
        )  # fmt: skip
        opts.check_device()
        plans = plan_mod.load_all(plan) if plan is not None else None
        _refuse_report(report)
        started = time.perf_counter()
        task = batch.Task("protect", opts, plans, record=report is not None)
        results = _batch(task, inputs, out, as_json=as_json, quiet=quiet, ray=ray)
        if report is not None:
            _write_report(report, results, opts, time.perf_counter() - started)
        return exit_code(results)

    raise typer.Exit(_guarded(work))


@app.command()
def review(
    inputs: InputsArg,
    out: Annotated[Path, typer.Option("-o", "--out", help="Output folder, or a file path for one input.")],
    plan: Annotated[
        Path | None,
        typer.Option(
            "--plan", help="Start from plans saved earlier (resume a review) instead of finding faces."
        ),
    ] = None,
    report: ReportOpt = None,
    style: StyleOpt = None,
    format: FormatOpt = None,
    keep_names: KeepNamesOpt = False,
    fast: FastOpt = False,
    targets: TargetsOpt = None,
    port: Annotated[int, typer.Option(help="Port on 127.0.0.1 (default: a free one).")] = 0,
    no_browser: Annotated[
        bool, typer.Option("--no-browser", help="Only print the page's address; open no browser.")
    ] = False,
    config: ConfigOpt = None,
    quiet: QuietOpt = False,
) -> None:
    """Find every face, then check and fix what will be covered on a local page before anything is written.

    The page (on 127.0.0.1 only) shows every region: draw, move or delete boxes,
    leave consenting people visible, then Apply, which renders each file as
    `protect --plan` does, self-check included. The plans are saved, readable by
    you only, in a folder beside the outputs' (OUT.plans), so a review can be
    resumed with --plan. Ctrl-C ends the review; what was not applied is not written.
    """

    def work() -> int:
        opts = settings_mod.load(
            config, style=style, format=format, fast=fast or None, keep_names=keep_names or None,
            targets=_targets(targets),
        )  # fmt: skip
        jobs = plan_jobs(inputs, out, out_format=opts.format, keep_names=opts.keep_names)
        target = out.resolve()
        plans_dir = target.parent / f"{target.name}.plans"
        plan_files = plan_outputs(inputs, plans_dir, keep_names=opts.keep_names)
        given = plan_mod.load_all(plan) if plan is not None else None
        _refuse_report(report)
        from .pipeline import Protector
        from .review import Server, Session

        started = time.perf_counter()
        protector = Protector(opts)
        with Session(protector, plans_dir, plan_files, given=given, report=report) as session:
            shown = len(jobs) > 1 and not quiet
            found = (session.add(job) for job in jobs)
            for result in _counted(found, _bars(len(jobs), shown, "finding faces")):
                _report(result, as_json=False, quiet=True)
            if not session.files:
                return EXIT_FAILED
            server = Server(session, port)
            err.print(f"review page: {server.url}")
            if not quiet:
                err.print(
                    "Apply on the page writes the outputs; Ctrl-C ends the review without writing the rest."
                )
            if not no_browser:
                webbrowser.open(server.url)
            server.run()
            results = session.results()
        for result in results[len(session.failed) :]:
            _report(result, as_json=False, quiet=quiet)
        if report is not None:
            _write_report(report, results, opts, time.perf_counter() - started, session.analysis_seconds())
        return exit_code(results)

    raise typer.Exit(_guarded(work))


def _refuse_report(folder: Path | None) -> None:
    from .report import refuse_existing

    if folder is not None and (there := refuse_existing(folder)):
        raise UsageError(f"{there[0]} already exists; unseen never overwrites a file")


def _write_report(
    folder: Path,
    results: list[FileResult],
    opts: Settings,
    seconds: float,
    analysis: dict[Path, float] | None = None,
) -> None:
    from . import __version__
    from . import report as report_mod

    report_mod.write(folder, results, report_mod.Run(__version__, opts, seconds, opts.keep_names, analysis))
    err.print(f"report: {folder / 'report.html'}")


@app.command()
def strip(
    inputs: InputsArg,
    out: Annotated[Path, typer.Option("-o", "--out", help="Output folder, or a file path for one input.")],
    keep_names: KeepNamesOpt = False,
    jobs: JobsOpt = None,
    max_pixels: MaxPixelsOpt = None,
    config: ConfigOpt = None,
    as_json: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Remove all metadata, leaving faces and voices as they are; lossless where the format allows."""

    def work() -> int:
        opts = settings_mod.load(config, keep_names=keep_names or None, jobs=jobs, max_pixels=max_pixels)
        return exit_code(_batch(batch.Task("strip", opts), inputs, out, as_json=as_json, quiet=quiet))

    raise typer.Exit(_guarded(work))


@app.command()
def check(
    inputs: InputsArg,
    faces: Annotated[
        bool, typer.Option("--faces/--no-faces", help="Also look for visible faces (default: yes).")
    ] = True,
    max_pixels: MaxPixelsOpt = None,
    config: ConfigOpt = None,
    as_json: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Report metadata and visible faces that could identify someone; exit 3 if anything is found."""

    def work() -> int:
        from .check import Checker
        from .jobs import collect

        files = collect(inputs, everything=True)
        if not files:
            raise UsageError("no input files found")
        checker = Checker(settings_mod.load(config, max_pixels=max_pixels), faces=faces)
        handled = checker.check_all(path for path, _root in files)
        shown = _counted(handled, _bars(len(files), len(files) > 1 and not quiet))
        return exit_code(_report_all(shown, as_json=as_json, quiet=quiet))

    raise typer.Exit(_guarded(work))


def _batch(
    task: batch.Task,
    inputs: list[Path],
    out: Path,
    *,
    as_json: bool,
    quiet: bool,
    plans: bool = False,
    ray: str | None = None,
) -> list[FileResult]:
    """Plan the jobs, own the output folder (lock, state, resume), run them on every core, report."""
    opts = task.settings
    started = time.perf_counter()
    audio = opts.audio if task.mode == "protect" else None
    probe = jobs_mod.planned(
        inputs, out, out_format=opts.format, keep_names=opts.keep_names, plans=plans, check_clashes=False,
        audio=audio,
    )  # fmt: skip
    _refuse_shared_keep(opts, len(probe.todo))
    if probe.folder is None:
        jobs_mod.refuse_clashes(probe.todo)
        bars = _bars(1, not quiet, files=False)
        one = batch.run(task, probe.todo, 1, bars.frames if bars else None)
        return _report_all(_counted(one, bars), as_json=as_json, quiet=quiet)
    with batch.Folder(probe.folder, opts, task.mode, task.plans) as folder:
        if folder.note and not quiet:
            err.print(f"note: {folder.note}", markup=False)
        planned = jobs_mod.planned(
            inputs, out, out_format=opts.format, keep_names=opts.keep_names, plans=plans, finished=folder.done
        )
        skipped = [FileResult(j.source, j.target, "skipped", kind="other") for j in planned.done]
        folder.started_all(planned.todo)
        summary = batch.Summary()
        by_input = {j.source: j for j in planned.todo}
        bars = _bars(len(skipped) + len(planned.todo), not quiet, files=len(planned.todo) > 1)

        def run() -> Generator[FileResult, None, None]:
            yield from skipped
            if ray is not None:
                from . import cluster

                address = None if ray == "local" else ray
                results = cluster.run(task, planned.todo, address, opts.processes())
            else:
                processes = min(opts.processes(), len(planned.todo) or 1)
                results = batch.run(task, planned.todo, processes, bars.frames if bars else None)
            with contextlib.closing(results):  # stops the workers, whatever ends this loop early
                for result in results:
                    folder.finished(by_input[result.input], result)
                    yield result

        # Closed explicitly: Ctrl-C while a result is printed must stop the workers now, not
        # whenever the garbage collector finalises the generators (at exit, after the pool has
        # run every queued file).
        with contextlib.closing(run()) as running:
            shown = _counted(running, bars)
            results = _report_all(shown, as_json=as_json, quiet=quiet, summary=summary)
    summary.seconds = time.perf_counter() - started
    if not (quiet or as_json) and len(planned.done) + len(planned.todo) > 1:
        failed = summary.failed or {}
        err.print(
            f"{summary.done} done, {summary.skipped} skipped (done before), {len(failed)} failed, "
            f"{summary.seconds:.1f} s"
        )
        # Each failure was said as it came; in a long batch those lines have scrolled away.
        for path, reason in list(failed.items())[:LISTED_FAILURES]:
            err.print(f"  failed: {path}: {reason}")
        if len(failed) > LISTED_FAILURES:
            err.print(f"  and {len(failed) - LISTED_FAILURES} more failed (--json gives one line per file)")
    return results


def _refuse_shared_keep(opts: Settings, inputs: int) -> None:
    """``--keep`` names ids of one file's plan (r1, t1 are numbered anew in every file): over several
    inputs it would leave a stranger visible wherever another file's region has the same id."""
    if opts.keep and inputs > 1:
        raise UsageError(
            f"--keep {' '.join(opts.keep)}: region ids are per file, so --keep takes one input; "
            'run one input at a time, or set "decision": "keep" in that file\'s plan'
        )


def _report_all(
    results: Iterable[FileResult], *, as_json: bool, quiet: bool, summary: batch.Summary | None = None
) -> list[FileResult]:
    seen = []
    for result in results:
        seen.append(result)
        if summary is not None:
            summary.add(result)
        _report(result, as_json=as_json, quiet=quiet)
    return seen


def _summary(result: FileResult) -> list[str]:
    """The line (or lines) a person reads for one file's result."""
    name = result.input.name
    if result.status == "stripped":
        return [f"stripped {name} -> {result.output} ({result.note})"]
    if result.status == "clean":
        return [f"clean {name}" + (f" ({result.note})" if result.note else "")]
    if result.status == "dirty":
        return [f"NOT CLEAN {result.input}: {len(result.findings)} item(s)"] + [
            f"  {f}" for f in result.findings
        ]
    if result.status == "skipped":
        return [f"skipped {name}: done by an earlier run ({result.output})"]
    if result.kind == "audio" and result.status == "protected":  # no picture: faces say nothing
        return [f"protected {name} -> {result.output} ({result.note})"]
    what = "in the plan" if result.status == "analysed" else "covered"
    told = f" ({result.note})" if result.note else ""
    return [f"{result.status} {name}: {result.faces} face(s), {result.regions} region(s) {what}{told}"]


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised like Ctrl-C so that it unwinds the same way: no temporary file stays."""


def _terminate(signum: int, frame: object) -> None:
    raise Terminated(signal.Signals(signum).name)


class _BeforeWork(BaseException):
    """Ctrl-C or SIGTERM while the arguments are read, before a command's work begins.

    typer (click) ends a KeyboardInterrupt there in its own way: exit 130 with
    no word, for SIGTERM too (`Terminated`), or "Aborted!" and exit 1 in older
    versions.  This is not one, so it passes typer by and `main` says what
    happened, with the signal's own exit code.
    """

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


def _before_work(signum: int, frame: object) -> None:
    raise _BeforeWork(signum)


def _catch(signum: int, handler: Callable[[int, FrameType | None], object]) -> None:
    """``handler`` for ``signum``, unless it is ignored: a shell's background job (``unseen ... &``
    in a script) starts with Ctrl-C ignored, so that the terminal's Ctrl-C is not its to take."""
    if signal.getsignal(signum) is not signal.SIG_IGN:
        signal.signal(signum, handler)


def _guarded(work: Callable[[], int]) -> int:
    # From here a signal unwinds the work as a KeyboardInterrupt (each file's temporary output removed).
    _catch(signal.SIGINT, signal.default_int_handler)
    _catch(signal.SIGTERM, _terminate)
    try:
        return work()
    except Terminated:
        err.print("terminated (SIGTERM): no partial output was left")
        return EXIT_TERMINATED
    except KeyboardInterrupt:
        err.print("interrupted: no partial output was left")
        return EXIT_INTERRUPTED
    except UsageError as exc:
        err.print(f"error: {exc}", markup=False)
        return EXIT_USAGE
    except UnseenError as exc:
        err.print(f"error: {exc}", markup=False)
        return EXIT_FAILED


class _Bars:
    """Progress on stderr: a bar of files (when ``files``) and, below it, one of frames for each
    video being written, which a one-file run of a long clip would otherwise spend in silence."""

    def __init__(self, total: int, label: str = "files", *, files: bool = True) -> None:
        columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
        self.progress = Progress(*columns, console=err, transient=True)
        self.files = self.progress.add_task(label, total=total) if files else None
        self.videos: dict[Path, TaskID] = {}
        self.finished: set[Path] = set()  # a worker's last note may come after its result
        self.lock = threading.Lock()  # frames are heard in a worker's thread or a relay's

    def frames(self, source: Path, written: int, total: int) -> None:
        with self.lock:
            if source in self.finished:
                return
            if source not in self.videos:
                self.videos[source] = self.progress.add_task(f"{source.name}: frames", total=total)
            self.progress.update(self.videos[source], completed=written, total=total)

    def done(self, result: FileResult) -> None:
        with self.lock:
            self.finished.add(result.input)
            video = self.videos.pop(result.input, None)
            if video is not None:
                self.progress.remove_task(video)
            if self.files is not None:
                self.progress.advance(self.files)


def _bars(total: int, show: bool, label: str = "files", *, files: bool = True) -> _Bars | None:
    """Bars when ``show`` and stderr is a terminal: elsewhere (a log, a pipe) they draw nothing
    but a stray blank line."""
    return _Bars(total, label, files=files) if show and err.is_terminal else None


def _counted(results: Iterable[FileResult], bars: _Bars | None) -> Iterator[FileResult]:
    """``results`` as they come, with ``bars`` drawn on stderr meanwhile (none when None)."""
    if bars is None:
        yield from results
        return
    with bars.progress:
        for result in results:
            bars.done(result)
            yield result


def _report(result: FileResult, *, as_json: bool, quiet: bool) -> None:
    if as_json:
        sys.stdout.write(json.dumps(result.to_json()) + "\n")
        sys.stdout.flush()
    if result.error:
        err.print(f"error: {result.input}: {result.error}")
    elif not quiet and not as_json:
        for line in _summary(result):
            err.print(line)


def exit_code(results: list[FileResult]) -> int:
    statuses = {r.status for r in results}
    if statuses & {"unverified", "dirty"}:
        return EXIT_CHECK
    if statuses & {"failed", "refused"}:
        return EXIT_FAILED
    return EXIT_OK


def main() -> None:
    batch.bounded_heaps()  # before any thread starts
    # The default action of SIGTERM (what `kill`, systemd and container runtimes send) ends the
    # process on the spot, leaving the temporary file of the output being written: `_guarded`
    # makes it a `Terminated`.  Until then both signals find nothing begun.
    _catch(signal.SIGINT, _before_work)
    _catch(signal.SIGTERM, _before_work)
    if not sys.warnoptions:
        # A library's warning about a damaged file (Pillow's "Truncated File Read", two lines with
        # its source) is noise: the file's own one-line result says what became of it.
        warnings.simplefilter("ignore")
    try:
        app()
    except _BeforeWork as stop:
        for signum in (signal.SIGINT, signal.SIGTERM):  # a second one changes nothing now
            signal.signal(signum, signal.SIG_IGN)
        terminated = stop.signum == signal.SIGTERM
        err.print(
            "terminated (SIGTERM): nothing was written" if terminated else "interrupted: nothing was written"
        )
        raise SystemExit(EXIT_TERMINATED if terminated else EXIT_INTERRUPTED) from None
