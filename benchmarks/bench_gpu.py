"""The same photos and clip on the CPU and with ``--device cuda``, in one run on a machine with an NVIDIA GPU.

    python benchmarks/bench_gpu.py [--limit N] [--unseen "python -m unseen"]

Needs onnxruntime-gpu (``pip install 'unseen[gpu]'``) with the CUDA and cuDNN
libraries it was built for, and ../shared beside the checkout (or
``UNSEEN_SHARED`` naming it).  The scorers run under this Python (PyAV,
OpenCV and Pillow), so no deface venv is made.  Prints, for ``--device cpu``
and ``--device cuda`` with the default ``--jobs`` (every core): photos per
second and recall on dev.jsonl, then frames per second, recall and exposure
on score_video.py's clip (default and ``--fast``), beside the plain decode +
encode of that clip.
"""

from __future__ import annotations

import argparse
import itertools
import os
import platform
import sys
import tempfile
from pathlib import Path

import av
from _bench import DEV, UNSEEN, need_shared, score
from bench_video import reencode_seconds


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--limit", type=int, help="score only the first N photos")
    ap.add_argument("--unseen", default=UNSEEN, help="the unseen command (default: beside this Python)")
    args = ap.parse_args()
    need_shared()
    python = Path(sys.executable)
    limit = ["--limit", str(args.limit)] if args.limit else []
    print(f"{platform.node()}: {os.cpu_count()} cores")
    print("| photos | recall | tiny | small | medium | large | photos per s |")
    print("|---|---|---|---|---|---|---|")
    for device in ("cpu", "cuda"):
        cmd = f"{args.unseen} protect {{indir}} -o {{outdir}} --keep-names --format png --quiet --device {device}"
        s, _, _ = score(python, "score_images.py", "--data", str(DEV), *limit, "--dir-cmd", cmd)
        buckets = " | ".join(s[b] for b in ("tiny", "small", "medium", "large"))
        print(
            f"| --device {device} | {float(s['protected_recall']):.4f} | {buckets} "
            f"| {1 / float(s['seconds_per_image']):.1f} |",
            flush=True,
        )
    with tempfile.TemporaryDirectory(prefix="unseen-bench-gpu-") as work:
        rows: dict[str, dict[str, str]] = {}
        for run, (device, extra) in enumerate(itertools.product(("cpu", "cuda"), ("", " --fast"))):
            cmd = f"{args.unseen} protect {{input}} -o {{output}} -q --device {device}{extra}"
            rows[f"--device {device}{extra}"], _, _ = score(
                python, "score_video.py", "--data", str(DEV), "--cmd", cmd, "--workdir", f"{work}/{run}"
            )
        clip = Path(work) / "0" / "clip.mp4"
        with av.open(str(clip)) as c:
            frames, fps = c.streams.video[0].frames, float(c.streams.video[0].average_rate or 30)
        floor = reencode_seconds(clip, Path(work) / "plain.mp4")
    print(f"\n| video ({frames} frames, {fps:.0f} fps) | face-frame recall | faces ever exposed "
          "| longest exposed run | frames per s | real-time factor |")  # fmt: skip
    print("|---|---|---|---|---|---|")
    for name, s in rows.items():
        rtf = float(s["realtime_factor"])
        print(
            f"| {name} | {s['face_frame_recall']} | {s['faces_ever_exposed']} | {s['longest_exposed_run']} "
            f"| {rtf * fps:.1f} | {rtf:.3f} |"
        )
    print(
        f"| plain PyAV decode + x264 encode | – | – | – | {frames / floor:.1f} | {frames / fps / floor:.3f} |"
    )


if __name__ == "__main__":
    main()
