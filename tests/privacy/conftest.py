"""Fixtures for privacy tests: the shared reference data folder (optional)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]


def shared_data_dir() -> Path | None:
    """``$CCTRACE_SHARED_DATA`` or ``<repo>/../shared/data``; None when absent."""
    env = os.environ.get("CCTRACE_SHARED_DATA")
    path = Path(env) if env else REPO_ROOT.parent / "shared" / "data"
    return path if path.is_dir() else None


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The shared data folder; skips the test (with the reason) where it is absent."""
    path = shared_data_dir()
    if path is None:
        pytest.skip(
            "shared reference data not found (set CCTRACE_SHARED_DATA or provide "
            f"{REPO_ROOT.parent / 'shared' / 'data'})"
        )
    return path
