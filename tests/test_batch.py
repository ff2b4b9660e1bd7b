"""Batches: every core, a run that resumes after a kill, one run per folder, caps, no network.

Real files, the real CLI in subprocesses: a folder of generated photos with
the astronaut's face, a few short clips, and the runs a user would make.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import os
import re
import shutil
import signal
import struct
import subprocess
import sys
import threading
import time
import zlib
from multiprocessing import get_context
from multiprocessing.synchronize import Event
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from conftest import FRAMES, make_clip, run_cli, tree_hashes, unseen_cmd, with_sitecustomize, without_cuda
from unseen import batch
from unseen import settings as settings_mod
from unseen.batch import Folder
from unseen.errors import OutputError, UsageError
from unseen.jobs import LOCK, STATE, Job
from unseen.jobs import plan as plan_jobs
from unseen.media.image import open_image
from unseen.plan import Plan
from unseen.settings import Settings

HEAD = np.s_[40:200, 160:290]


def photo_folder(folder: Path, astronaut: np.ndarray, count: int) -> list[Path]:
    """``count`` small photos, each the astronaut's head on its own background (so each file differs)."""
    head = np.asarray(Image.fromarray(astronaut[HEAD]).resize((65, 80)))
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(count):
        rng = np.random.default_rng(i)
        canvas = rng.integers(40, 220, (12, 16, 3)).astype(np.uint8).repeat(10, 0).repeat(10, 1)
        canvas[20:100, 40:105] = head
        path = folder / f"p{i:03d}.png"
        Image.fromarray(canvas).save(path)
        paths.append(path)
    return paths


def outputs(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file() and not p.name.startswith("."))


def test_jobs_run_files_in_parallel_and_stream_one_json_line_each(
    tmp_path: Path, astronaut: np.ndarray
) -> None:
    photo_folder(tmp_path / "in", astronaut, 6)
    run = run_cli("protect", tmp_path / "in", "-o", tmp_path / "out", "--jobs", "2", "--json")
    assert run.code == 0, run.stderr
    records = run.records()
    assert len(records) == 6 and {r["status"] for r in records} == {"protected"}
    assert len(outputs(tmp_path / "out")) == 6


def test_a_rerun_skips_what_is_done_and_says_so(tmp_path: Path, astronaut: np.ndarray) -> None:
    photo_folder(tmp_path / "in", astronaut, 3)
    first = run_cli("protect", tmp_path / "in", "-o", tmp_path / "out", "--jobs", "1")
    assert first.code == 0, first.stderr
    before = tree_hashes(tmp_path / "out")
    again = run_cli("protect", tmp_path / "in", "-o", tmp_path / "out", "--jobs", "1", "--json")
    assert again.code == 0, again.stderr
    assert {r["status"] for r in again.records()} == {"skipped"}
    assert tree_hashes(tmp_path / "out") == before, "nothing is written twice"
    told = run_cli("protect", tmp_path / "in", "-o", tmp_path / "out", "--jobs", "1")
    assert told.code == 0 and "0 done, 3 skipped" in told.stderr, told.stderr
    state = tmp_path / "out" / STATE
    assert oct(state.stat().st_mode & 0o777) == "0o600"
    assert "p000" not in state.read_text() and str(tmp_path) not in state.read_text(), "names no input"


def test_the_closing_lines_name_each_failure_and_why(tmp_path: Path, astronaut: np.ndarray) -> None:
    """In a long batch the failures said as they came have scrolled away: the end names them again."""
    (good,) = photo_folder(tmp_path / "in", astronaut, 1)
    data = good.read_bytes()
    for i in range(22):
        (tmp_path / "in" / f"cut{i:02d}.png").write_bytes(data[: len(data) // 2])
    run = run_cli("protect", tmp_path / "in", "-o", tmp_path / "out", "--jobs", "1")
    assert run.code == 1, run.stderr
    closing = run.stderr[run.stderr.index("1 done, 0 skipped (done before), 22 failed") :].splitlines()
    named = [line for line in closing if line.startswith("  failed: ")]
    assert len(named) == 20 and all("truncated or corrupt image" in line for line in named), closing
    assert f"  failed: {tmp_path / 'in' / 'cut00.png'}: " in run.stderr
    assert closing[-1] == "  and 2 more failed (--json gives one line per file)"


def test_an_input_is_known_by_its_bytes_not_its_name_or_times(tmp_path: Path, astronaut: np.ndarray) -> None:
    """A folder copied with new times, or moved, is still done; a file whose bytes changed is new;
    two files with the same bytes each keep an output of their own."""
    paths = photo_folder(tmp_path / "in", astronaut, 3)
    shutil.copyfile(paths[0], tmp_path / "in" / "same.png")
    first = run_cli("protect", tmp_path / "in", "-o", tmp_path / "out", "--jobs", "1", "--json")
    assert first.code == 0 and len(first.records()) == 4, first.stderr
    before = tree_hashes(tmp_path / "out")
    os.utime(paths[1], (1, 1))
    moved = (tmp_path / "in").rename(tmp_path / "moved")
    again = run_cli("protect", moved, "-o", tmp_path / "out", "--jobs", "1", "--json")
    assert again.code == 0, again.stderr
    assert [r["status"] for r in again.records()] == ["skipped"] * 4
    assert len({r["output"] for r in again.records()}) == 4, "each input is given its own output back"
    assert tree_hashes(tmp_path / "out") == before
    Image.fromarray(astronaut[:120, :160]).save(moved / "p002.png")  # other bytes under the same name
    third = run_cli("protect", moved, "-o", tmp_path / "out", "--jobs", "1", "--json")
    assert third.code == 0, third.stderr
    assert sorted(r["status"] for r in third.records()) == ["protected"] + ["skipped"] * 3
    assert len(outputs(tmp_path / "out")) == 5


def test_with_kept_names_an_input_is_done_only_under_its_own_name(
    tmp_path: Path, astronaut: np.ndarray
) -> None:
    (path,) = photo_folder(tmp_path / "in" / "a", astronaut, 1)
    (tmp_path / "in" / "b").mkdir()
    shutil.copyfile(path, tmp_path / "in" / "b" / path.name)
    args = ("protect", tmp_path / "in", "-o", tmp_path / "out", "--keep-names", "--jobs", "1", "--json")
    assert run_cli(*args).code == 0
    (tmp_path / "out" / "b" / path.name).unlink()  # as if the run was killed before publishing it
    again = run_cli(*args)
    assert again.code == 0, again.stderr
    assert sorted(r["status"] for r in again.records()) == ["protected", "skipped"]
    assert (tmp_path / "out" / "b" / path.name).exists()


def test_a_folder_an_older_unseen_filled_is_refused(tmp_path: Path) -> None:
    with Folder(tmp_path / "out", Settings()):
        (tmp_path / "out" / "a.png").write_bytes(b"an output")
    state = tmp_path / "out" / STATE
    state.write_text(state.read_text().replace(f'"state": {batch.STATE_VERSION}', '"state": 1', 1))
    with pytest.raises(UsageError, match="older unseen"), Folder(tmp_path / "out", Settings()):
        pass


def keyed_digest(key: bytes, path: Path) -> str:
    """An input's digest in a state file, the way `Folder.identity` makes it."""
    return hmac.new(key, path.read_bytes(), hashlib.sha256).hexdigest()[:32]


def test_the_output_folder_alone_cannot_link_an_original_to_its_output(
    tmp_path: Path, astronaut: np.ndarray, state_home: Path
) -> None:
    """Whoever gets the folder (a zip takes the hidden state along) and holds an original must not be
    able to compute the digest the state notes next to its output: the key is not in the folder.
    A run killed midway still resumes, skipping what it published."""
    paths = photo_folder(tmp_path / "in", astronaut, 6)
    command = unseen_cmd("protect", tmp_path / "in", "-o", tmp_path / "out", "--jobs", "1", "-q")
    child = subprocess.Popen(command, start_new_session=True, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and child.poll() is None and not outputs(tmp_path / "out"):
        time.sleep(0.02)
    os.killpg(child.pid, signal.SIGKILL)
    child.wait()
    published = len(outputs(tmp_path / "out"))
    held = b"".join(p.read_bytes() for p in (tmp_path / "out").rglob("*") if p.is_file())
    # What the state notes for each input (a line a kill cut short is no note).
    noted = set(re.findall(r'"input": "([0-9a-f]{32})"', (tmp_path / "out" / STATE).read_text()))
    # Every 16-byte value the folder holds, tried as the key: none gives an original's digest.
    for candidate in {bytes.fromhex(h.decode()) for h in re.findall(rb"[0-9a-f]{32}", held)}:
        assert not {keyed_digest(candidate, p) for p in paths} & noted, "the folder holds its own key"
    (kept,) = (state_home / "unseen" / "runs").iterdir()
    assert oct(kept.stat().st_mode & 0o777) == "0o600" and oct(kept.parent.stat().st_mode & 0o777) == "0o700"
    key = bytes.fromhex(json.loads(kept.read_text())["key"])
    assert keyed_digest(key, paths[0]) in noted, "the key kept privately is the state's"
    assert kept.stem in (tmp_path / "out" / STATE).read_text(), "the state names its key's file"
    rerun = run_cli("protect", tmp_path / "in", "-o", tmp_path / "out", "--jobs", "1", "--json")
    assert rerun.code == 0, rerun.stderr
    assert [r["status"] for r in rerun.records()].count("skipped") == published
    assert len(outputs(tmp_path / "out")) == 6


def test_a_folder_whose_resume_key_is_not_here_is_refused(
    tmp_path: Path, astronaut: np.ndarray, state_home: Path
) -> None:
    """Another user, another machine or a removed key: the rerun can tell nothing as done, and redoing
    everything would put a second output beside each; it says what to do and writes nothing."""
    photo_folder(tmp_path / "in", astronaut, 2)
    args = ("protect", tmp_path / "in", "-o", tmp_path / "out", "--jobs", "1", "-q")
    assert run_cli(*args).code == 0
    before = tree_hashes(tmp_path / "out")
    elsewhere = run_cli(*args, env={**os.environ, "XDG_STATE_HOME": str(tmp_path / "other")})
    assert elsewhere.code == 1, elsewhere.stderr
    assert elsewhere.stderr.strip().count("\n") == 0 and "resume key is not in" in elsewhere.stderr
    assert "write to a new folder" in elsewhere.stderr
    assert tree_hashes(tmp_path / "out") == before and not (tmp_path / "other").exists()
    for kept in (state_home / "unseen" / "runs").iterdir():
        kept.unlink()
    with pytest.raises(OutputError, match="resume key is not in"), Folder(tmp_path / "out", Settings()):
        pass
    assert tree_hashes(tmp_path / "out") == before


def test_a_run_whose_resume_key_cannot_be_kept_leaves_nothing_it_made(
    tmp_path: Path, astronaut: np.ndarray, state_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A state folder that cannot be made (XDG_STATE_HOME a file) refuses the run, naming it, and the
    refused run leaves nothing behind: no output folder it made (nor the folders above it), no lock
    or state in a folder that was there."""
    photo_folder(tmp_path / "in", astronaut, 1)
    (tmp_path / "a file").write_bytes(b"not a folder")
    env = {**os.environ, "XDG_STATE_HOME": str(tmp_path / "a file")}
    new = run_cli("protect", tmp_path / "in", "-o", tmp_path / "made" / "out", "-q", env=env)
    assert new.code == 1 and new.stderr.strip().count("\n") == 0, new.stderr
    assert str(tmp_path / "a file") in new.stderr and "resume keys" in new.stderr
    assert not (tmp_path / "made").exists(), "the refused run left the output folder it made"
    (tmp_path / "there").mkdir()
    (tmp_path / "there" / "mine.txt").write_bytes(b"the user's")
    before = tree_hashes(tmp_path / "there")
    there = run_cli("protect", tmp_path / "in", "-o", tmp_path / "there", "-q", env=env)
    assert there.code == 1 and str(tmp_path / "a file") in there.stderr, there.stderr
    assert tree_hashes(tmp_path / "there") == before
    assert sorted(p.name for p in (tmp_path / "there").iterdir()) == ["mine.txt"]
    # The key kept and then the state not written: neither the state nor the key stays; a lock
    # that was there stays.
    (tmp_path / "locked").mkdir()
    (tmp_path / "locked" / LOCK).touch()

    def full(*_records: object) -> None:
        raise OutputError("disk full")

    monkeypatch.setattr(Folder, "_append", full)
    with pytest.raises(OutputError, match="disk full"), Folder(tmp_path / "locked", Settings()):
        pass
    assert sorted(p.name for p in (tmp_path / "locked").iterdir()) == [LOCK]
    assert not any((state_home / "unseen" / "runs").iterdir())


def test_a_folder_that_held_its_key_has_it_moved_out_and_resumes(
    tmp_path: Path, astronaut: np.ndarray, state_home: Path
) -> None:
    """A folder an unseen of state 2 filled held its key: the rerun skips what is done, moves the key
    out, and says that copies of the folder made before still link outputs to originals."""
    photo_folder(tmp_path / "in", astronaut, 2)
    args = ("protect", tmp_path / "in", "-o", tmp_path / "out", "--jobs", "1")
    assert run_cli(*args, "-q").code == 0
    state = tmp_path / "out" / STATE
    (kept,) = (state_home / "unseen" / "runs").iterdir()
    old = json.loads(kept.read_text())
    kept.unlink()
    lines = state.read_text().splitlines(keepends=True)
    state.write_text(
        json.dumps({"state": 2, "key": old["key"], "settings": old["settings"]}) + "\n" + "".join(lines[1:])
    )
    again = run_cli(*args)
    assert again.code == 0, again.stderr
    assert (
        "0 done, 2 skipped" in again.stderr
        and "note: " in again.stderr
        and "copy of the folder" in again.stderr
    )
    assert old["key"] not in state.read_text() and len(outputs(tmp_path / "out")) == 2
    (moved,) = (state_home / "unseen" / "runs").iterdir()
    assert json.loads(moved.read_text())["key"] == old["key"]
    third = run_cli(*args)
    assert third.code == 0 and "0 done, 2 skipped" in third.stderr and "note" not in third.stderr


@pytest.mark.parametrize("processes", [1, 2])
def test_each_video_says_how_far_it_has_come(tmp_path: Path, processes: int) -> None:
    """The frames each video has written, heard in this process (from the workers' processes through
    a relay), up to the last; and the regions it covered, not the 0 a video without a plan said."""
    (tmp_path / "in").mkdir()
    clips = [make_clip(tmp_path / "in" / f"c{i}.mp4") for i in range(2)]
    heard: dict[Path, list[tuple[int, int]]] = {}
    lock = threading.Lock()

    def frames(source: Path, written: int, total: int) -> None:
        with lock:
            heard.setdefault(source, []).append((written, total))

    jobs = [Job(c.path, tmp_path / "out" / f"o{i}.mp4") for i, c in enumerate(clips)]
    (tmp_path / "out").mkdir()
    results = list(batch.run(batch.Task("protect", Settings()), jobs, processes, frames))
    assert [r.status for r in results] == ["protected"] * 2, results
    assert all(r.regions >= 1 for r in results), results
    for clip in clips:
        said = heard[clip.path]
        assert said[-1] == (FRAMES, FRAMES), said
        assert [w for w, _ in said] == sorted(w for w, _ in said), "one pass counts up"


@pytest.mark.parametrize(
    ("cores", "memory", "jobs", "workers"),
    [
        (16, 16 << 30, None, 4),
        (2, 24 << 30, None, 2),
        (8, 2 << 30, None, 1),
        (8, 0, None, 8),
        (8, 2 << 30, 3, 3),
    ],
)
def test_the_default_workers_fit_in_memory(
    monkeypatch: pytest.MonkeyPatch, cores: int, memory: int, jobs: int | None, workers: int
) -> None:
    """A 12-megapixel photo took 3.5 GB in a worker: every core as a worker would have the kernel end a
    batch of phone photos on most laptops.  Memory unknown: every core; ``--jobs`` as given."""
    monkeypatch.setattr(os, "cpu_count", lambda: cores)
    monkeypatch.setattr(settings_mod, "physical_memory", lambda: memory)
    assert Settings(jobs=jobs).processes() == workers


def test_a_frame_hook_that_fails_loses_a_note_not_the_relay() -> None:
    """The relay that reads the workers' notes ended at a hook's first exception; no one read the
    pipe after that, and once it filled, every worker waited on it for ever (a batch that hung)."""
    heard, told = get_context("spawn").Pipe(duplex=False)
    source = Path("clip.mp4")
    calls: list[int] = []

    def failing(path: Path, written: int, total: int) -> None:
        calls.append(written)
        raise RuntimeError("a hook's own bug")

    with batch._Relay(heard, failing, [Job(source, Path("out.mp4"))]) as relay:
        teller = batch._Teller(told)
        for written in (1, 2, 3):
            teller(source, written, 3) if written == 3 else told.send((batch._key(source), written, 3))
        deadline = time.monotonic() + 5
        while len(calls) < 3 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert relay.thread.is_alive()
    assert calls == [1, 2, 3]


def test_an_input_that_is_not_a_regular_file_is_not_read_to_its_end(
    tmp_path: Path, astronaut: np.ndarray
) -> None:
    """Resume reads each input's bytes: /dev/zero as an input made a batch spin for ever."""
    (photo,) = photo_folder(tmp_path / "in", astronaut, 1)
    run = run_cli("strip", "/dev/zero", photo, "-o", tmp_path / "out", "--jobs", "1", timeout=120)
    assert run.code == 1 and "1 done" in run.stderr and "/dev/zero" in run.stderr, run.stderr


def test_a_folder_holds_one_set_of_settings(tmp_path: Path, astronaut: np.ndarray) -> None:
    photo_folder(tmp_path / "in", astronaut, 1)
    assert run_cli("protect", tmp_path / "in", "-o", tmp_path / "out").code == 0
    other = run_cli("protect", tmp_path / "in", "-o", tmp_path / "out", "--style", "blur")
    assert other.code == 2 and "other settings (style)" in other.stderr


def test_a_folder_holds_the_outputs_of_one_command_and_one_set_of_plans(
    tmp_path: Path, astronaut: np.ndarray
) -> None:
    """A folder ``strip`` filled holds no protected file: protect into it used to skip every input
    as done, exit 0, and leave the faces; a changed plan was skipped the same way."""
    photo_folder(tmp_path / "in", astronaut, 1)
    assert run_cli("strip", tmp_path / "in", "-o", tmp_path / "stripped", "-q").code == 0
    protect = run_cli("protect", tmp_path / "in", "-o", tmp_path / "stripped")
    assert protect.code == 2 and "other settings (mode)" in protect.stderr, protect.stderr
    empty = Plan.model_validate(
        {
            "media": {"sha256": "0" * 64, "kind": "photo", "width": 160, "height": 120, "frames": 1},
            "profile": "default",
            "tracks": [],
        }
    )
    with Folder(tmp_path / "out", Settings(), "protect", {"a.json": empty}):
        (tmp_path / "out" / "a.png").write_bytes(b"an output")  # the folder is kept
    edited = empty.model_copy(update={"profile": "fast"})
    with (
        pytest.raises(UsageError, match=r"other settings \(plans\)"),
        Folder(tmp_path / "out", Settings(), "protect", {"a.json": edited}),
    ):
        pass


def test_a_state_line_cut_short_by_a_kill_is_left_out(tmp_path: Path, astronaut: np.ndarray) -> None:
    photo_folder(tmp_path / "in", astronaut, 3)
    assert run_cli("protect", tmp_path / "in", "-o", tmp_path / "out", "--jobs", "1", "-q").code == 0
    state = tmp_path / "out" / STATE
    state.write_text(state.read_text()[:-20])  # the last note, cut in the middle
    for _ in range(2):  # the rerun's own notes follow the cut line, not on it
        again = run_cli("protect", tmp_path / "in", "-o", tmp_path / "out", "--jobs", "1", "--json")
        assert again.code == 0, again.stderr
        assert {r["status"] for r in again.records()} == {"skipped"}
    assert len(outputs(tmp_path / "out")) == 3
    (tmp_path / "new").mkdir()
    (tmp_path / "new" / STATE).write_text('{"state": 1, "ke')  # killed while writing its first line
    fresh = run_cli("protect", tmp_path / "in", "-o", tmp_path / "new", "--jobs", "1", "-q")
    assert fresh.code == 0 and len(outputs(tmp_path / "new")) == 3, fresh.stderr


def test_an_output_folder_inside_the_input_folder_is_not_taken_as_input(
    tmp_path: Path, astronaut: np.ndarray
) -> None:
    photo_folder(tmp_path / "in", astronaut, 2)
    for _ in range(2):
        run = run_cli("protect", tmp_path / "in", "-o", tmp_path / "in" / "out", "--jobs", "1", "-q")
        assert run.code == 0, run.stderr
    assert len(outputs(tmp_path / "in" / "out")) == 2
    same = run_cli("protect", tmp_path / "in", "-o", tmp_path / "in")
    assert same.code == 2 and "is an input folder" in same.stderr


def test_a_name_that_is_not_utf8_is_still_a_name(tmp_path: Path, astronaut: np.ndarray) -> None:
    """Old cameras and card readers write Latin-1 names; one of them used to crash the whole batch."""
    (first,) = photo_folder(tmp_path / "in", astronaut, 1)
    first.rename(tmp_path / "in" / os.fsdecode(b"caf\xe9.png"))
    photo_folder(tmp_path / "more", astronaut, 2)[1].rename(tmp_path / "in" / "other.png")
    run = run_cli("protect", tmp_path / "in", "-o", tmp_path / "out", "--jobs", "1", "--json")
    assert run.code == 0, run.stderr
    assert [r["status"] for r in run.records()] == ["protected", "protected"]


def test_a_run_leaves_the_temporary_files_of_a_run_in_a_folder_below_alone(tmp_path: Path) -> None:
    """A run removes what a killed run left in its folder, but a folder below it with a lock of its
    own is another run's, whose hidden file may be the output it is writing now."""
    (tmp_path / "out" / "mine").mkdir(parents=True)
    (tmp_path / "out" / "theirs").mkdir()
    left = tmp_path / "out" / "mine" / ".unseen-0123456789ab.part"
    busy = tmp_path / "out" / "theirs" / ".unseen-ba9876543210.part"
    left.write_bytes(b"half a file of a killed run")
    with Folder(tmp_path / "out" / "theirs", Settings()):
        busy.write_bytes(b"the file the other run is writing")
        with Folder(tmp_path / "out", Settings()):
            assert not left.exists() and busy.exists()


def test_a_second_run_into_the_same_folder_is_refused(tmp_path: Path, astronaut: np.ndarray) -> None:
    photo_folder(tmp_path / "in", astronaut, 1)
    with Folder(tmp_path / "out", Settings()):  # another run holds the folder
        run = run_cli("protect", tmp_path / "in", "-o", tmp_path / "out")
        assert (tmp_path / "out" / LOCK).exists()
        assert outputs(tmp_path / "out") == []
    assert run.code == 2 and "another unseen run is writing into" in run.stderr
    assert not (tmp_path / "out").exists(), "a run that made the folder and wrote nothing leaves nothing"


def test_a_batch_killed_at_a_random_point_resumes_to_exactly_one_output_each(
    tmp_path: Path, astronaut: np.ndarray
) -> None:
    photo_folder(tmp_path / "in", astronaut, 100)
    for i in range(5):
        make_clip(tmp_path / "in" / f"v{i}.mp4")
    originals = tree_hashes(tmp_path / "in")
    command = [*unseen_cmd("protect", tmp_path / "in", "-o", tmp_path / "out", "--jobs", "2", "-q")]
    child = subprocess.Popen(command, start_new_session=True, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 300
    # Kill the whole process group once some outputs exist, at a point the seed picks.
    wanted = int(np.random.default_rng(int(time.time())).integers(5, 60))
    while time.monotonic() < deadline and child.poll() is None:
        if len(outputs(tmp_path / "out")) >= wanted:
            break
        time.sleep(0.05)
    os.killpg(child.pid, signal.SIGKILL)
    child.wait()
    partial = len(outputs(tmp_path / "out"))
    assert partial < 105, "the kill came too late to show anything"
    rerun = run_cli("protect", tmp_path / "in", "-o", tmp_path / "out", "--jobs", "2", "--json")
    assert rerun.code == 0, rerun.stderr
    statuses = [r["status"] for r in rerun.records()]
    assert statuses.count("skipped") >= partial - 2 and len(statuses) == 105
    written = outputs(tmp_path / "out")
    assert len(written) == 105, f"{len(written)} outputs for 105 inputs (killed at {partial})"
    assert len({r["output"] for r in rerun.records()}) == 105, "no input has two outputs"
    assert not list((tmp_path / "out").rglob(".unseen-*.part")), "no temporary file is left"
    assert tree_hashes(tmp_path / "in") == originals


def bomb_png(path: Path, width: int, height: int) -> Path:
    """A few hundred bytes that declare ``width`` x ``height`` pixels."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    body = zlib.compress(b"\0" * 4096)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", body) + chunk(b"IEND", b"")
    )
    return path


def test_a_decompression_bomb_is_refused_before_decoding(tmp_path: Path) -> None:
    bomb = bomb_png(tmp_path / "bomb.png", 60_000, 60_000)
    started = time.monotonic()
    run = run_cli("protect", bomb, "-o", tmp_path / "out.png")
    assert run.code == 1 and "over the limit of 250,000,000" in run.stderr and "--max-pixels" in run.stderr
    assert time.monotonic() - started < 60 and not (tmp_path / "out.png").exists()
    strip = run_cli("strip", bomb, "-o", tmp_path / "clean.png")
    assert strip.code == 1 and "--max-pixels" in strip.stderr
    # check names the same option, and takes it: the picture is refused there too, never called clean
    for faces in ("--faces", "--no-faces"):
        check = run_cli("check", bomb, faces)
        assert check.code == 1 and "--max-pixels" in check.stderr, check.stderr
    lower = run_cli("check", bomb_png(tmp_path / "small.png", 100, 100), "--max-pixels", "5000")
    assert lower.code == 1 and "over the limit of 5,000" in lower.stderr, lower.stderr


def gif_with_a_far_frame(path: Path, x: int, y: int) -> Path:
    """A two-frame 8x8 GIF whose second frame is placed at (x, y), far past the declared canvas."""
    frames = [Image.fromarray(np.full((8, 8, 3), v, np.uint8)) for v in (50, 200)]
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=100, optimize=False)
    data = bytearray(path.read_bytes())
    # Image descriptors: 0x2C, then left, top, width, height (little-endian); the second frame's.
    at = [i for i in range(len(data) - 9) if data[i] == 0x2C and data[i + 5 : i + 9] == b"\x08\x00\x08\x00"][
        1
    ]
    data[at + 1 : at + 5] = struct.pack("<HH", x, y)
    path.write_bytes(bytes(data))
    return path


def test_a_later_gif_frame_is_held_to_the_pixel_cap(tmp_path: Path) -> None:
    """Pillow grows a GIF's canvas when it seeks to a frame placed past it: a 1 KB file reached
    65008x65008 pixels at its second frame, under no cap at all while unseen's replaced Pillow's."""
    bomb = gif_with_a_far_frame(tmp_path / "bomb.gif", 65_000, 65_000)
    for command, target in (("protect", "out.gif"), ("strip", "clean.gif")):
        run = run_cli(command, bomb, "-o", tmp_path / target)
        assert run.code == 1 and "over the limit of" in run.stderr, run.stderr
        assert not (tmp_path / target).exists()
    small = gif_with_a_far_frame(tmp_path / "small.gif", 2000, 2000)  # 4 MP from its second frame
    capped = run_cli("protect", small, "-o", tmp_path / "small-out.gif", "--max-pixels", "1000000")
    assert capped.code == 1 and "2008x2008" in capped.stderr, capped.stderr


def test_an_animation_is_held_to_the_pixel_cap_in_all(tmp_path: Path) -> None:
    """Every frame is held whole at the canvas's size: a thousand one-pixel frames on a 640x640
    canvas, a 23 KB GIF, took 2.5 GB, each frame under the cap."""
    canvas = Image.new("L", (100, 100))
    changes = [Image.new("L", (100, 100), 255 * (n % 2 == 0)) for n in range(30)]
    canvas.save(tmp_path / "long.gif", save_all=True, append_images=changes, duration=40)
    for command in ("protect", "strip"):  # 31 frames of 10,000 pixels, against four times 50,000
        run = run_cli(command, tmp_path / "long.gif", "-o", tmp_path / command, "--max-pixels", "50000")
        assert run.code == 1, (command, run.stderr)
        assert "first 21 frames hold 210,000 pixels in all, over the limit of 200,000" in run.stderr, (
            run.stderr
        )
    fits = run_cli("protect", tmp_path / "long.gif", "-o", tmp_path / "fits", "--max-pixels", "77500")
    assert fits.code == 0, fits.stderr


def test_pillows_own_guard_comes_back_when_two_readers_overlap(tmp_path: Path) -> None:
    """`unseen check` reads two files at once; Pillow's bomb guard is one setting for the process,
    off while any reader is inside `open_image` and back as it was once the last one leaves."""
    paths = [tmp_path / "a.png", tmp_path / "b.png"]
    for path in paths:
        Image.new("RGB", (8, 8)).save(path)
    before = Image.MAX_IMAGE_PIXELS
    first, second = (open_image(path) for path in paths)
    first.__enter__()
    second.__enter__()
    first.__exit__(None, None, None)  # the first out is not the last
    assert Image.MAX_IMAGE_PIXELS is None, "the second reader is still under unseen's own guard"
    second.__exit__(None, None, None)
    assert before == Image.MAX_IMAGE_PIXELS


def test_the_pixel_cap_applies_to_video_frames_and_can_be_raised(tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "walk.mp4").path
    refused = run_cli("protect", clip, "-o", tmp_path / "a.mp4", "--max-pixels", "10000")
    assert refused.code == 1 and "160x96" in refused.stderr and not (tmp_path / "a.mp4").exists()
    allowed = run_cli("protect", clip, "-o", tmp_path / "b.mp4", "--max-pixels", "20000")
    assert allowed.code == 0, allowed.stderr


@without_cuda
def test_cuda_is_never_a_silent_fallback(tmp_path: Path, astronaut: np.ndarray) -> None:
    (source,) = photo_folder(tmp_path / "in", astronaut, 1)
    run = run_cli("protect", source, "-o", tmp_path / "out.png", "--device", "cuda")
    assert run.code == 2 and "unseen[gpu]" in run.stderr and not (tmp_path / "out.png").exists()


@without_cuda
def test_cuda_with_both_onnxruntime_packages_says_which_files_won(monkeypatch: pytest.MonkeyPatch) -> None:
    """`pip install 'unseen[gpu]'` installs onnxruntime and onnxruntime-gpu into one folder; when the
    CPU package's files are the ones in place, the error says how to put the GPU package's back."""
    import importlib.metadata

    real = importlib.metadata.distribution
    monkeypatch.setattr(
        importlib.metadata,
        "distribution",
        lambda name: real("onnxruntime" if name == "onnxruntime-gpu" else name),
    )
    with pytest.raises(UsageError, match="--force-reinstall --no-deps onnxruntime-gpu"):
        Settings(device="cuda").check_device()


@without_cuda
def test_a_device_that_cannot_start_fails_once_before_the_workers(
    tmp_path: Path, astronaut: np.ndarray
) -> None:
    """A library caller skipping `check_device` (or a CUDA whose libraries do not load) gets the
    `UsageError` from the parent, not a pool broken in every worker's start-up."""
    photo_folder(tmp_path / "in", astronaut, 2)
    jobs = plan_jobs([tmp_path / "in"], tmp_path / "out", out_format="same", keep_names=False)
    with pytest.raises(UsageError, match="CUDAExecutionProvider"):
        list(batch.run(batch.Task("protect", Settings(device="cuda")), jobs, 2))
    assert not (tmp_path / "out").exists() or outputs(tmp_path / "out") == []


NO_NETWORK = """
import os, socket
_log = os.environ["UNSEEN_NET_LOG"]
def _refuse(*args, **kwargs):
    with open(_log, "a") as fh:
        fh.write(repr(args[:2]) + "\\n")
    raise OSError("network access attempted")
_connect = socket.socket.connect
def _guarded(self, address):
    if self.family in (socket.AF_INET, socket.AF_INET6):
        _refuse(address)
    return _connect(self, address)
socket.socket.connect = _guarded
socket.getaddrinfo = _refuse
socket.create_connection = _refuse
"""


def test_no_network_in_a_parallel_batch_or_a_video(tmp_path: Path, astronaut: np.ndarray) -> None:
    log = tmp_path / "net.log"
    env = with_sitecustomize(tmp_path / "hooks", NO_NETWORK, UNSEEN_NET_LOG=str(log))
    photo_folder(tmp_path / "in", astronaut, 4)
    make_clip(tmp_path / "in" / "clip.mp4")
    run = run_cli("protect", tmp_path / "in", "-o", tmp_path / "out", "--jobs", "2", env=env)
    assert run.code == 0, run.stderr
    assert len(outputs(tmp_path / "out")) == 5
    assert not log.exists(), f"network attempted: {log.read_text() if log.exists() else ''}"


def test_ctrl_c_in_a_parallel_batch_leaves_no_partial_output(tmp_path: Path, astronaut: np.ndarray) -> None:
    photo_folder(tmp_path / "in", astronaut, 40)
    originals = tree_hashes(tmp_path / "in")
    child = subprocess.Popen(
        unseen_cmd("protect", tmp_path / "in", "-o", tmp_path / "out", "--jobs", "2"),
        start_new_session=True, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and len(outputs(tmp_path / "out")) < 3:
        time.sleep(0.05)
    os.killpg(child.pid, signal.SIGINT)  # what a terminal sends the whole foreground group
    _, stderr = child.communicate(timeout=120)
    assert child.returncode == 130, stderr
    assert not list((tmp_path / "out").rglob(".unseen-*.part"))
    rerun = run_cli("protect", tmp_path / "in", "-o", tmp_path / "out", "--jobs", "2", "--json")
    assert rerun.code == 0 and len(outputs(tmp_path / "out")) == 40
    assert tree_hashes(tmp_path / "in") == originals


@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="reads the process tree from /proc (Linux)")
@pytest.mark.parametrize("after_s", [0.0, 0.3, 0.8])
def test_ctrl_c_while_the_workers_start_shows_no_traceback(
    tmp_path: Path, astronaut: np.ndarray, after_s: float
) -> None:
    """Ctrl-C reaches the whole process group, workers still importing too: they printed their
    own KeyboardInterrupt tracebacks (and died, breaking the pool).  They are born holding it back
    until their handlers are in place."""
    photo_folder(tmp_path / "in", astronaut, 12)
    child = subprocess.Popen(
        unseen_cmd("protect", tmp_path / "in", "-o", tmp_path / "out", "--jobs", "2"),
        start_new_session=True, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while not _workers(child.pid) and time.monotonic() < deadline:
        time.sleep(0.005)
    time.sleep(after_s)
    os.killpg(child.pid, signal.SIGINT)
    _, stderr = child.communicate(timeout=120)
    assert child.returncode == 130 and "Traceback" not in stderr, stderr
    assert not list((tmp_path / "out").rglob(".unseen-*.part")) if (tmp_path / "out").exists() else True


def _workers(parent: int) -> list[int]:
    """The batch's worker processes: the parent's children, less multiprocessing's resource tracker."""
    found = []
    for task in Path(f"/proc/{parent}/task").iterdir():
        try:
            children = (task / "children").read_text().split()
        except FileNotFoundError:
            continue  # a thread that ended since the listing (the pool's, as the run closes)
        for child in children:
            with contextlib.suppress(OSError):
                if b"resource_tracker" not in Path(f"/proc/{child}/cmdline").read_bytes():
                    found.append(int(child))
    return found


def _living(pids: list[int]) -> list[int]:
    """Those of ``pids`` still running (neither gone nor a zombie waiting to be reaped)."""
    return [
        pid
        for pid in pids
        if Path(f"/proc/{pid}/stat").exists() and Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    ]


def _started(child: subprocess.Popen[str], folder: Path) -> list[int]:
    """Wait until the batch's workers are at work (a temporary file is being written); their pids."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and child.poll() is None:
        if folder.exists() and list(folder.glob(".unseen-*.part")) and _workers(child.pid):
            return _workers(child.pid)
        time.sleep(0.02)
    pytest.fail("the batch's workers never started")


@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="reads the process tree from /proc (Linux)")
def test_a_worker_killed_or_a_killed_parent_loses_nothing(tmp_path: Path, astronaut: np.ndarray) -> None:
    """A worker the out-of-memory killer ends is one line and exit 1, not a traceback; a run whose
    parent alone is killed stops its workers, rather than leaving them publishing into a folder
    whose lock is gone while the rerun starts."""
    photo_folder(tmp_path / "in", astronaut, 30)
    command = unseen_cmd("protect", tmp_path / "in", "-o", tmp_path / "out", "--jobs", "2")
    # SIGTERM too (`kill`, earlyoom): the other worker must still end when the pool breaks, or
    # CPython 3.12/3.13's pool waits for it for ever.
    for sig in (signal.SIGKILL, signal.SIGTERM):
        child = subprocess.Popen(command, start_new_session=True, stderr=subprocess.PIPE, text=True)
        os.kill(_started(child, tmp_path / "out")[0], sig)
        _, stderr = child.communicate(timeout=120)
        assert child.returncode == 1 and "a worker process ended" in stderr, (sig, stderr)
        assert "Traceback" not in stderr
        if sig == signal.SIGTERM:  # both workers unwound their files, and the run waited for them
            assert not list((tmp_path / "out").rglob(".unseen-*.part"))
    child = subprocess.Popen(command, start_new_session=True, stderr=subprocess.DEVNULL, text=True)
    workers = _started(child, tmp_path / "out")
    child.kill()
    child.wait()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and any(Path(f"/proc/{w}").exists() for w in workers):
        time.sleep(0.05)
    assert not _living(workers), "the workers outlived their parent"
    assert not list((tmp_path / "out").rglob(".unseen-*.part"))
    rerun = run_cli("protect", tmp_path / "in", "-o", tmp_path / "out", "--jobs", "2", "--json")
    assert rerun.code == 0 and len(outputs(tmp_path / "out")) == 30, rerun.stderr


def test_closing_a_parallel_run_early_stops_its_workers(tmp_path: Path, astronaut: np.ndarray) -> None:
    """The CLI closes the run when it stops early (Ctrl-C while a result is printed): the workers
    must stop then, with no file queued behind them started, not when the pool has done them all."""
    photo_folder(tmp_path / "in", astronaut, 30)
    jobs = plan_jobs([tmp_path / "in"], tmp_path / "out", out_format="same", keep_names=False)
    run = batch.run(batch.Task("protect", Settings()), jobs, 2)
    first = next(run)
    assert first.status == "protected"
    started = time.monotonic()
    run.close()
    assert time.monotonic() - started < 60
    if Path("/proc/self/task").exists():
        # This process's children that are a pool's workers (an earlier test may have left exiftool).
        living = [
            p
            for p in _living(_workers(os.getpid()))
            if b"spawn_main" in Path(f"/proc/{p}/cmdline").read_bytes()
        ]
        assert living == [], "close returned before its workers ended"
    time.sleep(1.0)  # a worker left running would go on writing
    written = outputs(tmp_path / "out")
    assert len(written) < len(jobs)
    time.sleep(2.0)
    assert outputs(tmp_path / "out") == written
    assert not list((tmp_path / "out").rglob(".unseen-*.part"))


def _deaf(listening: Event) -> None:
    signal.signal(batch.GENTLE, signal.SIG_IGN)
    listening.set()
    time.sleep(600)


def test_a_worker_that_does_not_stop_is_killed_after_a_while() -> None:
    """An interrupted run waits for its workers to unwind their files, but not for ever: one that
    does not end (a native call that never returns) is killed, and the rerun removes what it left."""
    context = get_context("spawn")
    listening = context.Event()
    worker = context.Process(target=_deaf, args=(listening,))
    worker.start()
    assert listening.wait(60)
    started = time.monotonic()
    batch._interrupt([worker], patience_s=0.5)
    worker.join(10)
    assert worker.exitcode == -signal.SIGKILL
    assert 0.5 <= time.monotonic() - started < 10


def test_check_judges_a_folder_as_it_would_be_shared(tmp_path: Path, astronaut: np.ndarray) -> None:
    """`check DIR` left out hidden files and folders and did not enter a linked folder, so a folder
    holding an original under `.thumbs/` or behind a link was called clean; a zip takes both
    (found in review).  A batch's own state and lock in an output folder are not judged."""
    face = Image.fromarray(astronaut)
    safe = tmp_path / "safe"
    assert (
        run_cli("protect", photo_folder(tmp_path / "in", astronaut, 1)[0], "-o", safe / "one.png").code == 0
    )
    assert run_cli("protect", tmp_path / "in", "-o", tmp_path / "batch").code == 0
    assert {LOCK, STATE} <= {p.name for p in (tmp_path / "batch").iterdir()}
    assert run_cli("check", tmp_path / "batch").code == 0, "a batch's own files are not judged"
    # Under those names, anything else is (found in review): a state of the older kind, which held
    # its key beside the digests, and a photo.
    state = tmp_path / "batch" / STATE
    lines = state.read_text().splitlines()
    state.write_text("\n".join([json.dumps({"state": 2, "key": "00" * 16}), *lines[1:]]) + "\n")
    assert run_cli("check", tmp_path / "batch").code != 0
    state.write_text("\n".join(lines) + "\n")
    (tmp_path / "batch" / "sub").mkdir()
    face.save(tmp_path / "batch" / "sub" / LOCK, "PNG")
    assert run_cli("check", tmp_path / "batch").code == 3
    (tmp_path / "batch" / "sub" / LOCK).unlink()
    assert run_cli("check", safe).code == 0
    for where in (safe / ".thumbs" / "IMG_2041.png", safe / ".IMG_2042.png"):
        where.parent.mkdir(exist_ok=True)
        face.save(where)
        found = run_cli("check", safe, "--json")
        assert found.code == 3 and str(where) in found.stdout, found.stdout
        where.unlink()
    elsewhere = tmp_path / "usb" / "day2"
    elsewhere.mkdir(parents=True)
    face.save(elsewhere / "IMG_2043.png")
    (safe / "day2").symlink_to(elsewhere, target_is_directory=True)
    (elsewhere / "loop").symlink_to(safe, target_is_directory=True)  # a link back up ends there
    found = run_cli("check", safe, "--json")
    assert found.code == 3 and "IMG_2043.png" in found.stdout, found.stdout


FREED_FRAMES = """
import ctypes, resource, sys
import numpy as np
from unseen import batch
ctypes.CDLL(None).prctl(41, 1, 0, 0, 0)  # PR_SET_THP_DISABLE: a huge page would hide the faults counted
if sys.argv[1] == "bounded":
    batch.bounded_heaps()
def faults():
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt
frames = [np.ones(3 << 20, np.uint8) for _ in range(4)]
del frames
before = faults()
for _ in range(20):
    frames = [np.ones(3 << 20, np.uint8) for _ in range(4)]
    del frames
print(faults() - before)
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's heap settings: Linux only")
def test_frames_freed_and_taken_again_reuse_their_pages(tmp_path: Path) -> None:
    """A video's frame buffers, freed and allocated again each frame, keep their pages.

    Four 3 MiB buffers freed together leave a free top larger than glibc's own
    trim threshold (twice the largest buffer it has mapped), so without the
    settings each round hands 12 MiB back and faults it in again (3,072 pages).
    """
    pages_a_round = 4 * (3 << 20) // 4096

    # The heap's settings as glibc starts them, not as a shell or a distribution tuned them.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MALLOC_", "GLIBC_TUNABLES"))}

    def faults(mode: str) -> int:
        done = subprocess.run(
            [sys.executable, "-c", FREED_FRAMES, mode],
            capture_output=True,
            text=True,
            check=True,
            cwd=tmp_path,
            env=env,
        )
        return int(done.stdout)

    assert faults("as glibc starts") > 10 * pages_a_round  # the guard below has something to show
    assert faults("bounded") < pages_a_round


PINNED_PEAK = """
import os
import numpy as np
from unseen import batch
batch.bounded_heaps()
def resident():
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") >> 20
buffers = [np.ones(24 << 20, np.uint8) for _ in range(20)]
del buffers[:19]  # the last one keeps the freed space below it inside the heap
peak = resident()
handle = batch._trimmed(lambda job: None)
handle(None)  # a file ends
print(peak, resident())
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's heap settings: Linux only")
def test_a_worker_hands_a_files_freed_memory_back_after_it(tmp_path: Path) -> None:
    """Kept for reuse during a file, the heaps' free pages are handed back once it ends, when
    there are many: a worker that protected a large clip does not hold its peak for the rest of
    the batch."""
    done = subprocess.run(
        [sys.executable, "-c", PINNED_PEAK], capture_output=True, text=True, check=True, cwd=tmp_path
    )
    peak, after = map(int, done.stdout.split())
    assert peak - after > 300, (peak, after)  # MiB: 456 of the 480 lay freed under the last buffer
