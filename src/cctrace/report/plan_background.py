"""The site's own plan image under the route: placed on the drawing's plane and warped.

:func:`plan_on_plane` maps the plan's pixels to the plane the route is drawn on
(:func:`cctrace.report.geo.plane_for`): site metres directly, lat/lon through the
cameras that have both (or the plane's own projection on a lat/lon-only site).
:func:`warp_background` resamples the picture onto the drawing's pixel grid, clipped
to it and lightened a little so the route stays readable; the HTML (SVG ``<image>``)
and the PDF draw the same raster first, under everything else.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Sequence
from dataclasses import dataclass

from PIL import Image

from cctrace.i18n import gettext
from cctrace.plans.georef import Matrix, PlacementError, compose, fit_placement, invert
from cctrace.plans.storage import ActivePlan
from cctrace.plans.tiles import TileSource, fetch_mosaic, lonlat_to_pixel
from cctrace.report.geo import XY, Plane, Transform, lonlat_to_site, site_to_lonlat
from cctrace.tracing.result import CameraInfo

FADE = 0.2
"""The plan is blended this much with white under the route."""
OVERSAMPLE = 2
"""Background pixels per drawing unit (sharp on high-density screens and in print)."""


@dataclass(frozen=True)
class PlanBackground:
    """The warped plan picture for one drawing."""

    data: bytes
    mime: str
    width: int
    height: int
    note: str

    @property
    def href(self) -> str:
        """A ``data:`` URI of :attr:`data` (the HTML report is one self-contained file)."""
        return f"data:{self.mime};base64,{base64.b64encode(self.data).decode('ascii')}"


def plan_on_plane(
    plan: ActivePlan, plane: Plane, cameras: Sequence[CameraInfo]
) -> tuple[Matrix | None, str]:
    """The map from the plan's pixels to ``plane`` metres, or None and why not."""
    cfg = plan.config
    pixels = [p.uv for p in cfg.points]
    if cfg.kind == "site":
        if plane.source == "latlon":
            return None, gettext(
                "The site plan is placed in site metres, but the cameras have lat/lon "
                "only: the plan is not drawn."
            )
        ground = cfg.ground()
    else:
        latlon = [(float(p.lat or 0.0), float(p.lon or 0.0)) for p in cfg.points]
        if plane.source == "latlon" and plane.projection is not None:
            ground = [plane.projection.to_metres(lat, lon) for lat, lon in latlon]
        elif plane.source == "site":
            to_site = lonlat_to_site(cameras)
            if to_site is None:
                return None, gettext(
                    "The site plan is placed by lat/lon, but fewer than two cameras have "
                    "both site metres and lat/lon: the plan is not drawn."
                )
            ground = [to_site(lon, lat) for lat, lon in latlon]
        else:
            ground = cfg.ground()
    try:
        return fit_placement(pixels, ground).matrix, ""
    except PlacementError as exc:
        return None, gettext("The site plan could not be placed: {error}").format(error=exc)


def plan_corners(matrix: Matrix, width: int, height: int) -> list[XY]:
    """Where the picture's four corners fall (plane metres)."""
    (a, b, c), (d, e, f) = matrix
    return [
        (a * u + b * v + c, d * u + e * v + f)
        for u, v in ((0, 0), (width, 0), (width, height), (0, height))
    ]


def _encode(img: Image.Image) -> tuple[bytes, str]:
    png = io.BytesIO()
    img.save(png, format="PNG")
    jpeg = io.BytesIO()
    img.save(jpeg, format="JPEG", quality=88)
    if len(jpeg.getvalue()) < 0.6 * len(png.getvalue()):
        return jpeg.getvalue(), "image/jpeg"
    return png.getvalue(), "image/png"


def warp_background(
    picture: Image.Image, pixel_to_drawing: Matrix, width: int, height: int, note: str = ""
) -> PlanBackground:
    """``picture`` resampled onto a ``width`` x ``height`` drawing (at
    :data:`OVERSAMPLE`), where ``pixel_to_drawing`` maps its pixels to drawing units."""
    (a, b, _), (d, e, _) = pixel_to_drawing
    drawing_px_per_image_px = abs(a * e - b * d) ** 0.5 * OVERSAMPLE
    source = picture
    matrix = pixel_to_drawing
    shrink = int(1 / drawing_px_per_image_px) if drawing_px_per_image_px < 0.5 else 1
    if shrink > 1:  # pre-reduce so thin lines of a large plan survive the resampling
        source = picture.reduce(shrink)
        matrix = compose(pixel_to_drawing, ((shrink, 0.0, 0.0), (0.0, shrink, 0.0)))
    out_w, out_h = width * OVERSAMPLE, height * OVERSAMPLE
    back = compose(invert(matrix), ((1 / OVERSAMPLE, 0.0, 0.0), (0.0, 1 / OVERSAMPLE, 0.0)))
    (p, q, r), (s, t, u) = back
    warped = source.convert("RGB").transform(
        (out_w, out_h),
        Image.Transform.AFFINE,
        (p, q, r, s, t, u),
        resample=Image.Resampling.BILINEAR,
        fillcolor=(255, 255, 255),
    )
    faded = Image.blend(warped, Image.new("RGB", warped.size, (255, 255, 255)), FADE)
    data, mime = _encode(faded)
    return PlanBackground(data, mime, out_w, out_h, note)


def _to_lonlat(plane: Plane, cameras: Sequence[CameraInfo]) -> Transform | None:
    """Plane metres -> ``(lon, lat)``, where the plane has a link to lat/lon."""
    if plane.source == "latlon" and plane.projection is not None:
        return plane.projection.to_lonlat
    if plane.source == "site":
        return site_to_lonlat(cameras)
    return None


def tiles_background(
    source: TileSource,
    plane: Plane,
    cameras: Sequence[CameraInfo],
    corners_m: Sequence[XY],
    metres_to_drawing: Matrix,
    width: int,
    height: int,
) -> tuple[PlanBackground | None, str]:
    """The site's map tiles under a drawing whose corners are ``corners_m`` (plane
    metres), or None and why not."""
    to_lonlat = _to_lonlat(plane, cameras)
    if to_lonlat is None:
        return None, gettext(
            "The site's map tiles need cameras with lat/lon (and, with site metres, two "
            "cameras with both): the grid is drawn instead."
        )
    lonlat = [to_lonlat(x, y) for x, y in corners_m]
    lons = [p[0] for p in lonlat]
    lats = [p[1] for p in lonlat]
    mosaic = fetch_mosaic(
        source.config, min(lons), min(lats), max(lons), max(lats), width * OVERSAMPLE
    )
    if mosaic is None:
        return None, gettext(
            "The site's map tile server gave no tiles for this area: the grid is drawn instead."
        )
    pixels = []
    for lon, lat in lonlat:
        gx, gy = lonlat_to_pixel(lon, lat, mosaic.zoom)
        pixels.append((gx - mosaic.x0, gy - mosaic.y0))
    try:
        to_plane = fit_placement(pixels, list(corners_m)).matrix
    except PlacementError as exc:
        return None, gettext("The site plan could not be placed: {error}").format(error=exc)
    note = gettext("Map tiles from the site's tile server.")
    if source.config.attribution:
        note += " " + source.config.attribution
    background = warp_background(mosaic.image, compose(metres_to_drawing, to_plane), width, height)
    return background, note
