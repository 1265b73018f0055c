"""Timeline and site-plan geometry."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from cctrace.report.siteplan import build_site_plan, route_colour
from cctrace.report.timeline import PLOT_X0, PLOT_X1, build_timeline
from cctrace.tracing.result import CameraInfo, TraceResult


def test_timeline_rows_and_bars(trace: TraceResult) -> None:
    tl = build_timeline(trace)
    assert tl is not None
    assert [r.label for r in tl.rows] == ["Main entrance", "Atrium", "Food court"]
    sighting_bars = [b for b in tl.bars if b.css.startswith("st-")]
    encounter_bars = [b for b in tl.bars if b.css.startswith("enc")]
    assert len(sighting_bars) == 5
    assert len(encounter_bars) == 4
    assert sorted(b.number for b in sighting_bars if b.number) == ["1", "2", "3", "4"]
    assert {b.css for b in sighting_bars} == {"st-accepted", "st-needs_review"}
    assert sum(b.css == "enc-close" for b in encounter_bars) == 3
    for b in tl.bars:
        assert b.x >= PLOT_X0 and b.x + b.w <= PLOT_X1 + 3
    xs = [t.x for t in tl.ticks]
    assert xs == sorted(xs) and len(xs) >= 3
    assert tl.ticks[0].label == "10:00"
    assert tl.caption == "Times UTC, 2024-05-01"


def test_timeline_of_an_instant_is_widened(trace: TraceResult) -> None:
    s = trace.sightings[0]
    one = replace(trace, sightings=(replace(s, end=s.start),), contacts=())
    tl = build_timeline(one)
    assert tl is not None
    (bar,) = tl.bars
    assert bar.w >= 3
    assert len(tl.ticks) >= 2


def test_timeline_across_midnight_shows_both_days(trace: TraceResult) -> None:
    shifted = replace(
        trace,
        sightings=tuple(
            replace(s, start=s.start + timedelta(hours=13, minutes=45),
                    end=s.end + timedelta(hours=13, minutes=45))
            for s in trace.sightings
        ),
        contacts=(),
    )  # fmt: skip
    tl = build_timeline(shifted)
    assert tl is not None
    assert "2024-05-01 to 2024-05-02" in tl.caption


def test_empty_timeline_and_plan(empty: TraceResult) -> None:
    assert build_timeline(empty) is None
    plan = build_site_plan(empty)
    assert plan is not None  # cameras alone still make a plan
    assert plan.markers == () and plan.legs == ()
    none = replace(empty, cameras=())
    assert build_site_plan(none) is None


def test_site_plan(trace: TraceResult) -> None:
    plan = build_site_plan(trace)
    assert plan is not None
    assert [m.number for m in plan.markers] == ["1", "2", "3", "4"]
    assert len(plan.review_markers) == 1
    assert len(plan.cameras) == 3 and all(c.on_route for c in plan.cameras)
    observed = [leg for leg in plan.legs if leg.observed]
    gaps = [leg for leg in plan.legs if not leg.observed]
    assert len(observed) == 4 and len(gaps) == 3
    assert plan.scale_label == "10 m"
    assert 40 <= plan.scale_px <= 200
    for cam in plan.cameras:
        assert 0 <= cam.x <= plan.width and 0 <= cam.y <= plan.height
    # y up: the atrium (y = 14 m) is drawn above the entrance (y = 0 m).
    by_label = {c.label: c for c in plan.cameras}
    assert by_label["Atrium"].y < by_label["Main entrance"].y
    assert {leg.arrow_id for leg in plan.legs} <= {a for a, _ in plan.arrows}


def test_site_plan_from_latlon_only(trace: TraceResult) -> None:
    cams = tuple(replace(c, x_m=None, y_m=None) for c in trace.cameras)
    plan = build_site_plan(replace(trace, cameras=cams))
    assert plan is not None
    assert "lat/lon only" in plan.note
    assert len(plan.markers) == 4
    assert all(not leg.observed for leg in plan.legs)  # camera to camera
    by_label = {c.label: c for c in plan.cameras}
    # Local projection keeps the layout: the food court is east of the entrance.
    assert by_label["Food court"].x > by_label["Main entrance"].x


def test_site_plan_with_an_unplaced_camera(trace: TraceResult) -> None:
    cams = (*trace.cameras, CameraInfo("cam-x", "Loading bay", None, None, None, None))
    plan = build_site_plan(replace(trace, cameras=cams))
    assert plan is not None
    assert "Loading bay" not in {c.label for c in plan.cameras}


@pytest.mark.parametrize(
    ("i", "n", "colour"), [(0, 1, "#0b7285"), (0, 5, "#0b7285"), (4, 5, "#c2255c")]
)
def test_route_colours_run_along_the_ramp(i: int, n: int, colour: str) -> None:
    assert route_colour(i, n) == colour
