"""GeoJSON route: lon/lat where cameras are georeferenced, site metres otherwise."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest

from cctrace.report.geo import LocalProjection, fit_plane_transform, plane_for
from cctrace.report.geojson import route_to_geojson, write_geojson
from cctrace.tracing.result import CameraInfo, TraceResult


def features(doc: dict, kind: str) -> list[dict]:
    return [f for f in doc["features"] if f["properties"]["kind"] == kind]


def with_cameras(trace: TraceResult, mode: str) -> TraceResult:
    cams = []
    for c in trace.cameras:
        if mode == "site_only":
            cams.append(replace(c, lat=None, lon=None))
        elif mode == "latlon_only":
            cams.append(replace(c, x_m=None, y_m=None))
        elif mode == "none":
            cams.append(CameraInfo(c.camera_id, c.name, None, None, None, None))
        else:
            cams.append(c)
    return replace(trace, cameras=tuple(cams))


@pytest.mark.parametrize(
    ("mode", "coordinates", "detail", "camera_points"),
    [
        ("both", "lonlat", "paths", 3),
        ("latlon_only", "lonlat", "cameras", 3),
        ("site_only", "site_m", "paths", 3),
        ("none", "site_m", "paths", 0),
    ],
)
def test_coordinate_modes(
    tmp_path: Path,
    trace: TraceResult,
    mode: str,
    coordinates: str,
    detail: str,
    camera_points: int,
) -> None:
    result = with_cameras(trace, mode)
    doc = json.loads(write_geojson(result, tmp_path / "route.geojson").read_text("utf-8"))
    assert doc["type"] == "FeatureCollection"
    assert doc["properties"]["coordinates"] == coordinates
    assert doc["properties"]["case_id"] == "C-2024-0193"
    assert doc["properties"]["crs_note"]
    (route,) = features(doc, "route")
    assert route["properties"]["detail"] == detail
    assert route["properties"]["sightings"] == [101, 205, 310, 118]
    assert route["geometry"]["type"] == "LineString"
    assert len(features(doc, "sighting")) == 5
    cams = features(doc, "camera")
    assert len(cams) == 3
    assert sum(f["geometry"] is not None for f in cams) == camera_points
    if coordinates == "lonlat":
        for lon, lat in route["geometry"]["coordinates"]:
            assert -0.0870 < lon < -0.0845 and 51.5035 < lat < 51.5050


def test_site_route_follows_the_paths_in_time_order(trace: TraceResult) -> None:
    doc = route_to_geojson(with_cameras(trace, "site_only"))
    (route,) = features(doc, "route")
    coords = route["geometry"]["coordinates"]
    first = trace.route[0].path[0]
    last = trace.route[-1].path[-1]
    assert coords[0] == [first.x_m, first.y_m]
    assert coords[-1] == [last.x_m, last.y_m]
    n_points = sum(len(s.path) for s in trace.route)
    assert len(coords) == n_points


def test_georeferenced_path_lands_near_its_camera(trace: TraceResult) -> None:
    doc = route_to_geojson(trace)
    proj = LocalProjection(51.5041, -0.0856)
    sighting = next(f for f in features(doc, "sighting") if f["properties"]["tracklet_id"] == 310)
    lon, lat = sighting["geometry"]["coordinates"]
    food = next(c for c in trace.cameras if c.camera_id == "cam-food")
    assert food.lat is not None and food.lon is not None
    # The path centroid is a few metres from the camera (the site plan says so).
    d = math.dist(proj.to_metres(lat, lon), proj.to_metres(food.lat, food.lon))
    assert d < 15


def test_sighting_properties(trace: TraceResult) -> None:
    doc = route_to_geojson(trace)
    props = {f["properties"]["tracklet_id"]: f["properties"] for f in features(doc, "sighting")}
    assert props[233]["status"] == "needs_review"
    assert props[233]["route_order"] is None
    assert props[310]["camera_name"] == "Food court"
    assert props[310]["start"].endswith("Z")


def test_empty_route_has_null_geometry(empty: TraceResult) -> None:
    doc = route_to_geojson(empty)
    (route,) = features(doc, "route")
    assert route["geometry"] is None
    assert route["properties"]["sightings"] == []


@pytest.mark.parametrize(
    ("src", "transform"),
    [
        # Similarity from two points: rotation 30°, scale 2, shift.
        (
            [(0.0, 0.0), (10.0, 0.0)],
            lambda x, y: (
                2 * (x * math.cos(0.5236) - y * math.sin(0.5236)) + 5,
                2 * (x * math.sin(0.5236) + y * math.cos(0.5236)) - 3,
            ),
        ),
        # Affine (shear) from three points.
        ([(0.0, 0.0), (10.0, 0.0), (0.0, 10.0)], lambda x, y: (x + 0.3 * y + 1, 0.8 * y - 2)),
        # Collinear points fall back to a similarity.
        ([(0.0, 0.0), (5.0, 5.0), (10.0, 10.0)], lambda x, y: (x + 1, y + 1)),
    ],
)
def test_fit_plane_transform_recovers_the_map(
    src: list[tuple[float, float]], transform: Callable[[float, float], tuple[float, float]]
) -> None:
    fit = fit_plane_transform(src, [transform(x, y) for x, y in src])
    assert fit is not None
    for x, y in src:
        assert fit(x, y) == pytest.approx(transform(x, y), abs=1e-6)


def test_fit_plane_transform_needs_two_distinct_points() -> None:
    assert fit_plane_transform([(1.0, 1.0)], [(2.0, 2.0)]) is None
    assert fit_plane_transform([(1.0, 1.0), (1.0, 1.0)], [(2.0, 2.0), (3.0, 3.0)]) is None


def test_local_projection_round_trip() -> None:
    proj = LocalProjection(51.5, -0.08)
    x, y = proj.to_metres(51.501, -0.079)
    assert y == pytest.approx(111.2, abs=0.5)
    assert proj.to_lonlat(x, y) == pytest.approx((-0.079, 51.501))


def test_plane_places_latlon_only_cameras_through_the_fit(trace: TraceResult) -> None:
    cams = list(trace.cameras)
    extra = CameraInfo("cam-x", "Lat/lon only", None, None, 51.50412, -0.08601)
    plane = plane_for((*cams, extra))
    assert plane.source == "site"
    assert plane.cameras["cam-x"] == pytest.approx((0.0, 0.0), abs=0.5)
