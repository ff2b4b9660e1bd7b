"""Measure the activation ranges of CenterFace's int8 graph on the dev photos, and what int8 costs in recall.

    python benchmarks/calibrate_centerface.py [--write] [--every 4]

Feeds every ``--every``-th photo of ../shared/data/faces/dev.jsonl, shrunk as
a video frame is (long side at most 1280 px), through onnxruntime's MinMax
calibrator, then runs the float and the int8 graph over all the dev photos at
the video plan's thresholds and prints recall per face size (a face counts
when a detection overlaps it at IoU 0.3 or more) and each graph's time per
frame.  ``--write`` stores the ranges in ``src/unseen/detect/centerface_int8.json``,
which `unseen.detect.quantise` reads; the photos themselves never enter the repo.
"""

from __future__ import annotations

# isort: off
import unseen  # noqa: F401  before onnxruntime: importing unseen turns its telemetry off (unseen.offline)
# isort: on

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
from _bench import DEV, need_shared
from onnxruntime.quantization.calibrate import CalibrationDataReader, CalibrationMethod, create_calibrator
from PIL import Image

from unseen.boxes import iou_matrix
from unseen.datatypes import Detections
from unseen.detect import VIDEO, make_backend, resized
from unseen.detect.centerface import blob, graph
from unseen.detect.quantise import RANGES, convertible
from unseen.detect.weights import model_path
from unseen.settings import Settings

SIDE = 1280
BUCKETS = ((0, 16), (16, 32), (32, 64), (64, 1e9))


def frames(rows: list[dict[str, object]]) -> list[tuple[np.ndarray, float]]:
    """Each dev photo as the video plan's detector sees it, with the factor it was shrunk by."""
    out = []
    for row in rows:
        rgb = np.asarray(Image.open(DEV.parent / str(row["image"])).convert("RGB"))
        scale = min(1.0, SIDE / max(rgb.shape[:2]))
        out.append((resized(rgb, scale), scale))
    return out


class Reader(CalibrationDataReader):  # type: ignore[misc]
    def __init__(self, images: list[np.ndarray], name: str) -> None:
        self.feeds = iter([{name: blob(rgb)} for rgb in images])

    def get_next(self) -> dict[str, np.ndarray] | None:
        return next(self.feeds, None)


def calibrate(images: list[np.ndarray]) -> dict[str, tuple[float, float]]:
    model = convertible(graph(model_path("centerface")))
    with tempfile.TemporaryDirectory() as work:
        path = Path(work) / "centerface13.onnx"
        onnx.save(model, str(path))
        calibrator = create_calibrator(
            path,
            augmented_model_path=str(Path(work) / "augmented.onnx"),
            calibrate_method=CalibrationMethod.MinMax,
            providers=["CPUExecutionProvider"],
        )
        entry = model.graph.input[0].name
        calibrator.collect_data(Reader(images, entry))
        data = calibrator.compute_data()
    ranges = {
        name: (float(np.min(r.range_value[0])), float(np.max(r.range_value[1])))
        for name, r in sorted(data.items())
    }
    # The input is pixels, 0-255 whatever the photos held: the int8 graph takes them as they are
    # (`unseen.detect.quantise.pixels_in` refuses any other input scale).
    ranges[entry] = (0.0, 255.0)
    return ranges


def recall(backend: str, rows: list[dict[str, object]], images: list[tuple[np.ndarray, float]]) -> list[str]:
    """Recall per size bucket and milliseconds per frame of ``backend`` at the video plan's thresholds."""
    step = VIDEO.passes[0]
    detector = make_backend(backend, Settings())
    hits = np.zeros(len(BUCKETS))
    totals = np.zeros(len(BUCKETS))
    seconds = 0.0
    for row, (rgb, scale) in zip(rows, images, strict=True):
        started = time.perf_counter()
        found: Detections = step.keep(detector.detect(rgb, step.floor)).transformed(scale)
        seconds += time.perf_counter() - started
        truth = np.array(row["boxes"], float).reshape(-1, 4)
        truth[:, 2:] += truth[:, :2]
        overlaps = iou_matrix(truth, found.xyxy) if len(found) else np.zeros((len(truth), 0))
        matched = np.asarray((overlaps >= 0.3).any(1))
        sizes = np.sqrt((truth[:, 2] - truth[:, 0]) * (truth[:, 3] - truth[:, 1]))
        for b, (lo, hi) in enumerate(BUCKETS):
            inside = (sizes >= lo) & (sizes < hi)
            hits[b] += matched[inside].sum()
            totals[b] += inside.sum()
    return [f"{h / t:.3f}" for h, t in zip(hits, totals, strict=True)] + [f"{1000 * seconds / len(rows):.0f}"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--every", type=int, default=4, help="calibrate on every n-th dev photo")
    ap.add_argument("--write", action="store_true", help=f"store the ranges in {RANGES.name}")
    args = ap.parse_args()
    need_shared()
    ort.set_default_logger_severity(3)
    rows = [json.loads(line) for line in DEV.read_text().splitlines() if line.strip()]
    images = frames(rows)
    ranges = calibrate([rgb for rgb, _ in images[:: args.every]])
    if args.write:
        # One tensor a line, float32 values to the 9 digits that give them back exactly.
        lines = ",\n".join(f'  "{k}": [{lo:.9g}, {hi:.9g}]' for k, (lo, hi) in ranges.items())
        RANGES.write_text(
            f'{{"calibrated_on": "every {args.every}th photo of dev.jsonl, long side <= {SIDE} px",\n'
            f' "ranges": {{\n{lines}\n}}}}\n'
        )
    print("| graph | recall <16 px | 16-32 | 32-64 | 64+ | ms per frame |\n|---|---|---|---|---|---|")
    for backend in ("centerface", "centerface-int8"):
        print(f"| {backend} | " + " | ".join(recall(backend, rows, images)) + " |")


if __name__ == "__main__":
    main()
