"""Every option in one frozen object, validated when it is made, with TOML loading.

A wrong value is an error that names the valid ones, never a silent default.
A config file holds the same names as the fields below, at top level or under
``[unseen]``; command-line options override it.
"""

from __future__ import annotations

import dataclasses
import importlib.metadata
import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, get_args

from .errors import UsageError
from .plan import ManualBox

Style = Literal["fill", "pixelate", "blur"]
OutFormat = Literal["same", "png", "jpeg", "webp"]
Audio = Literal["drop", "keep", "disguise"]
Device = Literal["cpu", "cuda"]
# What gets covered.  Faces always; heads (estimated from person boxes, for people turned away) by
# default; whole persons, licence plates and text on request (`unseen.detect.targets`).
Target = Literal["faces", "heads", "persons", "plates", "text"]
TARGETS: tuple[Target, ...] = get_args(Target)
DEFAULT_TARGETS: tuple[Target, ...] = ("faces", "heads")
_CHOICES = {"style": Style, "format": OutFormat, "audio": Audio, "device": Device}
# What one worker may need at its peak: a 12-megapixel phone photo's default pass took 3.5 GB
# (CenterFace at full size, 2.4 GB of it; no photo pass sees more than 4096 px a side).  Every core
# as a worker would have 8 of them want 28 GB on a 16 GB laptop, and the kernel end the batch.
WORKER_BYTES = 7 << 29  # 3.5 GiB
# The most --max-pixels allows: the self-check counts a picture's changed pixels in 32 bits
# (`verify.cover`), and a picture this size needs some 6 GiB for each copy of its pixels already.
MOST_PIXELS = 2**31 - 1


def physical_memory() -> int:
    """Bytes of memory the machine has; 0 where the system does not say (Windows)."""
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):
        return 0


@dataclass(frozen=True)
class Settings:
    style: Style = "fill"
    format: OutFormat = "same"
    keep_names: bool = False
    fast: bool = False
    jpeg_quality: int = 92
    extra_boxes: tuple[tuple[int, int, int, int], ...] = ()  # x, y, w, h: always covered
    cover: tuple[str, ...] = ()  # "x,y,w,h" or, in a video, "x,y,w,h@t0-t1": always covered
    keep: tuple[str, ...] = ()  # ids of plan regions or tracks left visible
    # None: each file's own default, drop for a video's soundtrack and disguise for a sound-only
    # file; drop is refused for a sound-only file (`unseen.jobs.plan`), as it would leave nothing.
    audio: Audio | None = None
    # None: CRF 18, never above the input's bitrate (unseen.media.video_out); a number: that CRF, uncapped.
    crf: int | None = None
    detect_every: int | None = None  # video: full detection on every k-th frame; None: 1, or 3 with fast
    device: Device = "cpu"
    threads: int = field(default_factory=lambda: os.cpu_count() or 1)
    seed: int | None = None
    jobs: int | None = None  # files at once, each in its own process; None: every core the memory allows
    max_pixels: int = 250_000_000  # per picture or video frame; 108 MP phone photos are real
    targets: tuple[Target, ...] = DEFAULT_TARGETS  # the whole list; faces are added when left out

    def processes(self) -> int:
        """``jobs``, else one worker a core, but no more than the memory holds (`WORKER_BYTES` each)."""
        if self.jobs:
            return self.jobs
        cores = os.cpu_count() or 1
        memory = physical_memory()
        return max(1, min(cores, memory // WORKER_BYTES)) if memory else cores

    def __post_init__(self) -> None:
        for name, allowed in _CHOICES.items():
            value = getattr(self, name)
            if value not in get_args(allowed) and not (name == "audio" and value is None):
                raise UsageError(f"{name} must be one of {', '.join(get_args(allowed))}, not {value!r}")
        for name in ("keep_names", "fast"):
            if not isinstance(getattr(self, name), bool):
                raise UsageError(f"{name} must be true or false")
        if not isinstance(self.threads, int) or self.threads < 1:
            raise UsageError("threads must be a whole number of at least 1")
        if self.jobs is not None and (not isinstance(self.jobs, int) or not 1 <= self.jobs <= 256):
            raise UsageError("jobs must be a whole number from 1 to 256")
        if not isinstance(self.max_pixels, int) or not 1 <= self.max_pixels <= MOST_PIXELS:
            raise UsageError(f"max_pixels must be a whole number from 1 to {MOST_PIXELS:,}")
        if not 90 <= self.jpeg_quality <= 100:
            raise UsageError("jpeg_quality must be between 90 and 100")
        if self.crf is not None and not 0 <= self.crf <= 51:
            raise UsageError("crf must be between 0 and 51")
        if self.detect_every is not None and not 1 <= self.detect_every <= 30:
            raise UsageError("detect_every must be between 1 and 30")
        for box in self.extra_boxes:
            if len(box) != 4 or box[2] <= 0 or box[3] <= 0:
                raise UsageError(f"extra box {box} must be x,y,w,h with positive w and h")
        self.manual_boxes()  # a malformed --cover fails here, before any file is read
        unknown = [t for t in self.targets if t not in TARGETS]
        if unknown or not isinstance(self.targets, tuple):
            raise UsageError(
                f"targets must be among {', '.join(TARGETS)}, not {', '.join(map(str, unknown))}"
            )
        # Faces are never left out: a list without them still covers them.  Canonical order, so
        # that the same choice always reads (and resumes) the same.
        object.__setattr__(self, "targets", tuple(t for t in TARGETS if t in {"faces", *self.targets}))

    def manual_boxes(self) -> tuple[ManualBox, ...]:
        """``extra_boxes`` and ``cover`` as the boxes a person asked to cover."""
        return tuple(ManualBox(*box) for box in self.extra_boxes) + tuple(map(ManualBox.parse, self.cover))

    def providers(self) -> list[str]:
        """onnxruntime providers, always named explicitly (its default list may pick a remote one).

        Only the one asked for: with ``cuda`` a model that CUDA cannot run fails
        rather than running somewhere else without a word.
        """
        return ["CUDAExecutionProvider"] if self.device == "cuda" else ["CPUExecutionProvider"]

    def check_device(self) -> None:
        """Fail before any work when the device asked for cannot be used."""
        if self.device != "cuda":
            return
        import onnxruntime

        offered = onnxruntime.get_available_providers()
        if "CUDAExecutionProvider" in offered:
            return
        raise UsageError(
            f"--device cuda needs onnxruntime's CUDA provider: {cuda_fix()}; "
            f"this onnxruntime offers {', '.join(offered)}"
        )

    def replace(self, **changes: Any) -> Settings:
        return dataclasses.replace(self, **{k: v for k, v in changes.items() if v is not None})


def load(path: Path | None, **overrides: Any) -> Settings:
    """Settings from an optional TOML file, then the non-None ``overrides``."""
    values: dict[str, Any] = {}
    if path is not None:
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise UsageError(f"config {path}: {exc}") from exc
        values = dict(data.get("unseen", data))
        known = {f.name for f in dataclasses.fields(Settings)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise UsageError(f"config {path}: unknown option(s) {', '.join(unknown)}")
        if "extra_boxes" in values:
            values["extra_boxes"] = tuple(tuple(b) for b in values["extra_boxes"])
        for name in ("cover", "keep", "targets"):
            if name in values:
                values[name] = tuple(values[name])
    try:
        return Settings(**values).replace(**overrides)
    except TypeError as exc:
        raise UsageError(f"bad option: {exc}") from exc


def cuda_fix() -> str:
    """What to do where this onnxruntime has no CUDA provider."""
    if _installed("onnxruntime") and _installed("onnxruntime-gpu"):
        return (
            "onnxruntime and onnxruntime-gpu are both installed and write the same folder, where "
            "the CPU package's files are in place: pip install --force-reinstall --no-deps onnxruntime-gpu"
        )
    return "pip install 'unseen[gpu]' (onnxruntime-gpu) on a machine with an NVIDIA GPU and driver"


def _installed(distribution: str) -> bool:
    try:
        importlib.metadata.distribution(distribution)
    except importlib.metadata.PackageNotFoundError:
        return False
    return True
