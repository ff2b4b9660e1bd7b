"""Video: unseen (default and --fast) against deface 1.5.0 on score_video.py's clip, in one run.

    python benchmarks/bench_video.py [--memory]

Prints one markdown row per tool (face-frame recall, faces ever exposed,
longest exposed run, real-time factor on this machine) plus the time of a plain
PyAV decode + H.264 encode of the same clip, the floor any redactor pays.
``--memory`` also protects synthetic 1080p clips of 10 s and 60 s and prints
the peak RSS of each run: the look-ahead buffer is fixed, so they should match.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import av
import numpy as np
from _bench import DEV, UNSEEN, bench_venv, deface_cmd, need_shared, score
from skimage import data as skdata


def reencode_seconds(clip: Path, target: Path) -> float:
    """Decode every frame and encode it again with unseen's own x264 settings: the lower limit."""
    started = time.perf_counter()
    with av.open(str(clip)) as src, av.open(str(target), "w") as out:
        vin = src.streams.video[0]
        vin.thread_type = "AUTO"
        stream = out.add_stream("libx264", rate=vin.average_rate)
        stream.width, stream.height, stream.pix_fmt = vin.width, vin.height, "yuv420p"
        stream.options = {"crf": "18", "preset": "veryfast", "bf": "0"}
        for frame in src.decode(vin):
            frame.pict_type = av.video.frame.PictureType.NONE
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return time.perf_counter() - started


def synthetic_clip(path: Path, seconds: int, fps: int = 24) -> None:
    """1080p: three astronaut faces drifting over a textured background."""
    face = skdata.astronaut()[30:230, 150:310]
    rng = np.random.default_rng(0)
    background = rng.integers(30, 220, (135, 240, 3), np.uint8).repeat(8, 0).repeat(8, 1)
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = 1920, 1080, "yuv420p"
        stream.options = {"preset": "ultrafast"}
        for i in range(seconds * fps):
            img = background.copy()
            for k in range(3):
                x = int(200 + 500 * k + 150 * np.sin(i / 40 + k))
                y = int(300 + 200 * np.cos(i / 55 + 2 * k))
                img[y : y + face.shape[0], x : x + face.shape[1]] = face
            for packet in stream.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)


def peak_rss_mb(command: list[str]) -> float:
    """Peak resident memory of ``command``, measured in a fresh child so earlier runs do not count."""
    probe = (
        "import resource, subprocess, sys; subprocess.run(sys.argv[1:], check=True); "
        "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)"
    )
    done = subprocess.run([sys.executable, "-c", probe, *command], capture_output=True, text=True, check=True)
    return int(done.stdout.split()[-1]) / 1024


def memory_rows() -> None:
    unseen = UNSEEN.strip("'")
    with tempfile.TemporaryDirectory(prefix="unseen-mem-") as work:
        print("\n| 1080p clip, 24 fps, `--fast` | peak RSS (MB) | seconds |\n|---|---|---|")
        for seconds in (10, 60):
            clip = Path(work) / f"clip{seconds}.mp4"
            synthetic_clip(clip, seconds)
            started = time.perf_counter()
            rss = peak_rss_mb(
                [unseen, "protect", str(clip), "-o", str(Path(work) / f"out{seconds}.mp4"), "--fast", "-q"]
            )
            print(f"| {seconds} s | {rss:.0f} | {time.perf_counter() - started:.0f} |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--memory", action="store_true", help="also measure peak memory on 10 s and 60 s clips")
    args = ap.parse_args()
    need_shared()
    python = bench_venv()
    runs = {
        "unseen": f"{UNSEEN} protect {{input}} -o {{output}} -q",
        "unseen --fast": f"{UNSEEN} protect {{input}} -o {{output}} -q --fast",
        "deface --replacewith solid --boxes": deface_cmd(python),
    }
    with tempfile.TemporaryDirectory(prefix="unseen-bench-video-") as work:
        rows = {}
        for name, cmd in runs.items():
            workdir = Path(work) / name.split()[0] / str(len(rows))
            rows[name], _, _ = score(
                python, "score_video.py", "--data", str(DEV), "--cmd", cmd, "--workdir", str(workdir)
            )
        clip = next(Path(work).glob("*/*/clip.mp4"))
        with av.open(str(clip)) as c:
            frames, fps = c.streams.video[0].frames, float(c.streams.video[0].average_rate or 30)
        floor = reencode_seconds(clip, Path(work) / "plain.mp4")
    print(
        "| tool | face-frame recall | faces ever exposed | longest exposed run (frames) | real-time factor | × plain re-encode time |"
    )
    print("|---|---|---|---|---|---|")
    floor_rtf = frames / fps / floor
    for name, s in rows.items():
        rtf = float(s["realtime_factor"])
        print(
            f"| {name} | {s['face_frame_recall']} | {s['faces_ever_exposed']} | {s['longest_exposed_run']} "
            f"| {rtf:.3f} | {floor_rtf / rtf:.1f} |"
        )
    print(f"| plain PyAV decode + x264 encode (floor) | – | – | – | {floor_rtf:.3f} | 1.0 |")
    if args.memory:
        memory_rows()


if __name__ == "__main__":
    main()
