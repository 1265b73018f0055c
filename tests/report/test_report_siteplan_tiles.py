"""The site's own tile server under the route: fetched only when set, from it only."""

from __future__ import annotations

import io
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

import numpy as np
import pytest
from PIL import Image
from pydantic import ValidationError

from cctrace.plans import tiles as tiles_module
from cctrace.plans.model import MapTilesConfig
from cctrace.plans.tiles import TileSource, lonlat_to_pixel
from cctrace.report.siteplan import build_site_plan
from cctrace.tracing.result import TraceResult

GREEN = (60, 170, 90)
BLUE = (60, 90, 200)


class _Tiles(BaseHTTPRequestHandler):
    """A checkerboard of green and blue tiles; ``/missing/...`` answers 404."""

    requests: ClassVar[list[str]] = []

    def do_GET(self) -> None:
        type(self).requests.append(self.path)
        if self.path.startswith("/missing/"):
            self.send_error(404)
            return
        _z, x, y = (int(p) for p in self.path.strip("/").removesuffix(".png").split("/")[-3:])
        out = io.BytesIO()
        Image.new("RGB", (256, 256), GREEN if (x + y) % 2 else BLUE).save(out, format="PNG")
        self.send_response(200)
        self.send_header("Content-Type", "image/png")
        self.end_headers()
        self.wfile.write(out.getvalue())

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def tile_server() -> Iterator[str]:
    _Tiles.requests = []
    tiles_module._cache.clear()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Tiles)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_tiles_are_drawn_under_the_route_when_set(trace: TraceResult, tile_server: str) -> None:
    cfg = MapTilesConfig(url=tile_server + "/{z}/{x}/{y}.png", attribution="© Test tiles")
    plan = build_site_plan(trace, plan=TileSource(cfg))
    assert plan is not None and plan.background is not None
    assert _Tiles.requests and all(r.endswith(".png") for r in _Tiles.requests)
    assert "© Test tiles" in plan.note and plan.grid == ()
    pixels = np.asarray(Image.open(io.BytesIO(plan.background.data)).convert("RGB")).astype(int)
    faded = [np.array([round(c * 0.8 + 51) for c in col]) for col in (GREEN, BLUE)]
    share = [np.all(np.abs(pixels - f) <= 10, axis=2).mean() for f in faded]
    assert min(share) > 0.05 and sum(share) > 0.9, share  # a checkerboard fills the map
    # the same drawing again comes from memory
    before = len(_Tiles.requests)
    build_site_plan(trace, plan=TileSource(cfg))
    assert len(_Tiles.requests) == before


def test_no_tiles_without_the_setting_and_a_failing_server_falls_back(
    trace: TraceResult, tile_server: str
) -> None:
    plan = build_site_plan(trace)
    assert plan is not None and plan.background is None and plan.grid
    assert _Tiles.requests == []
    cfg = MapTilesConfig(url=tile_server + "/missing/{z}/{x}/{y}.png")
    plan = build_site_plan(trace, plan=TileSource(cfg))
    assert plan is not None and plan.background is None and plan.grid
    assert "gave no tiles" in plan.note and _Tiles.requests


def test_web_mercator_pixels() -> None:
    assert lonlat_to_pixel(0.0, 0.0, 0) == pytest.approx((128.0, 128.0))
    assert lonlat_to_pixel(-180.0, 85.05112878, 1) == pytest.approx((0.0, 0.0), abs=1e-6)


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("ftp://tiles/{z}/{x}/{y}.png", "http"),
        ("https://tiles.internal/{z}/{x}.png", "{y}"),
        ("https://tiles.internal/{z}/{x}/{y}.png?key={key}", "only the placeholders"),
    ],
)
def test_tile_urls_are_checked(url: str, words: str) -> None:
    with pytest.raises(ValidationError, match=words):
        MapTilesConfig(url=url)
