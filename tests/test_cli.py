"""The `protect` command line as a user meets it: report, names, formats, styles, boxes, config, usage errors."""

from __future__ import annotations

import io
import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from conftest import FACE, Run, changed_share, pixels, produced, run_cli, save
from unseen import cli
from unseen.datatypes import FileResult

# Phone and camera naming patterns: the names carry a capture date or a device.
NAMES = ["IMG_20240501_123456.jpg", "PXL_20240502_101010123.png", "sub/DSC_0042.webp"]
DATE_LIKE = re.compile(r"(19|20)\d\d[-_:.]?[01]\d[-_:.]?[0-3]\d")


@pytest.fixture(scope="module")
def small(astronaut: np.ndarray) -> np.ndarray:
    return np.asarray(Image.fromarray(astronaut).resize((128, 128)))


@pytest.fixture(scope="module")
def gradient() -> np.ndarray:
    """A smooth picture with no face in it."""
    y, x = np.mgrid[0:120, 0:160]
    return np.stack([x * 1.5, y * 2.0, (x + y) * 0.9], axis=-1).astype(np.uint8)


@dataclass
class Named:
    indir: Path
    root: Path
    neutral: Run  # --json
    plain: Run  # default report
    kept: Run  # --keep-names --quiet


@pytest.fixture(scope="module")
def named(tmp_path_factory: pytest.TempPathFactory, small: np.ndarray) -> Named:
    root = tmp_path_factory.mktemp("names")
    indir = root / "in"
    for name in NAMES:
        save(small, indir / name)
    return Named(
        indir,
        root,
        run_cli("protect", indir, "-o", root / "neutral", "--json"),
        run_cli("protect", indir, "-o", root / "plain"),
        run_cli("protect", indir, "-o", root / "kept", "--keep-names", "--quiet"),
    )


def test_json_has_one_object_per_input_file(named: Named) -> None:
    assert named.neutral.code == 0, named.neutral.stderr
    records = named.neutral.records()
    assert sorted(Path(r["path"]) for r in records) == sorted(named.indir / n for n in NAMES)
    for record in records:
        assert {"path", "faces", "regions", "seconds", "status"} <= set(record)
        assert record["status"] == "protected"
        assert isinstance(record["faces"], int) and isinstance(record["regions"], int)
        assert record["seconds"] > 0
        assert Path(record["output"]).is_file()


def test_output_names_are_neutral(named: Named) -> None:
    outputs = produced(named.root / "neutral", recursive=True)
    assert len(outputs) == len(NAMES) and all(p.parent == named.root / "neutral" for p in outputs)
    assert sorted(p.suffix for p in outputs) == [".jpg", ".png", ".webp"]
    for path in outputs:
        for name in NAMES:
            stem = Path(name).stem
            assert stem not in path.name and stem.split("_")[0] not in path.name
        assert not DATE_LIKE.search(path.name), path.name


def test_mapping_appears_only_when_asked(named: Named) -> None:
    assert named.plain.code == 0, named.plain.stderr
    assert named.plain.stdout == ""
    outputs = produced(named.root / "plain")
    assert len(outputs) == len(NAMES)
    for path in outputs:
        assert path.stem not in named.plain.stderr


def test_keep_names_keeps_base_names_and_folders(named: Named) -> None:
    assert named.kept.code == 0, named.kept.stderr
    assert named.kept.stderr.strip() == ""  # --quiet
    found = produced(named.root / "kept", recursive=True)
    kept = sorted(str(p.relative_to(named.root / "kept")) for p in found if p.is_file())
    assert kept == sorted(NAMES)


@pytest.mark.parametrize(
    ("option", "suffix", "fmt"), [("png", ".png", "PNG"), ("jpeg", ".jpg", "JPEG"), ("webp", ".webp", "WEBP")]
)
def test_format_option(tmp_path: Path, small: np.ndarray, option: str, suffix: str, fmt: str) -> None:
    indir = tmp_path / "in"
    save(small, indir / "phone.heic")
    save(small, indir / "scan.png")
    run = run_cli("protect", indir, "-o", tmp_path / "out", "--format", option, "--keep-names")
    assert run.code == 0, run.stderr
    for stem in ("phone", "scan"):
        with Image.open(tmp_path / "out" / f"{stem}{suffix}") as img:
            assert img.format == fmt


@pytest.mark.parametrize("style", ["pixelate", "blur"])
def test_weaker_styles_still_change_the_face(tmp_path: Path, astronaut: np.ndarray, style: str) -> None:
    source = save(astronaut, tmp_path / "in.png")
    out = tmp_path / "out.png"
    run = run_cli("protect", source, "-o", out, "--style", style)
    assert run.code == 0, run.stderr
    assert changed_share(pixels(source), pixels(out), FACE, 0) >= 0.9


def test_extra_box_is_covered_and_nothing_else(tmp_path: Path, gradient: np.ndarray) -> None:
    source = save(gradient, tmp_path / "scene.png")
    out = tmp_path / "out.png"
    run = run_cli("protect", source, "-o", out, "--extra-box", "10,20,30,40", "--json")
    assert run.code == 0, run.stderr
    (record,) = run.records()
    assert record["faces"] == 0 and record["regions"] == 1
    before, after = pixels(source), pixels(out)
    assert changed_share(before, after, (10, 20, 40, 60), 0) == 1.0
    outside = np.ones(before.shape[:2], bool)
    outside[20:60, 10:40] = False
    assert (before[outside] == after[outside]).all()


def test_config_file_sets_defaults_and_options_override_it(tmp_path: Path, gradient: np.ndarray) -> None:
    source = save(gradient, tmp_path / "in" / "scene.jpg", quality=95)
    config = tmp_path / "unseen.toml"
    config.write_text('format = "png"\nkeep_names = true\nextra_boxes = [[0, 0, 16, 16]]\n')
    run = run_cli("protect", source.parent, "-o", tmp_path / "a", "--config", config)
    assert run.code == 0, run.stderr
    with Image.open(tmp_path / "a" / "scene.png") as img:
        assert img.format == "PNG"
    assert changed_share(pixels(source), pixels(tmp_path / "a" / "scene.png"), (0, 0, 16, 16), 8) == 1.0
    run = run_cli("protect", source.parent, "-o", tmp_path / "b", "--config", config, "--format", "webp")
    assert run.code == 0, run.stderr
    assert [p.name for p in produced(tmp_path / "b")] == ["scene.webp"]


def test_unknown_config_option_is_a_usage_error(tmp_path: Path, gradient: np.ndarray) -> None:
    source = save(gradient, tmp_path / "scene.png")
    config = tmp_path / "unseen.toml"
    config.write_text('colour = "red"\n')
    run = run_cli("protect", source, "-o", tmp_path / "out", "--config", config)
    assert run.code == 2
    assert "colour" in run.stderr
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    "options",
    [
        ["--style", "smudge"],
        ["--format", "gif"],
        ["--extra-box", "1,2,3"],
        ["--extra-box", "0,0,0,5"],
        ["--max-pixels", str(2**31)],  # past what the self-check counts (`settings.MOST_PIXELS`)
    ],
)
def test_bad_options_exit_2_and_write_nothing(
    tmp_path: Path, gradient: np.ndarray, options: list[str]
) -> None:
    source = save(gradient, tmp_path / "scene.png")
    run = run_cli("protect", source, "-o", tmp_path / "out", *options)
    assert run.code == 2, run.stderr
    assert not (tmp_path / "out").exists()


def test_disguise_without_the_voice_extra_names_it_and_exits_2(tmp_path: Path, gradient: np.ndarray) -> None:
    # A pyworld that cannot be imported stands in for a base install without the extra.
    shadow = tmp_path / "shadow" / "pyworld"
    shadow.mkdir(parents=True)
    (shadow / "__init__.py").write_text("raise ImportError('no pyworld in this test')\n")
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(shadow.parent), os.environ.get("PYTHONPATH", "")]),
    }
    source = save(gradient, tmp_path / "scene.png")
    run = run_cli("protect", source, "-o", tmp_path / "out", "--audio", "disguise", env=env)
    assert run.code == 2, run.stderr
    assert "pip install 'unseen[voice]'" in run.stderr
    assert not (tmp_path / "out").exists()
    # Everything else still works in the same install.
    run = run_cli("protect", source, "-o", tmp_path / "out", "--audio", "keep", env=env)
    assert run.code == 0, run.stderr


def test_empty_folder_is_a_usage_error(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    run = run_cli("protect", tmp_path / "empty", "-o", tmp_path / "out")
    assert run.code == 2
    assert "no input" in run.stderr


def test_missing_input_is_named(tmp_path: Path) -> None:
    missing = tmp_path / "not-there.jpg"
    run = run_cli("protect", missing, "-o", tmp_path / "out")
    assert run.code == 1
    assert any(line.startswith("error:") and str(missing) in line for line in run.stderr.splitlines())


def test_single_input_to_a_file_path(tmp_path: Path, small: np.ndarray) -> None:
    source = save(small, tmp_path / "in.jpg")
    target = tmp_path / "deep" / "safe.jpg"
    run = run_cli("protect", source, "-o", target)
    assert run.code == 0, run.stderr
    assert [p.name for p in target.parent.iterdir()] == ["safe.jpg"]


def test_a_note_that_comes_after_its_files_result_draws_no_bar() -> None:
    """A worker's last frame note can reach the relay after its result: the finished video's bar
    came back and stayed until the batch ended."""
    bars = cli._Bars(1)
    bars.frames(Path("clip.mp4"), 10, 60)
    bars.done(FileResult(Path("clip.mp4"), Path("out.mp4"), "protected"))
    bars.frames(Path("clip.mp4"), 60, 60)
    assert [t.description for t in bars.progress.tasks] == ["files"]


def _fails_in_one_line(damaged: Path, *args: object) -> dict[str, object]:
    """Run a command on ``damaged`` with ``--json``: it fails, and stderr holds its one line alone."""
    run = run_cli(args[0], damaged, *args[1:], "--json")
    record = run.records()[0]
    assert run.code == 1 and record["status"] == "failed", run.stdout
    assert run.stderr.splitlines() == [f"error: {damaged}: {record['error']}"], run.stderr
    return record


def _gradient(fmt: str, **options: object) -> bytearray:
    picture = io.BytesIO()
    gradient = np.linspace(0, 255, 48 * 64 * 3).reshape(48, 64, 3).astype(np.uint8)
    Image.fromarray(gradient).save(picture, fmt, **options)
    return bytearray(picture.getvalue())


def test_a_damaged_tiff_leaves_nothing_on_stderr_but_the_command_lines_own_line(tmp_path: Path) -> None:
    """libtiff printed each decoding error of a damaged TIFF on stderr itself ("ZIPDecode: Decoding
    error at scanline 0, ..."), past Python: under ``--json`` stderr must hold one line per failed
    file and nothing else, for every command (found by the robustness suite on another seed)."""
    data = _gradient("TIFF", compression="tiff_adobe_deflate")
    data[20:40] = bytes(b ^ 0xFF for b in data[20:40])  # inside the compressed strip, which starts at 8
    damaged = tmp_path / "damaged.tif"
    damaged.write_bytes(bytes(data))
    for args in (("protect", "-o", tmp_path / "p"), ("strip", "-o", tmp_path / "s"), ("check",)):
        _fails_in_one_line(damaged, *args)


@pytest.mark.parametrize("fmt", ["AVIF", "JXL"])
def test_a_damaged_avif_or_jpeg_xl_is_one_line_for_every_command(tmp_path: Path, fmt: str) -> None:
    """libavif (Pillow's AVIF decoder) and libjxl (the JPEG XL plugin) refuse a damaged file with
    RuntimeError, which no command expected: a traceback, and a batch ended at that file.  Found
    when the robustness suite took in every format unseen reads."""
    import pillow_jxl  # noqa: F401  (registers the JPEG XL writer)

    data = _gradient(fmt)
    # The coded picture: AVIF's starts after its `mdat` box header; a JPEG XL's is most of the file.
    at = data.index(b"mdat") + 4 if fmt == "AVIF" else len(data) // 2
    data[at : at + 8] = bytes(b ^ 0xFF for b in data[at : at + 8])
    damaged = tmp_path / f"damaged.{fmt.lower()}"
    damaged.write_bytes(bytes(data))
    for command, out in (("protect", tmp_path / "p"), ("strip", tmp_path / "s")):
        error = str(_fails_in_one_line(damaged, command, "-o", out)["error"])
        assert "truncated or corrupt image" in error
        assert "libjxl" not in error  # its advice to build libjxl from source is not ours
        assert not out.exists() or list(out.iterdir()) == []
    # `check` calls it dirty where its metadata alone says so (the pixels noted as not checked).
    run = run_cli("check", damaged, "--json")
    record = run.records()[0]
    assert (run.code, record["status"]) in ((1, "failed"), (3, "dirty")), run.stdout
    assert "Traceback" not in run.stderr and len(run.stderr.splitlines()) <= 1, run.stderr
