"""Sound for protected videos: dropped (the default), kept, or disguised.

``keep`` re-encodes the sound as it is (so no tag or side data of the input
stream can ride along).  ``disguise`` resynthesises it with the WORLD vocoder
(`pyworld`) after changing the two things that make a voice recognisable
besides the words:

* the pitch contour is *flattened* (raised to a power below one around a
  random centre), moved by a random number of semitones and given a slow
  random wobble.  The result is not the original contour times a constant, so
  shifting it back does not restore it; the speaker's pitch range and
  intonation are squeezed away for good;
* the spectral envelope (formants, i.e. the shape of the vocal tract) is
  stretched or squeezed in frequency by a random factor.

The parameters are drawn per file and never stored.  What it does not hide:
the words, the language and accent, the speaking rate and pauses, and every
background sound (a street, a chant, a named place).  A determined analyst
with other recordings of the same person may still find them similar; treat
``disguise`` as making casual recognition of a voice hard, not as anonymity.
The sound is also cut to 16 kHz mono, which removes the room and microphone
detail above 8 kHz.

`pyworld` is the ``voice`` extra: it has a wheel for Windows only and needs
a C compiler elsewhere, so a base install has no disguise and says so.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from importlib import import_module

import av
import numpy as np
import numpy.typing as npt

from ..errors import UsageError
from ..meta.video import LEAP_S, new_audio_stream

RATE = 16_000
FRAME_PERIOD_MS = 5.0
CHUNK_S, OVERLAP_S = 4.0, 0.25

F64 = npt.NDArray[np.float64]


@dataclass(frozen=True)
class Voice:
    """One file's random disguise; see the module docstring for what each part does."""

    semitones: float
    flatten: float
    centre: float
    warp: float
    wobble: tuple[tuple[float, float, float], ...]  # (Hz, semitones, phase)

    @classmethod
    def draw(cls, rng: np.random.Generator) -> Voice:
        sign = float(rng.choice([-1.0, 1.0]))
        wobble = tuple(
            (float(rng.uniform(0.15, 1.2)), float(rng.uniform(0.3, 0.8)), float(rng.uniform(0, 2 * np.pi)))
            for _ in range(3)
        )
        return cls(
            semitones=sign * float(rng.uniform(3.0, 6.0)),
            flatten=float(rng.uniform(0.35, 0.6)),
            centre=float(rng.uniform(120.0, 200.0)),
            # Formants move the same way as pitch: the opposite sounds unnatural and draws attention.
            warp=float(2 ** (sign * rng.uniform(1.5, 3.0) / 12)),
            wobble=wobble,
        )

    def pitch(self, f0: F64, seconds: F64) -> F64:
        """The new F0 contour (0 where unvoiced) at absolute times ``seconds``."""
        wobble = sum(a * np.sin(2 * np.pi * hz * seconds + ph) for hz, a, ph in self.wobble)
        voiced = f0 > 0
        safe = np.where(voiced, f0, self.centre)
        moved = self.centre * (safe / self.centre) ** self.flatten * 2 ** ((self.semitones + wobble) / 12)
        return np.where(voiced, moved, 0.0)


def need_vocoder() -> None:
    """Refuse a disguise up front, as a usage error, where the vocoder is not installed."""
    try:
        import_module("pyworld")
    except ImportError as exc:
        raise UsageError(
            "the voice disguise needs the WORLD vocoder, which is not installed: "
            "pip install 'unseen[voice]' (pyworld; outside Windows it builds with a C compiler), "
            "or use --audio drop or keep"
        ) from exc


def resynthesise(x: F64, start: float, voice: Voice) -> F64:
    """One stretch of mono ``RATE`` sound through WORLD with ``voice`` applied; same length out."""
    import pyworld

    x = np.ascontiguousarray(x, np.float64)
    f0, times = pyworld.dio(x, RATE, frame_period=FRAME_PERIOD_MS)
    f0 = pyworld.stonemask(x, f0, times, RATE)
    envelope = pyworld.cheaptrick(x, f0, times, RATE)
    aperiodic = pyworld.d4c(x, f0, times, RATE)
    y = pyworld.synthesize(
        voice.pitch(f0, times + start),
        _warped(envelope, voice.warp),
        _warped(aperiodic, voice.warp),
        RATE,
        FRAME_PERIOD_MS,
    )
    out = np.zeros(len(x))
    n = min(len(x), len(y))
    out[:n] = y[:n]
    return np.clip(out, -1.0, 1.0)


def _warped(spectra: F64, factor: float) -> F64:
    """Each row resampled so that what was at bin ``k`` moves to bin ``k * factor``."""
    bins = spectra.shape[1]
    source = np.clip(np.arange(bins) / factor, 0, bins - 1)
    lo = np.floor(source).astype(int)
    hi = np.minimum(lo + 1, bins - 1)
    w = source - lo
    return np.ascontiguousarray(spectra[:, lo] * (1 - w) + spectra[:, hi] * w)


class Disguiser:
    """Streams sound through `resynthesise` in overlapping chunks, so memory stays flat.

    Each chunk is analysed with a little of the next one and the overlap is
    cross-faded, which hides the seams; the voice parameters are the same
    throughout and the wobble runs on absolute time.
    """

    def __init__(self, voice: Voice, rng: np.random.Generator) -> None:
        self.voice = voice
        self.rng = rng
        self.chunk, self.overlap = int(CHUNK_S * RATE), int(OVERLAP_S * RATE)
        self.pending = np.zeros(0)
        self.tail = np.zeros(0)
        self.position = 0  # samples emitted so far

    def push(self, samples: F64) -> F64:
        self.pending = np.concatenate([self.pending, samples])
        out = []
        while len(self.pending) >= self.chunk + self.overlap:
            out.append(self._step(self.pending[: self.chunk + self.overlap], self.chunk))
            self.pending = self.pending[self.chunk :]
        return np.concatenate(out) if out else np.zeros(0)

    def flush(self) -> F64:
        if not len(self.pending):
            return np.zeros(0)
        rest = self.pending
        self.pending = np.zeros(0)
        return self._step(rest, len(rest))

    def _step(self, segment: F64, emit: int) -> F64:
        # A whisper of noise keeps WORLD's analysis away from log(0) on digital silence.
        dithered = segment + self.rng.normal(0.0, 1e-5, len(segment))
        y = resynthesise(dithered, self.position / RATE, self.voice)
        fade = len(self.tail)
        if fade:
            ramp = np.linspace(0.0, 1.0, fade, endpoint=False)
            y[:fade] = self.tail * (1 - ramp) + y[:fade] * ramp
        self.tail = y[emit:]
        self.position += emit
        return y[:emit]


# A gap in the input's sound longer than this is filled with silence (`AudioOut`): two AAC frames.
GAP_S = 0.04


def _silence(like: av.AudioFrame, samples: int) -> av.AudioFrame:
    """``samples`` of silence in the format, layout and rate of ``like``."""
    frame = av.AudioFrame(format=like.format.name, layout=like.layout.name, samples=samples)
    for plane in frame.planes:
        plane.update(bytes(plane.buffer_size))
    frame.sample_rate = like.sample_rate
    return frame


class Resampler:
    """An `av.AudioResampler` to one format, layout and rate that takes whatever comes in: PyAV's
    is set up by its first frame and refuses any other, and a stream can change midway (MP3s laid
    end to end, mono then stereo).  At a change the old one is drained and a new one started."""

    def __init__(self, format: str, layout: str, rate: int) -> None:
        self.format, self.layout, self.rate = format, layout, rate
        self.inner: av.AudioResampler | None = None
        self.fed: tuple[str, str, int] | None = None

    def resample(self, frame: av.AudioFrame | None) -> list[av.AudioFrame]:
        if frame is None:
            return self.inner.resample(None) if self.inner is not None else []
        kind = (frame.format.name, frame.layout.name, frame.sample_rate)
        drained: list[av.AudioFrame] = []
        if kind != self.fed:
            if self.inner is not None:
                drained = self.inner.resample(None)
            self.inner, self.fed = av.AudioResampler(self.format, self.layout, self.rate), kind
        assert self.inner is not None
        return drained + self.inner.resample(frame)


class AudioOut:
    """Decoded sound frames in, encoded packets muxed into ``out``: ``keep`` or ``disguise``.

    Timestamps restart from the input's first sample time (or ``start``) and
    then count samples, which keeps sound and picture in step for any ordinary
    file.  Where the input's sound leaves a gap of more than `GAP_S` (a part
    whose sound ends before its picture, laid end to end with the next:
    `meta.video.Joins`), the gap is filled with silence, so the sound after it
    still starts with its picture; one longer than `meta.video.LEAP_S` is a
    damaged time, and the sound after it follows on.  ``rate`` is the encoder's, for a codec that
    cannot take `RATE` (AMR-NB: 8 kHz only).
    """

    def __init__(
        self,
        out: av.container.OutputContainer,
        source: av.audio.stream.AudioStream,
        mode: str,
        codec: str,
        rng: np.random.Generator,
        *,
        rate: int | None = None,
        start: float | None = None,
    ) -> None:
        self.out = out
        self.mode = mode
        if mode == "disguise":
            rate, layout = rate or RATE, "mono"
            self.disguiser: Disguiser | None = Disguiser(Voice.draw(rng), rng)
            self.to_mono = Resampler("dbl", "mono", RATE)
        else:
            rate = source.codec_context.sample_rate or 48_000
            layout = "mono" if source.codec_context.channels == 1 else "stereo"
            self.disguiser = None
        self.stream = new_audio_stream(out, codec, rate)
        self.rate = rate
        ctx = self.stream.codec_context
        ctx.layout = layout
        # What the input gives, in the encoder's terms; then cut into the encoder's frame size,
        # which must stay whole up to the last frame (so that one is never drained midway).
        self.to_format = Resampler(ctx.format.name, layout, rate)
        self.to_codec = av.AudioResampler(
            format=ctx.format.name, layout=layout, rate=rate, frame_size=ctx.frame_size or None
        )
        self.samples = 0  # in ``rate`` units, from ``start``
        self.start = start
        self.origin: float | None = None  # the input's first sample time
        self.taken = 0.0  # seconds of input sound taken since ``origin``, silence filled in included

    def push(self, frame: av.AudioFrame) -> None:
        if self.start is None:
            self.start = float(frame.time) if frame.time is not None else 0.0
        if frame.time is not None:
            if self.origin is None:
                self.origin = float(frame.time)
            gap = float(frame.time) - (self.origin + self.taken)
            if GAP_S < gap <= LEAP_S:  # a longer one is a damaged time, as `Joins` takes it
                self._take(_silence(frame, round(gap * frame.sample_rate)))
        self._take(frame)

    def _take(self, frame: av.AudioFrame) -> None:
        self.taken += frame.samples / (frame.sample_rate or RATE)
        if self.disguiser is None:
            for fitted in self.to_format.resample(frame):
                self._encode(fitted)
            return
        for mono in self.to_mono.resample(frame):
            self._encode_array(self.disguiser.push(mono.to_ndarray()[0]))

    def close(self) -> None:
        if self.disguiser is not None:
            for mono in self.to_mono.resample(None):
                self._encode_array(self.disguiser.push(mono.to_ndarray()[0]))
            self._encode_array(self.disguiser.flush())
        else:
            for fitted in self.to_format.resample(None):
                self._encode(fitted)
        self._encode(None)
        for packet in self.stream.encode(None):
            self.out.mux(packet)

    def _encode_array(self, samples: F64) -> None:
        if not len(samples):
            return
        frame = av.AudioFrame.from_ndarray(samples.astype(np.float32)[None, :], format="flt", layout="mono")
        frame.sample_rate = RATE
        self._encode(frame)

    def _encode(self, frame: av.AudioFrame | None) -> None:
        if frame is not None:
            frame.pts = None  # the resampler must not try to follow the input's clock
        for chunk in self.to_codec.resample(frame):
            chunk.pts = round((self.start or 0.0) * self.rate) + self.samples
            chunk.time_base = Fraction(1, self.rate)
            self.samples += chunk.samples
            for packet in self.stream.encode(chunk):
                self.out.mux(packet)
