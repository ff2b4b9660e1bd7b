"""``unseen strip``: a copy of each file without its metadata; faces and voices are left as they are.

Each output is written under a temporary name, then checked: it must decode,
hold the same picture (pixel for pixel after a lossless rewrite) or the same
sound (packet for packet, `unseen.verify.audio`), and pass the metadata scan
(our parsers and exiftool).  Only then is it published under its final name;
anything else removes it and reports the file as not done.
"""

from __future__ import annotations

from itertools import islice, pairwise
from pathlib import Path

import av
import numpy as np
from av.audio.stream import AudioStream
from av.video.stream import VideoStream

from . import kinds, meta
from .datatypes import FileResult
from .errors import UnsupportedError, VerificationError
from .jobs import SUFFIX_FORMATS, Job, handled
from .media import image as image_io
from .meta import audio as meta_audio
from .meta import families, video
from .settings import Settings
from .verify import audio as verify_audio
from .write import staged, sync_file


def strip_file(job: Job, settings: Settings | None = None) -> FileResult:
    """Write a metadata-free copy of ``job.source`` to ``job.target``."""
    opts = settings or Settings()

    def work(found: kinds.FileKind) -> FileResult:
        if found.kind == "audio":
            return _strip_sound(job, found)
        fmt = output_format(job, found.kind)
        with staged(job.target) as temp:
            cleaned = meta.write_clean(job.source, temp, fmt, jpeg_quality=opts.jpeg_quality)
            sync_file(temp)
            check_stripped(job.source, temp, cleaned)
        return FileResult(job.source, job.target, "stripped", kind=found.kind, note=cleaned.how)

    # `handled` refuses a PDF, archive or RAW file with its own reason, by content, before the
    # output's suffix is judged and before the output folder is made.
    return handled(job, work, opts.max_pixels)


def _strip_sound(job: Job, found: kinds.FileKind) -> FileResult:
    assert found.container is not None
    meta_audio.check_suffix(job.source, job.target, found.container)
    with staged(job.target) as temp:
        how = meta_audio.write_clean(job.source, temp, found.container, set(found.codecs))
        sync_file(temp)
        verify_audio.check_copy(job.source, temp, remuxed=how == "remuxed")
    return FileResult(job.source, job.target, "stripped", kind="audio", note=how)


def output_format(job: Job, kind: str) -> str:
    """The format ``job.target``'s suffix asks for; a suffix strip cannot write names the ones it can."""
    suffix = job.target.suffix.lower()
    fmt = video.VIDEO_MUXERS.get(suffix) or SUFFIX_FORMATS.get(suffix)
    if fmt is None:
        choices = video.video_suffixes() if kind == "video" else ", ".join(SUFFIX_FORMATS)
        raise UnsupportedError(
            job.source, f"cannot write a clean copy as {suffix or 'a file without suffix'}; use {choices}"
        )
    return fmt


def check_stripped(source: Path, written: Path, cleaned: meta.Cleaned) -> None:
    """Raise `VerificationError` unless ``written`` plays or decodes and carries nothing identifying."""
    if cleaned.family == families.VIDEO:
        _check_video(source, written)
    else:
        _check_image(source, written, cleaned)
    leaks = meta.scan(written)
    if leaks:
        raise VerificationError("metadata left in output: " + ", ".join(map(str, leaks)))


def _check_image(source: Path, written: Path, cleaned: meta.Cleaned) -> None:
    try:
        _fmt, frames = image_io.decode(written)
        originals = _raw_frames(source, len(frames)) if cleaned.lossless else []
    except image_io.CORRUPT as exc:
        # A lossless rewrite copies a damaged picture as it is: name the input, not the copy.
        image_io.read(source)  # raises InputError ("truncated or corrupt image") if it is damaged
        raise VerificationError(f"output does not decode: {exc}") from exc
    if not frames or min(frames[0].shape[:2]) == 0:
        raise VerificationError("output holds no picture")
    same = len(originals) == len(frames) and all(
        a.shape == b.shape and np.array_equal(a, b) for a, b in zip(originals, frames, strict=True)
    )
    if cleaned.lossless and not same:
        raise VerificationError("the rewritten file does not decode to the original pixels")


def _raw_frames(path: Path, count: int) -> list[np.ndarray]:
    """The first ``count`` frames exactly as stored (no orientation or colour conversion)."""
    with image_io.open_image(path) as img:
        return [
            np.asarray(f.convert("RGBA" if f.mode in ("RGBA", "PA") else "RGB"))
            for f in islice(image_io.sized_frames(path, img), count)
        ]


ORDER_FRAMES = 4 * video.REORDER  # frames of a stripped video whose times are checked to rise


def _check_video(source: Path, written: Path) -> None:
    with video.open_input(source) as src:
        kept = video.kept_streams(src)
        want = (sum(isinstance(s, VideoStream) for s in kept), sum(isinstance(s, AudioStream) for s in kept))
    try:
        with av.open(str(written)) as out:
            got = (len(out.streams.video), len(out.streams.audio))
            if got != want or len(out.streams) != sum(want):
                raise VerificationError(f"output has {got} video/audio streams, expected {want}")
            times = [f.pts for f in islice(out.decode(video=0), ORDER_FRAMES)]
            if not times:
                raise VerificationError("the output's picture does not decode")
            # A decoder gives pictures in the order they are shown: times that do not rise with them
            # would have a player show the frames shuffled (an AVI's packet times, copied).
            rising = all(a is not None and b is not None and a < b for a, b in pairwise(times))
            if times[0] is None or not rising:
                raise VerificationError("the output's frames are not in the order of their times")
    except av.error.FFmpegError as exc:
        raise VerificationError(f"output does not play: {exc}") from exc
