"""Sound-only recordings: a clean copy whose voice is disguised, or (``--audio keep``) left as it is.

A voice identifies its speaker as a face does, so ``protect`` disguises it by
default: the sound is decoded, resynthesised with a voice drawn for this file
and never stored (`unseen.media.audio`), and encoded into a fresh container of
the input's kind (`unseen.meta.audio.CONTAINERS`: WAV as 16-bit PCM, FLAC as
FLAC, MP3 as MP3, Ogg as Opus, AMR as AMR-NB, M4A and 3GP as AAC).  ``keep``
copies the sound's packets as they are, which is what ``strip`` does.  Either
way the output is published only after `unseen.verify.audio` has checked it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import InputError, UsageError
from ..jobs import Job
from ..kinds import FileKind
from ..media.audio import AudioOut, need_vocoder
from ..meta import audio as meta_audio
from ..meta import video as meta_video
from ..settings import Settings
from ..verify import audio as verify_audio
from ..write import staged, sync_file

NOTHING_HEARD = "its sound holds nothing that decodes"


def protect_sound(job: Job, found: FileKind, settings: Settings, rng: np.random.Generator) -> str:
    """Write ``job.target``; return how it was made (the result's note)."""
    container = found.container
    assert container is not None
    meta_audio.check_suffix(job.source, job.target, container)
    mode = settings.audio or "disguise"
    if mode == "drop":
        raise UsageError(f"--audio drop would leave nothing of {job.source}, a sound-only recording")
    if mode == "disguise":
        need_vocoder()  # one clear line naming the extra to install, before anything is written
    with staged(job.target) as temp:
        if mode == "keep":
            how = meta_audio.write_clean(job.source, temp, container, set(found.codecs))
            sync_file(temp)
            if not verify_audio.check_copy(job.source, temp, remuxed=how == "remuxed").seconds:
                # `strip` may hand back a copy as damaged as its input; `protect` promises a recording
                # that plays, with its voice kept or disguised alike.
                raise InputError(job.source, NOTHING_HEARD)
            return f"{how}; voice not disguised (--audio keep)"
        _disguise(job.source, temp, meta_audio.CONTAINERS[container], rng)
        sync_file(temp)
        verify_audio.check_disguised(job.source, temp)
    return "voice disguised"


def _disguise(src: Path, dst: Path, target: meta_audio.Container, rng: np.random.Generator) -> None:
    with meta_video.open_input(src) as container:
        streams = [s for s in container.streams.audio if s.codec_context is not None]
        with (
            meta_video.blamed_on(src, "cannot decode or encode the sound"),
            meta_video.writing(dst, target.muxer_for({target.encoder})) as out,
        ):
            # Every stream gets its own voice; the sound starts at zero, there is no picture to follow.
            voices = {
                s.index: (
                    s,
                    AudioOut(out, s, "disguise", target.encoder, rng, rate=target.rate, start=0.0),
                )
                for s in streams
            }
            heard = 0
            for packet in container.demux(streams):
                stream, voice = voices[packet.stream.index]
                for frame in stream.decode(packet):
                    voice.push(frame)
                    heard += 1
            if not heard:  # the muxer then writes no file, and the reason would name the output
                raise InputError(src, NOTHING_HEARD)
            for _stream, voice in voices.values():
                voice.close()
