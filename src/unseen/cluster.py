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
(docs/cluster.md).
"""

from __future__ import annotations

import os
import pickle
from collections.abc import Generator
from pathlib import Path
from typing import Any

import numpy as np

from .batch import Task, worker
from .datatypes import FileResult
from .errors import UsageError
from .jobs import Job


def run(task: Task, jobs: list[Job], address: str | None, actors: int) -> Generator[FileResult, None, None]:
    """Results of ``jobs`` from Ray actors, as they finish."""
    try:
        import ray
    except ImportError:
        raise UsageError("--ray needs Ray Data: pip install 'unseen[cluster]'") from None
    if not jobs:
        return
    started_here = not ray.is_initialized()
    if started_here:
        os.environ["RAY_USAGE_STATS_ENABLED"] = "0"  # read by ray.init and the processes it starts
        if address:
            ray.init(address=address, log_to_driver=False)
        else:
            ray.init(include_dashboard=False, _node_ip_address="127.0.0.1", log_to_driver=False)
    try:
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


class _Actor:
    """One Ray actor: its models are built once, then it takes one file per call."""

    def __init__(self, task: Task) -> None:
        self.handle = worker(task)

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, Any]:
        results = [
            self.handle(Job(Path(str(s)), Path(str(t))))
            for s, t in zip(batch["source"], batch["target"], strict=True)
        ]
        return {"result": np.array([pickle.dumps(r) for r in results], dtype=object)}
