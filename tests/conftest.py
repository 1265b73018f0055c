"""Shared test fixtures: where the reference data lives, and skipping when it is absent."""

from __future__ import annotations

import os
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
