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
from concurrent.futures import Future, ThreadPoolExecutor, wait
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
        """Drops the work that has not started and waits for the work that has, even through another
        Ctrl-C (raised once the wait is over): the caller may free what that work uses as soon as
        this returns (the encoder's container is closed next; FFmpeg crashed writing into it).

        The wait is on the futures, not the pool's threads: on CPython 3.11 a join that Ctrl-C
        interrupts marks the thread as ended, and joining it again returns at once.
        """
        self._pool.shutdown(wait=False, cancel_futures=True)
        # Only the work that started: `wait` would never hear of a future cancelled here.
        running = [f for f in self._queue if not f.cancelled()]
        interrupted: KeyboardInterrupt | None = None
        while True:
            try:
                wait(running)
                break
            except KeyboardInterrupt as exc:
                interrupted = interrupted or exc
        if interrupted is not None:
            raise interrupted
