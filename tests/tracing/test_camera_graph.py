"""The camera graph: configured links, windows from positions, learned gaps, bad config."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from cctrace.config import SiteConfig, load_site
from cctrace.errors import ConfigError
from cctrace.tracing.camera_graph import (
    FASTEST_WALK_MPS,
    MARGIN_S,
    SLOWEST_WALK_MPS,
    CameraGraph,
    camera_positions_m,
)


def _site(cameras: list[dict]) -> SiteConfig:
    for cam in cameras:
        cam.setdefault("footage", ["x.mp4"])
    return SiteConfig.model_validate({"cameras": cameras})


def test_configured_links_hold_both_ways_and_are_the_whole_graph() -> None:
    site = _site(
        [
            {
                "id": "gate",
                "location": {"x_m": 0, "y_m": 0},
                "links": [{"to": "kiosk", "walk_s": [20, 90]}],
            },
            {"id": "kiosk", "location": {"x_m": 50, "y_m": 0}},
            {"id": "hall", "location": {"x_m": 10, "y_m": 0}},
        ]
    )
    graph = CameraGraph.from_site(site)
    window = graph.window("kiosk", "gate")
    assert window is not None and (window.low_s, window.high_s) == (20.0, 90.0)
    assert window.source == "configured" and window.distance_m == pytest.approx(50.0)
    # hall is 10 m from gate, but the operator's graph does not link it.
    assert graph.window("gate", "hall") is None
    assert graph.neighbours("gate") == ["kiosk"]
    assert graph.plausible("gate", "kiosk", 45.0)
    assert not graph.plausible("gate", "kiosk", 300.0)
    assert not graph.plausible("gate", "hall", 5.0)


def test_windows_follow_from_positions_when_nothing_is_configured() -> None:
    site = _site(
        [
            {"id": "a", "location": {"x_m": 0, "y_m": 0}},
            {"id": "b", "location": {"x_m": 30, "y_m": 40}},  # 50 m
            {"id": "far", "location": {"x_m": 1000, "y_m": 0}},
        ]
    )
    graph = CameraGraph.from_site(site)
    window = graph.window("b", "a")
    assert window is not None and window.source == "positions"
    assert window.low_s == pytest.approx(max(0.0, 50 / FASTEST_WALK_MPS - MARGIN_S))
    assert window.high_s == pytest.approx(50 / SLOWEST_WALK_MPS + MARGIN_S)
    assert graph.window("a", "far") is None  # beyond MAX_NEIGHBOUR_M


@pytest.mark.parametrize(("shift_m", "shared"), [(5.0, True), (30.0, False)])
def test_views_sharing_floor_start_their_window_at_zero(shift_m: float, shared: bool) -> None:
    """Cameras hung 60 m apart whose calibrated views (10 m squares on the plan) share
    floor: a person can be in both at once, so the walk starts at 0 s."""
    square = [[0, 0, 0, 0], [100, 0, 10, 0], [100, 100, 10, 10], [0, 100, 0, 10]]
    site = _site(
        [
            {"id": "a", "location": {"x_m": -25, "y_m": 0}, "calibration": {"points": square}},
            {
                "id": "b",
                "location": {"x_m": 35, "y_m": 0},
                "calibration": {"points": square, "placement": {"x_m": shift_m}},
            },
        ]
    )
    window = CameraGraph.from_site(site).window("a", "b")
    assert window is not None and window.source == "positions"
    assert window.low_s == (0.0 if shared else 60.0 / FASTEST_WALK_MPS - MARGIN_S)
    assert window.high_s == pytest.approx(60.0 / SLOWEST_WALK_MPS + MARGIN_S)


def test_lat_lon_positions_are_projected_to_metres() -> None:
    # 0.001 degree of latitude is about 111 m anywhere on Earth.
    site = _site(
        [
            {"id": "n", "location": {"lat": 37.5040, "lon": 126.7660}},
            {"id": "s", "location": {"lat": 37.5030, "lon": 126.7660}},
        ]
    )
    positions = camera_positions_m(site)
    (nx, ny), (sx, sy) = positions["n"], positions["s"]
    assert math.hypot(nx - sx, ny - sy) == pytest.approx(111.2, abs=0.5)
    window = CameraGraph.from_site(site).window("n", "s")
    assert window is not None and window.distance_m == pytest.approx(111.2, abs=0.5)


def test_learned_gaps_widen_position_windows_and_create_missing_ones() -> None:
    site = _site(
        [
            {"id": "a", "location": {"x_m": 0, "y_m": 0}},
            {"id": "b", "location": {"x_m": 20, "y_m": 0}},
            {"id": "c", "location": {"x_m": 5000, "y_m": 0}},
        ]
    )
    graph = CameraGraph.from_site(site)
    before = graph.window("a", "b")
    assert before is not None
    learned = graph.learn([("a", "b", 200.0), ("c", "a", 600.0), ("a", "c", 640.0)])
    widened = learned.window("b", "a")
    assert widened is not None and widened.high_s >= 200.0 > before.high_s
    assert learned.window("a", "c") is None  # two observations are not enough
    learned = learned.learn([("c", "a", 600.0), ("a", "c", 640.0), ("a", "c", 620.0)])
    made = learned.window("c", "a")
    assert made is not None and made.source == "learned" and made.contains(630.0)


def test_learning_never_overrides_a_configured_window() -> None:
    site = _site(
        [
            {
                "id": "a",
                "location": {"x_m": 0, "y_m": 0},
                "links": [{"to": "b", "walk_s": [5, 15]}],
            },
            {"id": "b", "location": {"x_m": 10, "y_m": 0}},
        ]
    )
    learned = CameraGraph.from_site(site).learn([("a", "b", 100.0)] * 5)
    window = learned.window("a", "b")
    assert window is not None and (window.low_s, window.high_s) == (5.0, 15.0)


@pytest.mark.parametrize(
    ("links", "message"),
    [
        ("[{to: nowhere, walk_s: [1, 2]}]", "unknown camera 'nowhere'"),
        ("[{to: a, walk_s: [1, 2]}]", "links to itself"),
        ("[{to: b, walk_s: [30, 10]}]", "0 <= low <= high"),
        ("[{to: b, walk_s: [-1, 10]}]", "0 <= low <= high"),
        ("[{to: b, walk_s: [.nan, 10]}]", "finite"),
        ("[{to: b, walk_s: [1, 100000]}]", "longer than a day"),
        ("[{to: b, walk_s: [1]}]", "at least 2"),
        ("[{to: b, walk_s: [1, 2], via: x}]", "Extra inputs"),
    ],
)
def test_bad_links_are_errors_with_a_line(tmp_path: Path, links: str, message: str) -> None:
    path = tmp_path / "site.yaml"
    path.write_text(
        "cameras:\n"
        "  - id: a\n"
        "    location: {x_m: 0, y_m: 0}\n"
        "    footage: [a.mp4]\n"
        f"    links: {links}\n"
        "  - id: b\n"
        "    location: {x_m: 9, y_m: 0}\n"
        "    footage: [b.mp4]\n"
    )
    with pytest.raises(ConfigError, match=message) as caught:
        load_site(path, check_files=False)
    assert str(path) in str(caught.value)
