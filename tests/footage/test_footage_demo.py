"""The demo footage (PETS2009 View_001 from Debian's opencv-doc) and its ground points."""

from __future__ import annotations

import csv
import shutil
import subprocess
import time
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest

from cctrace.errors import FootageError
from cctrace.footage import iter_frames, probe, sha256_file
from cctrace.footage.demo import (
    DEMO_GROUND_POINTS,
    DEMO_SOURCE_FPS,
    DEMO_START_TIME,
    VTEST_MEMBER,
    VTEST_SHA256,
    fetch_demo_video,
    shared_demo_video,
    write_demo_ground_points,
)


def fit_homography(uv: np.ndarray, xy: np.ndarray) -> np.ndarray:
    rows = []
    for (u, v), (x, y) in zip(uv, xy, strict=True):
        rows.append([u, v, 1, 0, 0, 0, -x * u, -x * v, -x])
        rows.append([0, 0, 0, u, v, 1, -y * u, -y * v, -y])
    _, _, vt = np.linalg.svd(np.asarray(rows))
    h = vt[-1].reshape(3, 3)
    return h / h[2, 2]


def project(h: np.ndarray, uv: np.ndarray) -> np.ndarray:
    p = np.c_[uv, np.ones(len(uv))] @ h.T
    return p[:, :2] / p[:, 2:]


def test_ground_points_file(tmp_path: Path) -> None:
    path = write_demo_ground_points(tmp_path / "site" / "view001_ground.csv")
    with path.open() as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == ["u_px", "v_px", "x_m", "y_m"]
    table = np.asarray(rows[1:], dtype=float)
    assert table.shape == (len(DEMO_GROUND_POINTS), 4) and len(table) >= 8
    assert np.array_equal(table, np.asarray(DEMO_GROUND_POINTS))
    # Well spread over the 768x576 image.
    assert np.ptp(table[:, 0]) > 600 and np.ptp(table[:, 1]) > 350


def test_ground_points_agree_with_the_full_calibration_grid(pets_view001: Path) -> None:
    grid_csv = pets_view001.parent / "ground_points.csv"
    if not grid_csv.is_file():
        pytest.skip(f"{grid_csv} not found")
    grid = np.loadtxt(grid_csv, delimiter=",", skiprows=1)
    demo = np.asarray(DEMO_GROUND_POINTS)
    h = fit_homography(demo[:, :2], demo[:, 2:])
    error = np.linalg.norm(project(h, grid[:, :2]) - grid[:, 2:], axis=1)
    assert np.median(error) < 0.06 and error.max() < 0.25  # metres


def test_shared_demo_video(pets_view001: Path, tmp_path: Path) -> None:
    shared_root = pets_view001.parents[1]
    assert shared_demo_video(shared_root) == pets_view001
    assert fetch_demo_video(tmp_path, prefer_shared=True, shared_data=shared_root) == pets_view001
    assert shared_demo_video(tmp_path) is None


def test_cached_clip_is_reused_without_apt(tmp_path: Path) -> None:
    cached = tmp_path / VTEST_MEMBER
    cached.parent.mkdir(parents=True)
    cached.write_bytes(b"already here")
    assert fetch_demo_video(tmp_path) == cached
    # prefer_shared with no shared data falls back to the cached package copy.
    assert fetch_demo_video(tmp_path, prefer_shared=True, shared_data=tmp_path / "x") == cached


def apt_can_see_opencv_doc() -> str | None:
    """None when apt knows the package, else the reason to skip."""
    if shutil.which("apt-get") is None or shutil.which("dpkg-deb") is None:
        return "apt-get / dpkg-deb not available (not Debian/Ubuntu)"
    policy = subprocess.run(
        ["apt-cache", "policy", "opencv-doc"], capture_output=True, text=True, check=False
    )
    if "Candidate:" not in policy.stdout or "Candidate: (none)" in policy.stdout:
        return "apt has no candidate for opencv-doc (run `apt-get update`)"
    return None


@pytest.mark.slow
def test_fetch_demo_video_from_opencv_doc(tmp_path: Path) -> None:
    reason = apt_can_see_opencv_doc()
    if reason:
        pytest.skip(reason)
    try:
        path = fetch_demo_video(tmp_path / "cache")
    except FootageError as exc:  # offline, mirror down, ...
        pytest.skip(f"apt-get download failed: {exc}")
    assert path == tmp_path / "cache" / VTEST_MEMBER
    assert sorted(p.name for p in (tmp_path / "cache").iterdir()) == ["usr"]  # .deb removed
    assert sha256_file(path) == VTEST_SHA256
    info = probe(path)
    assert (info.width, info.height, info.fps, info.n_frames) == (768, 576, 10.0, 795)
    assert info.codec == "msmpeg4"  # FFmpeg's name for MS-MPEG4 v3 (DIV3)
    # Idempotent: the second call finds the cached file.
    started = time.monotonic()
    assert fetch_demo_video(tmp_path / "cache") == path
    assert time.monotonic() - started < 1.0
    frames = list(iter_frames(path, "pets", DEMO_START_TIME, 1.0, source_fps=DEMO_SOURCE_FPS))
    assert [f.frame_index for f in frames[:4]] == [0, 7, 14, 21]
    assert frames[-1].frame_index == 791
    assert frames[1].timestamp == DEMO_START_TIME + timedelta(seconds=1)
