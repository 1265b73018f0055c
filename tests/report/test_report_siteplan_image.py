"""The site's own plan under the route: HTML report (SVG) and PDF (rendered pixels)."""

from __future__ import annotations

import base64
import io
import re
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

from cctrace.plans.model import SitePlanConfig
from cctrace.plans.storage import ActivePlan
from cctrace.report.html import render_html
from cctrace.report.pdf import PdfHeader, render_pdf
from cctrace.report.plan_background import FADE
from cctrace.report.siteplan import build_site_plan
from cctrace.tracing.result import TraceResult

SAND = (214, 170, 90)
FADED = tuple(round(c * (1 - FADE) + 255 * FADE) for c in SAND)


def _plan(tmp_path: Path, k: int = 1) -> ActivePlan:
    """An 800 x 400 px sand-coloured plan (times ``k``), 10 px a metre (times ``k``),
    pixel (100, 250) (times ``k``) at (0, 0), a wall line every 10 m."""
    img = Image.new("RGB", (800 * k, 400 * k), SAND)
    draw = ImageDraw.Draw(img)
    for x in range(0, 800 * k, 100 * k):
        draw.line([(x, 0), (x, 400 * k)], fill=(90, 60, 20), width=3 * k)
    path = tmp_path / f"plan-{k}.png"
    img.save(path)
    cfg = SitePlanConfig(
        image=path,
        points=[
            {"pixel": [100 * k, 250 * k], "x_m": 0.0, "y_m": 0.0},  # type: ignore[list-item]
            {"pixel": [700 * k, 250 * k], "x_m": 60.0, "y_m": 0.0},  # type: ignore[list-item]
            {"pixel": [100 * k, 50 * k], "x_m": 0.0, "y_m": 20.0},  # type: ignore[list-item]
        ],
    )
    return ActivePlan(cfg, "site file", 800 * k, 400 * k)


def _decode(href: str) -> Image.Image:
    head, data = href.split(",", 1)
    assert head.startswith("data:image/") and head.endswith(";base64")
    return Image.open(io.BytesIO(base64.b64decode(data))).convert("RGB")


def _near(pixel: tuple[int, ...], colour: tuple[int, ...], tol: int = 12) -> bool:
    return all(abs(a - b) <= tol for a, b in zip(pixel, colour, strict=False))


@pytest.mark.parametrize("k", [1, 7])  # 7: 5600 px wide, kept reduced in memory
def test_the_plan_is_placed_where_its_points_say(
    trace: TraceResult, tmp_path: Path, k: int
) -> None:
    plan = build_site_plan(trace, plan=_plan(tmp_path, k))
    assert plan is not None and plan.background is not None
    assert plan.grid == ()  # the plan replaces the metric grid
    picture = _decode(plan.background.href)
    k = picture.width / plan.width
    # the site's origin, (0, 0) m, is at the plan's pixel (100, 250): a wall line
    # every 100 px (10 m) -> dark pixels 10 m east of the origin, sand in between
    entrance = next(c for c in plan.cameras if c.label == "Main entrance")  # at (0, 0) m
    metre_px = plan.scale_px / float(plan.scale_label.split()[0])
    wall = (int((entrance.x + 10 * metre_px) * k), int((entrance.y + 5 * metre_px) * k))
    sand = (int((entrance.x + 5 * metre_px) * k), int((entrance.y + 5 * metre_px) * k))
    assert _near(picture.getpixel(sand), FADED), picture.getpixel(sand)
    assert sum(picture.getpixel(wall)) < sum(FADED) - 150, picture.getpixel(wall)


def test_without_a_plan_the_grid_stays(trace: TraceResult) -> None:
    plan = build_site_plan(trace)
    assert plan is not None and plan.background is None and plan.grid


def test_html_draws_the_plan_under_the_route_and_contacts(
    trace: TraceResult, tmp_path: Path
) -> None:
    html = render_html(trace, site_plan=_plan(tmp_path))
    svg = html[html.index('<section id="route">') :]
    image_at = svg.index('<image class="plan-image"')
    assert image_at < svg.index("<polyline") < svg.index('class="stop"')
    assert 'class="gridline"' not in svg
    assert svg.count('class="contact-mark"') == 3
    href = re.search(r'<image class="plan-image"[^>]*href="([^"]+)"', svg)
    assert href is not None
    pixels = np.asarray(_decode(href.group(1))).astype(int)
    assert np.all(np.abs(pixels - np.array(FADED)) <= 12, axis=2).mean() > 0.4
    assert "Drawn on the site&#39;s own plan" in html


def test_pdf_page_shows_the_plan_under_the_route(trace: TraceResult, tmp_path: Path) -> None:
    pdfium = pytest.importorskip("pypdfium2", reason="pypdfium2 (a dev dependency) is missing")
    header = PdfHeader(
        case_id="C-2024-0193",
        legal_basis="test",
        team="north",
        exported_by="sue",
        exported_at=datetime(2024, 5, 2, 8, 0, tzinfo=UTC),
        window_from=None,
        window_to=None,
    )
    data = render_pdf(trace, header, site_plan=_plan(tmp_path))
    without = render_pdf(trace, header)
    doc = pdfium.PdfDocument(data)
    best = 0
    route_on_plan = False
    for index in range(len(doc)):
        page = np.asarray(doc[index].render(scale=2).to_pil().convert("RGB")).astype(int)
        sand = np.all(np.abs(page - np.array(FADED)) <= 14, axis=2)
        best = max(best, int(sand.sum()))
        if sand.sum() > 50_000:
            ys, xs = np.nonzero(sand)
            box = page[ys.min() : ys.max(), xs.min() : xs.max()]
            teal = np.all(np.abs(box - np.array((11, 114, 133))) <= 30, axis=2)
            route_on_plan = int(teal.sum()) > 100  # the first stop's colour, over the plan
    assert best > 50_000, "no page shows the plan's sand colour"
    assert route_on_plan, "the route is not drawn over the plan"
    plain = pdfium.PdfDocument(without)
    for index in range(len(plain)):
        page = np.asarray(plain[index].render(scale=2).to_pil().convert("RGB")).astype(int)
        assert int(np.all(np.abs(page - np.array(FADED)) <= 14, axis=2).sum()) < 1000
