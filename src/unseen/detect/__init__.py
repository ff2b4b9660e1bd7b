"""Face finding: backends chosen by name, run over several scales, merged into one `Detections`.

A `Plan` lists whole-image passes (backend, scale, thresholds) and zoom
passes.  A zoom pass upscales only the tiles where an earlier pass saw faint
small-face candidates, which is where the faces missed at 1x are; that keeps
the cost of upscaling to the crowded parts of a photo.

CenterFace runs on onnxruntime, which has wheels for every platform unseen
supports; its passes alone reach the recall goals.  YuNet (``yuface``) has
wheels only for CPython 3.11 on Linux x86-64 and Windows: where it installs,
its passes add a second opinion from another network and runtime, and
elsewhere `Plan.without` drops them (`unseen.profiles.resolve`).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from importlib import import_module
from typing import Protocol

import cv2
import numpy as np
from PIL import Image

from ..datatypes import Detections
from ..errors import UsageError
from ..registry import Registry
from ..settings import Settings
from .fuse import fuse


class Backend(Protocol):
    def detect(self, rgb: np.ndarray, threshold: float) -> Detections: ...


BackendFactory = Callable[[Settings], Backend]
# Detectors by name.  Each module registers itself when imported; `make_backend` imports on demand,
# so a detector whose package is missing costs nothing until a plan names it.
BACKENDS: Registry[BackendFactory] = Registry("detector")
_MODULES = {
    "centerface": "centerface",
    "centerface-int8": "centerface",
    "yunet": "yunet",
    "ssdlite-person": "persons",
    "ssdlite-person-whole": "persons",
    "ppocr-text": "text",
    "haar-plate": "plates",
}
DETECTORS = tuple(_MODULES)  # every detector unseen ships, by the name plans and reports give it


@dataclass(frozen=True)
class Pass:
    """Run ``backend`` on the whole image at ``scale`` (long side capped at ``max_side``).

    Boxes at least ``big_from`` px across are kept from ``big_threshold`` up:
    a large low-score box is most often a turned head, which needs covering too,
    while low-score small boxes are mostly texture.  ``mirror`` runs the
    backend on the left-right mirror image: a detector is not symmetric, and
    the mirrored view finds profiles and half-hidden faces the plain one scores
    too low.
    """

    backend: str
    scale: float
    threshold: float
    max_side: int = 0
    big_threshold: float = 1.0
    big_from: float = 32.0
    mirror: bool = False

    @property
    def label(self) -> str:
        return f"{self.backend}@{self.scale:g}x" + ("-mirror" if self.mirror else "")

    @property
    def floor(self) -> float:
        return min(self.threshold, self.big_threshold)

    def keep(self, found: Detections) -> Detections:
        big = (found.sizes >= self.big_from) & (found.scores >= self.big_threshold)
        return found.take((found.scores >= self.threshold) | big)


@dataclass(frozen=True)
class ZoomPass:
    """Re-run ``backend`` at ``scale`` on tiles around faces smaller than ``below`` px.

    Small faces come in crowds: where the whole-image passes found one, the
    upscaled pass finds the smaller ones beside it that they missed.
    """

    backend: str
    scale: float
    threshold: float
    below: float
    tile: int = 256


@dataclass(frozen=True)
class Plan:
    passes: tuple[Pass, ...]
    zoom: tuple[ZoomPass, ...] = ()

    def backends(self) -> set[str]:
        return {p.backend for p in self.passes} | {z.backend for z in self.zoom}

    def without(self, backend: str) -> Plan:
        """This plan less every pass of ``backend``."""
        return Plan(
            tuple(p for p in self.passes if p.backend != backend),
            tuple(z for z in self.zoom if z.backend != backend),
        )


# Measured on dev.jsonl with cached detections: docs/tuning.md.  CenterFace on the image and
# on its mirror image, each keeping boxes >= 32 px from 0.1, reaches the recall goals (tiny 0.90,
# small 0.95, medium 0.96, large 0.97) without YuNet; YuNet adds a little where it installs.
PHOTO = Plan(
    passes=(
        Pass("centerface", 1.0, 0.15, 4096, big_threshold=0.1),
        Pass("centerface", 1.0, 0.15, 4096, big_threshold=0.1, mirror=True),
        Pass("yunet", 1.0, 0.5, 1600),
    ),
    zoom=(ZoomPass("centerface", 2.0, 0.1, below=24.0, tile=128),),
)
FAST = Plan(
    passes=(
        Pass("centerface", 1.0, 0.15, 1920, big_threshold=0.1),
        Pass("centerface", 1.0, 0.15, 1920, big_threshold=0.1, mirror=True),
        Pass("yunet", 1.0, 0.5, 960),
    )
)
# Video: every frame costs, and the tracker bridges single-frame misses (unseen.track).
# --fast detects every third frame at 960 px; 640 px lost a crowd's small faces for good.
# CenterFace in int8 takes half the time at the same recall (unseen.detect.quantise).
# Measured on score_video.py's clip: docs/video.md.
VIDEO = Plan(passes=(Pass("centerface-int8", 1.0, 0.15, 1280, big_threshold=0.08),))
VIDEO_FAST = Plan(passes=(Pass("centerface-int8", 1.0, 0.15, 960, big_threshold=0.08),))
# The face audit of `unseen check` and of every self-check, on what was written.  Thresholds
# measured on the astronaut photo: each pass fires on the bare face, none on its cover; on 60
# protected dev photos none fired on a cover.  CenterFace in int8 sees the same faces as the
# float graph at these thresholds (dev photos: docs/tuning.md) at a third of the time at 1920 px.
AUDIT = Plan(
    passes=(
        Pass("centerface-int8", 1.0, 0.5, 1920),
        Pass("centerface-int8", 1.0, 0.5, 1920, mirror=True),
        Pass("yunet", 1.0, 0.7, 1600),
    )
)


def installed(name: str) -> bool:
    """Whether backend ``name`` can load here: YuNet needs ``yuface``, a wheel only some platforms have."""
    if name != "yunet":
        return True
    from .yunet import load_yuface

    try:
        load_yuface()
    except ImportError:
        return False
    return True


def make_backend(name: str, settings: Settings) -> Backend:
    if name in _MODULES and name not in BACKENDS.names():
        import_module(f"{__name__}.{_MODULES[name]}")
    if name not in BACKENDS.names():
        valid = ", ".join(sorted({*BACKENDS.names(), *_MODULES}))
        raise UsageError(f"unknown detector {name!r}; choose one of: {valid}")
    return BACKENDS.get(name)(settings)


_SIBLINGS = threading.Lock()


class FaceFinder:
    """Loads each backend once; ``find(rgb)`` runs the plan and returns merged boxes."""

    def __init__(self, settings: Settings, plan: Plan) -> None:
        self.plan = plan
        self.backends = {name: make_backend(name, settings) for name in sorted(plan.backends())}
        self.threads = settings.threads
        self._siblings: dict[tuple[Plan, int], FaceFinder] = {}

    def with_plan(self, plan: Plan, settings: Settings) -> FaceFinder:
        """A finder for ``plan`` that shares this one's loaded backends where they run on as many threads
        (built once for each plan and thread count, then reused)."""
        if plan == self.plan and settings.threads == self.threads:
            return self
        key = (plan, settings.threads)
        with _SIBLINGS:  # two lanes of `unseen check` ask at once: the networks load once
            return self._sibling(key, plan, settings)

    def _sibling(self, key: tuple[Plan, int], plan: Plan, settings: Settings) -> FaceFinder:
        if key not in self._siblings:
            shared = self.backends if settings.threads == self.threads else {}
            sibling = object.__new__(FaceFinder)
            sibling.plan = plan
            sibling.threads = settings.threads
            sibling.backends = {
                n: shared.get(n) or make_backend(n, settings) for n in sorted(plan.backends())
            }
            sibling._siblings = {}
            self._siblings[key] = sibling
        return self._siblings[key]

    def detail(self, longest: int) -> int:
        """The longest side, at most ``longest``, that any pass reads of an image that size.

        A caller that can shrink images cheaply (a video decoder scales while it
        converts colours) hands over images that size and saves the resize here.
        """
        if self.plan.zoom:
            return longest
        return min(
            longest, max(round(p.max_side / p.scale) if p.max_side else longest for p in self.plan.passes)
        )

    def find(self, rgb: np.ndarray) -> Detections:
        """Every face in ``rgb`` (H, W, 3), or in an (H, W, 4) picture with transparency as a
        viewer may show it: the colours under it, and the picture over a white and over a black
        page.  The alpha channel alone may draw a face (its shades as transparency over black
        pixels), which only the picture over a page shows."""
        if rgb.shape[-1] == 4 and not (rgb[..., 3] == 255).all():
            shown = [rgb[..., :3], _over(rgb, 255), _over(rgb, 0)]
            return fuse(Detections.concat([self._find(view) for view in shown]))
        return self._find(rgb[..., :3])

    def _find(self, rgb: np.ndarray) -> Detections:
        views: dict[float, np.ndarray] = {}  # passes at one scale share its view (a mirror pass, an audit's)
        found = [p.keep(self._run(p, rgb, views)) for p in self.plan.passes]
        seeds = Detections.concat(found)
        for z in self.plan.zoom:
            found.append(self._zoom(z, rgb, seeds))
        return fuse(Detections.concat(found))

    def find_in(self, rgb: np.ndarray, areas: list[tuple[int, int, int, int]]) -> Detections:
        """`find` on each rectangle of ``rgb`` only, in ``rgb``'s pixels."""
        parts = [self.find(rgb[y0:y1, x0:x1]).transformed(1.0, x0, y0) for x0, y0, x1, y1 in areas]
        return fuse(Detections.concat(parts))

    def _run(self, p: Pass, rgb: np.ndarray, views: dict[float, np.ndarray]) -> Detections:
        h, w = rgb.shape[:2]
        scale = p.scale
        if p.max_side and max(h, w) * scale > p.max_side:
            scale = p.max_side / max(h, w)
        if scale not in views:
            views[scale] = resized(rgb, scale)
        view = views[scale]
        if p.mirror:
            found = self.backends[p.backend].detect(_mirrored(view), p.floor)
            found = found.mirrored(view.shape[1])
        else:
            found = self.backends[p.backend].detect(view, p.floor)
        found = found.labelled(p.label)
        return found.transformed(scale) if scale != 1.0 else found

    def _zoom(self, z: ZoomPass, rgb: np.ndarray, seeds: Detections) -> Detections:
        h, w = rgb.shape[:2]
        small = seeds.take(seeds.sizes < z.below)
        backend = self.backends[z.backend]
        parts = []
        for x0, y0, x1, y1 in tiles_around(small, w, h, z.tile):
            crop = resized(rgb[y0:y1, x0:x1], z.scale)
            parts.append(backend.detect(crop, z.threshold).transformed(z.scale, x0, y0))
        return Detections.concat(parts).labelled(f"{z.backend}@zoom{z.scale:g}x")


def tiles_around(seeds: Detections, width: int, height: int, tile: int) -> list[tuple[int, int, int, int]]:
    """Rectangles to zoom into: grid cells holding a seed centre, grown by one cell, joined where they touch.

    Joining matters for cost: overlapping tiles would run the detector on the same
    pixels several times, and a crowd fills neighbouring cells.
    """
    if not len(seeds):
        return []
    step = max(16, tile // 2)
    rows, cols = -(-height // step), -(-width // step)
    grid = np.zeros((rows + 2, cols + 2), bool)
    centres = ((seeds.xyxy[:, :2] + seeds.xyxy[:, 2:]) / 2 // step).astype(int)
    grid[np.clip(centres[:, 1], 0, rows - 1) + 1, np.clip(centres[:, 0], 0, cols - 1) + 1] = True
    grown = np.zeros_like(grid)
    for dy in (-1, 0, 1):
        for dx in (-1, 0, 1):
            grown |= np.roll(np.roll(grid, dy, 0), dx, 1)
    return _rectangles(grown[1:-1, 1:-1], step, width, height)


def areas_around(
    boxes: np.ndarray, pad: np.ndarray, width: int, height: int, cell: int = 32
) -> list[tuple[int, int, int, int]]:
    """Rectangles holding every box grown by its ``pad`` on each side, in ``cell`` steps, joined where they touch."""
    rows, cols = -(-height // cell), -(-width // cell)
    grid = np.zeros((rows, cols), bool)
    grown = np.concatenate([boxes[:, :2] - pad[:, None], boxes[:, 2:] + pad[:, None]], axis=1)
    lo = np.clip(np.floor(grown[:, :2] / cell), 0, [cols, rows]).astype(int)
    hi = np.clip(np.ceil(grown[:, 2:] / cell), 0, [cols, rows]).astype(int)
    for (c0, r0), (c1, r1) in zip(lo.tolist(), hi.tolist(), strict=True):
        grid[r0:r1, c0:c1] = True
    return _rectangles(grid, cell, width, height)


def _rectangles(grid: np.ndarray, step: int, width: int, height: int) -> list[tuple[int, int, int, int]]:
    """The bounding rectangle, in pixels, of each 4-connected group of True cells of ``step`` px."""
    boxes = []
    for cells in _components(grid):
        (r0, c0), (r1, c1) = cells.min(0), cells.max(0) + 1
        boxes.append(
            (int(c0 * step), int(r0 * step), min(width, int(c1 * step)), min(height, int(r1 * step)))
        )
    return boxes


def _components(grid: np.ndarray) -> list[np.ndarray]:
    """(row, col) arrays of the 4-connected groups of True cells."""
    seen = np.zeros_like(grid)
    groups = []
    for start in zip(*np.nonzero(grid), strict=True):
        if seen[start]:
            continue
        stack, cells = [start], []
        seen[start] = True
        while stack:
            r, c = stack.pop()
            cells.append((r, c))
            for nr, nc in ((r + 1, c), (r - 1, c), (r, c + 1), (r, c - 1)):
                if 0 <= nr < grid.shape[0] and 0 <= nc < grid.shape[1] and grid[nr, nc] and not seen[nr, nc]:
                    seen[nr, nc] = True
                    stack.append((nr, nc))
        groups.append(np.array(cells))
    return groups


def _mirrored(rgb: np.ndarray) -> np.ndarray:
    """``rgb`` left to right, as a new array.  OpenCV copies whole pixels; a copy of numpy's reversed
    view goes byte by byte, 9 to 45 times as long (4.6 ms a 720p frame, 15 ms a 1920x1440 view; the
    audit mirrors every frame it samples)."""
    if not rgb.size:
        return rgb[:, ::-1].copy()
    flipped: np.ndarray = cv2.flip(rgb, 1)
    return flipped


def resized(rgb: np.ndarray, scale: float) -> np.ndarray:
    if scale == 1.0:
        return rgb
    h, w = rgb.shape[:2]
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    return np.asarray(Image.fromarray(rgb).resize(size, Image.Resampling.BILINEAR))


def _over(rgba: np.ndarray, page: int) -> np.ndarray:
    """An (H, W, 4) picture as it shows over a page of grey level ``page``."""
    alpha = rgba[..., 3:].astype(np.uint16)
    shown = (rgba[..., :3] * alpha + page * (255 - alpha) + 127) // 255
    return shown.astype(np.uint8)
