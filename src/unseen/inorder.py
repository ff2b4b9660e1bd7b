"""Work handed to a few threads, its results taken back in the order it was handed over.

Three stages do this, each holding only a few items at a time: the encoder's
outbox (`unseen.media.video_out.Outbox`), the audit of a video's frames
(`unseen.verify.audit.Beside`) and `unseen check`'s files
(`unseen.check.Checker.check_all`).  Each waits for the oldest item once more
than ``depth`` are pending, and takes back every finished one before it.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Generic, ParamSpec, TypeVar

P = ParamSpec("P")
T = TypeVar("T")


class InOrder(Generic[T]):
    """``put`` starts work on the pool and gives back the results that are ready, oldest first."""

    def __init__(self, workers: int, depth: int, name: str) -> None:
        self._pool = ThreadPoolExecutor(workers, name)
        self._depth = depth
        self._queue: deque[Future[T]] = deque()

    def put(self, work: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> list[T]:
        """Start ``work(*args, **kwargs)``; the results ready, in order.

        An item's error is raised here, unless results before it are being handed back: they
        come first, and the error is raised by the next call (``put`` or `rest`).  A caller that
        stopped at the error would otherwise never see them (a file already judged).
        """
        self._queue.append(self._pool.submit(work, *args, **kwargs))
        ready: list[T] = []
        while self._queue and (len(self._queue) > self._depth or self._queue[0].done()):
            if ready and self._queue[0].exception() is not None:  # waits for it to end
                break
            ready.append(self._queue.popleft().result())
        return ready

    def rest(self) -> Iterator[T]:
        """Every result still pending, in order, each as soon as it is ready."""
        while self._queue:
            yield self._queue.popleft().result()

    def stop(self) -> None:
        """Drops the work that has not started and waits for the work that has."""
        self._pool.shutdown(wait=True, cancel_futures=True)
