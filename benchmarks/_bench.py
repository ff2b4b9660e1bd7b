"""What the benchmark scripts share: the throw-away venv with deface, running the black-box scorers.

deface 1.5.0 (and the OpenCV and PyAV the scorers need) go into their own venv,
``.bench/venv`` unless ``UNSEEN_BENCH_VENV`` names another, made on first use,
so nothing of deface ever reaches unseen's own environment.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("UNSEEN_SHARED", ROOT.parent / "shared"))
DEV = SHARED / "data" / "faces" / "dev.jsonl"
UNSEEN = shlex.quote(str(Path(sys.executable).with_name("unseen")))


def bench_venv() -> Path:
    """The venv's python, created with deface 1.5.0, PyAV and OpenCV when missing."""
    venv = Path(os.environ.get("UNSEEN_BENCH_VENV", ROOT / ".bench" / "venv"))
    python = venv / "bin" / "python"
    if not python.exists():
        print(f"making {venv} with deface 1.5.0 (once)...", file=sys.stderr)
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", "deface==1.5.0", "av"], check=True)
    return python


def deface_cmd(python: Path) -> str:
    """deface per file (videos): solid boxes, the baseline the issues measured."""
    deface = shlex.quote(str(python.with_name("deface")))
    return f"{deface} --replacewith solid --boxes {{input}} -o {{output}}"


def deface_dir_cmd(python: Path) -> str:
    """deface over a folder in one process, as its command line allows: the fair race for photos."""
    script = shlex.quote(str(ROOT / "benchmarks" / "deface_folder.py"))
    return f"{shlex.quote(str(python))} {script} {{indir}} {{outdir}}"


def score(python: Path, tool: str, *args: str) -> tuple[dict[str, str], float, str]:
    """Run ``../shared/tools/<tool>`` with ``python``: its summary line as a dict, wall seconds, printout."""
    command = [str(python), str(SHARED / "tools" / tool), *args]
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    lines = done.stdout.strip().splitlines()
    summary = dict(item.split("=", 1) for item in lines[-1].split() if "=" in item) if lines else {}
    if not summary:
        raise SystemExit(f"{tool} failed ({done.returncode}):\n{done.stdout[-3000:]}{done.stderr[-3000:]}")
    return summary, seconds, done.stdout


def need_shared() -> None:
    if not DEV.exists():
        raise SystemExit(f"{DEV} is missing: the benchmarks need ../shared beside the checkout")
