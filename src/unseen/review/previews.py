"""Pictures for the review page, made once per file in a private temporary folder.

They hold original pixels, so they live in a folder only its owner can open
(mode 0700, from `tempfile.mkdtemp`), which `Store.close` removes when the
review ends, Ctrl-C included, and the next review's start when it was killed;
nothing in it ever reaches an output or a report.  The page gets them by a
file's opaque id and a frame index, never by a path.

A video is decoded once, by the same `VideoReader` the pipeline uses, so
frame n here is frame n of the plan: every frame is stored as a JPEG of
exactly that index, and as a small grey copy for carrying boxes
(`unseen.review.carry`).  The page steps and plays through these stills and
never asks the browser's video clock which frame it shows.
"""

from __future__ import annotations

import io
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from ..boxes import IntBoxes
from ..cover import cover
from ..media.video import VideoReader
from ..plan import Box
from ..write import held_folder, remove_dead_folders
from .carry import GreyFrames

PHOTO_SIDE = 2048  # longest side of a photo's preview: room for the loupe, light for the browser
VIDEO_SIDE = 960
GREY_SIDE = 480  # the grey copies the boxes are carried on
THUMB_SIDE = 160
QUALITY = 88
PREFIX = "unseen-review-"  # the preview folders' names in the temporary folder


class Store:
    """The review's private folder of previews; ``close`` removes it and everything in it.

    A review killed outright cannot: the next review's store removes the folders
    no live review holds (`unseen.write.remove_dead_folders`), so a dead one's
    original pixels stay on the disk only until then.
    """

    def __init__(self) -> None:
        parent = Path(tempfile.gettempdir())
        remove_dead_folders(parent, f"{PREFIX}*")
        self.root, self._held = held_folder(parent, PREFIX)  # mode 0700

    def folder(self, key: str) -> Path:
        path = self.root / key
        path.mkdir(mode=0o700)
        return path

    def close(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)
        if self._held is not None:
            os.close(self._held)
            self._held = None


@dataclass
class Previews:
    """One file's stills: ``count`` frames at ``scale`` times the picture's size."""

    folder: Path
    count: int
    scale: float
    grey: GreyFrames | None = None  # videos only

    def path(self, n: int) -> Path:
        return self.folder / f"{n:07d}.jpg"

    def jpeg(self, n: int) -> bytes:
        return self.path(n).read_bytes()

    def rgb(self, n: int) -> np.ndarray:
        with Image.open(self.path(n)) as img:
            return np.asarray(img.convert("RGB"))

    def covered(self, n: int, boxes: IntBoxes, style: str) -> bytes:
        """Frame ``n`` as the plan covers it, in the preview's size (the noise is a stand-in)."""
        rgb = self.rgb(n)
        scaled = np.column_stack(
            [np.floor(boxes[:, :2] * self.scale), np.ceil(boxes[:, 2:] * self.scale)]
        ).astype(np.int64)
        return encode(cover(rgb, scaled.reshape(-1, 4), style, np.random.default_rng(n)))

    def crop(self, n: int, box: Box, margin: float = 0.3) -> bytes:
        """A thumbnail of ``box`` on frame ``n``, with some room around it."""
        rgb = self.rgb(n)
        h, w = rgb.shape[:2]
        x0, y0, x1, y1 = (v * self.scale for v in box)
        mx, my = (x1 - x0) * margin, (y1 - y0) * margin
        left, top = max(0, int(x0 - mx)), max(0, int(y0 - my))
        right, bottom = min(w, int(x1 + mx) + 1), min(h, int(y1 + my) + 1)
        img = Image.fromarray(rgb[top:bottom, left:right])
        img.thumbnail((THUMB_SIDE, THUMB_SIDE))
        return encode(np.asarray(img))


def encode(rgb: np.ndarray, quality: int = QUALITY) -> bytes:
    out = io.BytesIO()
    Image.fromarray(rgb).save(out, "JPEG", quality=quality)
    return out.getvalue()


def _fit(width: int, height: int, side: int) -> float:
    return min(1.0, side / max(width, height))


def photo(folder: Path, frame: np.ndarray) -> Previews:
    """A photo's preview (its first frame: an animation's frames share one list of regions)."""
    h, w = frame.shape[:2]
    scale = _fit(w, h, PHOTO_SIDE)
    img = Image.fromarray(frame[..., :3])
    if scale < 1:
        img = img.resize((max(1, round(w * scale)), max(1, round(h * scale))), Image.Resampling.LANCZOS)
    previews = Previews(folder, 1, img.width / w)
    img.save(previews.path(0), "JPEG", quality=QUALITY)
    return previews


def video(folder: Path, source: Path, frames: int, width: int, height: int) -> Previews:
    """Every frame of a video as a JPEG and a small grey copy, by the pipeline's frame index."""
    scale = _fit(width, height, VIDEO_SIDE)
    grey_scale = _fit(width, height, GREY_SIDE)
    gw, gh = max(1, round(width * grey_scale)), max(1, round(height * grey_scale))
    grey = np.lib.format.open_memmap(folder / "grey.npy", "w+", np.uint8, (frames, gh, gw))
    previews = Previews(folder, 0, scale)
    with VideoReader(source) as reader:
        for index, frame in enumerate(reader.frames()):
            if index >= frames:
                break
            rgb = reader.rgb(frame, max(round(width * scale), round(height * scale)))
            Image.fromarray(rgb).save(previews.path(index), "JPEG", quality=QUALITY)
            small = Image.fromarray(rgb).convert("L").resize((gw, gh), Image.Resampling.BILINEAR)
            grey[index] = np.asarray(small)
            previews.count = index + 1
    grey.flush()
    previews.scale = _preview_scale(previews, width)
    previews.grey = GreyFrames(grey[: previews.count], gw / width, width, height)
    return previews


def _preview_scale(previews: Previews, width: int) -> float:
    with Image.open(previews.path(0)) as img:
        return img.width / width
