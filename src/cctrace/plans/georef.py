"""Placing a site-plan image on the site: image pixels -> ground metres.

Two reference points fix a similarity (shift, rotation, one scale; never a mirror);
three or more fit an affine map by least squares (a plan may be stretched or sheared,
e.g. a map export). Pixels have y pointing down, ground metres y up (north), so a
north-up plan has a negative determinant; a positive one means the image would be
mirrored, which is refused (two points were swapped).

Two points always fit exactly, and so do three points with an affine map, so the fit's
own residuals cannot show a misplaced point. The **check** says how far each point lies
from the best true-to-scale (similarity) placement of all points: a floor plan or map
export is drawn to scale, so a check of more than a few per cent of the points' spread
means a point was typed or picked wrongly.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from cctrace.errors import CctraceError
from cctrace.i18n import gettext

XY = tuple[float, float]
Matrix = tuple[tuple[float, float, float], tuple[float, float, float]]
"""A 2x3 affine map: ``(x, y) = M @ (u, v, 1)``."""

MAX_POINTS = 6
MIN_PIXEL_GAP = 8.0
"""Reference points closer than this many image pixels are refused."""
MIN_GROUND_GAP_M = 0.05
MIN_SPREAD = 0.02
"""Three or more points whose triangle is thinner than this fraction of their spread
(nearly on one line) cannot fix an affine map."""
CHECK_WARN_FRACTION = 0.03
"""A check residual above this fraction of the points' ground spread is flagged."""
CHECK_WARN_MIN_M = 0.5


class PlacementError(CctraceError, ValueError):
    """Reference points that cannot place a plan (too few, repeated, on one line,
    mirrored); the message says which points and why."""


@dataclass(frozen=True)
class Placement:
    """A fitted placement: ``matrix`` maps image pixels to ground metres."""

    matrix: Matrix
    kind: Literal["similarity", "affine"]
    residuals_m: tuple[float, ...]
    """Per point: distance between where the fit puts its pixel and its ground point."""
    check_m: tuple[float, ...]
    """Per point: distance from the best true-to-scale placement (zeros for 2 points)."""
    spread_m: float
    """Largest distance between two ground points."""

    def apply(self, u: float, v: float) -> XY:
        """Ground metres of image pixel ``(u, v)``."""
        (a, b, c), (d, e, f) = self.matrix
        return (a * u + b * v + c, d * u + e * v + f)

    @property
    def metres_per_pixel(self) -> float:
        """Mean scale of the placement (square root of the area scale)."""
        (a, b, _), (d, e, _) = self.matrix
        return math.sqrt(abs(a * e - b * d))

    @property
    def check_max_m(self) -> float:
        """Largest :attr:`check_m` (0 with two points)."""
        return max(self.check_m, default=0.0)

    @property
    def checkable(self) -> bool:
        """Three or more points: the check can show a misplaced point."""
        return len(self.check_m) >= 3

    @property
    def suspicious(self) -> bool:
        """The check is large for the points' spread: probably a mistyped point."""
        limit = max(CHECK_WARN_MIN_M, CHECK_WARN_FRACTION * self.spread_m)
        return self.checkable and self.check_max_m > limit

    def worst_point(self) -> int:
        """1-based number of the point with the largest check."""
        return int(np.argmax(self.check_m)) + 1 if self.check_m else 0


def _similarity(src: np.ndarray, dst: np.ndarray) -> Matrix:
    """Least-squares similarity from pixels (y down) to metres (y up), no mirror."""
    za = src[:, 0] - 1j * src[:, 1]  # flip v so a plain rotation+scale maps pixels north-up
    zb = dst[:, 0] + 1j * dst[:, 1]
    za_c = za - za.mean()
    c = complex(np.vdot(za_c, zb - zb.mean()) / np.vdot(za_c, za_c))
    t = complex(zb.mean() - c * za.mean())
    # x + iy = c * (u - iv) + t
    return ((c.real, c.imag, t.real), (c.imag, -c.real, t.imag))


def _affine(src: np.ndarray, dst: np.ndarray) -> Matrix:
    design = np.column_stack([src, np.ones(len(src))])
    coef, *_ = np.linalg.lstsq(design, dst, rcond=None)
    m = coef.T
    return (
        (float(m[0, 0]), float(m[0, 1]), float(m[0, 2])),
        (float(m[1, 0]), float(m[1, 1]), float(m[1, 2])),
    )


def _apply(matrix: Matrix, pts: np.ndarray) -> np.ndarray:
    m = np.asarray(matrix, dtype=np.float64)
    return pts @ m[:, :2].T + m[:, 2]


def _thinness(pts: np.ndarray) -> float:
    """0 for points on one line, larger for a spread-out set (smallest over largest
    singular value of the centred points)."""
    s = np.linalg.svd(pts - pts.mean(axis=0), compute_uv=False)
    return float(s[-1] / s[0]) if s[0] > 0 else 0.0


def _check_distinct(pts: np.ndarray, gap: float, what: str) -> None:
    for i, j in itertools.combinations(range(len(pts)), 2):
        if float(np.hypot(*(pts[i] - pts[j]))) < gap:
            raise PlacementError(
                gettext("points {a} and {b} are at the same place in the {what}").format(
                    a=i + 1, b=j + 1, what=what
                )
            )


def fit_placement(pixels: Sequence[XY], ground: Sequence[XY]) -> Placement:
    """Fit image ``pixels`` to ``ground`` metres (see the module's notes).

    Raises :class:`PlacementError` for fewer than two or more than :data:`MAX_POINTS`
    points, non-finite numbers, repeated points, three or more points on one line, or a
    mirrored placement.
    """
    n = len(pixels)
    if n != len(ground):
        raise PlacementError(gettext("each reference point needs an image pixel and a place"))
    if n < 2:
        raise PlacementError(gettext("give at least two reference points (three to check them)"))
    if n > MAX_POINTS:
        raise PlacementError(gettext("give at most {n} reference points").format(n=MAX_POINTS))
    src = np.asarray(pixels, dtype=np.float64).reshape(n, 2)
    dst = np.asarray(ground, dtype=np.float64).reshape(n, 2)
    if not (np.isfinite(src).all() and np.isfinite(dst).all()):
        raise PlacementError(gettext("reference points must be finite numbers"))
    _check_distinct(src, MIN_PIXEL_GAP, gettext("image"))
    _check_distinct(dst, MIN_GROUND_GAP_M, gettext("site"))
    similarity = _similarity(src, dst)
    if n == 2:
        matrix, kind = similarity, "similarity"
    else:
        if _thinness(src) < MIN_SPREAD:
            raise PlacementError(
                gettext(
                    "the reference points lie on one line in the image: move one away from "
                    "the line through the others, or give two points only"
                )
            )
        if _thinness(dst) < MIN_SPREAD:
            raise PlacementError(
                gettext(
                    "the reference points lie on one line on the site: move one away from "
                    "the line through the others, or give two points only"
                )
            )
        matrix, kind = _affine(src, dst), "affine"
        (a, b, _), (d, e, _) = matrix
        if a * e - b * d > 0:
            raise PlacementError(
                gettext(
                    "these points would mirror the plan: check that each image pixel is "
                    "paired with its own place on the site"
                )
            )
    residuals = np.hypot(*(_apply(matrix, src) - dst).T)
    check = np.hypot(*(_apply(similarity, src) - dst).T)
    spread = max(float(np.hypot(*(p - q))) for p, q in itertools.combinations(dst, 2))
    return Placement(
        matrix=matrix,
        kind=kind,  # type: ignore[arg-type]
        residuals_m=tuple(float(r) for r in residuals),
        check_m=tuple(float(c) for c in check) if n >= 3 else (0.0,) * n,
        spread_m=spread,
    )


def compose(outer: Matrix, inner: Matrix) -> Matrix:
    """The map ``outer(inner(p))`` of two 2x3 affine maps."""
    o = np.vstack([np.asarray(outer, dtype=np.float64), [0.0, 0.0, 1.0]])
    i = np.vstack([np.asarray(inner, dtype=np.float64), [0.0, 0.0, 1.0]])
    m = o @ i
    return (
        (float(m[0, 0]), float(m[0, 1]), float(m[0, 2])),
        (float(m[1, 0]), float(m[1, 1]), float(m[1, 2])),
    )


def invert(matrix: Matrix) -> Matrix:
    """The inverse of a 2x3 affine map; :class:`PlacementError` when it is singular."""
    m = np.vstack([np.asarray(matrix, dtype=np.float64), [0.0, 0.0, 1.0]])
    if abs(np.linalg.det(m)) < 1e-12:
        raise PlacementError(gettext("the placement is degenerate (zero area)"))
    inv = np.linalg.inv(m)
    return (
        (float(inv[0, 0]), float(inv[0, 1]), float(inv[0, 2])),
        (float(inv[1, 0]), float(inv[1, 1]), float(inv[1, 2])),
    )
