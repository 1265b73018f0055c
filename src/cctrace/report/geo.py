"""Positions for maps: site metres, lat/lon and the link between them.

Sighting paths are in site metres; cameras may have site metres, lat/lon or both.
This module places everything on one plane for the site plan, and georeferences
site metres to lon/lat for GeoJSON where at least two cameras have both.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from cctrace.plans.projection import EARTH_RADIUS_M as EARTH_RADIUS_M
from cctrace.plans.projection import LocalProjection as LocalProjection
from cctrace.tracing.result import CameraInfo, PathPoint, SightingResult

XY = tuple[float, float]
Transform = Callable[[float, float], XY]


def _ok(*values: float | None) -> bool:
    return all(v is not None and math.isfinite(v) for v in values)


def has_site(c: CameraInfo) -> bool:
    """The camera has finite site-plan metres."""
    return _ok(c.x_m, c.y_m)


def has_latlon(c: CameraInfo) -> bool:
    """The camera has a finite, valid latitude and longitude."""
    return (
        _ok(c.lat, c.lon)
        and c.lat is not None
        and c.lon is not None
        and -90 <= c.lat <= 90
        and -180 <= c.lon <= 180
    )


def fit_plane_transform(src: Sequence[XY], dst: Sequence[XY]) -> Transform | None:
    """Least-squares map from ``src`` to ``dst`` points in a plane.

    Affine with three or more non-collinear pairs; a similarity (rotation, scale,
    shift, no mirror) with two distinct points or collinear ones; None otherwise.
    """
    if len(src) != len(dst) or len(src) < 2:
        return None
    a = np.asarray(src, dtype=np.float64)
    b = np.asarray(dst, dtype=np.float64)
    centred = a - a.mean(axis=0)
    if np.linalg.matrix_rank(centred, tol=1e-6) == 2 and len(a) >= 3:
        design = np.column_stack([a, np.ones(len(a))])
        coef, *_ = np.linalg.lstsq(design, b, rcond=None)

        def affine(x: float, y: float) -> XY:
            out = np.array([x, y, 1.0]) @ coef
            return (float(out[0]), float(out[1]))

        return affine
    if np.allclose(centred, 0):
        return None
    za = a[:, 0] + 1j * a[:, 1]
    zb = b[:, 0] + 1j * b[:, 1]
    za_c = za - za.mean()
    scale_rot = complex(np.vdot(za_c, zb - zb.mean()) / np.vdot(za_c, za_c))
    shift = complex(zb.mean() - scale_rot * za.mean())

    def similarity(x: float, y: float) -> XY:
        z = scale_rot * complex(x, y) + shift
        return (z.real, z.imag)

    return similarity


def site_xy(c: CameraInfo) -> XY:
    """The camera's site metres ``(x, y)``; raises ValueError when unknown."""
    if c.x_m is None or c.y_m is None or not has_site(c):
        raise ValueError(f"camera {c.camera_id!r} has no site position")
    return (float(c.x_m), float(c.y_m))


def lat_lon(c: CameraInfo) -> XY:
    """The camera's ``(lat, lon)``; raises ValueError when unknown."""
    if c.lat is None or c.lon is None or not has_latlon(c):
        raise ValueError(f"camera {c.camera_id!r} has no lat/lon")
    return (float(c.lat), float(c.lon))


def _both(cameras: Sequence[CameraInfo]) -> list[CameraInfo]:
    return [c for c in cameras if has_site(c) and has_latlon(c)]


def site_to_lonlat(cameras: Sequence[CameraInfo]) -> Transform | None:
    """Site metres -> ``(lon, lat)``, fitted on cameras that have both; None if < 2."""
    both = _both(cameras)
    if len(both) < 2:
        return None
    proj = LocalProjection.around([lat_lon(c) for c in both])
    fit = fit_plane_transform(
        [site_xy(c) for c in both], [proj.to_metres(*lat_lon(c)) for c in both]
    )
    if fit is None:
        return None

    def transform(x: float, y: float) -> XY:
        return proj.to_lonlat(*fit(x, y))

    return transform


def lonlat_to_site(cameras: Sequence[CameraInfo]) -> Transform | None:
    """``(lon, lat)`` -> site metres, fitted on cameras that have both; None if < 2."""
    both = _both(cameras)
    if len(both) < 2:
        return None
    proj = LocalProjection.around([lat_lon(c) for c in both])
    fit = fit_plane_transform(
        [proj.to_metres(*lat_lon(c)) for c in both], [site_xy(c) for c in both]
    )
    if fit is None:
        return None

    def transform(lon: float, lat: float) -> XY:
        return fit(*proj.to_metres(lat, lon))

    return transform


@dataclass(frozen=True)
class Plane:
    """Everything placed on one metric plane, for drawing a site plan.

    ``source`` is ``"site"`` when site metres exist (cameras with only lat/lon are
    placed through a fit where possible), ``"latlon"`` when only lat/lon exist
    (projected locally to metres east/north), ``"none"`` when no camera has a
    position. Sighting paths are in site metres, so they are usable only when
    ``paths_usable`` (source ``"site"`` or ``"none"``).
    """

    source: Literal["site", "latlon", "none"]
    cameras: dict[str, XY] = field(default_factory=dict)
    unplaced: tuple[str, ...] = ()
    """Camera ids that could not be placed."""
    projection: LocalProjection | None = None
    """With ``source`` ``"latlon"``: the projection from lat/lon to this plane."""

    @property
    def paths_usable(self) -> bool:
        """Sighting paths (site metres) can be drawn on this plane."""
        return self.source != "latlon"


def plane_for(cameras: Sequence[CameraInfo]) -> Plane:
    """Place the cameras on one plane (see :class:`Plane`)."""
    placed: dict[str, XY] = {}
    projection: LocalProjection | None = None
    if any(has_site(c) for c in cameras):
        to_site = lonlat_to_site(cameras)
        for c in cameras:
            if has_site(c):
                placed[c.camera_id] = site_xy(c)
            elif to_site is not None and has_latlon(c):
                lat, lon = lat_lon(c)
                placed[c.camera_id] = to_site(lon, lat)
        source: Literal["site", "latlon", "none"] = "site"
    elif any(has_latlon(c) for c in cameras):
        geo = [c for c in cameras if has_latlon(c)]
        proj = LocalProjection.around([lat_lon(c) for c in geo])
        placed = {c.camera_id: proj.to_metres(*lat_lon(c)) for c in geo}
        source = "latlon"
        projection = proj
    else:
        source = "none"
    unplaced = tuple(c.camera_id for c in cameras if c.camera_id not in placed)
    return Plane(
        source=source,
        cameras=placed,
        unplaced=unplaced,
        projection=projection,
    )


def path_points(sighting: SightingResult) -> list[PathPoint]:
    """The sighting's finite path points in time order."""
    return sorted((p for p in sighting.path if _ok(p.x_m, p.y_m)), key=lambda p: p.timestamp)


def sighting_xy(sighting: SightingResult, plane: Plane) -> list[XY]:
    """Where the sighting goes on ``plane``: its path, else its camera, else nothing."""
    if plane.paths_usable:
        pts = path_points(sighting)
        if pts:
            return [(p.x_m, p.y_m) for p in pts]
    cam = plane.cameras.get(sighting.camera_id)
    return [cam] if cam is not None else []
