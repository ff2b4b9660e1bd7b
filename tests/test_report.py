"""``--report DIR``: a report that travels with the outputs and shows no one.

It counts metadata by kind, naming no tag and no value; it names no input unless asked; its
thumbnails are of the covered outputs, so no original face appears in it; and
the HTML opens in a browser without loading anything from anywhere.  The
large test runs over the WIDER FACE photos in ../shared.
"""

from __future__ import annotations

import base64
import io
import json
import re
import shutil
import struct
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image, PngImagePlugin
from playwright.sync_api import Page
from skimage import data

import sounds
from conftest import (
    SECRETS,
    SHARED,
    needs_exiftool,
    needs_shared,
    needs_voice,
    run_cli,
    with_sitecustomize,
    write_clip,
    write_tagged_photos,
)
from unseen import report_format

WIDER = SHARED / "data" / "faces" / "wider_val"
SECTION = re.compile(r"<section.*?</section>", re.S)
THUMB = re.compile(r'src="data:image/jpeg;base64,([A-Za-z0-9+/=]+)"')
OUTPUT = re.compile(r"<th>output</th><td>([^<]+)</td>")
XMP_OWN_PREFIX = (
    '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
    '<rdf:Description xmlns:janedoeminsk="http://example.org/jd/" janedoeminsk:Where="x"/>'
    "</rdf:RDF></x:xmpmeta>"
)


@needs_exiftool
def test_the_report_counts_metadata_by_kind_never_its_tags_or_values(
    tmp_path: Path, astronaut: np.ndarray
) -> None:
    (photo,) = write_tagged_photos(tmp_path / "in", astronaut, [".jpg"])
    run = run_cli("protect", photo, "-o", tmp_path / "out", "--report", tmp_path / "report")
    assert run.code == 0, run.stderr
    text = (tmp_path / "report" / "report.json").read_text()
    page = (tmp_path / "report" / "report.html").read_text()
    (entry,) = json.loads(text)["files"]
    assert entry["status"] == "protected" and entry["self_check"] == "passed" and entry["checks"]
    assert entry["input"] is None and "tagged" not in text and "tagged" not in page
    removed = {g["group"]: g["items"] for g in entry["metadata_removed"]}
    assert removed.get("GPS", 0) > 0 and removed.get("XMP", 0) > 0 and removed.get("EXIF", 0) > 0, removed
    for secret in SECRETS:
        assert secret.decode() not in text and secret.decode() not in page, secret
    assert entry["covered"] == [{"kind": "face", "source": entry["covered"][0]["source"], "count": 1}]
    again = run_cli("protect", photo, "-o", tmp_path / "out2", "--report", tmp_path / "report")
    assert again.code == 2 and "already exists" in again.stderr, "a report is never overwritten"
    named = run_cli("protect", photo, "-o", tmp_path / "out3", "--report", tmp_path / "named", "--keep-names")
    assert (
        named.code == 0
        and json.loads((tmp_path / "named" / "report.json").read_text())["files"][0]["input"] == "tagged.jpg"
    )


def test_the_report_carries_no_text_the_input_chose_as_a_tag_name(
    tmp_path: Path, astronaut: np.ndarray
) -> None:
    """exiftool names a tag after the file's own words: a PNG text keyword ("PNG:JaneDoeMinsk"),
    an iXML element ("XML:BwfxmlJaneDoeMinsk"), an XMP namespace prefix ("XMP-janedoeminsk:...").
    The report counts items per kind from a fixed list instead."""
    folder = tmp_path / "in"
    folder.mkdir()
    info = PngImagePlugin.PngInfo()
    info.add_text("JaneDoeMinsk", "x")
    info.add_itxt("XML:com.adobe.xmp", XMP_OWN_PREFIX)
    Image.fromarray(astronaut).save(folder / "photo.png", pnginfo=info)
    rate, samples = sounds.RATE, (sounds.speech(1.0) * 20000).astype("<i2").tobytes()
    fmt = struct.pack("<HHIIHH", 1, 1, rate, rate * 2, 2, 16)
    ixml = b"<BWFXML><JANE_DOE_MINSK>x</JANE_DOE_MINSK></BWFXML>"
    body = b"WAVE" + b"".join(
        struct.pack("<4sI", kind, len(data)) + data + b"\0" * (len(data) & 1)
        for kind, data in ((b"fmt ", fmt), (b"iXML", ixml), (b"data", samples))
    )
    (folder / "memo.wav").write_bytes(b"RIFF" + struct.pack("<I", len(body)) + body)
    run = run_cli("protect", folder, "-o", tmp_path / "out", "--audio", "keep", "--report", tmp_path / "rep")
    assert run.code == 0, run.stderr
    text = (tmp_path / "rep" / "report.json").read_text()
    page = (tmp_path / "rep" / "report.html").read_text()
    for written in (text, page):
        assert "janedoe" not in written.lower().replace("_", ""), written
    removed = [{g["group"] for g in e["metadata_removed"]} for e in json.loads(text)["files"]]
    assert all(groups <= set(report_format.GROUPS.values()) | {report_format.OTHER} for groups in removed), (
        removed
    )
    assert {"PNG"} <= removed[1] and {"WAV", "XML"} & removed[0], removed


@pytest.mark.parametrize(
    ("audio", "voice"),
    [("keep", "kept (--audio keep)"), pytest.param("disguise", "disguised", marks=needs_voice)],
)
def test_the_report_calls_a_recording_a_recording_and_says_what_became_of_its_voice(
    tmp_path: Path, audio: str, voice: str
) -> None:
    """A sound-only recording was listed as a photo, with a photo's checks (a face audit)."""
    folder = tmp_path / "in"
    folder.mkdir()
    sounds.encode(folder / "memo.wav", "wav", "pcm_s16le", sounds.RATE, sounds.speech(3.0))
    run = run_cli("protect", folder, "-o", tmp_path / "out", "--audio", audio, "--report", tmp_path / "rep")
    assert run.code == 0, run.stderr
    (entry,) = json.loads((tmp_path / "rep" / "report.json").read_text())["files"]
    assert entry["kind"] == "recording" and entry["voice"] == voice, entry
    assert entry["checks"] and not any("face" in c or "region" in c for c in entry["checks"]), entry
    page = (tmp_path / "rep" / "report.html").read_text()
    assert "(recording)" in page and f"<th>voice</th><td>{voice}</td>" in page and "face audit" not in page


# Loaded by every Python the test starts: a bug met by a photo whose name starts "Jé", whose message
# quotes the file's absolute path as bytes (escaped) and is long enough to be cut in its name.
QUOTING_BUG = """
import os, unseen.media.image

_read = unseen.media.image.read


def read(path, *args, **kwargs):
    if path.name.startswith('J\\u00e9'):
        quoted = repr(os.fsencode(path.absolute()))
        raise RuntimeError('x' * (212 - len(quoted)) + quoted)
    return _read(path, *args, **kwargs)


unseen.media.image.read = read
"""


def test_the_report_names_no_input_in_an_error_however_it_was_spelt(
    tmp_path: Path, astronaut: np.ndarray
) -> None:
    """An error may quote the input's path: with its whitespace collapsed (FFmpeg's message about
    "Jane  Doe clip.mp4" became "...'<input>/Jane Doe clip.mp4'"), escaped, or cut short."""
    folder = tmp_path / "Minsk  march"
    folder.mkdir()
    write_clip(folder / "clip.mp4", [astronaut[:64, :64]] * 10, 25)
    (folder / "Jane  Doe clip.mp4").write_bytes((folder / "clip.mp4").read_bytes()[:600])
    (folder / "clip.mp4").unlink()
    Image.fromarray(astronaut).save(folder / "J\u00e9r\u00f4me  Dupont.png")
    env = with_sitecustomize(tmp_path / "hook", QUOTING_BUG)
    run = run_cli("protect", folder, "-o", tmp_path / "out", "--report", tmp_path / "rep", env=env)
    assert run.code == 1 and "Jane  Doe clip.mp4" in run.stderr and "Dupont" in run.stderr, run.stderr
    page = (tmp_path / "rep" / "report.html").read_text()
    errors = [e["error"] for e in json.loads((tmp_path / "rep" / "report.json").read_text())["files"]]
    assert len(errors) == 2 and all("<input>" in e for e in errors), errors
    for text in (*errors, page):
        for word in ("Jane", "Doe", "Minsk", "march", "J\u00e9r", "Dupont", "\\xc3", "report_names_no_input"):
            assert word not in text, (word, text)
    assert "\u2026" in errors[1], "the cut is still marked"


def faces_by_name() -> dict[str, list[tuple[int, int, int, int]]]:
    """WIDER FACE ground truth (dev.jsonl) as x0, y0, x1, y1 per file name."""
    truth: dict[str, list[tuple[int, int, int, int]]] = {}
    for line in (SHARED / "data" / "faces" / "dev.jsonl").read_text().splitlines():
        row = json.loads(line)
        if row["image"].startswith("wider_val/"):
            truth[row["image"].split("/", 1)[1]] = [
                (int(x), int(y), int(x + w), int(y + h)) for x, y, w, h in row["boxes"]
            ]
    return truth


def small(path: Path, size: tuple[int, int]) -> np.ndarray:
    with Image.open(path) as img:
        return np.asarray(img.convert("RGB").resize(size, Image.Resampling.BILINEAR)).astype(int)


@pytest.mark.slow
@needs_shared
def test_the_report_over_wider_val_carries_no_original_pixels_and_no_name(page: Page, tmp_path: Path) -> None:
    report = tmp_path / "report"
    run = run_cli("protect", WIDER, "-o", tmp_path / "out", "--report", report, "--json")
    records = {Path(r["output"]).name: Path(r["path"]) for r in run.records() if r["output"]}
    assert records, run.stderr
    text = (report / "report.json").read_text()
    page_html = (report / "report.html").read_text()
    assert "base64" not in text and "data:" not in text, "the JSON holds no pictures"
    for source in WIDER.iterdir():
        for name in {source.name, source.stem, source.stem.split("_", 1)[1]}:
            assert name not in text and name not in page_html, name
    assert "Parade" not in text and "Parade" not in page_html and str(WIDER) not in page_html

    truth = faces_by_name()
    compared = 0
    sections = SECTION.findall(page_html)
    assert len(sections) == len(json.loads(text)["files"])
    for section in sections:
        output = OUTPUT.search(section)
        shots = THUMB.findall(section)
        if output is None:
            assert not shots, "only written files have thumbnails"
            continue
        source = records[output.group(1)]
        (shot,) = shots
        thumb = np.asarray(Image.open(io.BytesIO(base64.b64decode(shot))).convert("RGB")).astype(int)
        size = (thumb.shape[1], thumb.shape[0])
        original, covered = small(source, size), small(tmp_path / "out" / output.group(1), size)
        assert np.abs(thumb - covered).mean() < 8, "the thumbnail is of the covered output"
        with Image.open(source) as img:
            scale = thumb.shape[1] / img.width
        for x0, y0, x1, y1 in truth.get(source.name, []):
            a0, b0, a1, b1 = (round(v * scale) for v in (x0, y0, x1, y1))
            if a1 - a0 < 4 or b1 - b0 < 4:
                continue  # a face of a few thumbnail pixels: nothing to compare
            was, out, shown = (p[b0:b1, a0:a1] for p in (original, covered, thumb))
            if np.abs(out - was).mean() > 20:  # the output covers this face
                assert np.abs(shown - was).mean() > 15, (
                    f"an original face shows in the report ({source.name})"
                )
                compared += 1
    assert compared > 50, f"only {compared} faces were large enough to compare"

    requests: list[str] = []
    page.on("request", lambda request: requests.append(request.url))
    page.goto((report / "report.html").as_uri())
    assert page.locator("section").count() == len(sections)
    assert page.evaluate("[...document.images].every((i) => i.complete && i.naturalWidth > 0)")
    assert all(url.startswith(("file://", "data:")) for url in requests), [
        u for u in requests if "://" in u[:8]
    ]


# `unseen check` on a folder a report travels in: it knows unseen's own report by its content.


@pytest.fixture(scope="module")
def reported(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder holding a protected photo of the astronaut and the report of that run."""
    folder = tmp_path_factory.mktemp("reported")
    photo = folder / "in" / "astronaut.jpg"
    photo.parent.mkdir()
    Image.fromarray(data.astronaut()).save(photo, quality=90)
    run = run_cli("protect", photo, "-o", folder / "out", "--report", folder / "out")
    assert run.code == 0, run.stderr
    return folder / "out"


def reworked(reported: Path, into: Path, edit: Any = None, thumb: bytes | None = None) -> Path:
    """A copy of the reported folder whose report has ``edit`` applied to its data and, with
    ``thumb``, that JPEG as its first thumbnail, the page rendered again as unseen renders it."""
    shutil.copytree(reported, into)
    data = json.loads((into / "report.json").read_text())
    thumbs = report_format.thumbnails((into / "report.html").read_text())
    if edit is not None:
        edit(data)
    if thumb is not None:
        thumbs[0][0] = thumb
    (into / "report.json").write_text(json.dumps(data, indent=1) + "\n")
    (into / "report.html").write_text(report_format.page(data, thumbs))
    return into


def checked(folder: Path, *flags: str) -> tuple[int, dict[str, dict[str, Any]]]:
    run = run_cli("check", folder, "--json", *flags)
    lines = [json.loads(line) for line in run.stdout.splitlines()]
    return run.code, {Path(str(r["path"])).name: r for r in lines}


def test_check_calls_unseens_own_report_clean_beside_the_outputs(reported: Path) -> None:
    """protect writes the report into the output folder; check on that folder agrees: all clean."""
    code, results = checked(reported)
    assert code == 0, results
    assert {name: r["status"] for name, r in results.items()} == {
        "report.json": "clean",
        "report.html": "clean",
        **{p.name: "clean" for p in reported.glob("unseen-*.jpg")},
    }
    run = run_cli("check", reported)
    assert "clean report.html (unseen's report)" in run.stderr, run.stderr


def test_check_names_what_a_report_can_still_say_about_someone(reported: Path, tmp_path: Path) -> None:
    """An input's name (a run that kept names) and a reason typed for a region left visible."""

    def named(data: dict[str, Any]) -> None:
        data["files"][0]["input"] = "JaneRoe.jpg"
        data["files"][0]["left_visible"] = [
            {"id": "r7", "kind": "face", "reason": "spokesperson, agreed"},
            {"id": "JaneRoe", "kind": "face", "reason": None},
        ]
        data["files"][0]["covered"].insert(0, {"kind": "face", "source": "Jane Roe's brother", "count": 1})
        data["files"][0]["error"] = "cannot read /home/janeroe/<input>"

    code, results = checked(reworked(reported, tmp_path / "out", named))
    assert code == 3
    for name in report_format.FILES:
        assert results[name]["status"] == "dirty"
        findings = results[name]["findings"]
        assert any("names its input, 'JaneRoe.jpg'" in f for f in findings), findings
        assert any("region 'r7' left visible, with a reason a person wrote" in f for f in findings), findings
        assert any("left visible with an id a person wrote: 'JaneRoe'" in f for f in findings), findings
        assert any('with a source a person wrote: "Jane Roe\'s brother"' in f for f in findings), findings
        assert any("error quotes a path" in f for f in findings), findings
        assert not any("yunet@1x" in f or "centerface@1x" in f for f in findings), findings


def test_check_sees_a_face_in_a_report_thumbnail(
    reported: Path, tmp_path: Path, astronaut: np.ndarray
) -> None:
    """A thumbnail is a picture like any other: the face audit reads it, and its JPEG's segments."""
    shot = io.BytesIO()
    Image.fromarray(astronaut).resize((320, 320)).save(shot, "JPEG", quality=80, comment=b"Jane Roe")
    code, results = checked(reworked(reported, tmp_path / "out", thumb=shot.getvalue()))
    assert code == 3
    findings = results["report.html"]["findings"]
    assert any(f.startswith("report: file 1, thumbnail 1: face at") for f in findings), findings
    assert any("thumbnail 1: JPEG:COM comment" in f for f in findings), findings
    assert results["report.json"]["status"] == "clean"


@pytest.mark.parametrize(
    "change",
    [
        pytest.param(lambda d: d.update(where="Minsk"), id="a field no report has"),
        pytest.param(lambda d: d["files"][0].update(kind="map"), id="a value no report writes"),
        pytest.param(
            lambda d: d["files"][0]["checks"].append("Jane Roe was here"), id="a check no report names"
        ),
        pytest.param(lambda d: d.update(tool="unseen JaneRoe-12-Elm-St"), id="a tool no release is named"),
        pytest.param(
            lambda d: d["settings"].update(targets=["faces", "janeroe"]), id="a target there is not"
        ),
        pytest.param(
            lambda d: d["files"][0].update(file=int.from_bytes(b"Jane Roe")), id="a number spelling words"
        ),
        pytest.param(lambda d: d["files"][0].update(seconds=0.1234567), id="a time with many decimals"),
        pytest.param(lambda d: d["files"][0]["covered"][0].update(kind="janeroe"), id="a kind there is not"),
        pytest.param(lambda d: d.update(files=d.pop("files")), id="fields in another order"),
    ],
)
def test_check_judges_a_report_that_says_more_than_unseen_writes_like_any_file(
    reported: Path, tmp_path: Path, change: Any
) -> None:
    code, results = checked(reworked(reported, tmp_path / "out", change))
    assert code == 3
    for name in report_format.FILES:
        assert results[name]["status"] == "dirty"
        assert any(f.startswith("not a report as unseen writes it: ") for f in results[name]["findings"])


def test_check_judges_a_report_json_not_written_as_unseen_writes_it_like_any_file(
    reported: Path, tmp_path: Path
) -> None:
    """A key twice (JSON keeps the last, the bytes keep both) or other spacing is not unseen's."""
    shutil.copytree(reported, tmp_path / "out")
    text = (tmp_path / "out" / "report.json").read_text()
    twice = text.replace('"tool": ', '"tool": "Jane Roe, 12 Elm St",\n "tool": ', 1)
    for edited in (twice, text.replace('": ', '":  ', 1)):
        (tmp_path / "out" / "report.json").write_text(edited)
        code, results = checked(tmp_path / "out", "--no-faces")
        assert code == 3
        assert any(
            "not written byte for byte as a report writes it" in f for f in results["report.json"]["findings"]
        )


def test_check_calls_a_report_of_persons_and_text_and_a_split_track_clean(
    tmp_path: Path, astronaut: np.ndarray
) -> None:
    """Detectors named without a scale (ssdlite-person, ppocr-text), and a track a review split
    (t3.1), are unseen's own words."""
    photo = tmp_path / "in" / "astronaut.jpg"
    photo.parent.mkdir()
    Image.fromarray(astronaut).save(photo, quality=90)
    out = tmp_path / "out"
    run = run_cli("protect", photo, "-o", out, "--report", out, "--targets", "faces,persons,text")
    assert run.code == 0, run.stderr
    assert '"source": "ssdlite-person"' in (out / "report.json").read_text()
    code, results = checked(out, "--no-faces")
    assert code == 0, results
    split = [{"id": "t3.1", "kind": "face", "reason": None}]
    assert (
        report_format.identifying(
            {"files": [{"file": 1, "input": None, "error": None, "left_visible": split}]}
        )
        == []
    )


def test_check_judges_an_edited_report_page_like_any_file(reported: Path, tmp_path: Path) -> None:
    shutil.copytree(reported, tmp_path / "out")
    page = tmp_path / "out" / "report.html"
    page.write_text(page.read_text().replace("<h1>unseen report</h1>", "<h1>Jane Roe's report</h1>"))
    code, results = checked(tmp_path / "out", "--no-faces")
    assert code == 3 and results["report.json"]["status"] == "clean"
    assert (
        "not a report as unseen writes it: the page is not the one the report.json beside it renders"
        in (results["report.html"]["findings"])
    )
