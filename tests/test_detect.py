"""The detector sets: the mirrored pass, the plans with and without YuNet, and the audit on every platform.

YuNet's ``yuface`` has wheels only for CPython 3.11 on Linux x86-64 and
Windows.  Where it is missing every plan runs without it; a subprocess with a
``yuface`` that cannot be imported shows what such a machine does, whatever
this one has installed.
"""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import onnx
import pytest

from conftest import FACE, changed_share, needs_cuda, pixels, run_cli, save, without_cuda
from scripted import Scripted
from unseen.boxes import iou_matrix
from unseen.datatypes import Detections
from unseen.detect import (
    AUDIT,
    BACKENDS,
    PHOTO,
    FaceFinder,
    Pass,
    Plan,
    centerface,
    installed,
    make_backend,
    quantise,
)
from unseen.detect.centerface import CenterFace, CenterFaceInt8, blob, graph
from unseen.detect.quantise import committed_ranges, convertible, pixels_in, quantised
from unseen.detect.runtime import CUDA_STEP, session
from unseen.detect.weights import model_path
from unseen.errors import ModelError, UsageError
from unseen.jobs import Job
from unseen.pipeline import Protector
from unseen.profiles import resolve
from unseen.settings import Settings
from unseen.verify.audit import Audit


def overlaps_face(boxes: np.ndarray) -> bool:
    x0, y0, x1, y1 = FACE
    return any(b[0] < x1 and b[2] > x0 and b[1] < y1 and b[3] > y0 for b in boxes)


def test_a_mirrored_pass_maps_its_boxes_back(monkeypatch: pytest.MonkeyPatch) -> None:
    # The scripted detector reports the same box in whatever it is shown: here, the mirror image.
    monkeypatch.setattr(Scripted, "SCRIPT", [(10, 20, 40, 60, 0.9)])
    rgb = np.zeros((80, 100, 3), np.uint8)
    found = FaceFinder(Settings(), Plan((Pass("scripted", 1.0, 0.5, mirror=True),))).find(rgb)
    assert found.xyxy.tolist() == [[60, 20, 90, 60]]
    assert found.sources == ("scripted@1x-mirror",)


@pytest.mark.parametrize("shape", [(48, 64, 3), (48, 64, 4), (7, 1, 3), (1, 9, 3)])
def test_a_mirrored_pass_sees_the_mirror_image_pixel_for_pixel(
    monkeypatch: pytest.MonkeyPatch, shape: tuple[int, int, int]
) -> None:
    # OpenCV flips the picture; it must be numpy's reversed view to the byte, also for a picture with
    # transparency (whose colour planes are not contiguous) and one a pixel wide or high.
    shown: list[np.ndarray] = []
    monkeypatch.setattr(
        Scripted, "detect", lambda self, rgb, threshold: shown.append(rgb) or Detections.empty()
    )
    rgb = np.random.default_rng(1).integers(0, 256, shape, np.uint8)
    if shape[2] == 4:
        rgb[..., 3] = 255  # opaque: the colours alone are shown
    FaceFinder(Settings(), Plan((Pass("scripted", 1.0, 0.5, mirror=True),))).find(rgb)
    assert len(shown) == 1 and shown[0].flags.c_contiguous
    assert np.array_equal(shown[0], rgb[:, ::-1, :3])


@pytest.mark.parametrize("fast", [False, True])
def test_without_yuface_every_plan_is_centerface_alone(monkeypatch: pytest.MonkeyPatch, fast: bool) -> None:
    monkeypatch.setattr("unseen.profiles.installed", lambda name: name != "yunet")
    profile = resolve(Settings(fast=fast))
    assert profile.photo.backends() == {"centerface"}
    assert profile.video.backends() == profile.audit.backends() == {"centerface-int8"}
    assert any(p.mirror for p in profile.photo.passes), "the mirror image stands in for the second opinion"
    assert [p.mirror for p in profile.audit.passes] == [False, True]
    assert bool(profile.photo.zoom) != fast


@pytest.mark.skipif(not installed("yunet"), reason="yuface has no wheel for this platform")
def test_where_yuface_installs_yunet_is_a_second_opinion() -> None:
    profile = resolve(Settings())
    assert profile.photo == PHOTO and profile.audit == AUDIT
    assert "yunet" in profile.photo.backends() and "yunet" in profile.audit.backends()


FIRST_CALLS_AT_ONCE = """
import threading
import numpy as np
import unseen
from unseen.detect.yunet import YuNet
from unseen.settings import Settings
yunet, start = YuNet(Settings()), threading.Barrier(2)
def call():
    start.wait()
    yunet.detect(np.zeros((200, 200, 3), np.uint8), 0.5)
threads = [threading.Thread(target=call) for _ in range(2)]
for t in threads:
    t.start()
for t in threads:
    t.join()
"""


@pytest.mark.skipif(not installed("yunet"), reason="yuface has no wheel for this platform")
def test_yunet_from_two_threads_at_once_in_a_fresh_process_does_not_hang() -> None:
    """The audit runs YuNet in two threads: yuface's first calls from two threads at once deadlocked
    in it (28 of 30 fresh processes) until its calls were taken one at a time."""
    for _ in range(5):
        done = subprocess.run([sys.executable, "-c", FIRST_CALLS_AT_ONCE], capture_output=True, timeout=60)
        assert done.returncode == 0, done.stderr


def crowd(astronaut: np.ndarray, side: int) -> np.ndarray:
    """The astronaut's picture tiled and scaled to ``side`` px wide: many faces, one call."""
    from PIL import Image

    tiles = np.tile(astronaut, (3, 4, 1))
    return np.asarray(Image.fromarray(tiles).resize((side, side * tiles.shape[0] // tiles.shape[1])))


@pytest.mark.skipif(
    not sys.platform.startswith("linux") or not installed("yunet"), reason="yuface's Linux library"
)
def test_yunet_called_through_its_library_gives_the_wrappers_rows(astronaut: np.ndarray) -> None:
    from unseen.detect.yunet import _entry, load_yuface

    yuface = load_yuface()
    direct = _entry(yuface)
    assert direct is not None
    for side in (300, 1000, 1600):
        bgr = np.ascontiguousarray(crowd(astronaut, side)[:, :, ::-1])
        ours, theirs = direct(bgr), np.asarray(yuface.yuface.detect(bgr)).reshape(-1, 16)
        assert len(ours) and np.array_equal(ours[:, :15], theirs[:, :15])  # the 16th is left unset
    with pytest.raises(ValueError, match="H, W, 3"):  # the library would read past a narrower picture
        direct(np.zeros((64, 64, 1), np.uint8))


@pytest.mark.skipif(not installed("yunet"), reason="yuface has no wheel for this platform")
@pytest.mark.parametrize("shape", [(48, 64, 3), (48, 64, 4), (1, 9, 3), (0, 9, 3)])
def test_yunet_is_shown_the_picture_blue_first_byte_for_byte(
    monkeypatch: pytest.MonkeyPatch, shape: tuple[int, int, int]
) -> None:
    # OpenCV swaps the planes; what the network reads must be numpy's reversed planes exactly, also
    # for the colours of a picture with transparency (not contiguous) and for an empty picture.
    from unseen.detect.yunet import YuNet

    yunet, shown = YuNet(Settings()), []
    monkeypatch.setattr(yunet, "_detect", lambda bgr: shown.append(bgr) or np.zeros((0, 16), np.int16))
    rgb = np.random.default_rng(2).integers(0, 256, shape, np.uint8)[..., :3]
    yunet.detect(rgb, 0.5)
    assert shown[0].flags.c_contiguous and np.array_equal(shown[0], rgb[:, :, ::-1])


@pytest.mark.skipif(
    not sys.platform.startswith("linux") or not installed("yunet"), reason="yuface's Linux library"
)
def test_yunet_lets_other_threads_run_while_it_works(astronaut: np.ndarray) -> None:
    """The audit decodes the written file and runs CenterFace beside YuNet: a YuNet call that
    held the interpreter stopped every other Python thread for its whole length."""
    from unseen.detect.yunet import YuNet

    yunet, picture = YuNet(Settings()), crowd(astronaut, 1600)
    yunet.detect(picture, 0.5)  # the library's first call sets itself up
    ticks: list[float] = []
    done = threading.Event()

    def tick() -> None:
        while not done.is_set():
            ticks.append(time.perf_counter())

    ticker = threading.Thread(target=tick)
    ticker.start()
    try:
        time.sleep(0.05)
        start = time.perf_counter()
        yunet.detect(picture, 0.5)
        end = time.perf_counter()
    finally:
        done.set()
        ticker.join()
    inside = [start, *(t for t in ticks if start <= t <= end), end]
    longest = max(b - a for a, b in itertools.pairwise(inside))
    assert longest < (end - start) / 2, (
        f"no other thread ran for {longest:.3f} s of a {end - start:.3f} s call"
    )


def test_each_audit_pass_sees_the_bare_face_and_not_its_cover(tmp_path: Path, astronaut: np.ndarray) -> None:
    """The audit's thresholds: every pass (of those this platform runs) on its own."""
    settings = Settings(seed=1)
    protector = Protector(settings)
    source = save(astronaut, tmp_path / "in.png")
    target = tmp_path / "out.png"
    assert protector.protect(Job(source, target)).status == "protected"
    covered = pixels(target).astype(np.uint8)
    for p in protector.profile.audit.passes:
        audit = Audit(protector.finder, settings, Plan((p,)))
        assert overlaps_face(audit.visible(astronaut).xyxy), f"{p.label} misses the bare face"
        assert not len(audit.visible(covered)), f"{p.label} fires on the cover"


def test_protect_and_check_agree_without_yuface(tmp_path: Path, astronaut: np.ndarray) -> None:
    shadow = tmp_path / "shadow" / "yuface"
    shadow.mkdir(parents=True)
    (shadow / "__init__.py").write_text("raise ImportError('no yuface on this platform')\n")
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(shadow.parent), os.environ.get("PYTHONPATH", "")]),
    }
    source = save(astronaut, tmp_path / "in" / "astronaut.png")
    run = run_cli("analyse", source, "-o", tmp_path / "plans", env=env)
    assert run.code == 0, run.stderr
    (plan,) = (json.loads(p.read_text()) for p in (tmp_path / "plans").glob("*.json"))
    sources = {r["source"] for r in plan["regions"]}
    assert sources and all(s.startswith("centerface@") for s in sources), sources
    target = tmp_path / "out" / "safe.png"
    run = run_cli("protect", source, "-o", target, env=env)
    assert run.code == 0, run.stderr
    assert changed_share(pixels(source), pixels(target), FACE, 0) >= 0.9
    run = run_cli("check", target, env=env)
    assert run.code == 0, run.stdout + run.stderr


def test_int8_centerface_finds_what_the_float_graph_finds(astronaut: np.ndarray) -> None:
    """The int8 graph (video plans, audit): the astronaut's face at the same place, with a like score."""
    found = {
        name: make_backend(name, Settings()).detect(astronaut, 0.5)
        for name in ("centerface", "centerface-int8")
    }
    (plain,), (int8,) = (found[n].xyxy for n in ("centerface", "centerface-int8"))
    assert overlaps_face(found["centerface-int8"].xyxy)
    assert iou_matrix(plain[None], int8[None])[0, 0] > 0.85
    assert abs(found["centerface"].scores[0] - found["centerface-int8"].scores[0]) < 0.1


def test_the_int8_graph_fed_its_pixels_gives_the_same_outputs(astronaut: np.ndarray) -> None:
    """The int8 graph takes the picture's bytes and a blank plane (faster); every output stays the same, bit for bit."""
    plain = quantised(convertible(graph(model_path("centerface"))), committed_ranges())
    fed = pixels_in(onnx.ModelProto.FromString(plain.SerializeToString()))
    settings = Settings(threads=1)
    outputs = []
    for model, feed in ((plain, blob), (fed, centerface.pixels)):
        net = session(model.SerializeToString(), settings)
        (entry,) = net.get_inputs()
        outputs.append(net.run(None, {entry.name: feed(astronaut[:500, :300])}))  # sides not whole blocks
    assert len(outputs[0]) == 4
    for floats, bytes_ in zip(*outputs, strict=True):
        assert np.array_equal(floats, bytes_)
    with pytest.raises(ValueError, match="8-bit RGB"):  # never wrapped or truncated into bytes
        centerface.pixels(astronaut.astype(np.uint16) * 2)
    # The backend feeds each graph what it takes: bytes to the int8 graph, float planes to the float one.
    assert make_backend("centerface-int8", Settings()).takes_pixels
    assert not make_backend("centerface", Settings()).takes_pixels


def test_an_int8_graph_whose_input_is_not_the_pixels_is_refused() -> None:
    model = quantised(
        convertible(graph(model_path("centerface"))), {**committed_ranges(), "input.1": (0.0, 1.0)}
    )
    with pytest.raises(ModelError, match="not taken as the pixels"):
        pixels_in(model)


def test_int8_centerface_on_cuda_is_the_float_graph() -> None:
    """CUDA runs few integer convolutions and would hand the rest to the CPU: there the name means float."""
    cuda, cpu = Settings(device="cuda"), Settings()
    assert CenterFaceInt8._model(cuda) == CenterFace._model(cpu)
    assert CenterFaceInt8._model(cpu) != CenterFace._model(cpu)


@without_cuda
def test_a_session_never_runs_on_another_provider_than_the_one_asked_for() -> None:
    """onnxruntime only warns when the CUDA provider is missing or its libraries fail to load,
    and runs the session on the CPU; `runtime.session` refuses that session."""
    with pytest.raises(UsageError, match="could not start its CUDAExecutionProvider"):
        session(model_path("ppocr-det"), Settings(device="cuda"))
    assert session(model_path("ppocr-det"), Settings()).get_providers() == ["CPUExecutionProvider"]


def test_the_coarser_padding_cuda_gets_finds_the_same_faces(
    astronaut: np.ndarray, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On CUDA the input is padded to multiples of `CUDA_STEP` (fewer sizes for cuDNN to set up):
    the extra black border changes nothing that is found."""
    fine = CenterFace(Settings())
    # The CUDA instance's own padding, on a CPU session (this test runs where CUDA is not).
    monkeypatch.setattr(centerface, "session", lambda model, settings: session(model, Settings()))
    coarse = CenterFace(Settings(device="cuda"))
    assert (fine.step, coarse.step) == (32, CUDA_STEP)
    crop = astronaut[:300, 40:370]  # neither side a multiple of 32 or 256
    assert blob(crop, CUDA_STEP).shape == (1, 3, 512, 512)
    a, b = fine.detect(crop, 0.3), coarse.detect(crop, 0.3)
    assert len(a.xyxy) == len(b.xyxy) >= 1
    assert np.abs(a.xyxy - b.xyxy).max() < 1.0 and np.abs(a.scores - b.scores).max() < 0.01


@needs_cuda
def test_on_cuda_the_graphs_run_there_and_find_what_the_cpu_finds(astronaut: np.ndarray) -> None:
    """Only where onnxruntime-gpu and an NVIDIA GPU are present (never in CI; run on a GPU machine)."""
    gpu, cpu = CenterFace(Settings(device="cuda")), CenterFace(Settings())
    assert gpu.session.get_providers()[0] == "CUDAExecutionProvider"
    found, expected = gpu.detect(astronaut, 0.3), cpu.detect(astronaut, 0.3)
    assert len(found.xyxy) == len(expected.xyxy) >= 1
    assert np.diag(iou_matrix(found.xyxy, expected.xyxy)).min() > 0.95
    assert np.abs(found.scores - expected.scores).max() < 0.02


def test_int8_weights_are_the_ones_onnxruntime_makes_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    """All channels at once (`quantise._per_channel`) give the graph onnxruntime's channel loop gives, byte for byte.

    The spy also shows that onnxruntime called ours for every weight and that
    none went back to its own loop: a renamed method would otherwise pass
    unseen, equal and slow.
    """
    ours, fallbacks = [], []
    per_channel = quantise._per_channel

    def spy(
        quantiser: object, stock: Callable[..., tuple[str, str, str]]
    ) -> Callable[..., tuple[str, str, str]]:
        def counted_stock(*args: object) -> tuple[str, str, str]:
            fallbacks.append(args[0])
            return stock(*args)

        fast = per_channel(quantiser, counted_stock)

        def counted(*args: object) -> tuple[str, str, str]:
            ours.append(args[0])
            return fast(*args)

        return counted

    monkeypatch.setattr(quantise, "_per_channel", spy)
    fast = quantised(convertible(graph(model_path("centerface"))), committed_ranges()).SerializeToString()
    assert len(ours) > 50 and not fallbacks  # CenterFace has 60 convolutions
    monkeypatch.setattr(quantise, "_per_channel", lambda quantiser, stock: stock)
    alone = quantised(convertible(graph(model_path("centerface"))), committed_ranges()).SerializeToString()
    assert fast == alone


@pytest.mark.parametrize(
    "weights",
    [np.ones((2, 3), np.float64), np.array([[1.0, np.nan]], np.float32), np.zeros((2, 0), np.float32)],
    ids=["float64", "nan", "empty"],
)
def test_int8_weights_out_of_the_usual_go_to_onnxruntimes_own_loop(weights: np.ndarray) -> None:
    """Weights the all-at-once arithmetic was not checked on are left to onnxruntime (which may refuse them)."""
    from onnx import TensorProto, numpy_helper

    class Model:
        def initializer(self) -> list[object]:
            return [numpy_helper.from_array(weights, "w")]

    quantiser = SimpleNamespace(
        model=Model(), reduce_range=False, is_weight_symmetric=lambda kind: True, tensor_quant_overrides={}
    )
    asked = []
    quantise._per_channel(quantiser, lambda *args: asked.append(args) or ("q", "z", "s"))(
        "w", TensorProto.INT8, 0
    )
    assert asked == [("w", TensorProto.INT8, 0, True, False)]


def test_int8_ranges_that_miss_a_tensor_are_refused() -> None:
    """Ranges that do not fit the graph fail loudly, never quantise part of it blind."""
    ranges = dict(committed_ranges())
    ranges.pop(next(iter(ranges)))
    with pytest.raises(ModelError, match="no range"):
        quantised(convertible(graph(model_path("centerface"))), ranges)


_loads: list[int] = []


@BACKENDS.register("test-slow-to-load")
class _SlowToLoad:
    def __init__(self, settings: Settings) -> None:
        _loads.append(settings.threads)
        time.sleep(0.3)

    def detect(self, rgb: np.ndarray, threshold: float) -> Detections:
        return Detections.empty()


def test_two_lanes_asking_for_the_same_finder_load_its_networks_once() -> None:
    """`unseen check`'s lanes each ask for the audit on sessions of their size at the same time."""
    plan = Plan(passes=(Pass("test-slow-to-load", 1.0, 0.5),))
    finder = FaceFinder(Settings(threads=4), plan)
    _loads.clear()
    got: list[FaceFinder] = []
    lanes = [
        threading.Thread(target=lambda: got.append(finder.with_plan(plan, Settings(threads=2))))
        for _ in range(2)
    ]
    for lane in lanes:
        lane.start()
    for lane in lanes:
        lane.join()
    assert _loads == [2] and got[0] is got[1]
