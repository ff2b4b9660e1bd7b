"""Tune the photo detection plan and head geometry on ../shared/data/faces/dev.jsonl.

Step 1 (slow, once): run every candidate pass over the dev photos at a low
threshold and cache the raw boxes.  Step 2 (seconds): replay plans from the
cache, using the library's own fusion, zoom-tile selection and head geometry,
and score coverage the way ../shared/tools/score_images.py does (a face counts
when 90 % of its box is covered).  Times are the cached per-pass seconds, with
a zoom pass charged for the share of the image its tiles cover.

    python benchmarks/tune_detect.py --cache /tmp/dets.pkl
"""

from __future__ import annotations

import argparse
import json
import pickle
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from unseen.boxes import HeadGeometry, grow_heads, union_mask
from unseen.datatypes import Detections
from unseen.detect import Pass, ZoomPass, make_backend, resized, tiles_around
from unseen.detect.fuse import fuse
from unseen.settings import Settings

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
BUCKETS = (("tiny", 16), ("small", 32), ("medium", 64), ("large", 1e9))
# Cached whole-image runs: backend, scale, mirrored.  A cache missing some is completed.
CACHED_PASSES = {
    "cf1": ("centerface", 1.0, False),
    "cf1m": ("centerface", 1.0, True),
    "cf05": ("centerface", 0.5, False),
    "cf2": ("centerface", 2.0, False),
    "cf2m": ("centerface", 2.0, True),
    "yn1": ("yunet", 1.0, False),
}


@dataclass
class Cached:
    shape: tuple[int, int]
    boxes: dict[str, Detections]
    seconds: dict[str, float]


def build_cache(rows: list[dict[str, object]], root: Path, cache: list[Cached] | None) -> list[Cached]:
    """``cache`` completed with every pass of `CACHED_PASSES` it lacks (made new when None)."""
    cache = cache or [Cached((0, 0), {}, {}) for _ in rows]
    missing = [k for k in CACHED_PASSES if any(k not in item.boxes for item in cache)]
    backends = {CACHED_PASSES[k][0]: make_backend(CACHED_PASSES[k][0], Settings()) for k in missing}
    for row, item in zip(rows, cache, strict=True):
        rgb = np.asarray(Image.open(root / str(row["image"])).convert("RGB"))
        item.shape = rgb.shape[:2]
        for key in missing:
            name, scale, mirror = CACHED_PASSES[key]
            started = time.perf_counter()
            view = resized(rgb, scale)
            if mirror:
                found = backends[name].detect(np.ascontiguousarray(view[:, ::-1]), 0.05)
                found = found.mirrored(view.shape[1])
            else:
                found = backends[name].detect(view, 0.05)
            item.seconds[key] = time.perf_counter() - started
            item.boxes[key] = found.transformed(scale)
    return cache


def replay(plan: dict[str, object], cache: list[Cached], rows: list[dict[str, object]]) -> dict[str, float]:
    geometry: HeadGeometry = plan["geometry"]  # type: ignore[assignment]
    hits = {name: [0, 0] for name, _ in BUCKETS}
    redacted = face_area = 0
    seconds = 0.0
    for item, row in zip(cache, rows, strict=True):
        h, w = item.shape
        found = []
        for key, p in plan["passes"]:  # type: ignore[attr-defined]
            found.append(p.keep(item.boxes[key].take(item.boxes[key].scores >= p.floor)))
            seconds += item.seconds[key]
        seeds = Detections.concat(found)
        for key, z in plan.get("zoom", ()):  # type: ignore[attr-defined]
            mask = np.zeros((h, w), bool)
            for x0, y0, x1, y1 in tiles_around(seeds.take(seeds.sizes < z.below), w, h, z.tile):
                mask[y0:y1, x0:x1] = True
            seconds += item.seconds[key] * float(mask.mean())
            zoomed = item.boxes[key].take(item.boxes[key].scores >= z.threshold)
            centre = np.clip(((zoomed.xyxy[:, :2] + zoomed.xyxy[:, 2:]) / 2).astype(int), 0, [w - 1, h - 1])
            found.append(zoomed.take(mask[centre[:, 1], centre[:, 0]]))
        covered = union_mask(grow_heads(fuse(Detections.concat(found)).xyxy, w, h, geometry), (h, w))
        faces = np.zeros((h, w), bool)
        for x, y, bw, bh in row["boxes"]:  # type: ignore[attr-defined]
            x0, y0 = max(0, int(np.floor(x))), max(0, int(np.floor(y)))
            x1, y1 = min(w, int(np.ceil(x + bw))), min(h, int(np.ceil(y + bh)))
            if x1 <= x0 or y1 <= y0:
                continue
            name = next(n for n, top in BUCKETS if np.sqrt(bw * bh) < top)
            hits[name][0] += covered[y0:y1, x0:x1].mean() >= 0.9
            hits[name][1] += 1
            faces[y0:y1, x0:x1] = True
        redacted += int(covered.sum())
        face_area += int(faces.sum())
    result = {name: got / max(total, 1) for name, (got, total) in hits.items()}
    result["area"] = redacted / max(face_area, 1)
    result["s/img"] = seconds / len(cache)
    return result


def candidates() -> dict[str, dict[str, object]]:
    g = HeadGeometry()
    cf, yn = ("cf1", Pass("centerface", 1, 0.15, big_threshold=0.1)), ("yn1", Pass("yunet", 1, 0.5))
    mirror = ("cf1m", Pass("centerface", 1, 0.15, big_threshold=0.1, mirror=True))
    zoom = ("cf2", ZoomPass("centerface", 2, 0.1, below=24, tile=128))
    return {
        "CenterFace 1x @0.2": {"passes": [("cf1", Pass("centerface", 1, 0.2))], "geometry": g},
        "@0.15, big faces @0.1": {"passes": [cf], "geometry": g},
        "+ mirror image (`--fast` without yuface)": {"passes": [cf, mirror], "geometry": g},
        "+ YuNet (`--fast`)": {"passes": [cf, mirror, yn], "geometry": g},
        "+ mirror, 2x zoom (default without yuface)": {"passes": [cf, mirror], "zoom": [zoom], "geometry": g},
        "+ mirror, 2x zoom, YuNet (default)": {"passes": [cf, mirror, yn], "zoom": [zoom], "geometry": g},
        "before the mirror: big faces @0.08, YuNet, zoom": {
            "passes": [("cf1", Pass("centerface", 1, 0.15, big_threshold=0.08)), yn],
            "zoom": [zoom],
            "geometry": g,
        },
        "2x zoom without mirror or YuNet": {"passes": [cf], "zoom": [zoom], "geometry": g},
        "default, tight boxes 1.2x": {
            "passes": [cf, mirror, yn],
            "zoom": [zoom],
            "geometry": HeadGeometry(0.1, 0.1, 0.0, 1),
        },
        "CenterFace 2x whole + YuNet": {"passes": [("cf2", Pass("centerface", 1, 0.15)), yn], "geometry": g},
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=SHARED / "data/faces/dev.jsonl")
    ap.add_argument("--cache", type=Path, required=True)
    args = ap.parse_args()
    rows = [json.loads(line) for line in args.data.read_text().splitlines() if line.strip()]
    cached = pickle.loads(args.cache.read_bytes()) if args.cache.exists() else None
    cache = build_cache(rows, args.data.parent, cached)
    args.cache.write_bytes(pickle.dumps(cache))
    print("| plan | tiny | small | medium | large | area ratio | detect s/img |")
    print("|---|---|---|---|---|---|---|")
    for name, plan in candidates().items():
        r = replay(plan, cache, rows)
        cells = " | ".join(f"{r[k]:.3f}" for k in ("tiny", "small", "medium", "large"))
        print(f"| {name} | {cells} | {r['area']:.2f} | {r['s/img']:.2f} |")


if __name__ == "__main__":
    main()
