"""Shared test fixtures: where the reference data lives, and skipping when it is absent."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]


def shared_data_dir() -> Path:
    """``../shared/data`` beside the repo, or ``$CCTRACE_SHARED_DATA``."""
    env = os.environ.get("CCTRACE_SHARED_DATA")
    return Path(env) if env else (REPO_ROOT.parent / "shared" / "data")


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The reference data folder; skips the test with a reason when it is absent."""
    path = shared_data_dir()
    if not path.is_dir():
        pytest.skip(f"reference data not found at {path} (set CCTRACE_SHARED_DATA)")
    return path


@pytest.fixture(scope="session")
def pets_dir(shared_data: Path) -> Path:
    """PETS2009 S2L1 footage and ground truth."""
    path = shared_data / "pets2009-s2l1"
    if not (path / "view001.mp4").is_file():
        pytest.skip(f"PETS2009 S2L1 not found in {path}")
    return path


@dataclass(frozen=True)
class BuiltDemo:
    """The demo site as ``cctrace demo`` left it, and what the command printed."""

    path: Path
    output: str


@pytest.fixture(scope="session")
def built_demo(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> BuiltDemo:
    """``cctrace demo`` run once per test session on the shared PETS clip (real footage,
    ingest of both cameras, the demo trace), or ``$CCTRACE_DEMO_DIR`` when it names an
    already built demo (faster local runs). Never change it: take a copy with
    ``copy_demo``."""
    from typer.testing import CliRunner

    prebuilt = os.environ.get("CCTRACE_DEMO_DIR")
    if prebuilt and (Path(prebuilt) / "site.yaml").is_file():
        return BuiltDemo(Path(prebuilt), f"demo report: (prebuilt {prebuilt})")

    from cctrace.cli import app

    work = tmp_path_factory.mktemp("demo-build")
    result = CliRunner().invoke(
        app, ["demo", "--workdir", str(work), "--shared-data", str(shared_data)]
    )
    assert result.exit_code == 0, result.output
    return BuiltDemo(work, result.output)


@pytest.fixture(scope="session")
def copy_demo(built_demo: BuiltDemo) -> Callable[[Path], Path]:
    """``copy_demo(target)``: a private copy of the built demo at ``target`` (its site
    file uses relative paths; footage paths stored at ingest still name the built demo's
    files, which stay for the whole session). Demo accounts are not copied."""

    def copy(target: Path) -> Path:
        shutil.copytree(built_demo.path, target, symlinks=True)
        (target / "demo-users.txt").unlink(missing_ok=True)
        return target

    return copy
