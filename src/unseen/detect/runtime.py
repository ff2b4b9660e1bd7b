"""The one way unseen opens an onnxruntime session, shared by every ONNX backend.

Threads come from the settings and the providers are named explicitly (see
`Settings.providers`).  One inter-op thread: the networks are single chains,
so a second pool only competes with the first.  Idle threads sleep instead of
spinning: unseen runs beside other work (a batch's sibling processes, YuNet's
OpenMP threads), and spinning threads take cores that work needs.  No session
opens while onnxruntime's telemetry may be on (`unseen.offline`).

A provider asked for is a provider used, or an error: onnxruntime's Python
layer would otherwise retry a session on the CPU after a CUDA failure
(printing to stdout), and a CUDA provider whose libraries do not load is only
a warning in its log, the session quietly running on the CPU.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort

from ..errors import UsageError
from ..offline import ensure_no_telemetry
from ..settings import Settings, cuda_fix
from .weights import model_path

# onnxruntime's CUDA provider spends 1.4-2.3 s setting cuDNN up for each input size it has
# not seen, then 3.3 ms a 1280x736 frame (an H200, onnxruntime-gpu 1.31; docs/gpu.md), and
# photos and the crops around tracks come in many sizes: on CUDA the networks' inputs are padded
# up to a multiple of 256 each way, so that a batch meets a few sizes only (CenterFace on 12
# photo and crop sizes: 2 set-ups, 4.0 s in all).
CUDA_STEP = 256


def padding_step(settings: Settings, fine: int) -> int:
    """The multiple an input's sides are padded to: the network's own ``fine`` one, `CUDA_STEP` on CUDA."""
    return CUDA_STEP if settings.device == "cuda" else fine


def padded_size(h: int, w: int, step: int) -> tuple[int, int]:
    """``h`` and ``w`` each rounded up to a multiple of ``step``."""
    return -(-h // step) * step, -(-w // step) * step


def session(model: bytes | Path, settings: Settings) -> ort.InferenceSession:
    """A session for ``model`` (a file, or a serialised graph) on ``settings``' providers and threads."""
    ensure_no_telemetry()
    options = ort.SessionOptions()
    options.intra_op_num_threads = settings.threads
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    source = model if isinstance(model, bytes) else str(model)
    asked = settings.providers()
    try:
        # enable_fallback=0 stops the retry on the CPU at creation (onnxruntime 1.23 and later read
        # it); disable_fallback() the one during run().
        opened = ort.InferenceSession(source, options, providers=asked, enable_fallback=0)
    except Exception as exc:
        if settings.device == "cpu":
            raise
        raise UsageError(
            f"--device {settings.device}: onnxruntime could not start {asked[0]}: {exc}"
        ) from exc
    opened.disable_fallback()
    if asked[0] not in opened.get_providers():
        why = (
            "its log above names the library it could not load (onnxruntime-gpu needs the CUDA and "
            "cuDNN versions it was built for)"
            if asked[0] in ort.get_available_providers()
            else f"this onnxruntime is not built with it: {cuda_fix()}"
        )
        raise UsageError(
            f"--device {settings.device}: onnxruntime could not start its {asked[0]} "
            f"(it offers {', '.join(opened.get_providers())} here); {why}"
        )
    return opened


def infer(
    opened: ort.InferenceSession, outputs: list[str] | None, feeds: dict[str, np.ndarray]
) -> list[np.ndarray]:
    """``opened.run(outputs, feeds)``.  onnxruntime's arena reports a buffer it cannot get as a
    plain failure: it is raised here as the `MemoryError` it is, which fails that file alone (a
    48-megapixel photo on a machine short of memory), where any other failure is a bug to show."""
    try:
        return list(opened.run(outputs, feeds))
    except Exception as exc:
        if "Failed to allocate memory" not in str(exc):
            raise
        raise MemoryError(" ".join(str(exc).split())) from None


def probe(settings: Settings) -> None:
    """Open and drop one small session on ``settings``' provider: a provider that cannot start
    fails here, once, as a `UsageError`, and not in the start-up of every worker process."""
    session(model_path("ppocr-det"), settings)
