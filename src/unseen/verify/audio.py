"""The self-check of a written sound-only file: all of the sound is there, and a disguised voice moved.

After a stream copy (``strip``, ``protect --audio keep``) the packets must be
the input's byte for byte; a FLAC, written afresh rather than copied
(`unseen.meta.remux`), must decode to the input's very samples.  Every output
must decode to as long a sound as the input's, within one audio frame: the heard length, in decoded samples
after the container's trimming of encoder delay and padding.  After the
disguise, where the recording holds a voice, its pitch contour must no longer
be the original's: on windows spread over the file, where both are voiced,
either the output's log-pitch follows the input's with a slope below
`MAX_SLOPE` (the contour was flattened), or the median distance between them
is at least `MIN_SHIFT` semitones (it was moved).  The disguise does both,
but for a voice far from its random centre the two can partly cancel out in
the median, so neither alone would do.  A recording with too little voice to
measure (noise, silence) passes this one part: there is no voice to hide.
The metadata scan (`unseen.meta.scan`) is the last step of each check.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import av
import numpy as np
import numpy.typing as npt

from .. import meta
from ..errors import InputError, VerificationError
from ..media.audio import Resampler
from ..meta import opus, video
from ..meta.families import is_adts
from ..meta.remux import AFRESH

RATE = 16_000  # pitch is measured here, the disguise's own rate
WINDOWS, WINDOW_S = 8, 8.0
MIN_VOICED_FRAMES = 100  # half a second of voice in both files, at WORLD's 5 ms frames
MIN_SHIFT = 1.5  # semitones
MAX_SLOPE = 0.8


@dataclass(frozen=True)
class Heard:
    """One file's sound as the checks see it."""

    digests: tuple[tuple[str, str], ...]  # (codec, SHA-256 of every packet) per sound stream
    seconds: float  # decoded length of the first sound stream
    frame: float  # the longest packet, in seconds: one audio frame
    samples: str  # FLAC or ALAC: SHA-256 of the first sound stream's decoded samples, with their format


def listen(path: Path, windows: list[tuple[float, float]] | None = None) -> tuple[Heard, list[np.ndarray]]:
    """Hash the packets and decode the first sound stream; with ``windows`` ((start, end) seconds),
    also return those stretches as 16 kHz mono."""
    try:
        with video.open_input(path) as container:
            streams = [s for s in container.streams.audio if s.codec_context is not None]
            if not streams:
                raise VerificationError("the output holds no sound stream")
            first = streams[0]
            digests = {s.index: hashlib.sha256() for s in streams}
            codecs = {s.index: video.codec_name(s) for s in streams}
            lean = {s.index: _kept(codecs[s.index], bytes(s.codec_context.extradata or b"")) for s in streams}
            seconds, frame, samples, form = 0.0, 0.0, hashlib.sha256(), ""
            hashing = codecs[first.index] in AFRESH  # only lossless samples are compared (`check_copy`)
            cuts = _Cutter(windows or [])
            resampler = Resampler("flt", "mono", RATE) if windows else None
            for packet in container.demux(streams):
                if packet.size:  # not the end-of-stream marker, which flushes the decoder
                    data = bytes(packet)
                    digests[packet.stream.index].update(lean[packet.stream.index](data))
                    if packet.duration and packet.time_base is not None:
                        frame = max(frame, float(packet.duration * packet.time_base))
                if packet.stream.index != first.index:
                    continue
                for decoded in first.decode(packet):
                    seconds += decoded.samples / (decoded.sample_rate or RATE)  # the rate may change midway
                    if hashing and decoded.format.name != form:  # where it changes: framings differ
                        form = decoded.format.name
                        samples.update(form.encode())
                    if hashing:
                        samples.update(decoded.to_ndarray().tobytes())
                    if resampler is not None:
                        for mono in resampler.resample(decoded):
                            cuts.push(mono.to_ndarray()[0])
            rate = first.codec_context.sample_rate or 1
    except (InputError, av.error.FFmpegError, ValueError) as exc:
        raise VerificationError(f"the sound does not decode: {exc}") from exc
    heard = Heard(
        tuple((codecs[i], d.hexdigest()) for i, d in digests.items()),
        seconds,
        frame or 1 / rate,
        samples.hexdigest(),
    )
    return heard, cuts.parts


def _kept(codec: str, setup: bytes) -> Callable[[bytes], bytes]:
    """What a copy keeps of a packet (`remux._Copy`): AAC without ADTS headers, Opus unpadded."""
    if codec == "aac":
        return coded
    count = opus.streams(setup) if codec == "opus" else 0
    return partial(opus.unpadded, count=count) if count else bytes


def coded(data: bytes) -> bytes:
    """An AAC packet's coded sound, without the ADTS header a frame carries in MPEG-TS or a raw
    ``.aac`` file (7 bytes, 9 with a checksum): MP4 holds the same frames bare."""
    if len(data) >= 9 and is_adts(data):
        return data[7 if data[1] & 1 else 9 :]
    return data


class _Cutter:
    """Keeps the stretches of a stream of samples that fall in the given windows."""

    def __init__(self, windows: list[tuple[float, float]]) -> None:
        self.spans = [(round(a * RATE), round(b * RATE)) for a, b in windows]
        self.parts: list[np.ndarray] = [np.zeros(0, np.float32) for _ in windows]
        self.at = 0

    def push(self, samples: np.ndarray) -> None:
        end = self.at + len(samples)
        for i, (a, b) in enumerate(self.spans):
            lo, hi = max(a, self.at), min(b, end)
            if lo < hi:
                self.parts[i] = np.concatenate([self.parts[i], samples[lo - self.at : hi - self.at]])
        self.at = end


def check_copy(source: Path, written: Path, *, remuxed: bool) -> Heard:
    """``written`` holds ``source``'s sound: its very packets when ``remuxed``, and as long; nothing else.
    Returns what was heard of ``written``."""
    before, _ = listen(source)
    after, _ = listen(written)
    if remuxed and before.digests != after.digests:
        raise VerificationError("the copied sound's packets differ from the original's")
    codec = before.digests[0][0]
    if codec == after.digests[0][0] and codec in AFRESH and before.samples != after.samples:
        raise VerificationError(
            f"the {codec.upper()} written afresh decodes to other samples than the original's"
        )
    _same_length(before, after)
    _clean(written)
    return after


def check_disguised(source: Path, written: Path) -> None:
    """``written`` is as long as ``source``, its voice (if any) moved in pitch, and carries nothing else."""
    windows = _windows(_length_hint(source))
    before, original = listen(source, windows)
    after, moved = listen(written, windows)
    _same_length(before, after)
    change = pitch_change(original, moved)
    if change is not None and change.slope >= MAX_SLOPE and abs(change.shift) < MIN_SHIFT:
        raise VerificationError(
            f"the voice's pitch contour is nearly the original's (moved {change.shift:+.1f} semitones,"
            f" slope {change.slope:.2f})"
        )
    _clean(written)


@dataclass(frozen=True)
class Change:
    """How one pitch contour maps onto another, over the frames where both are voiced."""

    shift: float  # median distance, in semitones
    slope: float  # of the output's log-pitch against the input's; 1 for a constant shift
    spread: float  # standard deviation of the distance, in semitones
    frames: int


def pitch_change(before: list[np.ndarray], after: list[np.ndarray]) -> Change | None:
    """Compare two recordings' pitch stretch by stretch; None when they share too little voice."""
    pairs = []
    for a, b in zip(before, after, strict=True):
        n = min(len(a), len(b))
        if n < RATE // 2:
            continue
        f0a, f0b = pitch(a[:n]), pitch(b[:n])
        both = (f0a > 0) & (f0b > 0)
        pairs.append(np.log2(np.stack([f0a[both], f0b[both]])))
    logs = np.concatenate(pairs, axis=1) if pairs else np.zeros((2, 0))
    if logs.shape[1] < MIN_VOICED_FRAMES:
        return None
    distance = 12 * (logs[1] - logs[0])
    slope = float(np.polyfit(logs[0], logs[1], 1)[0])
    return Change(float(np.median(distance)), slope, float(np.std(distance)), logs.shape[1])


def pitch(x: np.ndarray) -> npt.NDArray[np.float64]:
    """F0 per 5 ms frame, 0 where unvoiced (WORLD's DIO, refined by StoneMask)."""
    import pyworld

    signal = np.ascontiguousarray(x, np.float64)
    f0, times = pyworld.dio(signal, RATE, frame_period=5.0)
    return np.asarray(pyworld.stonemask(signal, f0, times, RATE), np.float64)


def _length_hint(path: Path) -> float:
    """The container's idea of the length, to place the windows before decoding."""
    try:
        with video.open_input(path) as container:
            return video.duration(container, container.streams.audio[0]) or 0.0
    except (InputError, av.error.FFmpegError, IndexError) as exc:
        raise VerificationError(f"the sound does not decode: {exc}") from exc


def _windows(seconds: float) -> list[tuple[float, float]]:
    """Up to `WINDOWS` stretches of `WINDOW_S` seconds, spread evenly from start to end."""
    if seconds <= WINDOWS * WINDOW_S:
        return [(0.0, 2 * WINDOWS * WINDOW_S)]  # the whole of it: the hint may be short
    starts = np.linspace(0.0, seconds - WINDOW_S, WINDOWS)
    return [(float(s), float(s) + WINDOW_S) for s in starts]


def _same_length(before: Heard, after: Heard) -> None:
    if before.seconds and not after.seconds:
        # One frame's leeway is no leeway where a damaged time scale makes a frame last minutes.
        raise VerificationError("the sound no longer decodes")
    frame = max(before.frame, after.frame)
    if abs(after.seconds - before.seconds) > frame + 1e-6:
        raise VerificationError(
            f"the sound lasts {after.seconds:.3f} s, the original {before.seconds:.3f} s"
            f" (more than one {frame * 1000:.0f} ms frame apart)"
        )


def _clean(written: Path) -> None:
    leaks = meta.scan(written)
    if leaks:
        raise VerificationError("metadata left in output: " + ", ".join(map(str, leaks)))
