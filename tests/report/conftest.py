"""A realistic trace, built by hand, with real JPEG snapshots on disk.

Snapshots are crops of real face photos from the shared data where present
(``$CCTRACE_SHARED_DATA`` or ``<repo>/../shared/data``), else drawn figures, so
the report tests never skip. ``build_trace`` is also used by
``render_preview.py`` to make a screenshot of the HTML report.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import cv2
import numpy as np
import pytest

from cctrace.tracing.result import (
    CameraInfo,
    ContactSummary,
    EncounterResult,
    PathPoint,
    SightingResult,
    TraceQuery,
    TraceResult,
)
from cctrace.types import MaskStatus, SightingStatus

REPO_ROOT = Path(__file__).resolve().parents[2]
T0 = datetime(2024, 5, 1, 9, 58, 12, tzinfo=UTC)
FACE_PHOTOS = ("img1.jpg", "img2.jpg", "img4.jpg", "img7.jpg", "img11.jpg", "img17.jpg")


def shared_data_dir() -> Path | None:
    """The shared reference data, or None when absent."""
    env = os.environ.get("CCTRACE_SHARED_DATA")
    path = Path(env) if env else REPO_ROOT.parent / "shared" / "data"
    return path if path.is_dir() else None


def _drawn_person(seed: int) -> np.ndarray:
    """A 240x180 'CCTV still' of a figure, for when no photos are available."""
    rng = np.random.default_rng(seed)
    img = np.full((240, 180, 3), 200, np.uint8)
    img[:] = (rng.integers(150, 220), rng.integers(150, 220), rng.integers(150, 220))
    colour = tuple(int(v) for v in rng.integers(30, 200, 3))
    cv2.ellipse(img, (90, 60), (26, 32), 0, 0, 360, (140, 170, 200), -1)
    cv2.rectangle(img, (55, 95), (125, 220), colour, -1)
    noise = rng.integers(0, 12, img.shape, dtype=np.uint8)
    return cv2.add(img, noise)


def write_snapshots(directory: Path, count: int = 6) -> list[Path]:
    """``count`` JPEG snapshots (portrait crops, real photos where available)."""
    directory.mkdir(parents=True, exist_ok=True)
    data = shared_data_dir()
    paths: list[Path] = []
    for i in range(count):
        img = None
        if data is not None:
            src = data / "faces" / "deepface" / FACE_PHOTOS[i % len(FACE_PHOTOS)]
            img = cv2.imread(str(src)) if src.is_file() else None
        if img is None:
            img = _drawn_person(i)
        h, w = img.shape[:2]
        crop_w = min(w, int(h * 0.75))
        x0 = (w - crop_w) // 2
        crop = cv2.resize(img[:, x0 : x0 + crop_w], (360, 480), interpolation=cv2.INTER_AREA)
        path = directory / f"snap_{i}.jpg"
        cv2.imwrite(str(path), crop, [cv2.IMWRITE_JPEG_QUALITY, 88])
        paths.append(path)
    return paths


def _t(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def _walk(
    start_s: float, end_s: float, a: tuple[float, float], b: tuple[float, float], n: int = 12
) -> tuple[PathPoint, ...]:
    """A path from ``a`` to ``b`` with a gentle curve."""
    pts = []
    for k in range(n):
        f = k / (n - 1)
        x = a[0] + (b[0] - a[0]) * f
        y = a[1] + (b[1] - a[1]) * f + 1.5 * np.sin(f * np.pi)
        pts.append(PathPoint(_t(start_s + (end_s - start_s) * f), float(x), float(y)))
    return tuple(pts)


CAMERAS = (
    CameraInfo("cam-entrance", "Main entrance", 0.0, 0.0, 51.50412, -0.08601),
    CameraInfo("cam-atrium", "Atrium", 34.0, 14.0, 51.50425, -0.08552),
    CameraInfo("cam-food", "Food court", 62.0, -6.0, 51.50407, -0.08512),
)


def build_trace(snapshots: list[Path], *, missing_snapshot: bool = False) -> TraceResult:
    """A trace over three cameras: 5 sightings (one to review), 3 contacts."""
    snap = [str(p) for p in snapshots]
    if missing_snapshot:
        snap[1] = str(Path(snap[1]).with_name("does_not_exist.jpg"))
    query = TraceQuery(
        case_id="C-2024-0193",
        photos=("case_photo_front.jpg", "case_photo_side.jpg"),
        start_tracklet_id=None,
        window_from=datetime(2024, 4, 29, 0, 0, tzinfo=UTC),
        window_to=datetime(2024, 5, 2, 0, 0, tzinfo=UTC),
        distance_m=2.0,
        minutes=15.0,
        accept_threshold=0.55,
        review_threshold=0.40,
    )
    sightings = (
        SightingResult(101, "cam-entrance", _t(0), _t(35), 0.71, SightingStatus.ACCEPTED,
                       MaskStatus.NOT_WORN, snap[0], _walk(0, 35, (-4, -6), (6, 3))),
        SightingResult(205, "cam-atrium", _t(173), _t(388), 0.64, SightingStatus.ACCEPTED,
                       MaskStatus.NOT_WORN, snap[1], _walk(173, 388, (26, 9), (40, 16))),
        SightingResult(310, "cam-food", _t(678), _t(1978), 0.58, SightingStatus.ACCEPTED,
                       MaskStatus.UNKNOWN, snap[2], _walk(678, 1978, (55, -2), (66, -10), 30)),
        SightingResult(233, "cam-atrium", _t(2088), _t(2138), 0.43, SightingStatus.NEEDS_REVIEW,
                       MaskStatus.WORN, None, _walk(2088, 2138, (36, 18), (30, 12))),
        SightingResult(118, "cam-entrance", _t(2288), _t(2323), 0.69, SightingStatus.ACCEPTED,
                       MaskStatus.WORN, snap[0], _walk(2288, 2323, (5, 2), (-5, -7))),
    )  # fmt: skip
    enc_food_1 = EncounterResult(
        contact_tracklet_id=312, case_tracklet_id=310, camera_id="cam-food",
        start=_t(700), end=_t(1900), seconds_within=1040.0, min_distance_m=0.62,
        min_distance_at=_t(1211), case_mask=MaskStatus.UNKNOWN, contact_mask=MaskStatus.NOT_WORN,
        snapshot_path=snap[3], seconds_by_band={1.0: 610.0, 2.0: 1040.0, 3.0: 1150.0},
    )  # fmt: skip
    enc_atrium_2 = EncounterResult(
        contact_tracklet_id=207, case_tracklet_id=205, camera_id="cam-atrium",
        start=_t(180), end=_t(380), seconds_within=190.0, min_distance_m=0.9,
        min_distance_at=_t(300), case_mask=MaskStatus.NOT_WORN, contact_mask=MaskStatus.NOT_WORN,
        snapshot_path=snap[4], seconds_by_band={1.0: 40.0, 2.0: 190.0, 3.0: 200.0},
    )  # fmt: skip
    enc_food_2 = EncounterResult(
        contact_tracklet_id=318, case_tracklet_id=310, camera_id="cam-food",
        start=_t(1100), end=_t(1960), seconds_within=750.0, min_distance_m=1.1,
        min_distance_at=_t(1500), case_mask=MaskStatus.UNKNOWN, contact_mask=MaskStatus.NOT_WORN,
        snapshot_path=snap[4], seconds_by_band={1.0: 0.0, 2.0: 750.0, 3.0: 820.0},
    )  # fmt: skip
    enc_entrance_3 = EncounterResult(
        contact_tracklet_id=120, case_tracklet_id=118, camera_id="cam-entrance",
        start=_t(2290), end=_t(2320), seconds_within=24.0, min_distance_m=1.4,
        min_distance_at=_t(2301), case_mask=MaskStatus.WORN, contact_mask=MaskStatus.WORN,
        snapshot_path=None, seconds_by_band={1.0: 0.0, 2.0: 24.0, 3.0: 30.0},
    )  # fmt: skip
    contacts = (
        ContactSummary((312,), 1040.0, 0.62, _t(700), _t(1900), MaskStatus.NOT_WORN, True,
                       (enc_food_1,)),
        ContactSummary((207, 318), 940.0, 0.9, _t(180), _t(1960), MaskStatus.NOT_WORN, True,
                       (enc_food_2, enc_atrium_2)),
        ContactSummary((120,), 24.0, 1.4, _t(2290), _t(2320), MaskStatus.WORN, False,
                       (enc_entrance_3,)),
    )  # fmt: skip
    return TraceResult(
        query=query,
        created_at=datetime(2024, 5, 3, 14, 2, 40, tzinfo=UTC),
        actor="j.okafor (investigator)",
        cameras=CAMERAS,
        sightings=tuple(sorted(sightings, key=lambda s: -s.score)),
        contacts=contacts,
        notes=("Food court camera distances come from person height (no calibration): ±30 %.",),
    )


def empty_trace() -> TraceResult:
    """A trace that found nothing."""
    full = build_trace([Path("unused.jpg")] * 6)
    return TraceResult(
        query=full.query,
        created_at=full.created_at,
        actor=full.actor,
        cameras=full.cameras,
        sightings=(),
        contacts=(),
    )


@pytest.fixture
def snapshots(tmp_path: Path) -> list[Path]:
    """Real JPEG snapshots in ``tmp_path/snapshots``."""
    return write_snapshots(tmp_path / "snapshots")


@pytest.fixture
def trace(snapshots: list[Path]) -> TraceResult:
    """The realistic trace (see :func:`build_trace`)."""
    return build_trace(snapshots)


@pytest.fixture
def empty() -> TraceResult:
    """A trace with no sightings and no contacts."""
    return empty_trace()


@pytest.fixture
def trace_missing_snapshot(snapshots: list[Path]) -> TraceResult:
    """The realistic trace with one sighting's snapshot file missing."""
    return build_trace(snapshots, missing_snapshot=True)
