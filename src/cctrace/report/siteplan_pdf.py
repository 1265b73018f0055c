"""The site plan (:mod:`cctrace.report.siteplan`) as a reportlab vector drawing.

Same picture as the HTML report's SVG: the site's own plan (the same warped raster) or
the grid, cameras (filled when on the route),
observed paths solid, unobserved moves dashed, numbered route stops, review dots
and a scale bar. SVG y grows downwards; reportlab's upwards, so y is flipped here.
"""

from __future__ import annotations

import io
import math

from PIL import Image as PILImage
from reportlab.graphics.shapes import (
    Circle,
    Drawing,
    Group,
    Image,
    Line,
    Polygon,
    PolyLine,
    Rect,
    String,
)
from reportlab.lib import colors

from cctrace.localtime import UTC_CLOCK, LocalClock
from cctrace.plans.storage import Background
from cctrace.report.siteplan import SitePlan, build_site_plan
from cctrace.tracing.result import TraceResult

XY = tuple[float, float]
GRID = colors.HexColor("#e9ecef")
CAMERA = colors.HexColor("#495057")
REVIEW = colors.HexColor("#e8590c")


def _points(text: str) -> list[XY]:
    out: list[XY] = []
    for pair in text.split():
        x, y = pair.split(",")
        out.append((float(x), float(y)))
    return out


def _arrow(a: XY, b: XY, colour: colors.Color) -> Polygon | None:
    d = math.dist(a, b)
    if d < 1e-6:
        return None
    ux, uy = (b[0] - a[0]) / d, (b[1] - a[1]) / d
    size = 9.0
    left = (b[0] - size * ux - 0.5 * size * uy, b[1] - size * uy + 0.5 * size * ux)
    right = (b[0] - size * ux + 0.5 * size * uy, b[1] - size * uy - 0.5 * size * ux)
    return Polygon([*b, *left, *right], fillColor=colour, strokeColor=None)


def plan_drawing(
    plan: SitePlan, width_pt: float, font: str = "Helvetica", bold: str = "Helvetica-Bold"
) -> Drawing:
    """``plan`` drawn ``width_pt`` points wide (height to scale), its labels in ``font``
    (a Korean PDF passes NanumGothic: camera names may be Hangul)."""
    s = width_pt / plan.width
    h = plan.height

    def flip(p: XY) -> XY:
        return (p[0], h - p[1])

    g = Group()
    g.add(Rect(0, 0, plan.width, h, fillColor=colors.white, strokeColor=colors.grey))
    if plan.background is not None:
        picture = PILImage.open(io.BytesIO(plan.background.data))
        g.add(Image(0, 0, plan.width, h, picture))
        g.add(Rect(0, 0, plan.width, h, fillColor=None, strokeColor=colors.grey))
    for x1, y1, x2, y2 in plan.grid:
        g.add(Line(x1, h - y1, x2, h - y2, strokeColor=GRID, strokeWidth=1))
    for leg in plan.legs:
        pts = [flip(p) for p in _points(leg.points)]
        colour = colors.HexColor(leg.colour)
        flat = [v for p in pts for v in p]
        line = PolyLine(flat, strokeColor=colour, strokeWidth=3 if leg.observed else 2)
        if not leg.observed:
            line.strokeDashArray = [7, 5]
        g.add(line)
        if len(pts) >= 2:
            head = _arrow(pts[-2], pts[-1], colour)
            if head is not None:
                g.add(head)
    for cam in plan.cameras:
        x, y = flip((cam.x, cam.y))
        fill = CAMERA if cam.on_route else colors.white
        g.add(Rect(x - 6, y - 6, 12, 12, rx=2, ry=2, fillColor=fill, strokeColor=CAMERA))
        g.add(String(x + 10, y + 9, cam.label[:28], fontName=font, fontSize=13))
    for m in plan.review_markers:
        x, y = flip((m.x, m.y))
        g.add(Circle(x, y, 6, fillColor=REVIEW, strokeColor=colors.white))
    for m in plan.contacts:
        x, y = flip((m.x, m.y))
        colour = colors.HexColor(m.colour)
        g.add(
            Polygon(
                [x, y + 9.5, x + 9.5, y, x, y - 9.5, x - 9.5, y],
                fillColor=colour,
                strokeColor=colors.white,
            )
        )
        g.add(
            String(
                x,
                y - 3.5,
                m.number,
                fontName=bold,
                fontSize=10,
                fillColor=colors.white,
                textAnchor="middle",
            )
        )
    for m in plan.markers:
        x, y = flip((m.x, m.y))
        colour = colors.HexColor(m.colour) if m.colour else colors.black
        g.add(Circle(x, y, 10, fillColor=colors.white, strokeColor=colour, strokeWidth=2))
        g.add(
            String(
                x,
                y - 4.5,
                m.number,
                fontName=bold,
                fontSize=12,
                fillColor=colour,
                textAnchor="middle",
            )
        )
    sx, sy = plan.scale_x, h - plan.scale_y
    g.add(Line(sx, sy, sx + plan.scale_px, sy, strokeWidth=2))
    g.add(Line(sx, sy, sx, sy + 5, strokeWidth=2))
    g.add(Line(sx + plan.scale_px, sy, sx + plan.scale_px, sy + 5, strokeWidth=2))
    g.add(
        String(
            sx + plan.scale_px / 2,
            sy + 7,
            plan.scale_label,
            fontName=font,
            fontSize=12,
            textAnchor="middle",
        )
    )
    g.transform = (s, 0, 0, s, 0, 0)
    drawing = Drawing(plan.width * s, h * s)
    drawing.add(g)
    return drawing


def route_drawing(
    result: TraceResult,
    width_pt: float,
    clock: LocalClock = UTC_CLOCK,
    font: str = "Helvetica",
    bold: str = "Helvetica-Bold",
    site_plan: Background | None = None,
) -> tuple[Drawing, str] | None:
    """The route's site plan (on the site's own ``site_plan`` when given) and its
    caption note; None when nothing has a position."""
    plan = build_site_plan(result, clock, site_plan)
    if plan is None:
        return None
    return plan_drawing(plan, width_pt, font, bold), plan.note
