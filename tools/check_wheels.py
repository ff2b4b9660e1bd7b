"""Check that every base dependency has a wheel for the platforms unseen's users run: ``make wheels``.

For each target and each supported CPython (3.11 to 3.13), ``pip download
--only-binary=:all:`` resolves pyproject.toml's base dependencies (no
extras) and fetches wheels only, so a
package that would need a compiler there, or has no build for it at all,
fails the check before it reaches a user.  pip judges environment markers by
the machine it runs on, not by the target, so the markers of our own
dependencies are judged here, per target, and only the requirements that
apply are handed over (the markers of their own dependencies are still
judged by this machine's; the ones in use today pick pure-Python packages).

    python tools/check_wheels.py [--python-version 3.13 ...] [--platform TAG ...]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[1]
PYTHONS = ("3.11", "3.12", "3.13")
# Wheel platform tag -> the marker values of a machine it names.
TARGETS = {
    "macosx_14_0_arm64": {"sys_platform": "darwin", "platform_system": "Darwin", "platform_machine": "arm64"},
    "win_amd64": {"sys_platform": "win32", "platform_system": "Windows", "platform_machine": "AMD64"},
    "manylinux_2_28_aarch64": {
        "sys_platform": "linux",
        "platform_system": "Linux",
        "platform_machine": "aarch64",
    },
    "manylinux_2_28_x86_64": {
        "sys_platform": "linux",
        "platform_system": "Linux",
        "platform_machine": "x86_64",
    },
}


def requirements(platform: str, python: str) -> list[str]:
    """The base dependencies that apply to ``platform`` and CPython ``python``, markers dropped."""
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    env = {
        **TARGETS[platform],
        "os_name": "nt" if platform.startswith("win") else "posix",
        "python_version": python,
        "python_full_version": f"{python}.0",
        "platform_python_implementation": "CPython",
        "implementation_name": "cpython",
        "extra": "",
    }
    wanted = []
    for dep in map(Requirement, deps):
        if dep.marker is None or dep.marker.evaluate(env):
            dep.marker = None
            wanted.append(str(dep))
    return wanted


def tags(platform: str) -> list[str]:
    """The platform tags a machine named by ``platform`` installs.

    pip widens a macOS tag to the older releases and universal2 by itself, but
    takes a manylinux tag literally; a glibc 2.28 machine also runs every wheel
    built for an older glibc.
    """
    if not platform.startswith("manylinux_2_"):
        return [platform]
    glibc, arch = platform.removeprefix("manylinux_2_").split("_", 1)
    return [f"manylinux_2_{minor}_{arch}" for minor in range(int(glibc), 4, -1)] + [f"manylinux2014_{arch}"]


def download(platform: str, python: str, into: Path) -> subprocess.CompletedProcess[str]:
    abi = "cp" + python.replace(".", "")
    platforms = [arg for tag in tags(platform) for arg in ("--platform", tag)]
    command = [
        sys.executable, "-m", "pip", "download", "--only-binary=:all:", "--quiet",
        "--disable-pip-version-check", "--python-version", python, "--implementation", "cp",
        "--abi", abi, "--abi", "abi3", "--abi", "none", *platforms, "-d", str(into),
        *requirements(platform, python),
    ]  # fmt: skip
    return subprocess.run(command, capture_output=True, text=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--python-version", action="append", choices=PYTHONS, help="default: all")
    ap.add_argument("--platform", action="append", choices=sorted(TARGETS), help="default: all")
    args = ap.parse_args()
    failed = []
    for python in args.python_version or PYTHONS:
        for platform in args.platform or list(TARGETS):
            with tempfile.TemporaryDirectory() as tmp:
                done = download(platform, python, Path(tmp))
                wheels = len(list(Path(tmp).glob("*.whl")))
            if done.returncode == 0:
                print(f"ok   CPython {python} {platform}: {wheels} wheels")
                continue
            failed.append(f"CPython {python} {platform}")
            errors = [line for line in done.stderr.splitlines() if line.startswith("ERROR")]
            print(f"FAIL CPython {python} {platform}: " + ("; ".join(errors) or done.stderr.strip()[-2000:]))
    if failed:
        print(f"a base dependency has no wheel for: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
