"""Faults around the files: a full disk, an output folder nobody can write, a run stopped by a signal.

Each test runs the real command line in a child process and then looks at
what is on disk.  The contract: no output that is not whole (no half file,
no ``.unseen-*.part`` under an output's name), a clear one-line error, the
originals byte-identical, and the run can be done again.  Only SIGKILL, which
no program can catch, may leave a temporary file behind, under its hidden
name; the test says whether it did.

Resuming a run from a state file is not built yet: "done again" here means
that the same command into a fresh folder completes, and that the same
command into a folder a stopped run already wrote to refuses to overwrite
anything, with a message saying so.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image

from conftest import (
    BOOKKEEPING,
    REPORTS,
    make_clip,
    run_cli,
    save,
    tree_hashes,
    unseen_cmd,
    with_sitecustomize,
)
from unseen import batch, write
from unseen.datatypes import FileResult
from unseen.jobs import Job
from unseen.settings import Settings
from unseen.write import staged

if sys.platform != "win32":  # the tests that need them are skipped there; the rest must still load
    import fcntl
    import resource
needs_rlimits = pytest.mark.skipif(sys.platform == "win32", reason="resource limits are POSIX")

PHOTOS = 8
CLIP_FRAMES = 160
ENV = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
# 128 + the signal: what a shell reports for a program its signal stopped.
EXIT_CODES = {signal.SIGINT: 130, signal.SIGTERM: 143}
WORDS = {signal.SIGINT: "interrupted", signal.SIGTERM: "terminated"}


@pytest.fixture(scope="module")
def small(astronaut: np.ndarray) -> np.ndarray:
    return np.asarray(Image.fromarray(astronaut).resize((128, 128)))


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A clip long enough (160 frames) to be stopped in its middle."""
    return make_clip(
        tmp_path_factory.mktemp("clip") / "long.mp4", pts=list(range(CLIP_FRAMES)), audio=True
    ).path


def _photos(folder: Path, small: np.ndarray, count: int = PHOTOS) -> Path:
    for i in range(count):
        save(np.roll(small, 8 * i, axis=1), folder / f"photo{i:02d}.png")
    return folder


def _hidden(folder: Path) -> list[str]:
    """Hidden files left in ``folder``, besides the state and lock a resumable run keeps there."""
    return sorted(p.name for p in folder.rglob(".*") if p.name not in BOOKKEEPING) if folder.exists() else []


def _visible(folder: Path) -> list[Path]:
    if not folder.exists():
        return []
    return sorted(p for p in folder.rglob("*") if p.is_file() and not p.name.startswith("."))


def _whole(path: Path) -> bool:
    """Decodes to the end: a photo with Pillow, a video with every frame its source has."""
    if path.suffix == ".mp4":
        try:
            with av.open(str(path)) as container:
                return sum(1 for _ in container.decode(video=0)) == CLIP_FRAMES
        except (av.error.FFmpegError, OSError):
            return False
    try:
        with Image.open(path) as img:
            img.load()
        return True
    except OSError:
        return False


def _writing(folder: Path, magic: bytes = b"") -> bool:
    """Whether a temporary file in ``folder`` has grown past 2 KiB (and starts with ``magic``)."""
    for temp in folder.glob(".unseen-*.part"):
        try:
            if temp.stat().st_size > 2048 and magic in temp.read_bytes()[:16]:
                return True
        except FileNotFoundError:
            pass  # published or removed meanwhile
    return False


def _wait_for(
    proc: subprocess.Popen[str], ready: Callable[[], bool], what: str, timeout: float = 120
) -> None:
    deadline = time.monotonic() + timeout
    while not ready():
        assert proc.poll() is None, f"the run ended before {what}: {proc.communicate()[1]}"
        assert time.monotonic() < deadline, f"no sign of {what}"
        time.sleep(0.02)


# --- a full disk -------------------------------------------------------------------------------


def _limited(*args: object, kind: int, limit: int) -> tuple[list[str], str]:
    """The command line run with ``args`` in a child under the resource limit ``kind``; its error
    lines and stderr, after checking that it failed with no traceback."""

    def apply() -> None:
        resource.setrlimit(kind, (limit, limit))

    done = subprocess.run(
        unseen_cmd(*args), capture_output=True, text=True, env=ENV, preexec_fn=apply, timeout=300
    )
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr
    return [line for line in done.stderr.splitlines() if line.startswith("error:")], done.stderr


@needs_rlimits
@pytest.mark.parametrize("command", ["protect", "strip"])
def test_a_file_size_limit_fails_each_file_with_a_clear_error(
    tmp_path: Path, small: np.ndarray, clip: Path, command: str
) -> None:
    # RLIMIT_FSIZE in the child only: every write past 4 KiB fails with EFBIG, like a full disk.
    indir, out = _photos(tmp_path / "in", small, count=2), tmp_path / "out"
    os.link(clip, indir / "clip.mp4")
    before = tree_hashes(indir)
    errors, stderr = _limited(command, indir, "-o", out, "--json", kind=resource.RLIMIT_FSIZE, limit=4096)
    assert len(errors) == 3, stderr
    for line in errors:
        assert "cannot write output: file too large" in line, line
        assert ".part" not in line, "the error names the hidden file, not the output"
    assert _visible(out) == [] and _hidden(out) == []
    assert tree_hashes(indir) == before


@needs_rlimits
@pytest.mark.skipif(sys.platform == "darwin", reason="macOS does not enforce RLIMIT_AS")
def test_memory_running_out_fails_that_file_alone(tmp_path: Path, small: np.ndarray) -> None:
    """A photo too large for the memory left (108 megapixels under a 2.5 GB address space here:
    onnxruntime's arena, or numpy, cannot get a buffer) is that file's one-line error, and the
    photo beside it is protected; it was a traceback that ended the batch."""
    indir, out = _photos(tmp_path / "in", small, count=1), tmp_path / "out"
    Image.new("RGB", (12000, 9000), (120, 110, 100)).save(indir / "huge.jpg", quality=90)
    before = tree_hashes(indir)
    args = ("protect", indir, "-o", out, "--jobs", "1", "--json")
    errors, stderr = _limited(*args, kind=resource.RLIMIT_AS, limit=2_500_000_000)
    assert len(errors) == 1 and "huge.jpg: not enough memory" in errors[0], stderr
    assert len(_visible(out)) == 1 and _hidden(out) == []
    assert tree_hashes(indir) == before


@needs_rlimits
@pytest.mark.skipif(sys.platform == "darwin", reason="macOS does not enforce RLIMIT_AS")
def test_memory_running_out_in_check_fails_that_file_alone(tmp_path: Path) -> None:
    """`check` says so in its own words: it writes nothing and has no --jobs to suggest."""
    indir = tmp_path / "in"
    save(np.random.default_rng(0).integers(0, 256, (128, 128, 3), np.uint8), indir / "clean.png")
    Image.new("RGB", (12000, 9000), (120, 110, 100)).save(indir / "huge.jpg", quality=90)
    errors, stderr = _limited("check", indir, "--json", kind=resource.RLIMIT_AS, limit=1_750_000_000)
    assert errors == [  # the photo beside it judged, as it is without the limit
        f"error: {indir / 'huge.jpg'}: not enough memory to judge it"
    ], stderr


# Loaded by every Python the test starts (the command line and its workers) through PYTHONPATH: a
# bug scripted into unseen's own code, met by the files whose names start with "bug".
SCRIPTED_BUG = """
import unseen.check, unseen.kinds, unseen.pipeline.photo

_name = ['']
_identify = unseen.kinds.identify
_check = unseen.pipeline.photo.check_photo


def identify(path):
    _name[0] = path.name
    return _identify(path)


def check_photo(*args, **kwargs):
    if _name[0].startswith('bug'):
        raise ZeroDivisionError('scripted')  # after the output's hidden file was written
    return _check(*args, **kwargs)


def render(*args, **kwargs):
    plan = _render(*args, **kwargs)
    if _name[0].startswith('late'):
        raise ZeroDivisionError('scripted')  # after the checked output was published
    return plan


def faces(self, path, is_video):
    if path.name.startswith('bug'):
        raise ZeroDivisionError('scripted')
    return _faces(self, path, is_video)


_faces = unseen.check.Checker._faces
_render = unseen.pipeline.photo.render
unseen.pipeline.photo.render = render
unseen.kinds.identify = identify
unseen.pipeline.photo.check_photo = check_photo
unseen.check.Checker._faces = faces
"""


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_a_bug_met_by_one_file_fails_that_file_alone(tmp_path: Path, small: np.ndarray, jobs: str) -> None:
    """An error no part of unseen raised on purpose (a bug; a damaged AVIF's RuntimeError was one) is
    that file's one line, "internal error", with nothing written; the batch goes on.  It ended the
    batch with a traceback, and a rerun stopped at the same file every time."""
    env = with_sitecustomize(tmp_path / "hook", SCRIPTED_BUG, ENV)
    indir, out = _photos(tmp_path / "in", small, count=4), tmp_path / "out"
    (indir / "photo01.png").rename(indir / "bug.png")
    (indir / "photo03.png").rename(indir / "late.png")  # fails once its output is in place
    before = tree_hashes(indir)
    done = subprocess.run(
        unseen_cmd("protect", indir, "-o", out, "--jobs", jobs, "--json"),
        capture_output=True, text=True, env=env, timeout=300,
    )  # fmt: skip
    assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr
    bug, late = sorted(done.stderr.splitlines(), key=lambda line: "late.png" in line)  # as they end
    assert f"{indir / 'bug.png'}: internal error, nothing was written (ZeroDivisionError at " in bug, bug
    assert f"{indir / 'late.png'}: internal error after its checked output was written (" in late, late
    assert len(_visible(out)) == 3 and _hidden(out) == []
    # `unseen check` keeps such an error to its file too, and never calls that file clean.
    first, second, third = _visible(out)
    third.unlink()
    (out / "bug.png").write_bytes(first.read_bytes())
    check = unseen_cmd("check", out, "--json")
    done = subprocess.run(check, capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr
    statuses = {Path(r["path"]).name: r["status"] for r in map(json.loads, done.stdout.splitlines())}
    assert statuses == {first.name: "clean", second.name: "clean", "bug.png": "failed"}, done.stdout
    assert tree_hashes(indir) == before


def _unshare_mount() -> list[str] | None:
    """A command prefix with a private mount namespace (where we may mount a tmpfs), if allowed."""
    prefix = ["unshare", "--user", "--map-root-user", "--mount"]
    try:
        done = subprocess.run([*prefix, "mount", "-t", "tmpfs", "-o", "size=64k", "none", "/mnt"], timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return prefix if done.returncode == 0 else None


def _in_mount(tmp_path: Path, mount_options: str, *args: object) -> subprocess.CompletedProcess[str]:
    """Run unseen with ``tmp_path/mnt`` a fresh tmpfs (``mount_options``) visible to it alone."""
    prefix = _unshare_mount()
    if prefix is None:
        pytest.skip("cannot make a private mount namespace here (unshare --user --mount)")
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    script = f'mount -t tmpfs -o {mount_options} none "$1" && shift && exec "$@"'
    return subprocess.run(
        [*prefix, "sh", "-c", script, "sh", str(mnt), *unseen_cmd(*args)],
        capture_output=True,
        text=True,
        env=ENV,
        timeout=300,
    )


@pytest.mark.parametrize("command", ["protect", "strip"])
def test_a_full_file_system_fails_each_file_with_a_clear_error(
    tmp_path: Path, small: np.ndarray, clip: Path, command: str
) -> None:
    # A 64 KiB tmpfs: the first output or two may fit, the rest must fail as "disk full".
    indir = _photos(tmp_path / "in", small, count=4)
    os.link(clip, indir / "clip.mp4")
    before = tree_hashes(indir)
    out = tmp_path / "mnt" / "out"
    done = _in_mount(tmp_path, "size=64k", command, indir, "-o", out, "--json", "--keep-names")
    assert "Traceback" not in done.stderr
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert done.returncode == 1 and errors, done.stderr
    for line in errors:
        assert "cannot write output: disk full" in line, line
    # The tmpfs is gone with its namespace: what the run wrote there is judged by what it said.
    written = [line for line in done.stdout.splitlines() if '"output": null' not in line]
    assert len(written) + len(errors) == 5, done.stdout
    assert tree_hashes(indir) == before


# --- an output folder nobody can write -----------------------------------------------------------


def test_an_output_folder_under_a_file_fails_each_file(tmp_path: Path, small: np.ndarray) -> None:
    # A path through a regular file cannot be made a folder, even by root.
    indir = _photos(tmp_path / "in", small, count=2)
    blocker = tmp_path / "blocker"
    blocker.write_bytes(b"a file, not a folder")
    before = tree_hashes(indir)
    run = run_cli("protect", indir, "-o", blocker / "out")
    assert run.code == 1, run.stderr
    assert "Traceback" not in run.stderr
    # The run owns its output folder (its lock and resume state live there): the folder that
    # cannot be made fails the run before any file, in one line that names it.
    errors = [line for line in run.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "a part of the path is a file" in errors[0], run.stderr
    assert str(blocker) in errors[0]
    assert blocker.read_bytes() == b"a file, not a folder"
    assert tree_hashes(indir) == before


def test_a_read_only_file_system_fails_each_file(tmp_path: Path, small: np.ndarray, clip: Path) -> None:
    # Read-only for root too; unlike a folder's mode bits, which root ignores.
    indir = _photos(tmp_path / "in", small, count=2)
    os.link(clip, indir / "clip.mp4")
    before = tree_hashes(indir)
    done = _in_mount(tmp_path, "ro,size=1m", "protect", indir, "-o", tmp_path / "mnt", "--json")
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "read-only file system" in errors[0], done.stderr
    assert tree_hashes(indir) == before


# --- stopped by a signal -------------------------------------------------------------------------


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_signal_mid_photo_batch_leaves_whole_files_and_the_rerun_completes(
    tmp_path: Path, small: np.ndarray, sig: signal.Signals
) -> None:
    indir, out = _photos(tmp_path / "in", small), tmp_path / "out"
    before = tree_hashes(indir)
    args = ("protect", indir, "-o", out, "--keep-names")
    proc = subprocess.Popen(unseen_cmd(*args), stderr=subprocess.PIPE, text=True, env=ENV)
    _wait_for(proc, lambda: bool(_visible(out)), "a first output")
    proc.send_signal(sig)
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == EXIT_CODES[sig], stderr
    assert WORDS[sig] in stderr and "Traceback" not in stderr, stderr
    assert _hidden(out) == [], "a temporary file was left"
    written = _visible(out)
    assert 1 <= len(written) < PHOTOS
    assert all(_whole(p) for p in written)
    assert tree_hashes(indir) == before
    # The same command resumes: what the first run wrote stays as it is, the rest is done.
    hashes = {p: h for p, h in tree_hashes(out).items() if p.name not in BOOKKEEPING}
    again = run_cli(*args)
    assert again.code == 0, again.stderr
    assert {p: h for p, h in tree_hashes(out).items() if p in hashes} == hashes
    assert len(_visible(out)) == PHOTOS and all(map(_whole, _visible(out))) and _hidden(out) == []
    assert tree_hashes(indir) == before


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_signal_mid_video_leaves_nothing_and_the_rerun_completes(
    tmp_path: Path, clip: Path, sig: signal.Signals
) -> None:
    out = tmp_path / "out"
    target = out / "safe.mp4"
    digest = tree_hashes(clip.parent)
    proc = subprocess.Popen(
        unseen_cmd("protect", clip, "-o", target), stderr=subprocess.PIPE, text=True, env=ENV
    )
    # The hidden temporary file exists and has grown: the video is being written.
    _wait_for(proc, lambda: _writing(out), "the video being written")
    proc.send_signal(sig)
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == EXIT_CODES[sig], stderr
    assert WORDS[sig] in stderr and "Traceback" not in stderr, stderr
    assert list(out.iterdir()) == []
    assert tree_hashes(clip.parent) == digest
    # Nothing was written, so the very same command completes.
    again = run_cli("protect", clip, "-o", target, "--json")
    assert again.code == 0, again.stderr
    assert _whole(target) and _hidden(out) == []
    assert tree_hashes(clip.parent) == digest


@pytest.mark.skipif(sys.platform == "win32", reason="folders are locked with flock")
def test_a_killed_single_file_run_leaves_its_temporary_file_to_the_next_writer(
    tmp_path: Path, small: np.ndarray, clip: Path
) -> None:
    """A one-file run killed outright cannot remove its hidden file; the next run that writes in
    that folder does (it stayed for good: only a batch's folder was swept), but never one a live
    run holds, nor one another machine writes (a folder's lock holds on one machine only, on NFS):
    that is left to a batch's start."""
    out = tmp_path / "out"
    proc = subprocess.Popen(
        unseen_cmd("protect", clip, "-o", out / "safe.mp4"), stderr=subprocess.PIPE, text=True,
        env=ENV, start_new_session=True,
    )  # fmt: skip
    _wait_for(proc, lambda: _writing(out, b"ftyp"), "the video being written")
    os.killpg(proc.pid, signal.SIGKILL)
    proc.communicate(timeout=60)
    (dead,) = _hidden(out)
    # A live writer's hidden file: it holds the folder shared, as `staged` does.
    live = out / f".unseen-{write.HERE}-0123456789ab.part"
    live.write_bytes(b"in progress")
    elsewhere = out / ".unseen-000000-0123456789ab.part"  # another machine's
    elsewhere.write_bytes(b"in progress there")
    holder = os.open(out, os.O_RDONLY)
    try:
        fcntl.flock(holder, fcntl.LOCK_SH)
        first = run_cli(
            "protect", _photos(tmp_path / "in", small, count=1) / "photo00.png", "-o", out / "a.png"
        )
        assert first.code == 0, first.stderr
        assert _hidden(out) == sorted([dead, live.name, elsewhere.name]), "a live run's file was removed"
        batch = run_cli("protect", tmp_path / "in", "-o", out)
        assert batch.code == 0 and _hidden(out) == sorted([dead, live.name, elsewhere.name]), batch.stderr
    finally:
        os.close(holder)
    live.unlink()
    again = run_cli("protect", tmp_path / "in" / "photo00.png", "-o", out / "b.png")
    assert again.code == 0, again.stderr
    assert _hidden(out) == [elsewhere.name] and len(_visible(out)) == 3
    batch = run_cli("protect", tmp_path / "in", "-o", out)  # a batch's start sweeps them all
    assert batch.code == 0 and _hidden(out) == [], batch.stderr


@pytest.mark.skipif(sys.platform == "win32", reason="folders are locked with flock")
def test_every_write_holds_its_folder_while_its_temporary_file_exists(tmp_path: Path) -> None:
    """Each write, not only a process's first in a folder (which also looks for dead runs' files),
    holds the folder: otherwise a batch's second worker removed the first one's file as it wrote."""
    for name in ("first.bin", "second.bin"):
        with staged(tmp_path / name) as temp:
            temp.write_bytes(b"in progress")
            other = os.open(tmp_path, os.O_RDONLY)
            try:
                with pytest.raises(BlockingIOError):
                    fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)
            finally:
                os.close(other)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["first.bin", "second.bin"]


@pytest.mark.skipif(sys.platform == "win32", reason="SIGUSR1 stands for the batch's gentle stop")
def test_ctrl_c_as_a_write_ends_can_skip_its_cleanup(tmp_path: Path) -> None:
    """Why `remove_unfinished` exists.  Python runs a signal's handler at its next check for one
    (at a call, not after an operator): one that comes during a long numpy operator that ends a
    `staged` block is raised as the block's ``__exit__`` begins, and the generator, never resumed,
    keeps its temporary file for as long as the interrupt's traceback lives (for ever in a worker
    that ends with ``os._exit``)."""
    product = np.ones((2500, 2500))  # 0.3 s on two cores here: the signal comes well within it
    asked, armed, main = threading.Event(), [False], threading.get_ident()

    def tell() -> None:
        asked.wait()
        signal.pthread_kill(main, signal.SIGUSR1)

    def stop(signum: int, frame: object) -> None:
        if armed[0]:  # a signal later than the block fails the test, not the whole session
            raise KeyboardInterrupt

    teller = threading.Thread(target=tell)
    before = signal.signal(signal.SIGUSR1, stop)
    teller.start()
    try:
        with pytest.raises(KeyboardInterrupt) as stopped, staged(tmp_path / "out.png") as temp:
            temp.write_bytes(b"half a picture")
            armed[0] = True
            asked.set()
            product @ product  # the signal comes meanwhile; its handler runs after the block's body
    finally:
        armed[0] = False
        teller.join()
        signal.signal(signal.SIGUSR1, before)
    assert stopped.traceback[-2].name == "__exit__", "the interrupt did not land where this test means it to"
    assert [p.name for p in tmp_path.iterdir()] == [temp.name]
    write.remove_unfinished()
    assert list(tmp_path.iterdir()) == []


def _left_unfinished(folder: Path) -> Callable[[Job], FileResult]:
    """A file's work that Ctrl-C stops as its write ends (the test above): the block never exits."""
    held = []

    def work(job: Job) -> FileResult:
        block = staged(folder / "out.png")
        block.__enter__().write_bytes(b"half a picture")
        held.append(block)  # as the interrupt's traceback holds it
        raise KeyboardInterrupt

    return work


def test_a_worker_removes_what_an_interrupted_file_left(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(batch, "_handle_one", _left_unfinished(tmp_path))
    with pytest.raises(KeyboardInterrupt):
        batch._handle(Job(tmp_path / "in.png", tmp_path / "out.png"))
    assert list(tmp_path.iterdir()) == []


def test_one_process_removes_what_an_interrupted_file_left(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    work = _left_unfinished(tmp_path)  # alive after the run, as an interrupt's traceback may be
    monkeypatch.setattr(batch, "worker", lambda task, frames: work)
    jobs = [Job(tmp_path / "in.png", tmp_path / "out.png")]
    with pytest.raises(KeyboardInterrupt):
        list(batch.run(batch.Task("protect", Settings()), jobs, 1))
    assert list(tmp_path.iterdir()) == []


@pytest.mark.skipif(sys.platform == "win32", reason="folders are locked with flock")
def test_an_interrupted_batch_sweeps_its_folder_as_it_ends(tmp_path: Path) -> None:
    """What a worker killed mid-file left goes as the run ends; a live writer's file, another
    machine's (its run may still be unwinding) and a finished run's stay."""
    out = tmp_path / "out"
    with batch.Folder(out, Settings()):
        (out / "a.png").write_bytes(b"published")
    dead = out / f".unseen-{write.HERE}-0123456789ab.part"
    elsewhere = out / ".unseen-000000-0123456789ab.part"
    busy = out / "busy"
    busy.mkdir()
    live = busy / f".unseen-{write.HERE}-ba9876543210.part"
    live.write_bytes(b"in progress")
    holder = os.open(busy, os.O_RDONLY)
    try:
        fcntl.flock(holder, fcntl.LOCK_SH)
        # A run's start sweeps what it finds (other machines' files too): these come after it.
        with batch.Folder(out, Settings()):
            dead.write_bytes(b"a killed worker's")
        assert dead.exists(), "a run that ends well has nothing of its own to sweep"
        with pytest.raises(KeyboardInterrupt), batch.Folder(out, Settings()):
            dead.write_bytes(b"a killed worker's")
            elsewhere.write_bytes(b"in progress there")
            raise KeyboardInterrupt
        assert not dead.exists() and live.exists() and elsewhere.exists()
    finally:
        os.close(holder)


def test_sigkill_of_the_process_group_never_publishes_a_partial_file(
    tmp_path: Path, small: np.ndarray, clip: Path
) -> None:
    # A batch of photos with a video in its middle, killed (the whole process group, SIGKILL)
    # while the video's temporary file is being written.
    indir, out = _photos(tmp_path / "in", small, count=6), tmp_path / "out"
    os.link(clip, indir / "photo02b.mp4")
    before = tree_hashes(indir)
    args = ("protect", indir, "-o", out, "--keep-names", "--jobs", "1")  # one file at a time, in order
    proc = subprocess.Popen(
        unseen_cmd(*args), stderr=subprocess.PIPE, text=True, env=ENV, start_new_session=True
    )
    _wait_for(
        proc,
        lambda: _writing(out, b"ftyp") and bool(_visible(out)),
        "the video being written",
    )
    os.killpg(proc.pid, signal.SIGKILL)
    proc.communicate(timeout=60)
    assert proc.returncode == -signal.SIGKILL
    written, left = _visible(out), _hidden(out)
    # Only whole files under their own names: the photos before the video.
    assert [p.name for p in written] == [f"photo{i:02d}.png" for i in range(len(written))]
    assert 1 <= len(written) <= 3 and all(map(_whole, written))
    assert all(name.startswith(".unseen-") and name.endswith(".part") for name in left), left
    assert tree_hashes(indir) == before
    # The same command resumes: it removes the hidden leftover, keeps the whole files and does the rest.
    again = run_cli(*args)
    assert again.code == 0, again.stderr
    assert [p.name for p in _visible(out)] == sorted(
        [f"photo{i:02d}.png" for i in range(6)] + ["photo02b.mp4"]
    )
    assert all(map(_whole, _visible(out))) and _hidden(out) == []
    REPORTS.append(
        (
            "faults: SIGKILL of the process group while a video was being written",
            f"{len(written)} whole output(s) published before the kill, none partial; "
            f"temporary file(s) left under their hidden names: {left or 'none'}",
        )
    )
