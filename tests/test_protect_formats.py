"""Every photo format in, one real CLI run: faces covered, right format out, pixels upright and sRGB."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from conftest import (
    FACE,
    LOSSY_DIFF,
    Run,
    changed_share,
    frames_of,
    identifying_tags,
    needs_exiftool,
    pixels,
    produced,
    run_cli,
    save,
    swapped_primaries_icc,
    tree_hashes,
)

# input name -> (output name with --keep-names and --format same, format Pillow reads back)
EXPECTED = {
    "photo_jpeg.jpg": ("photo_jpeg.jpg", "JPEG"),
    "photo_png.png": ("photo_png.png", "PNG"),
    "photo_webp.webp": ("photo_webp.webp", "WEBP"),
    "photo_tiff.tif": ("photo_tiff.tif", "TIFF"),
    "photo_bmp.bmp": ("photo_bmp.bmp", "BMP"),
    "photo_gif.gif": ("photo_gif.gif", "GIF"),
    "photo_heic.heic": ("photo_heic.jpg", "JPEG"),
    "photo_avif.avif": ("photo_avif.jpg", "JPEG"),
    "rotated.jpg": ("rotated.jpg", "JPEG"),
    "wide_gamut.png": ("wide_gamut.png", "PNG"),
}
LOSSLESS = {"PNG", "TIFF", "BMP"}
GIF_FRAMES = 3
# The rotated input is a 384 px wide crop of the astronaut starting at x = 64.
CROP_X = 64
ORIENTATION = 0x0112


@dataclass
class Batch:
    indir: Path
    out: Path
    run: Run
    before: dict[Path, str]


def _gif_frames(astronaut: np.ndarray) -> list[Image.Image]:
    # Distinct frames (brightness steps), so a cover missing on any one of them shows.
    return [Image.fromarray((astronaut * (1.0 - 0.2 * i)).astype(np.uint8)) for i in range(GIF_FRAMES)]


def _write_inputs(folder: Path, astronaut: np.ndarray) -> None:
    save(astronaut, folder / "photo_jpeg.jpg", quality=95)
    save(astronaut, folder / "photo_png.png")
    save(astronaut, folder / "photo_webp.webp", quality=90)
    save(astronaut, folder / "photo_tiff.tif")
    save(astronaut, folder / "photo_bmp.bmp")
    first, *rest = _gif_frames(astronaut)
    first.save(folder / "photo_gif.gif", save_all=True, append_images=rest, duration=200, loop=0)
    save(astronaut, folder / "photo_heic.heic", quality=90)
    save(astronaut, folder / "photo_avif.avif", quality=90)
    # Stored on its side with EXIF orientation 6 ("rotate 90° clockwise to view").
    upright = astronaut[:, CROP_X : CROP_X + 384]
    exif = Image.Exif()
    exif[ORIENTATION] = 6
    save(np.rot90(upright, k=1).copy(), folder / "rotated.jpg", quality=95, exif=exif.tobytes())
    save(astronaut, folder / "wide_gamut.png", icc_profile=swapped_primaries_icc())


@pytest.fixture(scope="module")
def batch(tmp_path_factory: pytest.TempPathFactory, astronaut: np.ndarray) -> Batch:
    root = tmp_path_factory.mktemp("formats")
    indir = root / "in"
    _write_inputs(indir, astronaut)
    before = tree_hashes(indir)
    out = root / "out"
    run = run_cli("protect", indir, "-o", out, "--json", "--keep-names")
    return Batch(indir, out, run, before)


def test_every_format_is_protected(batch: Batch) -> None:
    assert batch.run.code == 0, batch.run.stderr
    records = batch.run.by_input()
    assert set(records) == set(EXPECTED)
    for name, record in records.items():
        assert record["status"] == "protected", (name, record)
        assert record["faces"] >= 1 and record["regions"] >= 1, (name, record)
    assert sorted(p.name for p in produced(batch.out)) == sorted(o for o, _ in EXPECTED.values())


def test_originals_are_byte_identical(batch: Batch) -> None:
    assert tree_hashes(batch.indir) == batch.before


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_output_format(batch: Batch, name: str) -> None:
    out_name, fmt = EXPECTED[name]
    with Image.open(batch.out / out_name) as img:
        assert img.format == fmt


@pytest.mark.parametrize("name", [n for n in sorted(EXPECTED) if n.startswith("photo_")])
def test_face_is_covered(batch: Batch, name: str) -> None:
    out_name, fmt = EXPECTED[name]
    before, after = pixels(batch.indir / name), pixels(batch.out / out_name)
    assert after.shape == before.shape
    diff = 0 if fmt in LOSSLESS else LOSSY_DIFF
    assert changed_share(before, after, FACE, diff) >= 0.9


def test_every_gif_frame_is_covered(batch: Batch) -> None:
    before, after = frames_of(batch.indir / "photo_gif.gif"), frames_of(batch.out / "photo_gif.gif")
    assert len(after) == len(before) == GIF_FRAMES
    for index, (frame_in, frame_out) in enumerate(zip(before, after, strict=True)):
        assert changed_share(frame_in, frame_out, FACE, LOSSY_DIFF) >= 0.9, f"frame {index}"


def test_png_stays_lossless(batch: Batch) -> None:
    before, after = pixels(batch.indir / "photo_png.png"), pixels(batch.out / "photo_png.png")
    changed = (before != after).any(axis=-1)
    # Only the head is touched: a lossy round trip would move pixels all over the picture.
    x0, y0, x1, y1 = FACE
    assert changed.sum() <= 5 * (x1 - x0) * (y1 - y0)


def test_jpeg_quality_is_at_least_90(batch: Batch) -> None:
    with Image.open(batch.out / "photo_jpeg.jpg") as img:
        luma = img.quantization[0]  # type: ignore[attr-defined]
    # libjpeg's base luminance table peaks at 121; quality 90 scales it to 20 %.
    assert max(luma) <= round(121 * 0.2)


def test_exif_orientation_is_applied_to_pixels(batch: Batch, astronaut: np.ndarray) -> None:
    out = batch.out / "rotated.jpg"
    with Image.open(out) as img:
        assert img.size == (384, 512)
        assert ORIENTATION not in img.getexif()
    upright = astronaut[:, CROP_X : CROP_X + 384].astype(np.int16)
    got = pixels(out)
    x0, y0, x1, y1 = FACE
    assert changed_share(upright, got, (x0 - CROP_X, y0, x1 - CROP_X, y1), LOSSY_DIFF) >= 0.9
    # Below the head the picture is the upright photo, give or take JPEG noise.
    assert np.abs(got[260:] - upright[260:]).mean() < 4


def test_icc_profile_is_converted_to_srgb(batch: Batch, astronaut: np.ndarray) -> None:
    out = batch.out / "wide_gamut.png"
    with Image.open(out) as img:
        assert "icc_profile" not in img.info
    got = pixels(out)
    # The profile swaps red and green primaries; converted to sRGB, R and G trade places.
    below_head = np.s_[260:, :]
    assert np.abs(got[below_head][..., 0] - astronaut[below_head][..., 1]).max() <= 1
    assert np.abs(got[below_head][..., 1] - astronaut[below_head][..., 0]).max() <= 1
    assert np.abs(got[below_head][..., 2] - astronaut[below_head][..., 2]).max() <= 1


@needs_exiftool
def test_outputs_carry_no_orientation_or_profile_tags(batch: Batch) -> None:
    for name in ("rotated.jpg", "wide_gamut.png"):
        assert identifying_tags(batch.out / name) == [], name


def test_a_tiff_of_several_pages_is_refused_not_cut(tmp_path: Path, astronaut: np.ndarray) -> None:
    """Only the first page was written, without a word: the others (a scanned document's pages,
    each maybe with faces) were gone from the copy, and `check` judged the first page alone.
    A reduced copy marked as one (a thumbnail directory) is not a page; a smaller page is."""
    face = Image.fromarray(astronaut)
    pages = tmp_path / "pages.tiff"
    face.save(pages, save_all=True, append_images=[face.rotate(90), face.convert("L")])
    before = pages.read_bytes()
    for command in ("protect", "strip"):
        run = run_cli(command, pages, "-o", tmp_path / command / "out.tiff")
        assert run.code == 1 and "holds 3 pages" in run.stderr, run.stderr
        assert not (tmp_path / command).exists() or produced(tmp_path / command) == []
    assert pages.read_bytes() == before
    assert "pixels not checked for faces" in run_cli("check", pages).stderr
    thumbnails = tmp_path / "thumbnails.tiff"
    face.save(thumbnails, save_all=True, append_images=[face.reduce(4)], tiffinfo={254: 1})
    assert run_cli("protect", thumbnails, "-o", tmp_path / "thumbs.tiff").code == 0
    smaller = tmp_path / "smaller.tiff"
    face.save(smaller, save_all=True, append_images=[face.reduce(2)])
    assert run_cli("protect", smaller, "-o", tmp_path / "smaller_out.tiff").code == 1


@pytest.mark.parametrize("suffix", [".png", ".tiff"])
def test_a_16_bit_grey_scan_is_read_in_all_its_levels(
    tmp_path: Path, astronaut: np.ndarray, suffix: str
) -> None:
    """Pillow reads a 16-bit greyscale PNG or TIFF (a scanner's) as I;16, and its conversion to
    RGB clipped every level above 255: the detectors saw a two-level picture, `check` called the
    face clean and `protect` covered nothing and wrote the two levels."""
    grey = np.asarray(Image.fromarray(astronaut).convert("L")).astype(np.uint16) * 257
    scan = tmp_path / f"scan{suffix}"
    Image.fromarray(grey).save(scan)
    with Image.open(scan) as img:
        assert img.mode.startswith("I"), img.mode
    found = run_cli("check", scan)
    assert found.code == 3 and "face at" in found.stderr, found.stderr
    out = tmp_path / f"out{suffix}"
    run = run_cli("protect", scan, "-o", out)
    assert run.code == 0 and "1 face(s)" in run.stdout + run.stderr, run.stderr
    written = pixels(out)
    shown = np.asarray(Image.fromarray((grey // 257).astype(np.uint8)).convert("RGB"))
    assert changed_share(shown, written, FACE, 0) >= 0.9
    # Beside the cover, the picture is the scan's, in its levels: not two of them.
    kept = np.abs(written[..., 0].astype(int) - shown[..., 0]) <= 1
    assert kept.mean() > 0.8 and len(np.unique(written[kept])) > 200
    assert run_cli("check", out).code == 0


def test_an_animated_png_is_written_as_one(tmp_path: Path, astronaut: np.ndarray) -> None:
    """A PNG holds one picture, an APNG several: the first frame alone was written, which the
    self-check refused ("output has 1 frames, expected 2"), so no APNG could be protected."""
    face = Image.fromarray(astronaut)
    source = tmp_path / "moving.png"
    face.save(source, save_all=True, append_images=[face.transpose(Image.Transpose.FLIP_LEFT_RIGHT)],
              duration=[100, 250], loop=0)  # fmt: skip
    out = tmp_path / "out.png"
    run = run_cli("protect", source, "-o", out)
    assert run.code == 0, run.stderr
    frames = frames_of(out)
    assert len(frames) == 2
    with Image.open(out) as written:
        written.seek(1)
        assert written.info["duration"] == 250
    x0, y0, x1, y1 = FACE
    flipped = (astronaut.shape[1] - x1, y0, astronaut.shape[1] - x0, y1)
    assert changed_share(astronaut, frames[0], FACE, 0) >= 0.9
    assert changed_share(astronaut[:, ::-1], frames[1], flipped, 0) >= 0.9
    assert run_cli("check", out).code == 0


def test_a_face_drawn_by_transparency_alone_is_found_and_covered(
    tmp_path: Path, astronaut: np.ndarray
) -> None:
    """Black pixels whose transparency follows a face's shades show that face over a white page,
    yet the detectors read the colours alone: `check` called it clean and `protect` left it."""
    shade = np.asarray(Image.fromarray(astronaut).convert("L"))
    drawn = np.zeros((*shade.shape, 4), np.uint8)
    drawn[..., 3] = 255 - shade
    source = save(drawn, tmp_path / "drawn.png")
    found = run_cli("check", source)
    assert found.code == 3 and "face at" in found.stderr, found.stderr
    out = tmp_path / "out.png"
    run = run_cli("protect", source, "-o", out)
    assert run.code == 0 and "1 face(s)" in run.stdout + run.stderr, run.stderr
    with Image.open(out) as img:
        written = np.asarray(img.convert("RGBA"))
    on_white = (
        written[..., :3].astype(int) * written[..., 3:] + 255 * (255 - written[..., 3:].astype(int))
    ) // 255
    assert changed_share(np.repeat(shade[..., None], 3, 2), on_white.astype(np.uint8), FACE, 0) >= 0.9
    assert run_cli("check", out).code == 0


def test_a_16_bit_grey_pngs_transparent_level_stays_its_own(tmp_path: Path, astronaut: np.ndarray) -> None:
    """A 16-bit grey PNG names one level as transparent (tRNS); read at 8 bits, Pillow took that
    level's low byte for an 8-bit one, and `protect` wrote holes where no pixel was transparent."""
    grey = np.asarray(Image.fromarray(astronaut).convert("L")).astype(np.uint16) * 257
    grey[:8, :8] = 1000  # the transparent corner; 1000's low byte (232) is a level the face holds
    source = tmp_path / "scan.png"
    Image.fromarray(grey).save(source, transparency=1000)
    run = run_cli("protect", source, "-o", tmp_path / "out.png")
    assert run.code == 0, run.stderr
    with Image.open(tmp_path / "out.png") as img:
        alpha = np.asarray(img.convert("RGBA"))[..., 3]
    assert (alpha[:8, :8] == 0).all() and (alpha == 0).sum() == 64
