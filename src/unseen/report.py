"""The run report (``--report DIR``): what a run covered and checked, in a form that shows no one.

``report.json`` and ``report.html`` give, per file: the regions covered by
kind and source, what was left visible and the reason given (for a sound-only
recording, what became of its voice instead), the checks the
written file passed, the metadata removed (tag names, never values) and how
long it took.  A report is made to travel with the outputs, so its only
pictures are thumbnails of the covered outputs, never of an original; it
names no input unless ``--keep-names`` (error messages included); and the
HTML is one file without scripts whose own Content-Security-Policy forbids
loading anything: its thumbnails are inline and it opens offline.  The
thumbnails also blank the regions a person chose to leave visible: consent to
appear in a picture is not consent to appear in its report.
"""

from __future__ import annotations

import io
import json
import os
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from . import meta
from .datatypes import FileResult
from .errors import CUT, UnseenError
from .media import image as image_io
from .media.video import VideoReader
from .meta import exiftool
from .plan import Plan, Region, Schedule, Track
from .report_format import FORMAT, GROUPS, OTHER, PHOTO_CHECKS, RECORDING_CHECKS, VERSION, VIDEO_CHECKS, page
from .settings import Settings
from .write import staged, write_bytes

THUMB_SIDE = 320
VIDEO_THUMBS = 4
SHORT = 3  # a spelling this short is replaced only as a word of its own, not followed by a space

KINDS = {"video": "video", "audio": "recording"}  # the rest: "photo"


@dataclass(frozen=True)
class Run:
    """What the whole run was: shown at the top of the report."""

    version: str
    settings: Settings
    seconds: float
    keep_names: bool
    analysis: dict[Path, float] | None = None  # seconds per input spent finding faces (review)


def build(results: list[FileResult], run: Run) -> dict[str, object]:
    """The report as JSON-ready data, thumbnails left out."""
    statuses = Counter(r.status for r in results)
    return {
        "format": FORMAT,
        "version": VERSION,
        "tool": f"unseen {run.version}",
        "settings": {
            "style": run.settings.style,
            "profile": "fast" if run.settings.fast else "default",
            "targets": list(run.settings.targets),
        },
        "seconds": round(run.seconds, 2),
        "files": [_entry(n, r, run) for n, r in enumerate(results, start=1)],
        "summary": dict(sorted(statuses.items())),
    }


def write(folder: Path, results: list[FileResult], run: Run) -> None:
    """Write ``folder/report.json`` and ``folder/report.html``; neither replaces an existing file."""
    data = build(results, run)
    thumbs = [_thumbnails(r) for r in results]
    for name, text in (
        ("report.json", json.dumps(data, indent=1) + "\n"),
        ("report.html", page(data, thumbs)),
    ):
        with staged(folder / name) as temp:
            write_bytes(temp, text.encode())


def refuse_existing(folder: Path) -> list[Path]:
    """The report files already in ``folder`` (a run never overwrites them)."""
    return [p for p in (folder / "report.json", folder / "report.html") if p.exists()]


def _entry(number: int, r: FileResult, run: Run) -> dict[str, object]:
    done = r.status == "protected"
    entry: dict[str, object] = {
        "file": number,
        "input": r.input.name if run.keep_names else None,
        "output": r.output.name if r.output is not None and done else None,
        "kind": KINDS.get(r.kind, "photo"),
        "status": r.status,
        "self_check": "passed" if done else None,
        "error": _anonymous(r.error, r.input, run.keep_names),
        "seconds": round(r.seconds, 2),
    }
    if run.analysis is not None and r.input in run.analysis:
        entry["analysis_seconds"] = round(run.analysis[r.input], 2)
    if r.kind == "audio" and done:
        entry["voice"] = _voice(run)
    if r.plan is not None:
        entry.update(_regions(r.plan))
    if done:
        entry["checks"] = _checks(r, run)
        entry["metadata_removed"] = _removed(r.input)
    return entry


def _regions(plan: Plan) -> dict[str, object]:
    items = plan.tracks if plan.media.kind == "video" else plan.regions
    covered = Counter((i.kind, i.source) for i in items if i.decision == "cover" or i.kind == "manual")
    return {
        "covered": [{"kind": k, "source": s, "count": n} for (k, s), n in sorted(covered.items())],
        "left_visible": [
            {"id": i.id, "kind": i.kind, "reason": i.reason}
            for i in items
            if i.decision == "keep" and i.kind != "manual"
        ],
    }


def _voice(run: Run) -> str:
    """What became of a recording's voice: ``--audio keep`` keeps it, every other mode disguises it
    or refuses the file (`pipeline.audio.protect_sound`).  Read from the run's settings, not from
    the wording of a result's note, which was said for a person to read."""
    return "kept (--audio keep)" if run.settings.audio == "keep" else "disguised"


def _checks(r: FileResult, run: Run) -> list[str]:
    if r.kind == "audio":  # no picture: what was checked is the sound
        checks = list(RECORDING_CHECKS["kept" if _voice(run).startswith("kept") else "disguised"])
    else:
        checks = list(VIDEO_CHECKS if r.kind == "video" else PHOTO_CHECKS)
    judges = "unseen's own parsers and exiftool" if exiftool.available() else "unseen's own parsers"
    checks.append(f"no metadata outside the allowlist, by {judges}")
    items: list[Region | Track] = [*r.plan.regions, *r.plan.tracks] if r.plan is not None else []
    extra = sum(i.source == "audit" for i in items)
    if extra:
        checks.append(f"{extra} region(s) the face audit still saw were covered in a further pass")
    return checks


def _removed(source: Path) -> list[dict[str, object]]:
    """How many metadata items the input carried, per group from `GROUPS`, "other" last.

    Only the fixed names: a finding's tag name, and some groups, are text the file chose.
    """
    counts = Counter(_group(item) for item in {f.item for f in meta.scan(source)})
    return [
        {"group": g, "items": n} for g, n in sorted(counts.items(), key=lambda gn: (gn[0] == OTHER, gn[0]))
    ]


def _group(item: str) -> str:
    """The `GROUPS` name of a finding (exiftool's "XMP-dc:Creator", our "PNG:tEXt chunk")."""
    head = re.split(r"[:, -]", item, maxsplit=1)[0].lower()
    return GROUPS.get(head) or GROUPS.get(head.rstrip("0123456789_"), OTHER)  # "IFD0", "ID3v2_4"


def _anonymous(text: str | None, source: Path, keep_names: bool) -> str | None:
    """``text`` without the input's name or its folders, however the message spelt them.

    A library quotes a path as given or absolute, in ``repr``'s escapes or as bytes; by the time
    the report sees it, `FileResult.of_error` has made its whitespace single spaces, and
    `InternalError` may have cut it short (marked `CUT`).  Every spelling is looked for, each
    also with its whitespace collapsed, and where a text was cut, a name's head just before it.
    """
    if text is None or keep_names:
        return text
    text = " ".join(text.split())
    spellings = _spellings(source)
    for name, token in spellings:
        if len(name) > SHORT:
            text = text.replace(name, token)
        else:  # a folder "in": not in "input", nor the word in "(in lib.py:3)"
            text = re.sub(rf"(?<!\w){re.escape(name)}(?![\w ])", token, text)
    return _cut_names(text, spellings)


def _spellings(source: Path) -> list[tuple[str, str]]:
    """(spelling, what replaces it) for the input's path, name and stem and every folder above it,
    longest first."""
    paths = {source, source.absolute(), Path(os.path.realpath(source))}
    found: dict[str, str] = {}
    for path in paths:
        for folder in path.parents:
            if folder.parent != folder and str(folder) != ".":
                found.update(dict.fromkeys(_forms(str(folder)), "<folder>"))
    for path in paths:
        for text in (str(path), path.name, path.stem):
            found.update(dict.fromkeys(_forms(text), "<input>"))
    return sorted(((k, v) for k, v in found.items() if len(k) > 1), key=lambda kv: len(kv[0]), reverse=True)


def _forms(text: str) -> set[str]:
    """How a message may spell ``text``: as is, in ``repr``'s or ``ascii``'s escapes, as UTF-8
    bytes' escapes, each also with its whitespace collapsed."""
    raw = os.fsencode(text)
    forms = {
        text,
        ascii(text)[1:-1],
        text.encode("unicode_escape").decode("ascii"),
        repr(raw)[2:-1],
        raw.decode("utf-8", "replace"),
    }
    return forms | {" ".join(f.split()) for f in forms}


def _cut_names(text: str, spellings: list[tuple[str, str]]) -> str:
    """Replace the head of a spelling that a cut (`CUT`) left just before its mark."""
    parts = text.split(CUT)
    for i, part in enumerate(parts[:-1]):
        heads = [(_head(part, name), token) for name, token in spellings]
        head, token = max(heads, default=(0, ""))
        if head > 1:
            parts[i] = part[:-head] + token
    return CUT.join(parts)


def _head(text: str, name: str) -> int:
    """The length of the longest head of ``name`` that ends ``text``."""
    return next((n for n in range(min(len(name), len(text)), 0, -1) if text.endswith(name[:n])), 0)


def _thumbnails(r: FileResult) -> list[bytes]:
    """JPEG thumbnails of the covered output (never the original): a photo, or frames across a video."""
    if r.status != "protected" or r.output is None or r.kind not in ("image", "video"):
        return []
    plan = r.plan
    try:
        if r.kind == "video":
            schedule = Schedule(plan) if plan is not None else None
            shots = []
            for n, rgb in _video_frames(r.output):
                kept = schedule.at(n)[1] if schedule is not None else np.zeros((0, 4), np.int64)
                shots.append(_jpeg(_blanked(rgb, kept)))
            return shots
        kept = plan.kept() if plan is not None else np.zeros((0, 4), np.int64)
        return [_jpeg(_blanked(image_io.read(r.output).frames[0], kept))]
    except (UnseenError, OSError, ValueError):
        return []


def _video_frames(path: Path) -> list[tuple[int, np.ndarray]]:
    with VideoReader(path) as reader:
        total = reader.frame_count
        wanted = {round(i * (total - 1) / max(1, VIDEO_THUMBS - 1)) for i in range(VIDEO_THUMBS)}
        return [(n, reader.rgb(f)) for n, f in enumerate(reader.frames()) if n in wanted]


def _blanked(rgb: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    out = np.array(rgb[..., :3])
    for x0, y0, x1, y1 in boxes.tolist():
        out[y0:y1, x0:x1] = 128
    return out


def _jpeg(rgb: np.ndarray) -> bytes:
    img = Image.fromarray(rgb[..., :3])
    img.thumbnail((THUMB_SIDE, THUMB_SIDE))
    out = io.BytesIO()
    img.save(out, "JPEG", quality=80)
    return out.getvalue()
