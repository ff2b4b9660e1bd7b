"""protect alone against analyse + protect --plan, and `unseen check` on what protect wrote.

    python benchmarks/plan_roundtrip.py [--limit N] [--videos]

On the dev photos (../shared/data/faces), as a user runs them: ``protect``
into one folder, ``analyse`` into a folder of plans and ``protect --plan``
from those into another.  Prints, per photo that differs, how many pixels
one covered and the other did not (the noise may differ, the mask may not),
then runs ``unseen check`` on everything ``protect`` wrote (photos, and with
``--videos`` the clips under ../shared/data/videos) and prints what it found.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from _bench import DEV, SHARED, UNSEEN, need_shared
from PIL import Image


def unseen(*args: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run([UNSEEN.strip("'"), *map(str, args)], capture_output=True, text=True)


def mask(original: Path, written: Path) -> np.ndarray:
    a = np.asarray(Image.open(original).convert("RGB"))
    b = np.asarray(Image.open(written).convert("RGB"))
    return np.asarray((a != b).any(axis=-1))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--limit", type=int, help="only the first N photos of dev.jsonl")
    ap.add_argument("--videos", action="store_true", help="also protect and check ../shared/data/videos")
    args = ap.parse_args()
    need_shared()
    rows = [json.loads(line) for line in DEV.read_text().splitlines() if line.strip()][: args.limit]
    work = Path(tempfile.mkdtemp(prefix="unseen-roundtrip-"))
    photos = work / "in"
    for row in rows:
        source = DEV.parent / row["image"]
        (photos / row["image"]).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, photos / row["image"])
    started = time.perf_counter()
    steps = [
        ("protect", unseen("protect", photos, "-o", work / "alone", "--keep-names", "--format", "png", "-q")),
        ("analyse", unseen("analyse", photos, "-o", work / "plans", "--keep-names", "-q")),
        ("protect --plan", unseen("protect", photos, "-o", work / "planned", "--keep-names", "--format",
                                  "png", "--plan", work / "plans", "-q")),
        ("protect (default format)", unseen("protect", photos, "-o", work / "same", "--keep-names", "-q")),
    ]  # fmt: skip
    for name, done in steps:
        print(f"{name}: exit {done.returncode} {done.stderr.strip()[-500:]}")
    print(f"{len(rows)} photos, {time.perf_counter() - started:.0f} s for the four runs")
    differ = 0
    for row in rows:
        original = photos / row["image"]
        png = Path(row["image"]).with_suffix(".png")
        a, b = mask(original, work / "alone" / png), mask(original, work / "planned" / png)
        if not np.array_equal(a, b):
            differ += 1
            print(
                f"  mask differs: {row['image']}: {int((a & ~b).sum())} px only alone, {int((b & ~a).sum())} only planned"
            )
    print(f"same covered mask: {len(rows) - differ} of {len(rows)} photos")
    checked = [work / "alone", work / "same"]
    if args.videos:
        done = unseen("protect", SHARED / "data" / "videos", "-o", work / "videos", "--keep-names", "-q")
        print(f"videos: exit {done.returncode} {done.stderr.strip()[-500:]}")
        checked.append(work / "videos")
    for folder in checked:
        done = unseen("check", folder, "--json")
        dirty = [json.loads(line) for line in done.stdout.splitlines() if '"dirty"' in line]
        print(f"check {folder.name}: exit {done.returncode}, {len(dirty)} file(s) with findings")
        for record in dirty:
            print(f"  {Path(record['path']).name}: {record['findings'][:3]}")
    print(f"outputs kept in {work}", file=sys.stderr)


if __name__ == "__main__":
    main()
