"""``unseen check``: what in a file could still identify someone.

Two questions per file: what metadata is left (our container parsers and,
when installed, exiftool, each finding naming the tool that saw it), and
whether a face is still visible (the detectors on the decoded picture; for a
video, on frames sampled across it).  The face pass is `unseen.verify.audit`,
the very one protect's self-check runs on what it writes, so the two agree.
"""

from __future__ import annotations

import copy
import threading
import time
from collections.abc import Iterable, Iterator
from pathlib import Path

import av
import numpy as np

from . import kinds, meta, report_format
from .datatypes import Detections, FileKind, FileResult, Status
from .detect import FaceFinder
from .errors import UnseenError, UnsupportedError, VerificationError
from .inorder import InOrder
from .jobs import failed
from .media import image as image_io
from .media.video import VideoReader
from .meta import jpeg
from .profiles import resolve
from .settings import Settings
from .verify.audit import Audit, Beside, audited_frames

# Files judged at once by `Checker.check_all`.  One at a time kept about 1.4 of 2 cores busy (the
# networks' threads wait for each other at every layer, YuNet held the interpreter then, exiftool
# starts a process); two at once, each on its own core: 44 protected dev photos 5.3 → 4.4 s.
FILES_AT_ONCE = 2


class _Stopped(Exception):
    """A file's check ended early: `Checker.check_all` was left (an error or Ctrl-C in its caller)."""


class Checker:
    """Loads the detectors once (unless ``faces`` is False); ``check(path)`` judges one file."""

    def __init__(self, settings: Settings | None = None, *, faces: bool = True, use_exiftool: bool = True):
        settings = settings or Settings()
        self.max_pixels = settings.max_pixels
        audit = resolve(settings).audit
        self.audit = Audit(FaceFinder(settings, audit), settings, audit) if faces else None
        self.use_exiftool = use_exiftool
        self.stopping: threading.Event | None = None  # once set, a video's check ends at its next frame

    def check_all(self, paths: Iterable[Path]) -> Iterator[FileResult]:
        """`check` on each of ``paths``, up to `FILES_AT_ONCE` side by side, results in the order given.

        Each file is judged by the same audit on sessions sized for that many callers
        (`Audit.lanes`), which give the same verdicts.
        """
        side = copy.copy(self)
        side.stopping = threading.Event()
        lanes = 1
        if self.audit is not None:
            lanes, side.audit = self.audit.lanes(FILES_AT_ONCE)
        work = InOrder[FileResult](lanes, lanes, "unseen-check")
        try:
            for path in paths:
                yield from work.put(side.check, path)
            yield from work.rest()
        finally:
            # An error or Ctrl-C: the files not yet begun are dropped, and a video being judged stops
            # at its next frame (`_Stopped`, which no one reads), rather than being decoded to its end.
            side.stopping.set()
            work.stop()

    def check(self, path: Path) -> FileResult:
        started = time.perf_counter()
        cap = image_io.pixel_limit.set(self.max_pixels)
        try:
            result = self._check(path)
        except _Stopped:
            raise
        except Exception as exc:  # one file's, as `unseen.jobs.handled` keeps it: never "clean"
            result = failed(path, exc, "other")
        finally:
            image_io.pixel_limit.reset(cap)
        result.seconds = time.perf_counter() - started
        return result

    def _check(self, path: Path) -> FileResult:
        unlike = None  # why a file named as a report is not one unseen wrote
        if path.name in report_format.FILES:
            own = self._own_report(path)
            if isinstance(own, FileResult):
                return own
            unlike = f"not a report as unseen writes it: {own}"
        try:
            found: kinds.FileKind | None = kinds.identify(path)
        except UnsupportedError:
            found = None  # a kind unseen refuses to clean (RAW, PDF...) can still be scanned
        kind: FileKind = found.kind if found else "other"
        findings = [str(f) for f in meta.scan(path, use_exiftool=self.use_exiftool)]
        findings += [unlike] if unlike is not None else []
        if found is None and not findings:
            return FileResult(
                path, None, "failed", error="not a picture, video or recording unseen can read", kind=kind
            )
        faces = 0
        if found is not None and found.kind != "audio":
            try:
                boxes = list(self._faces(path, found.kind == "video"))
            except (UnseenError, OSError, ValueError, av.error.FFmpegError) as exc:
                if not findings:
                    why = "cannot look for faces" if self.audit is not None else "cannot read the picture"
                    return FileResult(path, None, "failed", error=f"{why}: {exc}", kind=kind)
                boxes = [
                    f"pixels not {'checked for faces' if self.audit is not None else 'readable'} ({exc})"
                ]
            faces = sum(b.startswith("face") for b in boxes)
            findings += boxes
        status: Status = "dirty" if findings else "clean"
        return FileResult(path, None, status, faces=faces, kind=kind, findings=findings)

    def _own_report(self, path: Path) -> FileResult | str:
        """A report unseen wrote (`report_format`), judged by what it can still say about someone:
        names, typed reasons, and its page's thumbnails as pictures; for any other file of that
        name, why it is not one (it is then judged like every file)."""
        try:
            data = report_format.read(path.with_name("report.json"))
            thumbs: list[list[bytes]] = []
            if path.name == "report.html":
                text = path.read_text(encoding="utf-8")
                thumbs = report_format.thumbnails(text)
                if len(thumbs) != len(data["files"]) or report_format.page(data, thumbs) != text:
                    return "the page is not the one the report.json beside it renders"
        except report_format.NotAReport as exc:
            return str(exc)
        except (OSError, UnicodeDecodeError) as exc:
            return f"{path.name} does not read as a report ({exc})"
        findings = report_format.identifying(data)
        for n, shots in enumerate(thumbs, start=1):
            for k, shot in enumerate(shots, start=1):
                findings += [
                    f"report: file {n}, thumbnail {k}: {seen}" for seen in self._thumbnail(path, shot)
                ]
        status: Status = "dirty" if findings else "clean"
        return FileResult(path, None, status, kind="other", findings=findings, note="unseen's report")

    def _thumbnail(self, path: Path, shot: bytes) -> Iterator[str]:
        """What one of a report page's JPEG thumbnails shows or carries."""
        yield from (str(f) for f in jpeg.scan_bytes(shot))
        try:
            with image_io.open_image(path, shot) as img:
                rgb = np.asarray(img.convert("RGB"))
        except (UnseenError, OSError, ValueError) as exc:
            yield f"does not decode ({exc})"
            return
        if self.audit is not None:
            yield from _describe(self.audit.visible(rgb), 0, False)

    def _faces(self, path: Path, is_video: bool) -> Iterator[str]:
        """The faces the audit sees; without the audit (``--no-faces``), the picture is still read,
        a photo whole and a video's first frame, so that a file whose picture does not decode (a
        TIFF with no strips) is never called clean on its metadata alone."""
        if self.audit is None:
            if is_video:
                with VideoReader(path, fail=VerificationError) as reader:
                    if next(reader.frames(), None) is None:
                        raise VerificationError(f"{path}: no frame decodes")
            else:
                image_io.read(path)
            return
        if not is_video:
            for index, rgb in enumerate(image_io.read(path).frames):
                yield from _describe(self.audit.visible(rgb), index, False)
            return
        with Beside(self.audit) as beside:  # the audit beside the decoding, as in protect's self-check
            for index, rgb in _video_frames(path, self.stopping):
                for seen, faces in beside.put(index, rgb):
                    yield from _describe(faces, seen, True)
            for seen, faces in beside.rest():
                yield from _describe(faces, seen, True)


def _describe(dets: Detections, index: int, is_video: bool) -> Iterator[str]:
    where = f", frame {index}" if is_video else ""
    for (x0, y0, x1, y1), score in zip(dets.xyxy.round().astype(int), dets.scores, strict=True):
        yield f"face at {x0},{y0}-{x1},{y1} (score {score:.2f}{where}) (detector)"


def _video_frames(path: Path, stopping: threading.Event | None) -> Iterator[tuple[int, np.ndarray]]:
    """The frames the audit samples (about 16, first and last included), upright."""
    with VideoReader(path, fail=VerificationError) as reader:
        wanted = audited_frames(reader.frame_count)
        last: tuple[int, av.VideoFrame] | None = None
        for index, frame in enumerate(reader.frames()):
            if stopping is not None and stopping.is_set():
                raise _Stopped(f"{path}: stopped at frame {index}")
            last = (index, frame)
            if index in wanted:
                yield index, reader.rgb(frame)
        if last is not None and last[0] < max(wanted) and last[0] not in wanted:  # the count overstated
            yield last[0], reader.rgb(last[1])
