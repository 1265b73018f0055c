"""The ONNX conversions reproduce the original frameworks' outputs.

Reference outputs were computed once with tf-keras 2.21 (``load_model`` of the .h5)
and torch 2.13 (the state dict loaded strictly into torchvision-layout MobileNetV2) on
the same seeded inputs; neither framework is installed here.
"""

from __future__ import annotations

import numpy as np
import onnxruntime as ort
import pytest

from cctrace.errors import ModelError
from cctrace.vision.registry import resolve
from cctrace.vision.torch_onnx import load_state_dict

KERAS_REFERENCE = np.array([[0.13194376, 0.86805624], [0.11851694, 0.8814831]], np.float32)
TORCH_REFERENCE = np.array(
    [
        [-0.07039009, -2.6886911],
        [-0.23368105, -1.5683644],
        [-1.424063, -0.27540305],
        [-2.0211558, -0.14214234],
    ],
    np.float32,
)


def _run(name: str, x: np.ndarray) -> np.ndarray:
    session = ort.InferenceSession(str(resolve(name)), providers=["CPUExecutionProvider"])
    return np.asarray(session.run(None, {session.get_inputs()[0].name: x})[0])


def test_keras_conversion_matches_tf_keras() -> None:
    x = np.random.RandomState(0).uniform(-1, 1, (2, 224, 224, 3)).astype(np.float32)
    assert np.allclose(_run("mask-keras-onnx", x), KERAS_REFERENCE, atol=1e-4)


def test_torch_conversion_matches_torch() -> None:
    x = np.random.RandomState(0).uniform(-1, 1, (4, 3, 128, 128)).astype(np.float32)
    assert np.allclose(_run("mask-torch-onnx", x), TORCH_REFERENCE, atol=1e-4)


def test_state_dict_reader_reads_all_tensors() -> None:
    sd = load_state_dict(resolve("mask-torch-pth"))
    assert len(sd) == 316
    assert sd["bottom.0.0.weight"].shape == (32, 3, 3, 3)
    assert sd["top.0.weight"].shape == (256, 20480) and sd["top.0.weight"].dtype == np.float32
    assert sd["bottom.0.1.num_batches_tracked"].dtype == np.int64


def test_state_dict_reader_refuses_code(tmp_path: pytest.TempPathFactory) -> None:
    import io
    import pickle
    import zipfile
    from pathlib import Path

    class Evil:
        def __reduce__(self) -> tuple[object, tuple[str]]:
            return (print, ("pwned",))

    buffer = io.BytesIO()
    pickle.dump({"x": Evil()}, buffer)
    path = Path(str(tmp_path)) / "evil.pth"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("archive/data.pkl", buffer.getvalue())
    with pytest.raises(ModelError, match="refusing"):
        load_state_dict(path)
