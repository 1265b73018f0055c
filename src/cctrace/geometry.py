"""Ground-plane geometry: image-to-ground homographies and distances in metres."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

from cctrace.errors import ConfigError

Points = npt.NDArray[np.float64]

MIN_POINTS = 4
MAX_REPROJECTION_ERROR_M = 0.5
"""A calibration whose points reproject worse than this (median, metres) is refused."""


@dataclass(frozen=True)
class GroundCalibration:
    """A homography from image pixels to ground-plane metres, fitted to point pairs."""

    matrix: Points
    """3x3 homography, image (u, v, 1) -> ground (x, y, w)."""
    median_error_m: float
    """Median reprojection error of the fitted points, metres."""

    @classmethod
    def fit(
        cls, image_points: Sequence[Sequence[float]], ground_points: Sequence[Sequence[float]]
    ) -> GroundCalibration:
        """Fit to >= 4 image-point to ground-point pairs.

        Raises ``ConfigError`` when there are fewer than 4 pairs, the points are
        degenerate (collinear or repeated), or the fit reprojects badly.
        """
        img = np.asarray(image_points, dtype=np.float64).reshape(-1, 2)
        gnd = np.asarray(ground_points, dtype=np.float64).reshape(-1, 2)
        if len(img) != len(gnd):
            raise ConfigError(
                f"calibration has {len(img)} image points but {len(gnd)} ground points"
            )
        if len(img) < MIN_POINTS:
            raise ConfigError(
                f"calibration needs at least {MIN_POINTS} point pairs, found {len(img)}"
            )
        for name, pts in (("image", img), ("ground", gnd)):
            if not np.all(np.isfinite(pts)):
                raise ConfigError(f"calibration {name} points contain NaN or infinity")
            if _is_degenerate(pts):
                raise ConfigError(
                    f"calibration {name} points are degenerate (repeated or on one line); "
                    "spread at least 4 points over the floor, no 3 of them collinear"
                )
        found, _ = cv2.findHomography(img, gnd, method=0)
        matrix = None if found is None else np.asarray(found, dtype=np.float64)
        if matrix is None or not np.all(np.isfinite(matrix)) or abs(np.linalg.det(matrix)) < 1e-12:
            raise ConfigError("calibration points do not define a usable homography")
        projected = _apply(matrix, img)
        errors = np.linalg.norm(projected - gnd, axis=1)
        median = float(np.median(errors))
        if median > MAX_REPROJECTION_ERROR_M:
            raise ConfigError(
                f"calibration points are inconsistent: median reprojection error {median:.2f} m "
                f"(> {MAX_REPROJECTION_ERROR_M} m); check that each image point matches its "
                "ground point"
            )
        return cls(matrix=matrix, median_error_m=median)

    def to_ground(self, image_points: npt.ArrayLike) -> Points:
        """Map (N, 2) pixel points to (N, 2) ground metres."""
        return _apply(self.matrix, np.asarray(image_points, dtype=np.float64).reshape(-1, 2))


@dataclass(frozen=True)
class HeightScaleEstimate:
    """Fallback ground position for an uncalibrated camera (pinhole, level camera).

    A person of ``person_height_m`` whose box is ``h`` pixels tall stands at depth
    ``focal_px * H / h``; lateral offset is ``(u - cx) * depth / focal_px``. Good to
    perhaps 30%; results using it must say so.
    """

    focal_px: float
    centre_x: float
    person_height_m: float = 1.7

    @classmethod
    def for_image(cls, width: int, person_height_m: float = 1.7) -> HeightScaleEstimate:
        """Assume a ~53 degree horizontal field of view (focal length = image width)."""
        return cls(focal_px=float(width), centre_x=width / 2, person_height_m=person_height_m)

    def to_ground(self, xyxy: npt.ArrayLike) -> Points:
        """(N, 4) boxes -> approximate (N, 2) ground metres (x lateral, y depth)."""
        boxes = np.asarray(xyxy, dtype=np.float64).reshape(-1, 4)
        heights = np.maximum(boxes[:, 3] - boxes[:, 1], 1.0)
        depth = self.focal_px * self.person_height_m / heights
        foot_x = (boxes[:, 0] + boxes[:, 2]) / 2
        lateral = (foot_x - self.centre_x) * depth / self.focal_px
        return np.stack([lateral, depth], axis=1)


def _apply(matrix: Points, pts: Points) -> Points:
    homog = np.hstack([pts, np.ones((len(pts), 1))]) @ matrix.T
    w = homog[:, 2:3]
    w = np.where(np.abs(w) < 1e-12, 1e-12, w)
    return homog[:, :2] / w


def _is_degenerate(pts: Points) -> bool:
    """True when fewer than 4 distinct points or all points lie near one line."""
    unique = np.unique(np.round(pts, 6), axis=0)
    if len(unique) < MIN_POINTS:
        return True
    scale = float(np.ptp(unique, axis=0).max()) or 1.0
    if len(unique) == MIN_POINTS:
        # With exactly four points, any three on one line leave the homography undefined.
        for skip in range(MIN_POINTS):
            tri = np.delete(unique, skip, axis=0)
            u, v = tri[1] - tri[0], tri[2] - tri[0]
            area = abs(u[0] * v[1] - u[1] * v[0]) / 2
            if area < 1e-6 * scale * scale:
                return True
        return False
    centred = unique - unique.mean(axis=0)
    singular = np.linalg.svd(centred, compute_uv=False)
    return bool(singular[1] < 1e-6 * max(singular[0], 1e-12))


def pairwise_distances(points: npt.ArrayLike) -> Points:
    """(N, 2) points -> (N, N) Euclidean distances."""
    p = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    diff = p[:, None, :] - p[None, :, :]
    return np.sqrt((diff**2).sum(axis=-1))
