"""The run report's two files as `unseen.report` writes them and as `unseen.check` must know them.

A report is made to travel with the outputs, so ``unseen check`` on the folder
they travel in meets it.  Read by exiftool like any file, the JSON's keys and
the page's title came out as metadata, and a folder ``protect`` had just
written failed its check.  So ``check`` recognises a report by its content,
never by its name alone: ``report.json`` must hold exactly the fields and
values a report holds (`read`), and ``report.html`` must be, byte for byte,
the page rendered (`page`) from the ``report.json`` beside it and the
thumbnails it carries (`thumbnails`).  What such a report can still say about
someone is named (`identifying`); the thumbnails are the caller's to judge
like any picture.  A file that is not exactly that is judged like any other.
"""

from __future__ import annotations

import base64
import html
import json
import re
from pathlib import Path
from typing import Any, get_args

from .cover import STYLES
from .detect import DETECTORS
from .plan import RegionKind
from .settings import TARGETS

FILES = ("report.json", "report.html")
FORMAT, VERSION = "unseen-report", 2  # 2: metadata_removed counts items per group, naming no tag
CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'"
_THUMB = re.compile(r'<img alt="covered output" src="data:image/jpeg;base64,([A-Za-z0-9+/=]*)">')
_SECTION = re.compile(r"<section .*?</section>", re.S)


PHOTO_CHECKS = (
    "the written file decodes in the format, size and frame count meant",
    "every covered region differs from the original and carries the cover",
    "every region left visible is unchanged (bit for bit in lossless formats)",
    "the face audit sees no face outside the regions left visible",
)
VIDEO_CHECKS = (
    "every frame decodes; frame count, first and last timestamps match the input",
    "covered boxes carry the cover and boxes left visible are unchanged, on frames sampled across the clip",
    "the face audit sees no face outside the boxes left visible, on the frames `unseen check` samples",
)

# The names the report gives metadata by, keyed by the head of a finding's group (what comes
# before ':' - exiftool's family-1 group, our parsers' format - cut at '-', ',' or ' ', in lower
# case, as it is or without trailing digits).  A fixed list, as tag names and even some groups are the
# file's own words: a PNG keyword "JaneDoe" is exiftool's "PNG:JaneDoe", an iXML element its
# "XML:BwfxmlJaneDoe", an XMP namespace prefix its "XMP-janedoe".  What is not here is "other".
GROUPS = {
    **dict.fromkeys(("exif", "ifd", "exififd", "subifd", "interopifd", "mpf", "makernotes"), "EXIF"),
    "gps": "GPS",
    "xmp": "XMP",
    "iptc": "IPTC",
    **dict.fromkeys(("icc", "icc_profile"), "ICC profile"),
    "photoshop": "Photoshop",
    **dict.fromkeys(("jfif", "jfxx"), "JFIF"),
    **dict.fromkeys(("jpeg", "app", "adobe", "ducky"), "JPEG"),
    "png": "PNG",
    "gif": "GIF",
    "webp": "WebP",
    "bmp": "BMP",
    "tiff": "TIFF",
    **dict.fromkeys(("mov", "mp4", "quicktime", "track", "userdata", "itemlist", "keys"), "MP4"),
    "matroska": "Matroska",
    "avi": "AVI",
    "mpegts": "MPEG-TS",
    **dict.fromkeys(("wav", "wave", "riff", "rf64"), "WAV"),
    "xml": "XML",
    **dict.fromkeys(("id3", "id3v"), "ID3"),
    **dict.fromkeys(("mp3", "mpeg"), "MP3"),
    "flac": "FLAC",
    **dict.fromkeys(("ogg", "oggvorbis", "oggopus", "opus", "vorbis"), "Ogg"),
    "aiff": "AIFF",
    **dict.fromkeys(("ape", "apev"), "APE"),
    **dict.fromkeys(("adts", "aac"), "AAC"),
    "amr": "AMR",
    "file": "file",
    "composite": "Composite (worked out by exiftool)",
    "exiftool": "exiftool's warnings or errors",
}
OTHER = "other"

RECORDING_CHECKS = {
    "disguised": (
        "the written file decodes and its sound is as long as the input's",
        "the voice is moved in pitch wherever the input has one",
    ),
    "kept": ("the written file holds the input's sound, as long (its very packets where copied)",),
}


class NotAReport(ValueError):
    """The file is not a report unseen wrote (or not one left as it was written)."""


def read(path: Path) -> dict[str, Any]:
    """The report ``path`` holds, its every field what a report holds; `NotAReport` otherwise."""
    try:
        text = path.read_bytes()
        data = json.loads(text)
    except (OSError, ValueError) as exc:
        raise NotAReport(f"{path.name} does not read as a report: {exc}") from exc
    _shaped(data, _REPORT, "report")
    if text != (json.dumps(data, indent=1) + "\n").encode():  # a key twice, other spaces or escapes
        raise NotAReport(f"{path.name} is not written byte for byte as a report writes it")
    return data  # type: ignore[no-any-return]


def identifying(data: dict[str, Any]) -> list[str]:
    """What in a valid report could still point at someone: the inputs' names (a run that kept
    them ties each original to its output), and what a person wrote into a plan that the report
    repeats: a reason for a region left visible, a region's id or source in words of their own."""
    found = []
    for entry in data["files"]:
        n = entry["file"]
        if entry["input"] is not None:
            found.append(f"report: file {n} names its input, {entry['input']!r} (the run kept names)")
        for region in entry.get("left_visible", []):
            if region["reason"]:
                found.append(
                    f"report: file {n}, region {region['id']!r} left visible, with a reason a person wrote"
                )
            if not _OWN_ID.fullmatch(region["id"]):
                found.append(
                    f"report: file {n}, a region left visible with an id a person wrote: {region['id']!r}"
                )
        if entry["error"] and re.search(
            r"[/\\]", entry["error"].replace("<folder>/", "").replace("<input>", "")
        ):
            found.append(f"report: file {n}'s error quotes a path (its folders may name someone)")
        for group in entry.get("covered", []):
            if not _OWN_SOURCE.fullmatch(group["source"]):
                found.append(
                    f"report: file {n}, regions covered with a source a person wrote: {group['source']!r}"
                )
    return found


def thumbnails(text: str) -> list[list[bytes]]:
    """The JPEG thumbnails of each file's section of a report page, in order."""
    return [[base64.b64decode(s) for s in _THUMB.findall(section)] for section in _SECTION.findall(text)]


def page(data: dict[str, Any], thumbs: list[list[bytes]]) -> str:
    """The report's HTML: one file, no script, its own CSP forbidding any load (thumbnails inline)."""
    files = data["files"]
    cards = "\n".join(_card(entry, shots) for entry, shots in zip(files, thumbs, strict=True))
    summary = ", ".join(f"{n} {status}" for status, n in data["summary"].items())
    settings = data["settings"]
    e = html.escape
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{CSP}">
<meta name="referrer" content="no-referrer">
<title>unseen report</title>
<style>{_STYLE}</style></head>
<body>
<h1>unseen report</h1>
<p>{e(str(data["tool"]))}; cover {e(str(settings["style"]))}, profile {e(str(settings["profile"]))},
targets {e(", ".join(map(str, settings["targets"])))};
{len(files)} file(s): {e(summary)}; {data["seconds"]} s in all.</p>
<p class="note">Thumbnails show the covered outputs only. This report names no input file unless the run kept names.</p>
{cards}
</body></html>
"""


def _card(entry: dict[str, Any], shots: list[bytes]) -> str:
    e = html.escape
    title = f"File {entry['file']} ({entry['kind']})"
    if entry.get("input"):
        title += f": {entry['input']}"
    status = str(entry["status"])
    images = "".join(
        f'<img alt="covered output" src="data:image/jpeg;base64,{base64.b64encode(s).decode()}">'
        for s in shots
    )
    rows = [("status", status + (" (self-check passed)" if entry.get("self_check") else ""))]
    if entry.get("output"):
        rows.append(("output", str(entry["output"])))
    if entry.get("voice"):
        rows.append(("voice", str(entry["voice"])))
    if entry.get("error"):
        rows.append(("why", str(entry["error"])))
    covered = entry.get("covered") or []
    if entry["kind"] != "recording":  # a recording has no picture to cover
        rows.append(
            ("covered", ", ".join(f"{c['count']} {c['kind']} ({c['source']})" for c in covered) or "nothing")
        )
    visible = entry.get("left_visible") or []
    if visible:
        rows.append(
            ("left visible", "; ".join(f"{v['id']}: {v['reason'] or 'no reason given'}" for v in visible))
        )
    timing = f"{entry['seconds']} s"
    if "analysis_seconds" in entry:
        timing = f"{entry['analysis_seconds']} s finding, {timing} covering and checking"
    rows.append(("time", timing))
    table = "".join(f"<tr><th>{e(k)}</th><td>{e(v)}</td></tr>" for k, v in rows)
    checks = "".join(f"<li>{e(str(c))}</li>" for c in entry.get("checks", []))
    removed = entry.get("metadata_removed") or []
    gone = ", ".join(f"{e(str(g['group']))} ({g['items']})" for g in removed) or "none found"
    extra = (
        f"<h3>Checks passed</h3><ul>{checks}</ul><h3>Metadata removed (items per kind)</h3><p class=tags>{gone}</p>"
        if checks
        else ""
    )
    return f'<section class="{e(status)}"><h2>{e(title)}</h2><div class=shots>{images}</div><table>{table}</table>{extra}</section>'


_STYLE = """
body{font:15px/1.45 system-ui,sans-serif;margin:2em auto;max-width:60em;padding:0 1em;color:#111}
section{border:1px solid #ccc;border-radius:6px;padding:.5em 1em;margin:1em 0}
section.protected{border-left:6px solid #1a7f37}section.failed,section.unverified,section.refused{border-left:6px solid #b42318}
.shots img{max-height:180px;margin:0 .5em .5em 0;border:1px solid #ddd}
th{text-align:left;padding-right:1em;vertical-align:top;white-space:nowrap}.note{color:#555}
.tags{font-family:ui-monospace,monospace;font-size:13px;color:#333}
"""


# What a report holds, field by field: a type, a tuple of the values allowed, a pattern a text must
# match, a function that judges the value, a list's item shape ([shape]), or a dict's fields
# ({name: shape}, in the order unseen writes them; a name ending in "?" may be left out).
# Nothing else passes: a report that says more than unseen writes is not unseen's report, and
# a value that could spell words (a number of any size, a float with many decimals, a target
# that is not one, keys in another order) counts as saying more.
def _whole(value: Any, where: str) -> None:
    if type(value) is not int or not 0 <= value < 10**9:
        raise NotAReport(f"{where} is not a count")


def _seconds(value: Any, where: str) -> None:
    if type(value) not in (int, float) or not 0 <= value < 10**8 or round(value, 2) != value:
        raise NotAReport(f"{where} is not a time in hundredths of a second")


def _counts(value: Any, where: str) -> None:
    if not isinstance(value, dict) or list(value) != sorted(value) or not value.keys() <= set(_STATUSES):
        raise NotAReport(f"{where} is not a count of statuses")
    for status, n in value.items():
        _whole(n, f"{where}.{status}")


def _targets(value: Any, where: str) -> None:
    if not isinstance(value, list) or not set(value) <= set(TARGETS) or len(set(value)) != len(value):
        raise NotAReport(f"{where} are not targets")


_METADATA_CHECK = re.compile(r"no metadata outside the allowlist, by unseen's own parsers( and exiftool)?")
_EXTRA_CHECK = re.compile(
    r"[1-9][0-9]{0,5} region\(s\) the face audit still saw were covered in a further pass"
)


def _checks(value: Any, where: str) -> None:
    """The checks a file passed, as `report` lists them: its kind's, the metadata's, and the audit's
    further pass where there was one."""
    if not isinstance(value, list) or not all(isinstance(c, str) for c in value):
        raise NotAReport(f"{where} is not a list of checks")
    for kind in (PHOTO_CHECKS, VIDEO_CHECKS, *RECORDING_CHECKS.values()):
        rest = value[len(kind) :]
        if (
            tuple(value[: len(kind)]) == kind
            and 1 <= len(rest) <= 2
            and _METADATA_CHECK.fullmatch(rest[0])
            and (len(rest) == 1 or _EXTRA_CHECK.fullmatch(rest[1]))
        ):
            return
    raise NotAReport(f"{where} are not the checks a report lists")


def _sorted_by(key: Any) -> Any:
    def judge(value: Any, where: str) -> None:
        if value != sorted(value, key=key):
            raise NotAReport(f"{where} is not in the order a report writes")

    return judge


_OPTIONAL_TEXT = (str, type(None))
_STATUSES = (
    "protected",
    "analysed",
    "stripped",
    "skipped",
    "clean",
    "failed",
    "refused",
    "unverified",
    "dirty",
)
_KINDS = get_args(RegionKind)
# The ids unseen gives regions and tracks (r1, t3, a2-18-0; t3.1 split in a review) and the sources
# it names (a detector's pass, "audit", "person" for a box drawn by hand, "track"); a plan edited
# by hand may hold others.
_OWN_ID = re.compile(r"[a-z]+[0-9]+([.-][0-9]+)*")
_OWN_SOURCE = re.compile(
    "(" + "|".join(map(re.escape, DETECTORS)) + r")(@[0-9]+(\.[0-9]+)?x(-mirror)?)?|audit|person|track"
)
_ENTRY = {
    "file": _whole,
    "input": _OPTIONAL_TEXT,
    "output": _OPTIONAL_TEXT,
    "kind": ("photo", "video", "recording"),
    "status": _STATUSES,
    "self_check": ("passed", None),
    "error": _OPTIONAL_TEXT,
    "seconds": _seconds,
    "analysis_seconds?": _seconds,
    "voice?": ("kept (--audio keep)", "disguised"),
    "covered?": (
        [{"kind": _KINDS, "source": str, "count": _whole}],
        _sorted_by(lambda c: (c["kind"], c["source"])),
    ),
    "left_visible?": [{"id": str, "kind": _KINDS, "reason": _OPTIONAL_TEXT}],
    "checks?": _checks,
    "metadata_removed?": (
        [{"group": (*sorted(set(GROUPS.values())), OTHER), "items": _whole}],
        _sorted_by(lambda g: (g["group"] == OTHER, g["group"])),
    ),
}
_REPORT = {
    "format": (FORMAT,),
    "version": (VERSION,),
    # A release, a pre-release or a build from a commit: digits and a commit's hex, no words.
    "tool": re.compile(
        r"unseen [0-9]+(\.[0-9]+){1,3}((a|b|rc|\.dev|\.post)[0-9]+)*(\+g[0-9a-f]{4,40}(\.d[0-9]{8})?)?"
    ),
    "settings": {"style": tuple(STYLES.names()), "profile": ("default", "fast"), "targets": _targets},
    "seconds": _seconds,
    "files": [_ENTRY],
    "summary": _counts,
}


def _shaped(value: Any, shape: Any, where: str) -> None:
    """`NotAReport` unless ``value`` has ``shape`` (see `_REPORT`); a pair of shapes must both hold."""
    if isinstance(shape, dict):
        if not isinstance(value, dict):
            raise NotAReport(f"{where} is not an object")
        fields = {name.rstrip("?"): (name.endswith("?"), inner) for name, inner in shape.items()}
        extra = value.keys() - fields.keys()
        if extra:
            raise NotAReport(f"{where} holds fields a report does not: {sorted(extra)}")
        if list(value) != [name for name in fields if name in value]:
            raise NotAReport(f"{where} holds its fields in another order than a report")
        for name, (optional, inner) in fields.items():
            if name in value:
                _shaped(value[name], inner, f"{where}.{name}")
            elif not optional:
                raise NotAReport(f"{where} lacks {name!r}")
    elif isinstance(shape, list):
        if not isinstance(value, list):
            raise NotAReport(f"{where} is not a list")
        for i, item in enumerate(value):
            _shaped(item, shape[0], f"{where}[{i}]")
    elif (
        isinstance(shape, tuple) and len(shape) == 2 and callable(shape[1]) and not isinstance(shape[1], type)
    ):
        _shaped(value, shape[0], where)
        shape[1](value, where)
    elif isinstance(shape, re.Pattern):
        if not isinstance(value, str) or not shape.fullmatch(value):
            raise NotAReport(f"{where} is not what a report writes there")
    elif isinstance(shape, tuple) and not all(isinstance(s, type) for s in shape):
        if not any(value == s and type(value) is type(s) for s in shape):
            raise NotAReport(f"{where} is not one of {shape}")
    elif callable(shape) and not isinstance(shape, type):
        shape(value, where)
    elif type(value) not in (shape if isinstance(shape, tuple) else (shape,)):  # bool is no number
        raise NotAReport(f"{where} is not a {shape}")
