"""Lat/lon to local metres and back (used by site plans, maps and GeoJSON)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

XY = tuple[float, float]

EARTH_RADIUS_M = 6_371_008.8
"""Mean Earth radius (IUGG)."""


@dataclass(frozen=True)
class LocalProjection:
    """Equirectangular projection around a reference point: metres east/north.

    Accurate to well under a metre across a site a few kilometres wide.
    """

    lat0: float
    lon0: float

    @classmethod
    def around(cls, points: Sequence[tuple[float, float]]) -> LocalProjection:
        """Centred on the mean of ``(lat, lon)`` points."""
        lats = [p[0] for p in points]
        lons = [p[1] for p in points]
        return cls(sum(lats) / len(lats), sum(lons) / len(lons))

    def to_metres(self, lat: float, lon: float) -> XY:
        """``(east, north)`` metres from the reference point."""
        k = math.pi / 180 * EARTH_RADIUS_M
        return ((lon - self.lon0) * k * math.cos(math.radians(self.lat0)), (lat - self.lat0) * k)

    def to_lonlat(self, x: float, y: float) -> XY:
        """``(lon, lat)`` degrees of a point ``(east, north)`` metres away."""
        k = math.pi / 180 * EARTH_RADIUS_M
        return (self.lon0 + x / (k * math.cos(math.radians(self.lat0))), self.lat0 + y / k)
