"""Encounters across overlapping cameras (``cctrace.tracing.overlap_encounters``)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from cctrace.store.records import TrackletRecord
from cctrace.tracing.overlap_encounters import cross_view_encounters, resample
from cctrace.tracking.encounters import EncounterSettings, make_path
from cctrace.types import MaskStatus, TrackPoint

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
STEP = 1 / 7
SETTINGS = EncounterSettings(bands_m=(1.0, 2.0, 3.0), step_s=STEP, max_gap_s=1.5, smooth_s=0.6)
SHARING = {("east", "west")}


def _walk(
    tid: int,
    camera: str,
    start_s: float,
    seconds: float,
    y: float,
    phase_s: float = 0.0,
    skip: tuple[float, float] | None = None,
    y_after: tuple[float, float] | None = None,
) -> tuple[TrackletRecord, tuple[TrackPoint, ...]]:
    """A person walking along x at 1 m/s on line ``y``, sampled at 7 fps from
    ``start_s + phase_s``; samples inside ``skip`` (seconds from start) are missing;
    ``y_after`` = (s, y2): from ``s`` seconds on the tracklet follows line ``y2`` (it
    switched to another person)."""
    times = np.arange(0.0, seconds, STEP) + phase_s
    points = tuple(
        TrackPoint(
            frame_index=i,
            timestamp=T0 + timedelta(seconds=start_s + t),
            xyxy=(0.0, 0.0, 10.0, 30.0),
            ground_xy=(start_s + t, y if y_after is None or t < y_after[0] else y_after[1]),
            confidence=0.9,
        )
        for i, t in enumerate(times)
        if skip is None or not skip[0] <= t < skip[1]
    )
    record = TrackletRecord(
        id=tid,
        camera_id=camera,
        footage_id=1,
        track_id=tid,
        start=points[0].timestamp,
        end=points[-1].timestamp,
        n_points=len(points),
        mask_status=MaskStatus.UNKNOWN,
        mask_votes=(0, 0),
        snapshot_path=None,
        best_face_quality=None,
    )
    return record, points


def test_contact_seen_only_by_the_other_camera_is_measured_on_the_case_grid() -> None:
    case, case_pts = _walk(1, "west", 0, 10, y=0.0)
    # beside the case (1.5 m), but in the other view, its frames half a step out of phase
    other, other_pts = _walk(2, "east", 0, 10, y=1.5, phase_s=STEP / 2)
    found = cross_view_encounters(
        [case], [other], {1: case_pts, 2: other_pts}, SHARING, SETTINGS, exclude={1}
    )
    assert len(found) == 1
    enc = found[0]
    assert (enc.tracklet_id, enc.other_tracklet_id, enc.camera_id) == (1, 2, "east")
    assert enc.seconds_within[1.0] == 0.0
    assert enc.seconds_within[2.0] == pytest.approx(10.0, abs=3 * STEP)
    assert enc.min_distance_m == pytest.approx(1.5, abs=0.1)


def test_the_case_seen_by_the_other_camera_is_not_a_contact() -> None:
    case, case_pts = _walk(1, "west", 0, 10, y=0.0)
    twin, twin_pts = _walk(2, "east", 0, 10, y=0.3)  # the case again, 30 cm of mapping error
    companion, comp_pts = _walk(3, "east", 0, 10, y=1.2)
    found = cross_view_encounters(
        [case],
        [twin, companion],
        {1: case_pts, 2: twin_pts, 3: comp_pts},
        SHARING,
        SETTINGS,
        exclude={1},
    )
    assert [e.other_tracklet_id for e in found] == [3]


def test_only_cameras_whose_views_share_floor_and_only_shared_time() -> None:
    case, case_pts = _walk(1, "west", 0, 10, y=0.0)
    elsewhere, far_pts = _walk(2, "kiosk", 0, 10, y=1.0)  # no shared floor with west
    later, later_pts = _walk(3, "east", 20, 10, y=1.0)  # after the case left
    route_twin, twin_pts = _walk(4, "east", 0, 10, y=1.0)  # on the route itself
    points = {1: case_pts, 2: far_pts, 3: later_pts, 4: twin_pts}
    found = cross_view_encounters(
        [case], [elsewhere, later, route_twin], points, SHARING, SETTINGS, exclude={1, 4}
    )
    assert found == []
    assert cross_view_encounters([case], [elsewhere], points, set(), SETTINGS) == []


def test_a_long_gap_in_the_other_view_is_not_filled() -> None:
    case, case_pts = _walk(1, "west", 0, 12, y=0.0)
    other, other_pts = _walk(2, "east", 0, 12, y=1.0, skip=(4.0, 8.0))  # 4 s unseen
    found = cross_view_encounters(
        [case], [other], {1: case_pts, 2: other_pts}, SHARING, SETTINGS, exclude={1}
    )
    assert len(found) == 1
    assert found[0].seconds_within[2.0] == pytest.approx(8.0, abs=3 * STEP)


def test_resample_keeps_only_times_the_path_covers() -> None:
    times = np.array([0.0, STEP, 2 * STEP, 10.0, 10.0 + STEP])
    path = make_path(7, T0, times, np.zeros((5, 2)), SETTINGS)
    grid = np.arange(0.0, 11.0, STEP) + STEP / 2
    on = resample(path, grid, SETTINGS)
    assert on is not None
    assert np.all((on.times < 0.5) | (on.times > 9.9))
    assert resample(path, np.array([50.0]), SETTINGS) is None


def test_instants_where_the_other_camera_sees_the_case_itself_do_not_count() -> None:
    case, case_pts = _walk(1, "west", 0, 10, y=0.0)
    # the other camera's tracklet is the case for 4 s, then switches to someone 1.5 m away
    switched, sw_pts = _walk(2, "east", 0, 10, y=0.2, y_after=(4.0, 1.5))
    found = cross_view_encounters(
        [case], [switched], {1: case_pts, 2: sw_pts}, SHARING, SETTINGS, exclude={1}
    )
    assert len(found) == 1
    assert found[0].seconds_within[2.0] == pytest.approx(6.0, abs=3 * STEP)
    assert found[0].min_distance_m > 0.7  # smoothing blends the switch


def test_when_the_other_camera_has_the_case_on_the_route_a_close_companion_counts() -> None:
    case, case_pts = _walk(1, "west", 0, 10, y=0.0)
    twin, twin_pts = _walk(2, "east", 0, 10, y=0.1)  # the case, accepted in east too
    companion, comp_pts = _walk(3, "east", 0, 10, y=0.5)
    found = cross_view_encounters(
        [case, twin],
        [companion],
        {1: case_pts, 2: twin_pts, 3: comp_pts},
        SHARING,
        SETTINGS,
        exclude={1, 2},
    )
    assert [(e.tracklet_id, e.other_tracklet_id) for e in found] == [(1, 3)]
    assert found[0].seconds_within[1.0] == pytest.approx(10.0, abs=3 * STEP)
