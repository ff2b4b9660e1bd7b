"""Video: unseen (default and --fast) against deface 1.5.0 on score_video.py's clip, in one run.

    python benchmarks/bench_video.py [--clips] [--before UNSEEN]

Prints one markdown row per tool (face-frame recall, faces ever exposed,
longest exposed run, real-time factor on this machine) plus the time of a plain
PyAV decode + H.264 encode of the same clip, the floor any redactor pays.
Then a batch: that clip and the real clips under ../shared/data/videos in one
folder, protected by unseen with its default ``--jobs`` (every core) and with
``--jobs 1``, and by deface in one process over the folder: frames per second
of each, in the same run.

``--clips`` also runs the four real clips under ../shared/data/videos and
generated 1080p clips of 10 s and 60 s with walking faces, each with the
default, ``--crf 18`` (no cap on the bitrate) and ``--fast``, and prints per clip and run: the real-time factor
and the plain re-encode's, peak memory, the output's size against the input's,
the SSIM of the uncovered picture against the input (default and --crf 18) (luma, pixels
more than 8 px outside every region of the clip's plan from ``unseen analyse``), and the frames in
which ``unseen check`` still finds a face.  ``--before`` names another
``unseen`` executable (an older commit's) to run the default through the same
rows, for a before/after in one run.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import av
import numpy as np
from _bench import DEV, ROOT, SHARED, UNSEEN, bench_venv, deface_cmd, need_shared, score
from skimage import data as skdata
from skimage.metrics import structural_similarity

from unseen.plan import Plan, Schedule


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


def peak_rss_mb(command: list[str]) -> tuple[float, int, str]:
    """Peak resident memory of ``command`` (measured in a fresh child so earlier runs do not count),
    its exit status and the last line it wrote to stderr."""
    probe = (
        "import resource, subprocess, sys; done = subprocess.run(sys.argv[1:], stderr=subprocess.PIPE, text=True); "
        "print((done.stderr.strip().splitlines() or [''])[-1], file=sys.stderr); "
        "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, done.returncode)"
    )
    done = subprocess.run([sys.executable, "-c", probe, *command], capture_output=True, text=True, check=True)
    rss, code = done.stdout.split()[-2:]
    return int(rss) / 1024, int(code), done.stderr.strip()


def clips(work: Path) -> list[Path]:
    """The real clips, then generated 10 s and 60 s 1080p ones (memory must not grow with length)."""
    made = []
    for seconds in (10, 60):
        made.append(work / f"walking-{seconds}s.mp4")
        synthetic_clip(made[-1], seconds)
    return sorted((SHARED / "data" / "videos").glob("*.mp4")) + made


def uncovered_ssim(clip: Path, output: Path, plan: Path) -> float:
    """Mean SSIM of the output's luma against the input's, over the pixels no region of ``plan`` covers."""
    schedule = Schedule(Plan.model_validate_json(plan.read_text()))
    total = weight = 0.0
    with av.open(str(clip)) as a, av.open(str(output)) as b:
        frames = zip(a.decode(video=0), b.decode(video=0), strict=False)
        for index, (fa, fb) in enumerate(frames):
            ya = fa.to_ndarray(format="gray").astype(np.float32)
            yb = fb.to_ndarray(format="gray").astype(np.float32)
            if ya.shape != yb.shape:  # a rotated input comes out upright: not comparable here
                return float("nan")
            _, ssim = structural_similarity(ya, yb, data_range=255, full=True)
            free = np.ones(ya.shape, bool)
            for x0, y0, x1, y1 in schedule.at(index)[0].tolist():
                free[max(0, y0 - 8) : max(0, y1 + 8), max(0, x0 - 8) : max(0, x1 + 8)] = False
            total += float(ssim[free].sum())
            weight += float(free.sum())
    return total / max(weight, 1.0)


def faces_checked(unseen: str, output: Path) -> str:
    done = subprocess.run([unseen, "check", str(output), "--json"], capture_output=True, text=True)
    if not done.stdout.strip():
        return "error"
    return str(json.loads(done.stdout.splitlines()[-1]).get("faces", "?"))


def clip_rows(before: str | None) -> None:
    unseen = UNSEEN.strip("'")
    # CRF 18 uncapped beside the default's cap: what the cap costs in quality, on the same plan.
    runs = {"default": [unseen], "--crf 18": [unseen, "--crf", "18"], "--fast": [unseen, "--fast"]}
    if before:
        runs = {"default, before": [before], **runs}
    print(
        "\n| clip | run | real-time factor | plain re-encode | peak RSS (MB) | output / input size "
        "| SSIM uncovered | frames `check` flags |\n|---|---|---|---|---|---|---|---|"
    )
    with tempfile.TemporaryDirectory(prefix="unseen-clips-") as work:
        for clip in clips(Path(work)):
            with av.open(str(clip)) as c:
                seconds = float(c.duration or 0) / 1e6
            plain = seconds / reencode_seconds(clip, Path(work) / "plain.mp4")
            plan_dir = Path(work) / f"{clip.stem}-plan"
            subprocess.run([unseen, "analyse", str(clip), "-o", str(plan_dir), "-q"], check=True)
            (plan,) = plan_dir.glob("*.json")
            for name, (exe, *flags) in runs.items():
                target = Path(work) / f"{clip.stem}-{list(runs).index(name)}.mp4"
                started = time.perf_counter()
                rss, code, why = peak_rss_mb([exe, "protect", str(clip), "-o", str(target), "-q", *flags])
                elapsed = time.perf_counter() - started
                rtf = seconds / elapsed
                if code:  # a file that fails (closed or not) is a result too, not the end of the run
                    print(
                        f"| {clip.name} ({seconds:.1f} s) | {name} | exit {code} after "
                        f"{elapsed:.0f} s: {why} | {plain:.2f} | {rss:.0f} | – | – | – |",
                        flush=True,
                    )
                    continue
                ratio = target.stat().st_size / clip.stat().st_size
                # The plan is the default's: another run covers other areas, which would count as loss.
                ssim = f"{uncovered_ssim(clip, target, plan):.3f}" if name in ("default", "--crf 18") else "–"
                print(
                    f"| {clip.name} ({seconds:.1f} s) | {name} | {rtf:.3f} | {plain:.2f} | {rss:.0f} "
                    f"| {ratio:.2f} | {ssim} | {faces_checked(unseen, target)} |",
                    flush=True,
                )


def frame_count(clip: Path) -> int:
    with av.open(str(clip)) as c:
        return sum(1 for packet in c.demux(video=0) if packet.size)  # the flushing packet carries none


def batch_rows(python: Path, clip: Path, work: Path) -> None:
    """Frames per second over a folder of videos: unseen (default ``--jobs``, ``--jobs 1``), deface."""
    indir = work / "batch-in"
    indir.mkdir()
    sources = [clip, *sorted((SHARED / "data" / "videos").glob("*.mp4"))]
    for source in sources:
        shutil.copyfile(source, indir / source.name)
    frames = sum(frame_count(source) for source in sources)
    unseen = UNSEEN.strip("'")
    deface = [str(python), str(ROOT / "benchmarks" / "deface_folder.py"), str(indir)]
    runs = {
        f"unseen, default `--jobs` ({os.cpu_count()})": [unseen, "protect", str(indir), "-q", "-o"],
        "unseen `--jobs 1`": [unseen, "protect", str(indir), "-q", "--jobs", "1", "-o"],
        "deface, one process over the folder": deface,  # its output folder comes last too
    }
    print(f"\n| batch: {len(sources)} videos, {frames} frames | seconds | frames per s |\n|---|---|---|")
    for i, (name, command) in enumerate(runs.items()):
        started = time.perf_counter()
        done = subprocess.run([*command, str(work / f"batch-out-{i}")], capture_output=True, text=True)
        seconds = time.perf_counter() - started
        status = "" if done.returncode == 0 else f" (exit {done.returncode}: {done.stderr.strip()[-200:]})"
        print(f"| {name}{status} | {seconds:.1f} | {frames / seconds:.2f} |", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--clips", action="store_true", help="also the real clips and generated long ones")
    ap.add_argument("--before", help="an older unseen executable to run through the same clip rows")
    args = ap.parse_args()
    need_shared()
    python = bench_venv()
    runs = {
        "unseen": f"{UNSEEN} protect {{input}} -o {{output}} -q",
        "unseen --fast": f"{UNSEEN} protect {{input}} -o {{output}} -q --fast",
        "deface --replacewith solid --boxes": deface_cmd(python),
    }
    with tempfile.TemporaryDirectory(prefix="unseen-bench-video-") as work:
        rows: dict[str, dict[str, str]] = {}
        for name, cmd in runs.items():
            workdir = Path(work) / name.split()[0] / str(len(rows))
            rows[name], _, _ = score(
                python, "score_video.py", "--data", str(DEV), "--cmd", cmd, "--workdir", str(workdir)
            )
        clip = next(Path(work).glob("*/*/clip.mp4"))
        with av.open(str(clip)) as c:
            frames, fps = c.streams.video[0].frames, float(c.streams.video[0].average_rate or 30)
        floor = reencode_seconds(clip, Path(work) / "plain.mp4")
        table = score_table(rows, frames / fps / floor)
        print(table, flush=True)
        batch_rows(python, clip, Path(work))
    if args.clips:
        clip_rows(args.before)


def score_table(rows: dict[str, dict[str, str]], floor_rtf: float) -> str:
    lines = [
        "| tool | face-frame recall | faces ever exposed | longest exposed run (frames) | real-time factor | × plain re-encode time |",
        "|---|---|---|---|---|---|",
    ]
    for name, s in rows.items():
        rtf = float(s["realtime_factor"])
        lines.append(
            f"| {name} | {s['face_frame_recall']} | {s['faces_ever_exposed']} | {s['longest_exposed_run']} "
            f"| {rtf:.3f} | {floor_rtf / rtf:.1f} |"
        )
    lines.append(f"| plain PyAV decode + x264 encode (floor) | – | – | – | {floor_rtf:.3f} | 1.0 |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
