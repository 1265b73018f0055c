"""Placing a plan image by reference points: round trips, residuals, refusals."""

from __future__ import annotations

import math

import numpy as np
import pytest

from cctrace.plans.georef import PlacementError, compose, fit_placement, invert
from cctrace.plans.model import SitePlanConfig


def _true_map(
    u: float, v: float, scale: float = 0.05, angle_deg: float = 30.0
) -> tuple[float, float]:
    """A north-up-ish plan: pixels (y down) -> metres (y up), rotated and shifted."""
    a = math.radians(angle_deg)
    x, y = u * scale, -v * scale
    return (x * math.cos(a) - y * math.sin(a) + 100.0, x * math.sin(a) + y * math.cos(a) - 40.0)


@pytest.mark.parametrize("n", [2, 3, 4])
def test_round_trip_recovers_the_true_placement(n: int) -> None:
    pixels = [(10.0, 20.0), (900.0, 40.0), (300.0, 700.0), (800.0, 650.0)][:n]
    ground = [_true_map(*p) for p in pixels]
    placement = fit_placement(pixels, ground)
    assert placement.kind == ("similarity" if n == 2 else "affine")
    for u, v in [(0.0, 0.0), (512.0, 384.0), (1000.0, 1000.0)]:
        assert placement.apply(u, v) == pytest.approx(_true_map(u, v), abs=1e-6)
    assert max(placement.residuals_m) < 1e-6
    assert placement.check_max_m < 1e-6
    assert placement.metres_per_pixel == pytest.approx(0.05)
    assert not placement.suspicious
    back = invert(placement.matrix)
    assert compose(back, placement.matrix)[0] == pytest.approx((1.0, 0.0, 0.0), abs=1e-9)


def test_a_mistyped_third_point_shows_in_the_check() -> None:
    pixels = [(10.0, 20.0), (900.0, 40.0), (300.0, 700.0)]
    ground = [_true_map(*p) for p in pixels]
    ground[2] = (ground[2][0] + 6.0, ground[2][1])  # 6 m off over a ~50 m spread
    placement = fit_placement(pixels, ground)
    assert placement.checkable and placement.suspicious
    assert placement.check_max_m > 2.0
    # an affine through three points fits them exactly: only the check can tell
    assert max(placement.residuals_m) < 1e-6


def test_four_points_have_least_squares_residuals() -> None:
    pixels = [(10.0, 20.0), (900.0, 40.0), (300.0, 700.0), (800.0, 650.0)]
    ground = [_true_map(*p) for p in pixels]
    ground[3] = (ground[3][0], ground[3][1] + 2.0)
    placement = fit_placement(pixels, ground)
    assert 0.1 < max(placement.residuals_m) < 2.0


def test_two_points_cannot_be_checked() -> None:
    placement = fit_placement([(0.0, 0.0), (100.0, 0.0)], [(0.0, 0.0), (10.0, 0.0)])
    assert not placement.checkable and not placement.suspicious
    # image y grows down, site y up: a pixel below the line is south of it
    assert placement.apply(0.0, 100.0) == pytest.approx((0.0, -10.0))


@pytest.mark.parametrize(
    ("pixels", "ground", "words"),
    [
        ([(0.0, 0.0)], [(0.0, 0.0)], "at least two"),
        ([(0.0, 0.0), (2.0, 1.0)], [(0.0, 0.0), (10.0, 0.0)], "same place in the image"),
        ([(0.0, 0.0), (200.0, 0.0)], [(5.0, 5.0), (5.0, 5.0)], "same place in the site"),
        (
            [(0.0, 0.0), (100.0, 100.0), (200.0, 200.0)],
            [(0.0, 0.0), (10.0, 0.0), (0.0, 10.0)],
            "one line in the image",
        ),
        (
            [(0.0, 0.0), (100.0, 0.0), (0.0, 100.0)],
            [(0.0, 0.0), (10.0, 0.0), (20.0, 0.0)],
            "one line on the site",
        ),
        (
            [(0.0, 0.0), (100.0, 0.0), (0.0, 100.0)],
            [(0.0, 0.0), (10.0, 0.0), (0.0, 10.0)],  # y down in both: a mirror image
            "mirror",
        ),
        ([(0.0, 0.0), (float("nan"), 0.0)], [(0.0, 0.0), (1.0, 0.0)], "finite"),
    ],
)
def test_degenerate_points_are_refused(
    pixels: list[tuple[float, float]], ground: list[tuple[float, float]], words: str
) -> None:
    with pytest.raises(PlacementError, match=words):
        fit_placement(pixels, ground)


def test_latlon_points_are_checked_in_metres() -> None:
    lat0, lon0 = 37.5, 126.78
    k = 111_195.0
    pixels = [(0.0, 0.0), (1000.0, 0.0), (0.0, 800.0)]
    ground = [
        {"lat": lat0 - v * 0.1 / k, "lon": lon0 + u * 0.1 / (k * math.cos(math.radians(lat0)))}
        for u, v in pixels
    ]
    cfg = SitePlanConfig(
        image="plan.png",  # type: ignore[arg-type]
        points=[{"pixel": list(p), **g} for p, g in zip(pixels, ground, strict=True)],  # type: ignore[misc]
    )
    placement = cfg.placement()
    assert placement.metres_per_pixel == pytest.approx(0.1, rel=1e-3)
    assert placement.check_max_m < 0.05
    assert np.isclose(placement.spread_m, math.hypot(100, 80), rtol=1e-3)


def test_mixed_point_kinds_are_refused() -> None:
    with pytest.raises(ValueError, match="every point"):
        SitePlanConfig(
            image="plan.png",  # type: ignore[arg-type]
            points=[
                {"pixel": [0, 0], "x_m": 0, "y_m": 0},  # type: ignore[list-item]
                {"pixel": [100, 0], "lat": 37.5, "lon": 126.7},  # type: ignore[list-item]
            ],
        )
