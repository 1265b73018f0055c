"""Map tiles from the site's own tile server (``map_tiles`` in the site file).

Nothing here runs unless the site sets ``map_tiles.url``: cctrace never fetches a map
from anywhere else. For a drawing's lat/lon bounds, :func:`fetch_mosaic` picks the zoom
whose tiles are about as sharp as the drawing, fetches at most :data:`MAX_TILES`
tiles (each checked like an uploaded picture: PNG/JPEG, size-limited), keeps recent
tiles in memory, and stitches them. A tile that cannot be had is left blank; when none
can, the drawing falls back to the grid and its note says why.
"""

from __future__ import annotations

import io
import logging
import math
from dataclasses import dataclass

from PIL import Image

from cctrace.lru import LruCache
from cctrace.plans.model import MapTilesConfig

log = logging.getLogger(__name__)

TILE = 256
MAX_TILES = 36
MAX_TILE_BYTES = 2 * 1024 * 1024
CACHE_TILES = 512
MAX_LAT = 85.05112878


@dataclass(frozen=True)
class TileSource:
    """A site's tile server, in force when no plan image is (see
    :func:`cctrace.plans.storage.active_plan`)."""

    config: MapTilesConfig


@dataclass(frozen=True)
class Mosaic:
    """Stitched tiles: ``image`` covers global Web-Mercator pixels from ``(x0, y0)`` at
    ``zoom``."""

    image: Image.Image
    zoom: int
    x0: int
    y0: int
    fetched: int
    failed: int


def lonlat_to_pixel(lon: float, lat: float, zoom: int) -> tuple[float, float]:
    """Global Web-Mercator pixel of ``(lon, lat)`` at ``zoom`` (256-pixel tiles)."""
    lat = max(-MAX_LAT, min(MAX_LAT, lat))
    n = TILE * 2**zoom
    x = (lon + 180.0) / 360.0 * n
    s = math.sin(math.radians(lat))
    y = (0.5 - math.log((1 + s) / (1 - s)) / (4 * math.pi)) * n
    return x, y


_cache: LruCache[str, Image.Image | None] = LruCache(CACHE_TILES)
"""Tiles by URL, failed ones (None) included, so a dead server is asked once per tile."""


def _fetch_tile(cfg: MapTilesConfig, z: int, x: int, y: int) -> Image.Image | None:
    url = cfg.url.format(z=z, x=x, y=y)
    return _cache.get_or_compute(url, lambda: _download_tile(cfg, url))


def _download_tile(cfg: MapTilesConfig, url: str) -> Image.Image | None:
    """The tile at ``url`` as a 256x256 RGB picture, or None (logged) when it cannot be had."""
    import requests

    try:
        with requests.get(url, timeout=cfg.timeout_s, stream=True, allow_redirects=False) as r:
            if r.status_code == 200:
                data = r.raw.read(MAX_TILE_BYTES + 1, decode_content=True)
                if len(data) <= MAX_TILE_BYTES:
                    img = Image.open(io.BytesIO(data), formats=("PNG", "JPEG"))
                    if max(img.size) <= 1024:
                        img.load()
                        return img.convert("RGB").resize((TILE, TILE))
            else:
                log.warning("tile %s: HTTP %s", url, r.status_code)
    except (requests.RequestException, OSError, ValueError) as exc:
        log.warning("tile %s: %s", url, exc)
    return None


def fetch_mosaic(
    cfg: MapTilesConfig,
    lon_min: float,
    lat_min: float,
    lon_max: float,
    lat_max: float,
    width_px: int,
) -> Mosaic | None:
    """Tiles covering the bounds at about ``width_px`` pixels across; None when the
    bounds are empty or no tile could be fetched."""
    if not (lon_max > lon_min and lat_max > lat_min):
        return None
    zoom = cfg.max_zoom
    while zoom > 0:
        x0, y1 = lonlat_to_pixel(lon_min, lat_min, zoom)
        x1, y0 = lonlat_to_pixel(lon_max, lat_max, zoom)
        tiles = (math.floor(x1 / TILE) - math.floor(x0 / TILE) + 1) * (
            math.floor(y1 / TILE) - math.floor(y0 / TILE) + 1
        )
        if x1 - x0 <= 1.5 * width_px and tiles <= MAX_TILES:
            break
        zoom -= 1
    x0, y1 = lonlat_to_pixel(lon_min, lat_min, zoom)
    x1, y0 = lonlat_to_pixel(lon_max, lat_max, zoom)
    tx0, tx1 = math.floor(x0 / TILE), math.floor(x1 / TILE)
    ty0, ty1 = math.floor(y0 / TILE), math.floor(y1 / TILE)
    image = Image.new("RGB", ((tx1 - tx0 + 1) * TILE, (ty1 - ty0 + 1) * TILE), (255, 255, 255))
    fetched = failed = 0
    limit = 2**zoom
    for ty in range(ty0, ty1 + 1):
        for tx in range(tx0, tx1 + 1):
            if not 0 <= ty < limit:
                continue
            tile = _fetch_tile(cfg, zoom, tx % limit, ty)
            if tile is None:
                failed += 1
                continue
            fetched += 1
            image.paste(tile, ((tx - tx0) * TILE, (ty - ty0) * TILE))
    if fetched == 0:
        return None
    return Mosaic(image, zoom, tx0 * TILE, ty0 * TILE, fetched, failed)
