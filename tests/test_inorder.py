"""`InOrder`: results in the order the work was handed over, and none lost to a later error."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from unseen.check import Checker
from unseen.datatypes import Detections
from unseen.detect import BACKENDS, FaceFinder, Pass, Plan
from unseen.inorder import InOrder
from unseen.settings import Settings
from unseen.verify.audit import Audit


def test_results_come_back_in_the_order_handed_over() -> None:
    def late(value: int) -> int:
        time.sleep(0.05 * (5 - value))  # the first handed over finishes last
        return value

    work = InOrder[int](3, 2, "test-inorder")
    try:
        got = [r for value in range(5) for r in work.put(late, value)]
        got += list(work.rest())
    finally:
        work.stop()
    assert got == [0, 1, 2, 3, 4]


def test_a_later_error_waits_until_the_results_before_it_are_handed_back() -> None:
    """The slow first item is ready when the failed second one is: the first comes back, and the
    error is raised by the next call."""
    first_done = threading.Event()

    def slow() -> str:
        time.sleep(0.3)
        first_done.set()
        return "a"

    def broken() -> str:
        first_done.wait()
        raise RuntimeError("b failed")

    work = InOrder[str](2, 2, "test-inorder")
    try:
        assert work.put(slow) == []
        assert work.put(broken) == []
        assert work.put(slow) == ["a"]  # over the depth: waits for "a", then finds the error behind it
        with pytest.raises(RuntimeError, match="b failed"):
            list(work.rest())
    finally:
        work.stop()


@BACKENDS.register("test-slow-or-broken")
class _SlowOrBroken:
    """Takes 0.5 s on a picture whose first pixel is 10 and fails on one whose first pixel is 20."""

    def __init__(self, settings: Settings) -> None:
        pass

    def detect(self, rgb: np.ndarray, threshold: float) -> Detections:
        if rgb[0, 0, 0] == 20:
            raise RuntimeError("the network failed on this picture")
        if rgb[0, 0, 0] == 10:
            time.sleep(0.5)
        return Detections.empty()


def test_check_all_reports_in_order_around_a_file_that_breaks_the_detector(tmp_path: Path) -> None:
    """Two lanes judge a slow clean file, one that breaks the detector and a third: every verdict
    comes in the files' order, as judging one file at a time gives them, and the broken file's
    error is its own failed verdict (`InternalError`), never a clean one; it used to end the run."""
    files = []
    for name, value in (("a.png", 10), ("b.png", 20), ("c.png", 30)):
        Image.fromarray(np.full((64, 64, 3), value, np.uint8)).save(tmp_path / name)
        files.append(tmp_path / name)
    settings = Settings(threads=2)
    plan = Plan(passes=(Pass("test-slow-or-broken", 1.0, 0.5),))
    checker = Checker(settings, use_exiftool=False, faces=False)
    checker.audit = Audit(FaceFinder(settings, plan), settings, plan)
    judged = list(checker.check_all(files))
    assert [r.input for r in judged] == files
    assert [r.status for r in judged] == ["clean", "failed", "clean"]
    assert judged[1].error is not None and judged[1].error.startswith("internal error")
    assert "RuntimeError" in judged[1].error and "the network failed on this picture" in judged[1].error
