"""Homography fitting, degenerate calibrations and ground distances."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from cctrace.errors import ConfigError
from cctrace.geometry import GroundCalibration, HeightScaleEstimate, pairwise_distances

SQUARE_IMG = [[0, 0], [100, 0], [100, 100], [0, 100]]


@pytest.mark.parametrize(
    ("image", "ground", "message"),
    [
        (SQUARE_IMG[:3], [[0, 0], [1, 0], [1, 1]], "at least 4"),
        (SQUARE_IMG, [[0, 0], [1, 0], [1, 1]], "3 ground points"),
        ([[0, 0], [1, 1], [2, 2], [3, 3]], [[0, 0], [1, 0], [1, 1], [0, 1]], "degenerate"),
        (SQUARE_IMG, [[0, 0], [0, 0], [0, 0], [0, 0]], "degenerate"),
        (SQUARE_IMG, [[0, 0], [1, 0], [1, float("nan")], [0, 1]], "NaN"),
        (
            [*SQUARE_IMG, [50, 50], [20, 80]],
            [[0, 0], [1, 0], [1, 1], [0, 1], [9, -4], [-7, 3]],
            "inconsistent",
        ),
    ],
)
def test_bad_calibrations_raise(
    image: list[list[float]], ground: list[list[float]], message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        GroundCalibration.fit(image, ground)


def test_square_maps_to_metres() -> None:
    cal = GroundCalibration.fit(SQUARE_IMG, [[0, 0], [2, 0], [2, 2], [0, 2]])
    assert np.allclose(cal.to_ground([[50, 50]]), [[1, 1]], atol=1e-6)
    assert cal.median_error_m < 1e-6


def test_pets_calibration_reproduces_ground_truth(pets_dir: Path) -> None:
    rows = list(csv.DictReader((pets_dir / "ground_points.csv").open()))
    img = [[float(r["u_px"]), float(r["v_px"])] for r in rows]
    gnd = [[float(r["x_m"]), float(r["y_m"])] for r in rows]
    cal = GroundCalibration.fit(img, gnd)
    assert cal.median_error_m < 0.05


def test_pairwise_distances() -> None:
    d = pairwise_distances([[0, 0], [3, 4], [0, 1]])
    assert d.shape == (3, 3)
    assert d[0, 1] == pytest.approx(5.0)
    assert d[1, 0] == pytest.approx(5.0)
    assert d[0, 2] == pytest.approx(1.0)


def test_height_estimate_depth_grows_as_people_shrink() -> None:
    est = HeightScaleEstimate.for_image(800)
    near, far = est.to_ground([[390, 100, 410, 500], [395, 100, 405, 200]])
    assert far[1] > near[1] * 3
    assert abs(near[0]) < 0.2
