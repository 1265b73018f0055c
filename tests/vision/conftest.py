"""Fixtures for the vision tests: real models, real data from ``shared/data``.

Data lives outside the repo at ``<repo>/../shared/data`` (override with
``CCTRACE_SHARED_DATA``); tests that need it skip with a reason when it is absent.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]


def shared_data_dir() -> Path:
    """The shared reference-data directory (may not exist)."""
    env = os.environ.get("CCTRACE_SHARED_DATA")
    return Path(env) if env else (REPO_ROOT / ".." / "shared" / "data").resolve()


def require_data(*parts: str) -> Path:
    """Path under the shared data dir, or skip the test with a reason."""
    path = shared_data_dir().joinpath(*parts)
    if not path.exists():
        pytest.skip(f"shared data not found: {path} (set CCTRACE_SHARED_DATA)")
    return path


def read_image(path: Path) -> np.ndarray:
    """BGR image from disk, failing loudly when unreadable."""
    image = cv2.imread(str(path))
    assert image is not None, f"cannot read {path}"
    return image


@pytest.fixture(scope="session")
def pets_frames() -> dict[int, np.ndarray]:
    """Ten PETS2009 S2L1 View_001 frames (0-based index -> BGR), decoded with PyAV."""
    import av

    video = require_data("pets2009-s2l1", "view001.mp4")
    wanted = set(range(0, 795, 80))
    frames: dict[int, np.ndarray] = {}
    with av.open(str(video)) as container:
        for index, frame in enumerate(container.decode(video=0)):
            if index in wanted:
                frames[index] = frame.to_ndarray(format="bgr24")
            if index >= max(wanted):
                break
    return frames


@pytest.fixture(scope="session")
def pets_gt() -> dict[int, np.ndarray]:
    """Ground-truth person boxes by 0-based frame index, (N, 4) xyxy."""
    path = require_data("pets2009-s2l1", "gt_mot.txt")
    boxes: dict[int, list[list[float]]] = {}
    for line in path.read_text().splitlines():
        f, _, x, y, w, h = (float(v) for v in line.split(",")[:6])
        boxes.setdefault(int(f) - 1, []).append([x, y, x + w, y + h])
    return {k: np.asarray(v, np.float32) for k, v in boxes.items()}


@pytest.fixture(scope="session")
def data_path() -> Callable[..., Path]:
    """``data_path("faces", "deepface")``: a shared-data path, or skip when absent."""
    return require_data


@pytest.fixture(scope="session")
def load_image() -> Callable[..., np.ndarray]:
    """``load_image("faces", "deepface", "img1.jpg")``: a BGR image, or skip when absent."""

    def _load(*parts: str) -> np.ndarray:
        return read_image(require_data(*parts))

    return _load
