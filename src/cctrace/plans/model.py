"""A site plan's declaration: its image and 2-6 reference points.

Used for the site file's ``site_plan`` key and for a plan an admin uploaded (kept as
JSON in the data folder). Each point pairs an image pixel (``pixel: [x, y]``, x right,
y down, in the image as stored: see :mod:`cctrace.plans.images`) with a place on the
site: ``x_m``/``y_m`` (site-plan metres) or ``lat``/``lon`` (WGS84), the same kind for
every point. The points are fitted when the declaration is read, so a degenerate set
is refused where it is written (the site file's line, or the admin's form).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from cctrace.plans.georef import MAX_POINTS, Placement, PlacementError, fit_placement

PointKind = Literal["site", "latlon"]


class _Strict(BaseModel):
    model_config = ConfigDict(
        extra="forbid", frozen=True, allow_inf_nan=False, hide_input_in_errors=True
    )


class PlanPoint(_Strict):
    """One reference point: an image pixel and where it is on the site."""

    pixel: Annotated[list[float], Field(min_length=2, max_length=2)] = Field(
        ..., description="[x, y] image pixel (x right, y down)"
    )
    x_m: float | None = Field(None, description="East on the site plan, metres")
    y_m: float | None = Field(None, description="North on the site plan, metres")
    lat: float | None = Field(None, ge=-90, le=90, description="Latitude, degrees")
    lon: float | None = Field(None, ge=-180, le=180, description="Longitude, degrees")

    @model_validator(mode="after")
    def _one_place(self) -> PlanPoint:
        has_xy = self.x_m is not None and self.y_m is not None
        has_ll = self.lat is not None and self.lon is not None
        if has_xy == has_ll:
            raise ValueError("give x_m and y_m (site metres) or lat and lon, not both")
        if min(self.pixel) < 0:
            raise ValueError("pixel coordinates must not be negative")
        return self

    @property
    def kind(self) -> PointKind:
        """``site`` (metres) or ``latlon``."""
        return "site" if self.x_m is not None else "latlon"

    @property
    def uv(self) -> tuple[float, float]:
        """The image pixel."""
        return (float(self.pixel[0]), float(self.pixel[1]))


class SitePlanConfig(_Strict):
    """The site's own plan image, placed by reference points."""

    image: Path = Field(..., description="PNG, JPEG or SVG file (relative to the site file)")
    points: list[PlanPoint] = Field(
        ...,
        min_length=2,
        max_length=MAX_POINTS,
        description="2 points place the plan true to scale; 3 or more fit an affine map "
        "and show how far each point is from a true-to-scale placement",
    )

    @model_validator(mode="after")
    def _fits(self) -> SitePlanConfig:
        kinds = {p.kind for p in self.points}
        if len(kinds) > 1:
            raise ValueError("give every point in site metres (x_m, y_m) or every one in lat/lon")
        try:
            self.placement()
        except PlacementError as exc:
            raise ValueError(str(exc)) from None
        return self

    @property
    def kind(self) -> PointKind:
        """How the points are given."""
        return self.points[0].kind

    def ground(self) -> list[tuple[float, float]]:
        """The points' places in metres: site metres as given, lat/lon projected around
        the points' mean (east/north)."""
        if self.kind == "site":
            return [(float(p.x_m or 0.0), float(p.y_m or 0.0)) for p in self.points]
        from cctrace.plans.projection import LocalProjection

        latlon = [(float(p.lat or 0.0), float(p.lon or 0.0)) for p in self.points]
        proj = LocalProjection.around(latlon)
        return [proj.to_metres(lat, lon) for lat, lon in latlon]

    def placement(self) -> Placement:
        """The fit in :meth:`ground`'s metres (its residuals and check in metres)."""
        return fit_placement([p.uv for p in self.points], self.ground())


class MapTilesConfig(_Strict):
    """The site's own map tile server (XYZ, Web Mercator, 256-pixel tiles), used only
    when set and only when no plan image is in force. Tiles are fetched by the server
    when a page or report is drawn, from this URL only, and embedded in the drawing."""

    url: str = Field(
        ...,
        max_length=500,
        description="http(s) URL template with {z}, {x} and {y}, e.g. "
        "https://tiles.city.internal/osm/{z}/{x}/{y}.png",
    )
    max_zoom: int = Field(19, ge=0, le=22, description="Highest zoom level the server has")
    attribution: str = Field(
        "", max_length=200, description="Shown under the map (the tiles' licence)"
    )
    timeout_s: float = Field(5.0, gt=0, le=60, description="Per-tile request timeout")

    @field_validator("url")
    @classmethod
    def _template(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError("url must be an http:// or https:// URL")
        missing = [k for k in ("{z}", "{x}", "{y}") if k not in value]
        if missing:
            raise ValueError(f"url must contain {', '.join(missing)}")
        if re.search(r"\{(?!z\}|x\}|y\})", value):
            raise ValueError("url may contain only the placeholders {z}, {x} and {y}")
        return value

    @property
    def origin(self) -> str:
        """``scheme://host[:port]`` of the tile server (for the page's CSP)."""
        parts = urlsplit(self.url)
        return f"{parts.scheme}://{parts.netloc}"
