"""The command line: the only place that prints, draws progress or picks exit codes.

Exit codes: 0 every file done, 1 some file failed or was refused, 2 usage
error, 3 a self-check or ``check`` found something, 130 interrupted.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from . import plan as plan_mod
from . import settings as settings_mod
from .datatypes import FileResult
from .errors import UnseenError, UsageError
from .jobs import Job, plan_outputs
from .jobs import plan as plan_jobs

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_CHECK, EXIT_INTERRUPTED = 0, 1, 2, 3, 130

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Cover faces and remove identifying metadata from photos and videos, offline.",
)
# soft_wrap: one error is one line, whatever the terminal's width, so scripts can grep it.
err = Console(stderr=True, highlight=False, soft_wrap=True)


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
KeepNamesOpt = Annotated[bool, typer.Option("--keep-names", help="Keep input base names.")]
InputsArg = Annotated[list[Path], typer.Argument(help="Photos, videos or folders (searched recursively).")]


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
    keep_names: KeepNamesOpt = False,
    keep: KeepOpt = None,
    cover: CoverOpt = None,
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
            config, fast=fast or None, keep_names=keep_names or None,
            keep=tuple(keep or ()) or None, cover=tuple(cover or ()) or None,
        )  # fmt: skip
        jobs = plan_outputs(inputs, out, keep_names=opts.keep_names)
        from .pipeline import Protector

        protector = Protector(opts)
        return _run(jobs, protector.analyse, as_json=as_json, quiet=quiet, verb="analysed")

    raise typer.Exit(_guarded(work))


@app.command()
def protect(
    inputs: InputsArg,
    out: Annotated[Path, typer.Option("-o", "--out", help="Output folder, or a file path for one input.")],
    style: Annotated[
        str | None, typer.Option(help="fill (default, strongest); pixelate or blur: weaker, both add noise.")
    ] = None,
    format: Annotated[
        str | None,
        typer.Option("--format", help="same (default; HEIC/AVIF become JPEG), png, jpeg or webp."),
    ] = None,
    keep_names: KeepNamesOpt = False,
    fast: FastOpt = False,
    plan: Annotated[
        Path | None,
        typer.Option("--plan", help="Render from a plan (from `unseen analyse`), or a folder of plans."),
    ] = None,
    keep: KeepOpt = None,
    cover: CoverOpt = None,
    extra_box: Annotated[
        list[str] | None, typer.Option("--extra-box", help="Also cover x,y,w,h (repeatable).")
    ] = None,
    audio: Annotated[str | None, typer.Option(help="Video sound: drop (default), keep or disguise.")] = None,
    crf: Annotated[int | None, typer.Option(help="Video quality (H.264 CRF, lower is better).")] = None,
    detect_every: Annotated[
        int | None,
        typer.Option(help="Video: detect on every k-th frame, tracking between (default 1; 3 with --fast)."),
    ] = None,
    device: Annotated[str | None, typer.Option(help="cpu (default) or cuda.")] = None,
    config: ConfigOpt = None,
    as_json: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Cover every face and write clean copies; originals are never touched."""

    def work() -> int:
        boxes = tuple(_parse_box(b) for b in extra_box or [])
        opts = settings_mod.load(
            config, style=style, format=format, fast=fast or None, keep_names=keep_names or None,
            extra_boxes=boxes or None, audio=audio, crf=crf, device=device,
            detect_every=detect_every, keep=tuple(keep or ()) or None, cover=tuple(cover or ()) or None,
        )  # fmt: skip
        plans = plan_mod.load_all(plan) if plan is not None else None
        jobs = plan_jobs(inputs, out, out_format=opts.format, keep_names=opts.keep_names)
        from .pipeline import Protector

        protector = Protector(opts)
        return _run(
            jobs, lambda job: protector.protect(job, plans), as_json=as_json, quiet=quiet, verb="protected"
        )

    raise typer.Exit(_guarded(work))


@app.command()
def strip(
    inputs: InputsArg,
    out: Annotated[Path, typer.Option("-o", "--out", help="Output folder, or a file path for one input.")],
    keep_names: Annotated[bool, typer.Option("--keep-names", help="Keep input base names.")] = False,
    config: ConfigOpt = None,
    as_json: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Remove all metadata, leaving faces as they are; lossless where the format allows."""

    def work() -> int:
        opts = settings_mod.load(config, keep_names=keep_names or None)
        jobs = plan_jobs(inputs, out, out_format="same", keep_names=opts.keep_names)
        from .strip import strip_file

        return _run_each(jobs, lambda job: strip_file(job, opts), as_json=as_json, quiet=quiet)

    raise typer.Exit(_guarded(work))


@app.command()
def check(
    inputs: InputsArg,
    faces: Annotated[
        bool, typer.Option("--faces/--no-faces", help="Also look for visible faces (default: yes).")
    ] = True,
    config: ConfigOpt = None,
    as_json: JsonOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Report metadata and visible faces that could identify someone; exit 3 if anything is found."""

    def work() -> int:
        from .check import Checker
        from .jobs import collect

        files = collect(inputs)
        if not files:
            raise UsageError("no input files found")
        checker = Checker(settings_mod.load(config), faces=faces)
        jobs = [Job(path, path) for path, _root in files]
        return _run_each(jobs, lambda job: checker.check(job.source), as_json=as_json, quiet=quiet)

    raise typer.Exit(_guarded(work))


def _run_each(jobs: list[Job], handle: Callable[[Job], FileResult], *, as_json: bool, quiet: bool) -> int:
    """`_run` for strip and check, whose one-line summaries differ from protect's."""
    results = []
    for _job, result in _with_progress(jobs, handle, show=len(jobs) > 1 and not quiet):
        results.append(result)
        _report(result, as_json=as_json, quiet=True, verb="")  # JSON line and error line
        if not (quiet or as_json or result.error):
            for line in _summary(result):
                err.print(line, markup=False)
    return exit_code(results)


def _summary(result: FileResult) -> list[str]:
    if result.status == "stripped":
        return [f"stripped {result.input.name} -> {result.output} ({result.note})"]
    if result.status == "clean":
        return [f"clean {result.input.name}"]
    return [f"NOT CLEAN {result.input}: {len(result.findings)} item(s)"] + [f"  {f}" for f in result.findings]


def _guarded(work: Callable[[], int]) -> int:
    try:
        return work()
    except KeyboardInterrupt:
        err.print("interrupted: no partial output was left")
        return EXIT_INTERRUPTED
    except UsageError as exc:
        err.print(f"error: {exc}", markup=False)
        return EXIT_USAGE
    except UnseenError as exc:
        err.print(f"error: {exc}", markup=False)
        return EXIT_FAILED


def _run(
    jobs: list[Job], handle: Callable[[Job], FileResult], *, as_json: bool, quiet: bool, verb: str
) -> int:
    results = []
    for _job, result in _with_progress(jobs, handle, show=len(jobs) > 1 and not quiet):
        results.append(result)
        _report(result, as_json=as_json, quiet=quiet, verb=verb)
    return exit_code(results)


def _with_progress(
    jobs: list[Job], handle: Callable[[Job], FileResult], *, show: bool
) -> Iterable[tuple[Job, FileResult]]:
    if not show:
        for job in jobs:
            yield job, handle(job)
        return
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with Progress(*columns, console=err, transient=True) as bar:
        task = bar.add_task("protecting", total=len(jobs))
        for job in jobs:
            result = handle(job)
            bar.advance(task)
            yield job, result


def _report(result: FileResult, *, as_json: bool, quiet: bool, verb: str) -> None:
    if as_json:
        sys.stdout.write(json.dumps(result.to_json()) + "\n")
        sys.stdout.flush()
    if result.error:
        err.print(f"error: {result.input}: {result.error}")
    elif not quiet and not as_json:
        what = "in the plan" if result.status == "analysed" else "covered"
        err.print(f"{verb} {result.input.name}: {result.faces} face(s), {result.regions} region(s) {what}")


def exit_code(results: list[FileResult]) -> int:
    statuses = {r.status for r in results}
    if statuses & {"unverified", "dirty"}:
        return EXIT_CHECK
    if statuses & {"failed", "refused"}:
        return EXIT_FAILED
    return EXIT_OK


def main() -> None:
    app()
