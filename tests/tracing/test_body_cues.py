"""Height and walking direction from a calibrated camera (cross-camera cues)."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from cctrace.tracing.body_cues import (
    HeightGeometry,
    away_from,
    box_height_m,
    heading,
    local_scale_height_m,
    nearest_in_region,
    regions_overlap,
    towards,
    tracklet_height,
    view_region_m,
)
from cctrace.types import TrackPoint

T0 = datetime(2026, 5, 1, 9, 0, tzinfo=UTC)


def _camera(
    tilt_deg: float = 30.0, height_m: float = 6.0, f: float = 1000.0, centre=(640.0, 360.0)
) -> np.ndarray:
    """A real pinhole camera (3x4, ground metres with z up -> pixels), at ``height_m``
    above (0, 0), looking along +y and down by ``tilt_deg``."""
    t = math.radians(tilt_deg)
    # Camera axes in world coordinates: x right, y down (image), z forward.
    x_axis = np.array([1.0, 0.0, 0.0])
    z_axis = np.array([0.0, math.cos(t), -math.sin(t)])
    y_axis = np.cross(z_axis, x_axis)
    rotation = np.vstack([x_axis, y_axis, z_axis])
    centre_w = np.array([0.0, 0.0, height_m])
    k = np.array([[f, 0.0, centre[0]], [0.0, f, centre[1]], [0.0, 0.0, 1.0]])
    return k @ np.hstack([rotation, (-rotation @ centre_w).reshape(3, 1)])


def _project(p: np.ndarray, x: float, y: float, z: float) -> tuple[float, float]:
    u, v, w = p @ np.array([x, y, z, 1.0])
    return u / w, v / w


def _homography(p: np.ndarray) -> np.ndarray:
    """Image -> ground homography of camera ``p`` (the ground plane z = 0)."""
    return np.linalg.inv(p[:, [0, 1, 3]])


def _box(p: np.ndarray, x: float, y: float, height_m: float) -> tuple[float, float, float, float]:
    """The box of an upright person of ``height_m`` standing at (x, y)."""
    fu, fv = _project(p, x, y, 0.0)
    _, hv = _project(p, x, y, height_m)
    half = 0.2 * (fv - hv)
    return (fu - half, hv, fu + half, fv)


@pytest.mark.parametrize("tilt", [15.0, 30.0, 45.0])
@pytest.mark.parametrize("where", [(0.0, 8.0), (-3.0, 12.0), (4.0, 20.0), (2.0, 6.0)])
def test_height_from_the_homography_and_optical_centre_is_exact(
    tilt: float, where: tuple[float, float]
) -> None:
    p = _camera(tilt)
    h = _homography(p)
    box = _box(p, *where, 1.74)
    assert box_height_m(h, box, (640.0, 360.0)) == pytest.approx(1.74, abs=0.005)
    # A wrong optical centre (the image's corner) makes it wrong.
    wrong = box_height_m(h, box, (0.0, 0.0))
    assert wrong is None or abs(wrong - 1.74) > 0.02


def test_height_from_the_homography_alone_is_right_only_on_the_centre_row() -> None:
    p = _camera(15.0)
    h = _homography(p)
    # On the optical axis the foot is on the centre row: exact.
    on_axis = _box(p, 0.0, 6.0 / math.tan(math.radians(15.0)), 1.0)
    assert local_scale_height_m(h, on_axis) == pytest.approx(1.0, rel=0.02)
    # Near the image's bottom: about 19% too tall, why it is measured but not used.
    near = local_scale_height_m(h, _box(p, 0.0, 8.0, 1.74))
    assert near is not None and near > 1.74 * 1.15


@pytest.mark.parametrize(
    "box",
    [
        (10.0, 100.0, 20.0, 104.0),  # too small to say
        (10.0, float("nan"), 20.0, 200.0),
        (10.0, -5000.0, 20.0, 200.0),  # implausibly tall
    ],
)
def test_no_height_from_unusable_boxes(box: tuple[float, float, float, float]) -> None:
    h = _homography(_camera())
    assert box_height_m(h, box, (640.0, 360.0)) is None
    assert local_scale_height_m(h, box) is None


def test_a_camera_looking_straight_down_gives_no_height_from_the_homography_alone() -> None:
    p = _camera(89.0)
    h = _homography(p)
    box = _box(p, 0.0, 0.3, 1.7)
    assert local_scale_height_m(h, box) is None


def _points(
    xy: list[tuple[float, float]], boxes: list[tuple[float, float, float, float]] | None = None
) -> tuple[TrackPoint, ...]:
    return tuple(
        TrackPoint(
            frame_index=i,
            timestamp=T0 + timedelta(seconds=0.5 * i),
            xyxy=boxes[i] if boxes else (0.0, 0.0, 10.0, 40.0),
            ground_xy=g,
            confidence=0.9,
        )
        for i, g in enumerate(xy)
    )


def test_tracklet_height_is_the_median_with_its_spread() -> None:
    p = _camera()
    geometry = HeightGeometry.of(_homography(p), (640.0, 360.0))
    heights = [1.70, 1.71, 1.69, 1.70, 1.40, 1.72, 1.70]  # one box cut by an occluder
    boxes = [_box(p, 0.0, 8.0 + 0.5 * i, hm) for i, hm in enumerate(heights)]
    found = tracklet_height(geometry, _points([(0.0, 0.0)] * len(boxes), boxes))
    assert found is not None
    assert found.median_m == pytest.approx(1.70, abs=0.005)
    assert 0.0 < found.spread_m < 0.05 and found.seconds == pytest.approx(3.0)
    assert found.error_m == pytest.approx(found.spread_m / math.sqrt(3.0))
    assert tracklet_height(None, _points([(0.0, 0.0)] * 7, boxes)) is None
    assert tracklet_height(geometry, _points([(0.0, 0.0)] * 2, boxes[:2])) is None


def test_exit_and_entry_headings() -> None:
    # Walks east for 4 s, then north for the last 2 s.
    path = [(0.5 * i, 0.0) for i in range(9)] + [(4.0, 0.5 * i) for i in range(1, 5)]
    points = _points(path)
    out = heading(points, "exit")
    assert out is not None and (out.x_m, out.y_m) == (4.0, 2.0)
    assert (out.dx, out.dy) == pytest.approx((0.0, 1.0))
    came = heading(points, "entry")
    assert came is not None and (came.x_m, came.y_m) == (0.0, 0.0)
    assert (came.dx, came.dy) == pytest.approx((1.0, 0.0))
    assert towards(out, (4.0, 10.0)) == pytest.approx(1.0)
    assert towards(out, (4.0, -10.0)) == pytest.approx(-1.0)
    assert away_from(came, (-5.0, 0.0)) == pytest.approx(1.0)
    # Standing still (or a single point) has no heading.
    assert heading(_points([(1.0, 1.0)] * 6), "exit") is None
    assert heading(_points([(1.0, 1.0)]), "entry") is None


def test_view_region_is_the_placed_hull_of_the_calibration_points() -> None:
    camera = {
        "calibration": {
            "points": [
                [0, 0, 0.0, 0.0],
                [1, 0, 10.0, 0.0],
                [1, 1, 10.0, 10.0],
                [0, 1, 0.0, 10.0],
                [2, 2, 5.0, 5.0],  # inside: not a corner
            ],
            "placement": {"x_m": 100.0, "y_m": 0.0, "rotation_deg": 90.0},
        }
    }
    region = view_region_m(camera)
    assert region is not None and len(region) == 4
    # Rotated by 90 degrees then shifted east by 100 m.
    assert sorted(map(tuple, np.round(region, 6).tolist())) == [
        (90.0, 0.0),
        (90.0, 10.0),
        (100.0, 0.0),
        (100.0, 10.0),
    ]
    assert view_region_m({"calibration": None}) is None
    assert nearest_in_region(region, 95.0, 5.0) is None  # inside
    assert nearest_in_region(region, 95.0, 20.0) == pytest.approx((95.0, 10.0))
    assert nearest_in_region(region, 80.0, -5.0) == pytest.approx((90.0, 0.0))


def test_overlapping_views_are_told_apart_from_neighbouring_ones() -> None:
    square = np.array([[0.0, 0.0], [10.0, 0.0], [10.0, 10.0], [0.0, 10.0]])
    assert regions_overlap(square, square + np.array([5.0, 5.0]))
    assert not regions_overlap(square, square + np.array([30.0, 0.0]))
    assert not regions_overlap(square, square + np.array([10.0, 0.0]))  # touching only
    triangle = np.array([[11.0, 0.0], [20.0, 0.0], [11.0, 9.0]])
    assert not regions_overlap(square, triangle)
    assert regions_overlap(square, triangle - np.array([2.0, 0.0]))
