"""The Ray Data path: the same work as a local batch, on a local Ray (dashboard off, loopback only)."""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from PIL import Image

from conftest import produced, run_cli
from test_batch import photo_folder
from unseen import cluster
from unseen.batch import Task
from unseen.jobs import Job
from unseen.settings import Settings

ray = pytest.importorskip("ray", reason="Ray is not installed: pip install 'unseen[cluster]' (.ci/run does)")


def covered(original: Path, written: Path) -> np.ndarray:
    a = np.asarray(Image.open(original).convert("RGB"))
    b = np.asarray(Image.open(written).convert("RGB"))
    return np.asarray((a != b).any(axis=-1))


def test_ray_gives_the_masks_of_the_local_batch_and_resumes(tmp_path: Path, astronaut: np.ndarray) -> None:
    """...and the Ray it starts leaves nothing behind: no session folder (its logs name the program,
    its paths and the hours it ran) in the temporary folder, no token in the home folder."""
    photos = photo_folder(tmp_path / "in", astronaut, 4)
    local = run_cli("protect", tmp_path / "in", "-o", tmp_path / "local", "--keep-names", "--jobs", "1")
    assert local.code == 0, local.stderr
    home = tmp_path / "home"
    home.mkdir()
    # Ray's socket paths must fit in 107 bytes: a short temporary folder, as /tmp is.
    scratch = Path(tempfile.mkdtemp(prefix="t", dir="/tmp"))
    env = {**os.environ, "HOME": str(home), "TMPDIR": str(scratch)}
    command = ("protect", tmp_path / "in", "-o", tmp_path / "ray", "--keep-names", "--ray", "local", "--json")
    try:
        on_ray = run_cli(*command, env=env)
        assert on_ray.code == 0, on_ray.stderr
        assert {r["status"] for r in on_ray.records()} == {"protected"}
        assert [p.name for p in produced(tmp_path / "ray")] == [p.name for p in photos]
        for photo in photos:
            mask_local = covered(photo, tmp_path / "local" / photo.name)
            mask_ray = covered(photo, tmp_path / "ray" / photo.name)
            assert mask_local.any() and np.array_equal(mask_local, mask_ray), photo.name
        assert list(scratch.iterdir()) == [] and list(home.iterdir()) == []
        again = run_cli(*command, env=env)
        assert again.code == 0 and {r["status"] for r in again.records()} == {"skipped"}, again.stderr
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def test_a_ray_that_fails_to_start_leaves_no_folder_and_the_environment_as_it_was(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(**kwargs: object) -> None:
        assert Path(str(kwargs["_temp_dir"])).parent == tmp_path  # where Ray itself would have put it
        raise RuntimeError("Ray did not start")

    fake = SimpleNamespace(is_initialized=lambda: False, init=refuse, shutdown=lambda: None)
    monkeypatch.setitem(sys.modules, "ray", fake)
    monkeypatch.delenv("RAY_TMPDIR", raising=False)
    monkeypatch.delenv("RAY_USAGE_STATS_ENABLED", raising=False)
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    job = Job(tmp_path / "in.png", tmp_path / "out.png")
    with pytest.raises(RuntimeError, match="did not start"):
        list(cluster.run(Task("protect", Settings()), [job], None, 1))
    assert list(tmp_path.iterdir()) == []
    assert "RAY_USAGE_STATS_ENABLED" not in os.environ


def test_the_ray_started_here_keeps_its_folder_to_this_user(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ray makes the folder it is given readable and writable by every user; unseen closes it again."""
    made: list[Path] = []

    def init(**kwargs: object) -> None:
        made.append(Path(str(kwargs["_temp_dir"])))
        made[0].chmod(0o777)  # what Ray does

    def from_items(*args: object, **kwargs: object) -> None:
        assert made[0].stat().st_mode & 0o777 == 0o700
        raise RuntimeError("stop here")

    fake = SimpleNamespace(
        is_initialized=lambda: False,
        init=init,
        shutdown=lambda: None,
        data=SimpleNamespace(from_items=from_items),
    )
    monkeypatch.setitem(sys.modules, "ray", fake)
    monkeypatch.delenv("RAY_TMPDIR", raising=False)
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    job = Job(tmp_path / "in.png", tmp_path / "out.png")
    with pytest.raises(RuntimeError, match="stop here"):
        list(cluster.run(Task("protect", Settings()), [job], None, 1))
    assert made and not made[0].exists()
