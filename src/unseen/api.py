"""The library's entry points, one file each; they return typed results and never print.

    >>> import unseen
    >>> unseen.analyse_path(Path("in.jpg"), Path("plans/in.json"))
    >>> unseen.protect_path(Path("in.jpg"), Path("out/safe.jpg"), plan=Path("plans/in.json"))

Each call loads the detectors it needs; a program handling many files keeps
a `unseen.pipeline.Protector` or `unseen.check.Checker` instead.
"""

from __future__ import annotations

from pathlib import Path

from . import plan as plan_mod
from .check import Checker
from .datatypes import FileResult
from .jobs import Job
from .jobs import plan as plan_jobs
from .pipeline import Protector
from .settings import Settings
from .strip import strip_file


def protect_path(
    source: Path, target: Path, settings: Settings | None = None, *, plan: Path | plan_mod.Plan | None = None
) -> FileResult:
    """Cover every face of ``source`` (or what ``plan`` lists) and write ``target``."""
    settings = settings or Settings()
    (job,) = plan_jobs(
        [source], target, out_format=settings.format, keep_names=settings.keep_names, audio=settings.audio
    )
    plans = None
    if plan is not None:
        plans = plan_mod.load_all(plan) if isinstance(plan, Path) else {plan.media.sha256: plan}
    return Protector(settings).protect(job, plans)


def analyse_path(source: Path, target: Path, settings: Settings | None = None) -> FileResult:
    """Write the plan of ``source`` to the file ``target`` (owner-only); no media is written."""
    return Protector(settings or Settings()).analyse(Job(source, target))


def strip_path(source: Path, target: Path, settings: Settings | None = None) -> FileResult:
    """Write a copy of ``source`` without metadata to ``target``; faces are left as they are."""
    (job,) = plan_jobs([source], target, out_format="same", keep_names=True)
    return strip_file(job, settings)


def check_path(path: Path, settings: Settings | None = None, *, faces: bool = True) -> FileResult:
    """What in ``path`` could still identify someone: status ``clean`` or ``dirty`` with findings."""
    return Checker(settings, faces=faces).check(path)
