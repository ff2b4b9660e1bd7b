"""Photos: unseen (default and --fast) against deface 1.5.0, scored in one run by score_images.py.

    python benchmarks/bench_images.py [--limit N] [--without-yuface .venv313/bin/unseen] [--targets]

Prints one markdown row per tool (recall per face size, redacted area over
face area, photos per second, speed relative to deface) and the scorer's
per-subset lines.  Every tool gets the whole folder in one command: deface
in one process (its command line takes many inputs, so it loads its model
once), unseen with its default ``--jobs`` (every core) and with ``--jobs 1``.
``--without-yuface`` adds the rows of another unseen install that has no
``yuface`` (any Python but 3.11, macOS, Linux on ARM), so both detector sets
are measured in the same run.  ``--targets`` measures what the targets beyond
faces add instead: ``faces`` alone, ``faces,heads`` (the default) and
``persons``, each with its recall and its cost in covered area.
"""

from __future__ import annotations

import argparse
import re
import shlex

from _bench import DEV, UNSEEN, bench_venv, deface_dir_cmd, need_shared, score

BUCKETS = ("tiny", "small", "medium", "large")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--limit", type=int, help="score only the first N photos")
    ap.add_argument(
        "--without-yuface", metavar="UNSEEN", help="the unseen command of an install without yuface"
    )
    ap.add_argument(
        "--targets", action="store_true", help="rows for --targets faces, faces,heads and persons instead"
    )
    args = ap.parse_args()
    need_shared()
    python = bench_venv()
    common = ["--data", str(DEV)] + (["--limit", str(args.limit)] if args.limit else [])
    protect = " protect {indir} -o {outdir} --keep-names --format png --quiet"
    runs = {
        "unseen": ["--dir-cmd", UNSEEN + protect],
        "unseen --jobs 1": ["--dir-cmd", UNSEEN + protect + " --jobs 1"],
        "unseen --fast": ["--dir-cmd", UNSEEN + protect + " --fast"],
    }
    if args.targets:
        runs = {f"unseen --targets {t}": ["--dir-cmd", UNSEEN + protect + f" --targets {t}"]
                for t in ("faces", "faces,heads", "persons")}  # fmt: skip
    if args.without_yuface:
        other = shlex.quote(args.without_yuface)
        runs["unseen, no yuface"] = ["--dir-cmd", other + protect]
        runs["unseen --fast, no yuface"] = ["--dir-cmd", other + protect + " --fast"]
    runs["deface --replacewith solid --boxes"] = ["--dir-cmd", deface_dir_cmd(python)]
    rows, subsets = {}, {}
    for name, how in runs.items():
        summary, _, printout = score(python, "score_images.py", *common, *how)
        rows[name] = summary
        subsets[name] = [line.strip() for line in printout.splitlines() if re.search(r"<16 px", line)]
    base = float(rows["deface --replacewith solid --boxes"]["seconds_per_image"])
    print(
        "| tool | " + " | ".join(BUCKETS) + " | all | redacted / face area | photos per s | × deface speed |"
    )
    print("|---" * (len(BUCKETS) + 5) + "|")
    for name, s in rows.items():
        seconds = float(s["seconds_per_image"])
        cells = [s[b] for b in BUCKETS] + [
            f"{float(s['protected_recall']):.3f}",
            s["redacted_over_face_area"],
        ]
        print(f"| {name} | " + " | ".join(cells) + f" | {1 / seconds:.2f} | {base / seconds:.2f} |")
    print("\nBy subset (faces <16 px, and ≥16 px with recall):")
    for name, lines in subsets.items():
        for line in lines:
            print(f"  {name:36s} {line}")


if __name__ == "__main__":
    main()
