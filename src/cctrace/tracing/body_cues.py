"""Geometric cues for linking a person between cameras: height and exit/entry direction.

Both come from what a calibrated camera already stores for every tracklet (its boxes
and their foot points on the ground), so they cost nothing at ingest.

**Height.** With the camera's optical centre known, the image-to-ground homography is a
full pinhole camera (:class:`HeightGeometry`): the foot point is on the ground, and the
person's height is where the vertical through it reaches the box top. A tracklet's
median over its boxes is its height (boxes cut by the image edge or another person are
short: the median tolerates a few). Without the optical centre the homography's local
scale at the foot point gives a height too (``s_lat``, the metres a pixel covers
sideways, the Jacobian's smaller singular value, over the cosine of the angle the camera
looks down at the spot, whose sine is ``s_lat / s_rad``): exact only on the optical
centre's row, it is measured (``bench/body_height.py``) but not used.

**Direction.** A person who walks from camera A to camera B leaves A's view heading
towards B's view and enters B's view from A's side. What a camera sees on the site plan
is taken as the convex hull of its calibration's ground points (spread over the floor it
sees); the heading of a tracklet's last (first) seconds is compared with the direction
from where it left (entered) to the nearest point of the other camera's view: the
cosine is +1 when heading straight there (walking straight in from there), -1 when
heading away.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from cctrace.types import TrackPoint

MIN_BOX_PX = 8.0
"""Boxes shorter than this say nothing about height."""
MAX_SIN_LOOK_DOWN = 0.95
"""A camera looking almost straight down (more than about 72 degrees) sees heads, not
heights: no estimate there."""
MIN_HEIGHT_M = 0.8
MAX_HEIGHT_M = 2.5
"""Estimates outside this range are boxes of part of a person (or a mis-calibration)."""
HEADING_S = 2.0
"""Seconds at a tracklet's end (or start) whose displacement is its exit (entry) heading."""
MIN_HEADING_M = 0.3
"""A displacement shorter than this is standing, not heading anywhere."""


@dataclass(frozen=True)
class HeightGeometry:
    """What a calibrated camera needs to turn a person's box into a height in metres.

    With the optical centre known (the calibration's ``principal_point_px``), the
    homography is decomposed into a full pinhole camera (square pixels, no skew: the
    focal length follows from the ground's two axes being perpendicular and equally
    long) and the height is where the vertical through the foot point reaches the box
    top: within about 2% on WILDTRACK's seven real views, whose published calibration
    says so (``bench/body_height.py``).
    """

    homography: npt.NDArray[np.float64]
    """Image pixels -> ground metres, 3x3."""
    projection: npt.NDArray[np.float64]
    """Ground metres (x, y, up) -> image pixels, 3x4."""

    @classmethod
    def of(
        cls, homography: npt.ArrayLike, principal_point_px: Sequence[float]
    ) -> HeightGeometry | None:
        """The geometry of a camera (``principal_point_px``: its optical centre, pixels);
        None when the homography admits no pinhole camera with that centre."""
        h = np.asarray(homography, dtype=np.float64).reshape(3, 3)
        u, v = (float(c) for c in principal_point_px)
        projection = _projection(h, (u, v))
        return None if projection is None else cls(h, projection)

    def height_m(self, xyxy: Sequence[float]) -> float | None:
        """Height in metres of an upright person in box ``xyxy`` (pixels); None when the
        geometry gives none or an implausible one."""
        box = _usable(xyxy)
        if box is None:
            return None
        return _plausible(_projected_height(self.homography, self.projection, box))


def box_height_m(
    matrix: npt.ArrayLike, xyxy: Sequence[float], principal_point_px: Sequence[float]
) -> float | None:
    """Height in metres of an upright person in box ``xyxy`` (pixels) of a camera whose
    image-to-ground homography is ``matrix`` (3x3) and optical centre
    ``principal_point_px``; None when the geometry gives none."""
    geometry = HeightGeometry.of(matrix, principal_point_px)
    return None if geometry is None else geometry.height_m(xyxy)


def local_scale_height_m(matrix: npt.ArrayLike, xyxy: Sequence[float]) -> float | None:
    """The height from the homography alone, without the optical centre (module
    docstring): exact only on the optical centre's row. Measured, not used: 5-8% off on
    WILDTRACK's views and 19% off for a camera tilted 15 degrees looking at someone
    near the image's bottom, more than people's heights differ."""
    box = _usable(xyxy)
    if box is None:
        return None
    return _plausible(_local_scale_height(np.asarray(matrix, np.float64).reshape(3, 3), box))


def _usable(xyxy: Sequence[float]) -> tuple[float, float, float, float] | None:
    x1, y1, x2, y2 = (float(v) for v in xyxy)
    if not all(math.isfinite(v) for v in (x1, y1, x2, y2)) or y2 - y1 < MIN_BOX_PX:
        return None
    return x1, y1, x2, y2


def _plausible(height: float | None) -> float | None:
    if height is None or not MIN_HEIGHT_M <= height <= MAX_HEIGHT_M:
        return None
    return height


def _ground(h: npt.NDArray[np.float64], u: float, v: float) -> tuple[float, float, float] | None:
    p = h @ np.array([u, v, 1.0])
    if abs(p[2]) < 1e-12:
        return None
    return float(p[0] / p[2]), float(p[1] / p[2]), float(p[2])


def _local_scale_height(
    h: npt.NDArray[np.float64], box: tuple[float, float, float, float]
) -> float | None:
    x1, y1, x2, y2 = box
    foot = _ground(h, (x1 + x2) / 2.0, y2)
    if foot is None:
        return None
    gx, gy, w = foot
    jacobian = (
        np.array(
            [
                [h[0, 0] - gx * h[2, 0], h[0, 1] - gx * h[2, 1]],
                [h[1, 0] - gy * h[2, 0], h[1, 1] - gy * h[2, 1]],
            ]
        )
        / w
    )
    s_rad, s_lat = (float(s) for s in np.linalg.svd(jacobian, compute_uv=False))
    if not (math.isfinite(s_rad) and math.isfinite(s_lat)) or s_rad <= 0 or s_lat <= 0:
        return None
    sin_phi = s_lat / s_rad
    if sin_phi > MAX_SIN_LOOK_DOWN:
        return None
    return (y2 - y1) * s_lat / math.sqrt(1.0 - sin_phi * sin_phi)


def _projected_height(
    h: npt.NDArray[np.float64],
    projection: npt.NDArray[np.float64],
    box: tuple[float, float, float, float],
) -> float | None:
    x1, y1, x2, y2 = box
    foot = _ground(h, (x1 + x2) / 2.0, y2)
    if foot is None:
        return None
    p = projection @ np.array([foot[0], foot[1], 0.0, 1.0])
    q = projection[:, 2]
    denominator = y1 * q[2] - q[1]
    if abs(denominator) < 1e-12:
        return None
    return float((p[1] - y1 * p[2]) / denominator)


def _projection(
    h: npt.NDArray[np.float64], centre: tuple[float, float]
) -> npt.NDArray[np.float64] | None:
    """Decompose a ground-to-image homography ``K [r1 r2 t]`` with ``K`` of unknown
    focal length and known optical centre; returns ``K [r1 r2 up t]`` (up: towards
    the camera) or None when the homography admits no such camera."""
    try:
        g = np.linalg.inv(h)
    except np.linalg.LinAlgError:
        return None
    shift = np.array([[1.0, 0.0, -centre[0]], [0.0, 1.0, -centre[1]], [0.0, 0.0, 1.0]])
    a = shift @ g
    c1, d1 = a[0, 0] * a[0, 1] + a[1, 0] * a[1, 1], a[2, 0] * a[2, 1]
    c2 = a[0, 0] ** 2 + a[1, 0] ** 2 - a[0, 1] ** 2 - a[1, 1] ** 2
    d2 = a[2, 0] ** 2 - a[2, 1] ** 2
    norm = c1 * c1 + c2 * c2
    if norm < 1e-24:
        return None
    inv_f2 = -(c1 * d1 + c2 * d2) / norm  # least squares for 1 / f^2
    if not inv_f2 > 0:
        return None
    f = 1.0 / math.sqrt(inv_f2)
    k = np.array([[f, 0.0, centre[0]], [0.0, f, centre[1]], [0.0, 0.0, 1.0]])
    m = np.linalg.inv(k) @ g
    m = m * 2.0 / (np.linalg.norm(m[:, 0]) + np.linalg.norm(m[:, 1]))
    if m[2, 2] < 0:  # the ground is in front of the camera
        m = -m
    r1, r2, t = m[:, 0], m[:, 1], m[:, 2]
    r3 = np.cross(r1, r2)
    rotation = np.column_stack([r1, r2, r3])
    camera_centre = -rotation.T @ t
    up = r3 if camera_centre[2] > 0 else -r3
    return np.asarray(k @ np.column_stack([r1, r2, up, t]), dtype=np.float64)


@dataclass(frozen=True)
class TrackletHeight:
    """A tracklet's height: the median of its boxes' and how sure that is."""

    median_m: float
    spread_m: float
    """Robust standard deviation of its boxes' heights (1.4826 x median absolute
    deviation): large when boxes are cut by the image edge or by other people."""
    seconds: float
    """Time its usable boxes span."""

    @property
    def error_m(self) -> float:
        """Standard error of the median: the spread over the square root of the seconds
        seen (boxes a fraction of a second apart share their errors: one per second)."""
        return self.spread_m / math.sqrt(max(1.0, self.seconds))


def tracklet_height(
    geometry: HeightGeometry | None, points: Sequence[TrackPoint], min_boxes: int = 3
) -> TrackletHeight | None:
    """A tracklet's height (None without calibration or with fewer than ``min_boxes``
    usable boxes)."""
    if geometry is None:
        return None
    usable = [(p.timestamp, v) for p in points if (v := geometry.height_m(p.xyxy)) is not None]
    if len(usable) < min_boxes:
        return None
    heights = np.array([v for _, v in usable])
    median = float(np.median(heights))
    spread = 1.4826 * float(np.median(np.abs(heights - median)))
    seconds = (usable[-1][0] - usable[0][0]).total_seconds()
    return TrackletHeight(median, spread, seconds)


def tracklet_height_m(
    geometry: HeightGeometry | None, points: Sequence[TrackPoint], min_boxes: int = 3
) -> float | None:
    """Median height of a tracklet's person in metres (see :func:`tracklet_height`)."""
    height = tracklet_height(geometry, points, min_boxes)
    return None if height is None else height.median_m


@dataclass(frozen=True)
class Heading:
    """Where a tracklet left (or entered) the view on the site plan, and which way."""

    x_m: float
    y_m: float
    dx: float
    dy: float
    """Unit vector of the walking direction."""


def heading(
    points: Sequence[TrackPoint], end: Literal["exit", "entry"], span_s: float = HEADING_S
) -> Heading | None:
    """The walking direction over a tracklet's last (``exit``) or first (``entry``)
    ``span_s`` seconds; None when it barely moved or its ground points are unknown."""
    usable = [p for p in points if all(math.isfinite(v) for v in p.ground_xy)]
    if len(usable) < 2:
        return None
    if end == "exit":
        last = usable[-1]
        window = [p for p in usable if (last.timestamp - p.timestamp).total_seconds() <= span_s]
        first = window[0]
        at = last
    else:
        first = usable[0]
        window = [p for p in usable if (p.timestamp - first.timestamp).total_seconds() <= span_s]
        last = window[-1]
        at = first
    dx = last.ground_xy[0] - first.ground_xy[0]
    dy = last.ground_xy[1] - first.ground_xy[1]
    norm = math.hypot(dx, dy)
    if norm < MIN_HEADING_M:
        return None
    return Heading(at.ground_xy[0], at.ground_xy[1], dx / norm, dy / norm)


def towards(h: Heading, target: tuple[float, float]) -> float | None:
    """Cosine between the heading and the direction from its point to ``target``."""
    tx, ty = target[0] - h.x_m, target[1] - h.y_m
    norm = math.hypot(tx, ty)
    if norm < 1e-6:
        return None
    return (h.dx * tx + h.dy * ty) / norm


def away_from(h: Heading, source: tuple[float, float]) -> float | None:
    """Cosine between the heading and the direction from ``source`` to its point: +1
    when walking straight in from ``source``'s side."""
    sx, sy = h.x_m - source[0], h.y_m - source[1]
    norm = math.hypot(sx, sy)
    if norm < 1e-6:
        return None
    return (h.dx * sx + h.dy * sy) / norm


def view_region_m(camera_config: Mapping[str, Any]) -> npt.NDArray[np.float64] | None:
    """What a camera sees on the site plan: the convex hull of its calibration's ground
    points, placed on the plan, as (N, 2) corners in order (None when uncalibrated)."""
    calibration = camera_config.get("calibration")
    if not isinstance(calibration, Mapping) or not calibration.get("points"):
        return None
    ground = np.asarray([row[2:4] for row in calibration["points"]], dtype=np.float64)
    if ground.ndim != 2 or ground.shape[1] != 2 or not np.all(np.isfinite(ground)):
        return None
    placement = calibration.get("placement") or {}
    angle = math.radians(float(placement.get("rotation_deg", 0.0)))
    rotation = np.array([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])
    shift = np.array([float(placement.get("x_m", 0.0)), float(placement.get("y_m", 0.0))])
    placed = ground @ rotation.T + shift
    return _convex_hull(placed)


def nearest_in_region(
    region: npt.NDArray[np.float64], x_m: float, y_m: float
) -> tuple[float, float] | None:
    """The point of ``region`` (convex polygon) nearest to (x, y); None when (x, y) is
    inside it (the two views overlap there: no way to walk towards it)."""
    point = np.array([x_m, y_m])
    if len(region) >= 3 and _inside(region, point):
        return None
    best: tuple[float, float] | None = None
    best_d = math.inf
    for i in range(len(region)):
        a, b = region[i], region[(i + 1) % len(region)]
        ab = b - a
        t = float(np.clip(np.dot(point - a, ab) / max(float(np.dot(ab, ab)), 1e-12), 0.0, 1.0))
        q = a + t * ab
        d = float(np.hypot(*(q - point)))
        if d < best_d:
            best_d, best = d, (float(q[0]), float(q[1]))
    return best


def regions_overlap(a: npt.NDArray[np.float64], b: npt.NDArray[np.float64]) -> bool:
    """Whether two convex polygons share ground (separating-axis test): two views that
    see the same floor give no direction to walk towards, and two cameras left at the
    plan's origin (no placement) would seem to."""
    if len(a) < 3 or len(b) < 3:
        return False
    for poly in (a, b):
        for i in range(len(poly)):
            edge = poly[(i + 1) % len(poly)] - poly[i]
            axis = np.array([-edge[1], edge[0]])
            pa, pb = a @ axis, b @ axis
            if pa.max() <= pb.min() or pb.max() <= pa.min():
                return False
    return True


def _convex_hull(points: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """Andrew's monotone chain, counter-clockwise."""
    pts = sorted({(float(x), float(y)) for x, y in points})
    if len(pts) < 3:
        return np.asarray(pts, dtype=np.float64).reshape(-1, 2)

    def cross(o: tuple[float, float], a: tuple[float, float], b: tuple[float, float]) -> float:
        return (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0])

    lower: list[tuple[float, float]] = []
    for p in pts:
        while len(lower) >= 2 and cross(lower[-2], lower[-1], p) <= 0:
            lower.pop()
        lower.append(p)
    upper: list[tuple[float, float]] = []
    for p in reversed(pts):
        while len(upper) >= 2 and cross(upper[-2], upper[-1], p) <= 0:
            upper.pop()
        upper.append(p)
    return np.asarray(lower[:-1] + upper[:-1], dtype=np.float64)


def _inside(polygon: npt.NDArray[np.float64], point: npt.NDArray[np.float64]) -> bool:
    """Inside (or on) a counter-clockwise convex polygon."""
    for i in range(len(polygon)):
        a, b = polygon[i], polygon[(i + 1) % len(polygon)]
        if (b[0] - a[0]) * (point[1] - a[1]) - (b[1] - a[1]) * (point[0] - a[0]) < 0:
            return False
    return True
