"""The compute device: provider selection with the real onnxruntime (CPU here, no CUDA),
``cuda`` refused clearly, the site setting and ``$CCTRACE_DEVICE``."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper

from cctrace.config import load_site
from cctrace.errors import ConfigError
from cctrace.vision import runtime
from cctrace.vision.runtime import (
    CPU_PROVIDER,
    CUDA_PROVIDER,
    DeviceError,
    create_session,
    describe_device,
    parse_device,
    providers_for,
    session_provider,
    use_device,
)
from tests.test_cli import SITE, _cctrace

HAS_CUDA = CUDA_PROVIDER in ort.get_available_providers()
no_cuda = pytest.mark.skipif(HAS_CUDA, reason="this machine has CUDA: the refusal cannot show")


@pytest.fixture(autouse=True)
def _fresh_device(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Each test starts with no device chosen and no $CCTRACE_DEVICE."""
    monkeypatch.delenv(runtime.ENV_VAR, raising=False)
    monkeypatch.setattr(runtime, "_device", None)
    monkeypatch.setattr(runtime, "_device_id", 0)
    yield


def _tiny_model() -> bytes:
    """A real one-node ONNX graph (y = relu(x)) onnxruntime can load anywhere."""
    node = helper.make_node("Relu", ["x"], ["y"])
    graph = helper.make_graph(
        [node],
        "tiny",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model.SerializeToString()


@pytest.mark.parametrize(
    ("device", "available", "expected"),
    [
        ("cpu", [CPU_PROVIDER], [CPU_PROVIDER]),
        ("auto", [CPU_PROVIDER], [CPU_PROVIDER]),
        ("auto", ["AzureExecutionProvider", CPU_PROVIDER], [CPU_PROVIDER]),
        ("cpu", [CUDA_PROVIDER, CPU_PROVIDER], [CPU_PROVIDER]),
        ("auto", [CUDA_PROVIDER, CPU_PROVIDER], [(CUDA_PROVIDER, {"device_id": 0}), CPU_PROVIDER]),
        ("cuda", [CUDA_PROVIDER, CPU_PROVIDER], [(CUDA_PROVIDER, {"device_id": 0}), CPU_PROVIDER]),
    ],
)
def test_provider_lists(
    device: runtime.Device, available: list[str], expected: list[object]
) -> None:
    assert providers_for(device, available) == expected


def test_cuda_without_the_cuda_provider_is_refused_by_the_selection() -> None:
    with pytest.raises(DeviceError, match="CUDAExecutionProvider"):
        providers_for("cuda", [CPU_PROVIDER])


def test_device_id_goes_to_the_cuda_provider() -> None:
    got = providers_for("cuda", [CUDA_PROVIDER, CPU_PROVIDER], device_id=3)
    assert got[0] == (CUDA_PROVIDER, {"device_id": 3})


@pytest.mark.parametrize("bad", ["gpu", "", "CUDA:0", "tpu"])
def test_bad_device_names_are_refused(bad: str) -> None:
    with pytest.raises(DeviceError, match="expected one of: auto, cpu, cuda"):
        parse_device(bad)


def test_names_are_case_and_space_tolerant() -> None:
    assert parse_device(" CUDA ") == "cuda"


def test_auto_gives_a_real_session_on_the_provider_present() -> None:
    session = create_session(_tiny_model(), ort.SessionOptions(), "tiny")
    expected = CUDA_PROVIDER if HAS_CUDA else CPU_PROVIDER
    assert session_provider(session) == expected
    out = session.run(None, {"x": np.array([[-1, 2, -3, 4]], np.float32)})[0]
    assert out.tolist() == [[0, 2, 0, 4]]


def test_cpu_gives_the_cpu_provider_even_when_cuda_is_present() -> None:
    session = create_session(_tiny_model(), ort.SessionOptions(), "tiny", device="cpu")
    assert session.get_providers() == [CPU_PROVIDER]


@no_cuda
def test_cuda_here_is_a_device_error_not_a_traceback(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(DeviceError, match="onnxruntime-gpu"):
        use_device("cuda")
    monkeypatch.setenv(runtime.ENV_VAR, "cuda")
    with pytest.raises(DeviceError, match="CUDAExecutionProvider"):
        create_session(_tiny_model(), ort.SessionOptions(), "tiny")


def test_the_environment_overrides_the_site_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(runtime.ENV_VAR, "cpu")
    use_device("auto")
    assert runtime.current_device() == "cpu"
    assert describe_device("auto").startswith("cpu (from $CCTRACE_DEVICE) -> CPUExecutionProvider")
    monkeypatch.setenv(runtime.ENV_VAR, "gpu")
    with pytest.raises(DeviceError, match=r"\$CCTRACE_DEVICE"):
        runtime.effective_device("auto")


def test_a_person_detector_logs_the_provider_it_got(caplog: pytest.LogCaptureFixture) -> None:
    from cctrace.vision import build_person_detector

    use_device("cpu")
    detector = build_person_detector("yolov3-tiny-int8", threads=1)
    with caplog.at_level("DEBUG", logger="cctrace.vision.runtime"):
        detector.detect(np.zeros((96, 128, 3), np.uint8))
    assert any("runs on CPUExecutionProvider" in r.getMessage() for r in caplog.records)


def test_the_site_file_validates_the_device(tmp_path: Path) -> None:
    (tmp_path / "clip.mp4").write_bytes(b"x")
    (tmp_path / "ok.yaml").write_text(SITE + "runtime:\n  device: cpu\n  device_id: 1\n")
    site = load_site(tmp_path / "ok.yaml", check_files=False)
    assert (site.runtime.device, site.runtime.device_id) == ("cpu", 1)
    (tmp_path / "bad.yaml").write_text(SITE + "runtime:\n  device: gpu\n")
    with pytest.raises(ConfigError, match=r"runtime\.device"):
        load_site(tmp_path / "bad.yaml", check_files=False)


@no_cuda
def test_validate_with_cuda_here_is_one_clear_line(tmp_path: Path) -> None:
    (tmp_path / "clip.mp4").write_bytes(b"not checked by validate")
    (tmp_path / "gpu.yaml").write_text(SITE + "runtime:\n  device: cuda\n")
    done = _cctrace("site", "validate", "gpu.yaml", cwd=tmp_path)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    assert "CUDAExecutionProvider" in done.stderr and "onnxruntime-gpu" in done.stderr
    ok = _cctrace("site", "validate", "gpu.yaml", cwd=tmp_path, env={"CCTRACE_DEVICE": "cpu"})
    assert ok.returncode == 0, ok.stderr
    assert "models run on: cpu (from $CCTRACE_DEVICE) -> CPUExecutionProvider" in ok.stdout
