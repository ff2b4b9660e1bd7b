"""Targets beyond faces: heads of people the face detectors cannot see, whole persons, text.

Real detectors on pictures made from photos scikit-image ships: the cameraman
with his own hair pasted over his face (a person whose face no detector finds,
as when someone is seen from behind), and words rendered onto a board in the
astronaut photo.  Nothing from ../shared.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont
from skimage import data as skdata

from conftest import changed_share, decoded, pixels, run_cli, save, write_clip
from unseen.api import analyse_path, check_path, protect_path
from unseen.errors import UsageError
from unseen.plan import Plan
from unseen.settings import Settings

WORDS = "NAME: JOHN SMITH"
HEAD = (160, 62, 272, 200)  # the cameraman's head, hair to chin


def _share_inside(box: tuple[int, int, int, int], boxes: list[tuple[int, int, int, int]]) -> float:
    """Share of ``box``'s pixels inside some of ``boxes``."""
    mask = np.zeros((2000, 2000), bool)
    for x0, y0, x1, y1 in boxes:
        mask[y0:y1, x0:x1] = True
    x0, y0, x1, y1 = box
    return float(mask[y0:y1, x0:x1].mean())


def _boxes(plan: Plan, *kinds: str) -> list[tuple[int, int, int, int]]:
    return [r.box for r in plan.regions if r.kind in kinds]


@pytest.fixture(scope="module")
def from_behind() -> np.ndarray:
    """scikit-image's cameraman with his own hair where his face was: a person whose face no
    detector can find, as when someone is seen from behind."""
    grey = np.asarray(skdata.camera()).copy()
    hair = Image.fromarray(grey[68:108, 165:255]).resize((90, 100))
    oval = Image.new("L", hair.size, 0)
    ImageDraw.Draw(oval).ellipse((0, 0, 89, 99), fill=255)
    img = Image.fromarray(grey)
    img.paste(hair, (180, 100), oval)
    return np.stack([np.asarray(img)] * 3, axis=-1)


@pytest.fixture(scope="module")
def sign(astronaut: np.ndarray) -> tuple[np.ndarray, tuple[int, int, int, int]]:
    """A photo with a name board held up in it, and the box of the rendered words."""
    img = Image.fromarray(astronaut.copy())
    draw = ImageDraw.Draw(img)
    draw.rectangle((20, 330, 330, 400), fill=(245, 242, 230))
    font = ImageFont.load_default(size=30)
    draw.text((34, 348), WORDS, fill=(20, 20, 20), font=font)
    x0, y0, x1, y1 = draw.textbbox((34, 348), WORDS, font=font)
    return np.asarray(img), (int(x0), int(y0), int(x1), int(y1))


def _plan(path: Path, tmp_path: Path, *targets: str) -> Plan:
    result = analyse_path(path, tmp_path / f"{path.stem}-{'-'.join(targets)}.json", Settings(targets=targets))
    assert result.status == "analysed", result.error
    assert result.plan is not None
    return result.plan


def test_a_person_seen_from_behind_gets_a_head_region(tmp_path: Path, from_behind: np.ndarray) -> None:
    photo = save(from_behind, tmp_path / "behind.png")
    plan = _plan(photo, tmp_path, "faces", "heads")
    assert {r.source for r in plan.regions if r.kind == "head"} == {"ssdlite-person"}
    with_heads = _share_inside(HEAD, _boxes(plan, "face", "head"))
    faces_only = _plan(photo, tmp_path, "faces")
    assert {r.kind for r in faces_only.regions} <= {"face"}
    # A weak face box (0.14) on the hair covers two thirds of the head; the head region the rest.
    assert with_heads > 0.85 and with_heads - _share_inside(HEAD, _boxes(faces_only, "face")) > 0.15


def test_persons_covers_the_whole_body(tmp_path: Path, from_behind: np.ndarray) -> None:
    plan = _plan(save(from_behind, tmp_path / "behind.png"), tmp_path, "persons")
    assert _boxes(plan, "person") and not _boxes(plan, "head")
    assert _share_inside(HEAD, _boxes(plan, "person")) > 0.9
    assert _share_inside((20, 200, 280, 500), _boxes(plan, "person")) > 0.9  # his coat


def test_a_face_found_needs_no_second_head_region(tmp_path: Path, astronaut: np.ndarray) -> None:
    plan = _plan(save(astronaut, tmp_path / "front.png"), tmp_path, "faces", "heads")
    assert len(_boxes(plan, "face")) == 1
    assert not _boxes(plan, "head")


def test_protect_covers_the_head_and_check_agrees(tmp_path: Path, from_behind: np.ndarray) -> None:
    photo = save(from_behind, tmp_path / "behind.png")
    out = tmp_path / "out.png"
    result = protect_path(photo, out, Settings(seed=1))
    assert result.status == "protected", result.error
    assert changed_share(from_behind, pixels(out), HEAD, 8) > 0.85
    assert check_path(out).status == "clean"


def test_text_is_covered_only_when_asked(
    tmp_path: Path, sign: tuple[np.ndarray, tuple[int, int, int, int]]
) -> None:
    picture, words = sign
    photo = save(picture, tmp_path / "sign.png")
    plan = _plan(photo, tmp_path, "faces", "text")
    texts = [r for r in plan.regions if r.kind == "text"]
    assert texts and all(r.source == "ppocr-text" for r in texts)
    assert _share_inside(words, _boxes(plan, "text")) > 0.95
    covered, plain = tmp_path / "covered.png", tmp_path / "plain.png"
    assert protect_path(photo, covered, Settings(seed=1, targets=("faces", "text"))).status == "protected"
    assert protect_path(photo, plain, Settings(seed=1)).status == "protected"
    assert changed_share(picture, pixels(covered), words, 8) > 0.5
    assert changed_share(picture, pixels(plain), words, 0) == 0.0


def test_a_head_region_can_be_left_visible(tmp_path: Path, from_behind: np.ndarray) -> None:
    photo = save(from_behind, tmp_path / "behind.png")
    plan = _plan(photo, tmp_path, "faces", "heads")
    (head,) = (r for r in plan.regions if r.kind == "head")
    out = tmp_path / "kept.png"
    result = protect_path(photo, out, Settings(seed=1, keep=(head.id,)), plan=plan)
    assert result.status == "protected", result.error
    faces = _boxes(result.plan, "face") if result.plan else []
    x0, y0, x1, y1 = head.box
    visible = np.ones((y1 - y0, x1 - x0), bool)
    for fx0, fy0, fx1, fy1 in faces:  # where a face region overlaps it, cover wins
        visible[max(0, fy0 - y0) : max(0, fy1 - y0), max(0, fx0 - x0) : max(0, fx1 - x0)] = False
    delta = np.abs(pixels(out)[y0:y1, x0:x1].astype(int) - from_behind[y0:y1, x0:x1]).max(-1)
    assert visible.mean() > 0.5 and not delta[visible].any()


def test_a_person_walking_past_is_covered_in_every_frame(tmp_path: Path, from_behind: np.ndarray) -> None:
    frames = []
    for i in range(20):  # walking right, 6 px a frame, on a wider background
        frame = np.full((512, 768, 3), 190, np.uint8)
        frame[:, 6 * i : 6 * i + 512] = from_behind
        frames.append(frame)
    clip = tmp_path / "walk.mp4"
    write_clip(clip, frames, 25)
    plan = analyse_path(clip, tmp_path / "walk.json", Settings()).plan
    assert plan is not None
    heads = [t for t in plan.tracks if t.kind == "head"]
    assert heads and all(t.id.startswith("h") for t in heads)
    # It never flashes through.  The video plan's int8 network, and its searches around tracked
    # faces, see a face in this hair on some frames; there a face region covers the head instead.
    covering = [t for t in plan.tracks if t.kind in ("head", "face")]
    assert {f for t in covering for f, *_ in t.per_frame()} == set(range(20))
    out = tmp_path / "walk-out.mp4"
    assert protect_path(clip, out, Settings(seed=1)).status == "protected"
    after = decoded(out)
    x0, y0, x1, y1 = HEAD
    for i in range(20):
        assert changed_share(frames[i], after[i], (x0 + 6 * i, y0, x1 + 6 * i, y1), 12) > 0.85, i


def test_targets_are_checked_and_faces_are_never_left_out() -> None:
    with pytest.raises(UsageError, match="faces, heads, persons, plates, text"):
        Settings(targets=("faces", "cars"))  # type: ignore[arg-type]
    assert Settings(targets=("text",)).targets == ("faces", "text")
    assert Settings().targets == ("faces", "heads")


def test_the_command_line_names_the_valid_targets(tmp_path: Path, astronaut: np.ndarray) -> None:
    photo = save(astronaut, tmp_path / "a.png")
    run = run_cli("protect", photo, "-o", tmp_path / "out.png", "--targets", "faces,cars")
    assert run.code == 2 and "heads, persons, plates, text" in run.stderr
