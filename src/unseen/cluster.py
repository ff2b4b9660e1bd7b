"""Beyond one machine: the same per-file work mapped over Ray Data on an existing Ray cluster.

unseen schedules nothing itself.  The inputs become a Ray dataset of
(input, output) paths on storage every node sees; an actor class builds the
models once per actor (`unseen.batch.worker`, as a local worker process
does) and handles one file per call; the driver gets each file's result back
as it finishes and keeps the same state file, so a run resumes and is
locked exactly like a local batch.  Install with ``pip install 'unseen[cluster]'``.

Without an address, Ray starts on this machine with the dashboard off and
listening on loopback only.  Ray reports usage statistics to its makers by
default; unseen turns that off (``RAY_USAGE_STATS_ENABLED=0``) for the Ray it
starts, and a cluster started by someone else follows its own setting
(docs/cluster.md).  The Ray started here keeps its session folder (logs that
name this program, its paths, the hours it ran) in a folder of this run's own
that is deleted when the run ends, not in Ray's shared one, where it would
stay, and its access token in the environment (as it was before, afterwards),
not in ``~/.ray``, provided Ray was not imported before.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import secrets
import shutil
import sys
import tempfile
from collections.abc import Generator
from pathlib import Path
from typing import Any

import numpy as np

from .batch import Task, bounded_heaps, worker
from .datatypes import FileResult
from .errors import UsageError
from .jobs import Job

# What this module sets in the environment for the Ray it starts, put back as it was afterwards.
_RAY_ENV = ("RAY_AUTH_MODE", "RAY_AUTH_TOKEN", "RAY_USAGE_STATS_ENABLED")


def run(task: Task, jobs: list[Job], address: str | None, actors: int) -> Generator[FileResult, None, None]:
    """Results of ``jobs`` from Ray actors, as they finish."""
    saved = {name: os.environ.get(name) for name in _RAY_ENV}
    try:
        yield from _run(task, jobs, address, actors)
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        if "ray" in sys.modules:
            # Ray keeps the token it read: a later Ray in this process reads its own again.
            with contextlib.suppress(Exception):
                sys.modules["ray"]._raylet.AuthenticationTokenLoader.instance().reset_cache()


def _run(task: Task, jobs: list[Job], address: str | None, actors: int) -> Generator[FileResult, None, None]:
    if not address and "ray" not in sys.modules:
        # Ray guards a cluster it starts with a token, which it would save in ~/.ray/auth_token: this
        # run's own token, in the environment its processes inherit, leaves no file behind.  Ray
        # reads both when it is imported.
        os.environ.setdefault("RAY_AUTH_MODE", "token")
        os.environ.setdefault("RAY_AUTH_TOKEN", secrets.token_hex(32))
    try:
        import ray
    except ImportError:
        raise UsageError("--ray needs Ray Data: pip install 'unseen[cluster]'") from None
    if not jobs:
        return
    started_here = not ray.is_initialized()
    scratch = None
    try:
        if started_here:
            os.environ["RAY_USAGE_STATS_ENABLED"] = "0"  # read by ray.init and the processes it starts
            if address:
                ray.init(address=address, log_to_driver=False)
            else:
                scratch = tempfile.mkdtemp(prefix="unseen-ray-", dir=_ray_root())
                ray.init(  # "local": a new Ray here, even where RAY_ADDRESS names another
                    address="local",
                    include_dashboard=False,
                    _node_ip_address="127.0.0.1",
                    log_to_driver=False,
                    _temp_dir=scratch,
                )
                # Ray opens the folder it is given to every user of the machine (0777): its logs and
                # sockets are this run's alone.
                os.chmod(scratch, 0o700)
        rows = [{"source": str(j.source), "target": str(j.target)} for j in jobs]
        dataset = ray.data.from_items(rows, override_num_blocks=len(rows))
        handled = dataset.map_batches(
            _Actor,
            fn_constructor_args=(task,),
            batch_size=1,
            concurrency=max(1, min(actors, len(rows))),
            num_cpus=1,
        )
        for row in handled.iter_rows():
            yield pickle.loads(row["result"])
    finally:
        if started_here:
            ray.shutdown()
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)


def _ray_root() -> str:
    """The folder Ray itself would use (made if missing, as Ray would): its socket paths must stay
    within the 104-107 bytes Unix allows, so not a long ``TMPDIR`` (macOS) unless Ray would use it
    too (``RAY_TMPDIR``; Linux)."""
    if "RAY_TMPDIR" in os.environ:
        root = os.environ["RAY_TMPDIR"]
    elif sys.platform.startswith("linux") and "TMPDIR" in os.environ:
        root = os.environ["TMPDIR"]
    else:
        root = "/tmp" if sys.platform.startswith(("linux", "darwin")) else tempfile.gettempdir()
    root = os.path.abspath(root)
    os.makedirs(root, exist_ok=True)
    return root


class _Actor:
    """One Ray actor: its models are built once, then it takes one file per call."""

    def __init__(self, task: Task) -> None:
        bounded_heaps()  # as a local worker's; Ray's own threads have started, later heaps follow it
        self.handle = worker(task)

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, Any]:
        results = [
            self.handle(Job(Path(str(s)), Path(str(t))))
            for s, t in zip(batch["source"], batch["target"], strict=True)
        ]
        return {"result": np.array([pickle.dumps(r) for r in results], dtype=object)}
