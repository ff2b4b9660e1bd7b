"""The library entry point, as the README shows it: no printing, a result object, errors as exceptions."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import unseen
from conftest import FACE, changed_share, pixels, save


def test_protect_path_returns_a_result_and_prints_nothing(
    tmp_path: Path, astronaut: np.ndarray, capfd: pytest.CaptureFixture[str]
) -> None:
    source = save(astronaut, tmp_path / "in.png")
    target = tmp_path / "out" / "safe.png"
    result = unseen.protect_path(source, target, unseen.Settings(style="fill"))
    assert result.status == "protected" and result.error is None
    assert result.output == target and result.faces >= 1 and result.regions >= 1
    assert changed_share(pixels(source), pixels(target), FACE, 0) >= 0.9
    assert capfd.readouterr() == ("", "")


def test_bad_input_is_a_failed_result_not_a_crash(tmp_path: Path) -> None:
    source = tmp_path / "broken.jpg"
    source.write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    result = unseen.protect_path(source, tmp_path / "out.jpg")
    assert result.status == "failed" and result.error
    assert not (tmp_path / "out.jpg").exists()


def test_refusing_to_overwrite_raises_a_usage_error(tmp_path: Path, astronaut: np.ndarray) -> None:
    source = save(astronaut, tmp_path / "in.png")
    with pytest.raises(unseen.UsageError):
        unseen.protect_path(source, source)


def test_centerface_weights_are_constants_not_inputs() -> None:
    # The published graph also lists its weights as inputs; left so, onnxruntime cannot fold or
    # fuse them and runs the network at half speed.
    from unseen.detect.centerface import CenterFace

    session = CenterFace(unseen.Settings(threads=1)).session
    assert [i.name for i in session.get_inputs()] == ["input.1"]
