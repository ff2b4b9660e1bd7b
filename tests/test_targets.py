"""Targets beyond faces: heads of people the face detectors cannot see, whole persons, text.

Real detectors on generated pictures: the astronaut (skimage) with her face
painted over as the back of a head (a person seen from behind: the body is
there, no face), and words rendered onto a board.  Nothing from ../shared.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont

from conftest import changed_share, decoded, pixels, run_cli, save, write_clip
from unseen.api import analyse_path, check_path, protect_path
from unseen.errors import UsageError
from unseen.plan import Plan, Region
from unseen.settings import Settings

HEAD = (175, 30, 295, 200)  # x0, y0, x1, y1 of the astronaut's head (hair included)
WORDS = "NAME: JOHN SMITH"


def _share_inside(box: tuple[int, int, int, int], regions: list[Region]) -> float:
    """Share of ``box``'s pixels inside some region."""
    mask = np.zeros((1000, 1000), bool)
    for r in regions:
        x0, y0, x1, y1 = r.box
        mask[y0:y1, x0:x1] = True
    x0, y0, x1, y1 = box
    return float(mask[y0:y1, x0:x1].mean())


@pytest.fixture(scope="module")
def from_behind(astronaut: np.ndarray) -> np.ndarray:
    """The astronaut with the back of a head where her face was: a body, and no face to find."""
    img = Image.fromarray(astronaut.copy())
    draw = ImageDraw.Draw(img)
    x0, y0, x1, y1 = HEAD
    draw.ellipse((x0 + 8, y0 + 5, x1 - 8, y1 - 5), fill=(58, 42, 30))
    rng = np.random.default_rng(0)
    for _ in range(400):  # strands of hair, so it is not a flat disc
        x = int(rng.integers(x0 + 20, x1 - 20))
        y = int(rng.integers(y0 + 10, y1 - 30))
        draw.line((x, y, x + int(rng.integers(-6, 7)), y + 25), fill=(85, 62, 44), width=2)
    return np.asarray(img)


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
    heads = [r for r in plan.regions if r.kind == "head"]
    assert heads, plan.regions
    assert heads[0].source == "ssdlite-person"
    assert _share_inside(HEAD, heads) > 0.8
    faces_only = _plan(photo, tmp_path, "faces")
    assert {r.kind for r in faces_only.regions} <= {"face"}
    assert _share_inside(HEAD, faces_only.regions) < 0.5  # what heads are for: no face found there


def test_persons_covers_the_whole_body(tmp_path: Path, from_behind: np.ndarray) -> None:
    photo = save(from_behind, tmp_path / "behind.png")
    plan = _plan(photo, tmp_path, "persons")
    persons = [r for r in plan.regions if r.kind == "person"]
    assert persons and not [r for r in plan.regions if r.kind == "head"]
    assert _share_inside(HEAD, persons) > 0.95
    assert _share_inside((120, 220, 420, 500), persons) > 0.9  # her suit, shoulders to hands


def test_a_face_found_needs_no_second_head_region(tmp_path: Path, astronaut: np.ndarray) -> None:
    plan = _plan(save(astronaut, tmp_path / "front.png"), tmp_path, "faces", "heads")
    assert [r.kind for r in plan.regions].count("face") == 1
    assert not [r for r in plan.regions if r.kind == "head"]


def test_protect_covers_the_head_and_check_agrees(tmp_path: Path, from_behind: np.ndarray) -> None:
    photo = save(from_behind, tmp_path / "behind.png")
    out = tmp_path / "out.png"
    result = protect_path(photo, out, Settings(seed=1))
    assert result.status == "protected", result.error
    assert changed_share(from_behind, pixels(out), (190, 45, 280, 185), 8) > 0.8
    assert check_path(out).status == "clean"


def test_text_is_covered_only_when_asked(
    tmp_path: Path, sign: tuple[np.ndarray, tuple[int, int, int, int]]
) -> None:
    picture, words = sign
    photo = save(picture, tmp_path / "sign.png")
    plan = _plan(photo, tmp_path, "faces", "text")
    texts = [r for r in plan.regions if r.kind == "text"]
    assert texts and all(r.source == "ppocr-text" for r in texts)
    assert _share_inside(words, texts) > 0.95
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
    x0, y0, x1, y1 = head.box
    assert changed_share(from_behind, pixels(out), (x0, y0, x1, y1), 0) < 0.05


def test_a_walking_person_seen_from_behind_is_tracked_in_every_frame(
    tmp_path: Path, from_behind: np.ndarray
) -> None:
    canvas = np.full((540, 960, 3), 200, np.uint8)
    person = np.asarray(Image.fromarray(from_behind).resize((256, 256)))
    frames = []
    for i in range(30):  # walks right, 8 px a frame
        frame = canvas.copy()
        x = 100 + 8 * i
        frame[200:456, x : x + 256] = person
        frames.append(frame)
    clip = tmp_path / "walk.mp4"
    write_clip(clip, frames, 25)
    plan = analyse_path(clip, tmp_path / "walk.json", Settings()).plan
    assert plan is not None
    heads = [t for t in plan.tracks if t.kind == "head"]
    assert heads and all(t.id.startswith("h") for t in heads)
    covered = {f for t in heads for f, *_ in t.per_frame()}
    assert covered == set(range(30))  # no frame where the head flashes through
    out = tmp_path / "walk-out.mp4"
    assert protect_path(clip, out, Settings(seed=1)).status == "protected"
    after = decoded(out)
    for i in (0, 14, 29):
        x = 100 + 8 * i
        head = (x + 95, 215, x + 160, 290)  # the painted head, scaled into the frame
        assert changed_share(frames[i], after[i], head, 8) > 0.8, i


def test_targets_are_checked_and_faces_are_never_left_out() -> None:
    with pytest.raises(UsageError, match="faces, heads, persons, plates, text"):
        Settings(targets=("faces", "cars"))  # type: ignore[arg-type]
    assert Settings(targets=("text",)).targets == ("faces", "text")
    assert Settings().targets == ("faces", "heads")


def test_the_command_line_names_the_valid_targets(tmp_path: Path, astronaut: np.ndarray) -> None:
    photo = save(astronaut, tmp_path / "a.png")
    run = run_cli("protect", photo, "-o", tmp_path / "out.png", "--targets", "faces,cars")
    assert run.code == 2 and "heads, persons, plates, text" in run.stderr
