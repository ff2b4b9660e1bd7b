"""deface over a whole folder in ONE process, the way its command line takes many inputs.

    python deface_folder.py INDIR OUTDIR   (run with the benchmark venv's python)

deface writes ``<name>_anonymized<ext>`` beside each input when given
several, so the inputs are copied into OUTDIR, deface runs once over it
(loading its model once, as unseen does), and each result takes its input's
name.  The copying is part of the measured time; it is a small share of it.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path


def main() -> None:
    indir, outdir = Path(sys.argv[1]), Path(sys.argv[2])
    outdir.mkdir(parents=True, exist_ok=True)
    inputs = sorted(p for p in indir.iterdir() if p.is_file())
    for path in inputs:
        shutil.copyfile(path, outdir / path.name)
    deface = Path(sys.executable).with_name("deface")
    done = subprocess.run(
        [str(deface), "--replacewith", "solid", "--boxes", str(outdir)], capture_output=True
    )
    for path in inputs:
        made = outdir / f"{path.stem}_anonymized{path.suffix}"
        if made.exists():
            made.replace(outdir / path.name)
        else:
            (outdir / path.name).unlink()  # no output: the scorer counts the photo as failed
    sys.exit(done.returncode)


if __name__ == "__main__":
    main()
