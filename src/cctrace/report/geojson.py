"""The case's route as a GeoJSON FeatureCollection.

Features, each with a ``kind`` property:

* ``route``: a LineString through the accepted sightings in time order (the
  sightings' ground paths, or their camera positions where there is no path);
  ``properties.sightings`` lists the tracklet ids in order. Its geometry is null
  when fewer than two positions are known.
* ``sighting``: a Point per sighting (accepted and needing review) at the centroid
  of its path (else its camera) with camera, start/end (ISO-8601 UTC), score,
  status, mask status and route order.
* ``camera``: a Point per camera with its id and name.

Coordinates: ``lonlat`` (WGS84 longitude, latitude, as RFC 7946 requires) when a
camera has lat/lon and no camera is placed by site metres alone; site paths are
then georeferenced by a fit on cameras that have both (at least two), else the
route runs camera to camera. Otherwise ``site_m``: x/y metres on the site plan,
which GeoJSON tools will show as if they were degrees. The collection's
top-level ``properties`` member (a foreign member) says which, in ``coordinates``
and ``crs_note``, with the case id and the ``schema`` (``cctrace.route/1``).
Features whose position is unknown have a null geometry.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any, Literal

from cctrace.report.formatting import (
    camera_index,
    camera_name,
    finite,
    iso_utc,
    route_order,
    sighting_key,
)
from cctrace.report.geo import (
    XY,
    Transform,
    has_latlon,
    has_site,
    lat_lon,
    path_points,
    plane_for,
    site_to_lonlat,
)
from cctrace.report.json_report import atomic_write_text
from cctrace.tracing.result import CameraInfo, SightingResult, TraceResult

logger = logging.getLogger(__name__)

SCHEMA_ID = "cctrace.route/1"
Coordinates = Literal["lonlat", "site_m"]

_NOTES: dict[Coordinates, str] = {
    "lonlat": "WGS84 longitude/latitude in degrees (RFC 7946).",
    "site_m": (
        "Site-plan metres (x, y), not longitude/latitude: no camera has lat/lon, or some "
        "are placed by site metres only. Do not overlay on a web map."
    ),
}


def coordinates_for(cameras: tuple[CameraInfo, ...]) -> Coordinates:
    """``lonlat`` when some camera has lat/lon and none has site metres only."""
    if any(has_latlon(c) for c in cameras) and not any(
        has_site(c) and not has_latlon(c) for c in cameras
    ):
        return "lonlat"
    return "site_m"


def _point(xy: XY | None) -> dict[str, Any] | None:
    return None if xy is None else {"type": "Point", "coordinates": [xy[0], xy[1]]}


class _Placer:
    """Positions in the chosen coordinates."""

    def __init__(self, result: TraceResult) -> None:
        self.coordinates = coordinates_for(result.cameras)
        self.cams: dict[str, XY] = {}
        self.path_transform: Transform | None = None
        if self.coordinates == "lonlat":
            for c in result.cameras:
                if has_latlon(c):
                    lat, lon = lat_lon(c)
                    self.cams[c.camera_id] = (lon, lat)
            self.path_transform = site_to_lonlat(result.cameras)
            self.paths_usable = self.path_transform is not None
        else:
            plane = plane_for(result.cameras)
            self.cams = dict(plane.cameras) if plane.source == "site" else {}
            self.paths_usable = True

    def path(self, s: SightingResult) -> list[XY]:
        if self.paths_usable:
            pts = [(p.x_m, p.y_m) for p in path_points(s)]
            if pts:
                t = self.path_transform
                return [t(x, y) for x, y in pts] if t is not None else pts
        cam = self.cams.get(s.camera_id)
        return [cam] if cam is not None else []

    def centroid(self, s: SightingResult) -> XY | None:
        pts = self.path(s)
        if not pts:
            return None
        return (sum(p[0] for p in pts) / len(pts), sum(p[1] for p in pts) / len(pts))


def route_to_geojson(result: TraceResult) -> dict[str, Any]:
    """The route, sightings and cameras as a GeoJSON FeatureCollection dict."""
    placer = _Placer(result)
    cams = camera_index(result)
    order = route_order(result)

    line: list[XY] = []
    for s in result.route:
        for xy in placer.path(s):
            if not line or line[-1] != xy:
                line.append(xy)
    route_feature: dict[str, Any] = {
        "type": "Feature",
        "geometry": (
            {"type": "LineString", "coordinates": [[x, y] for x, y in line]}
            if len(line) >= 2
            else None
        ),
        "properties": {
            "kind": "route",
            "sightings": [s.tracklet_id for s in result.route],
            "cameras": [s.camera_id for s in result.route],
            "start": iso_utc(result.route[0].start) if result.route else None,
            "end": iso_utc(max(s.end for s in result.route)) if result.route else None,
            "detail": "paths" if placer.paths_usable else "cameras",
        },
    }
    features: list[dict[str, Any]] = [route_feature]
    for s in sorted(result.sightings, key=lambda s: s.start):
        features.append(
            {
                "type": "Feature",
                "geometry": _point(placer.centroid(s)),
                "properties": {
                    "kind": "sighting",
                    "tracklet_id": s.tracklet_id,
                    "camera_id": s.camera_id,
                    "camera_name": camera_name(cams, s.camera_id),
                    "start": iso_utc(s.start),
                    "end": iso_utc(s.end),
                    "score": finite(s.score),
                    "status": s.status.value,
                    "mask_status": s.mask_status.value,
                    "route_order": order.get(sighting_key(s)),
                },
            }
        )
    for c in result.cameras:
        features.append(
            {
                "type": "Feature",
                "geometry": _point(placer.cams.get(c.camera_id)),
                "properties": {"kind": "camera", "camera_id": c.camera_id, "name": c.name},
            }
        )
    return {
        "type": "FeatureCollection",
        "properties": {
            "schema": SCHEMA_ID,
            "case_id": result.query.case_id,
            "coordinates": placer.coordinates,
            "crs_note": _NOTES[placer.coordinates],
        },
        "features": features,
    }


def write_geojson(result: TraceResult, path: str | os.PathLike[str]) -> Path:
    """Write :func:`route_to_geojson` to ``path``; returns the path."""
    text = json.dumps(route_to_geojson(result), indent=2, ensure_ascii=False, allow_nan=False)
    out = atomic_write_text(Path(path), text + "\n")
    logger.info("wrote GeoJSON route %s", out)
    return out
