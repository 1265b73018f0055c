"""Geometry of the report's site plan: cameras, the route and a scale bar.

The plan is in metres with y pointing up (north when the site plan is
north-up). Observed movement (a sighting's ground path) is a solid line;
movement between sightings was not observed and is a dashed straight line. Each
route sighting gets its order number at the point where it starts; each contact is a
diamond with its number in the contact list, where the case was when they came
closest. With the site's own plan (:mod:`cctrace.plans`) the plan picture is drawn
under everything instead of the metric grid.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from cctrace.errors import CctraceError
from cctrace.i18n import gettext
from cctrace.localtime import UTC_CLOCK, LocalClock
from cctrace.lru import LruCache
from cctrace.plans.georef import Matrix, compose
from cctrace.plans.storage import ActivePlan, Background
from cctrace.plans.tiles import TileSource
from cctrace.report.formatting import (
    camera_index,
    camera_name,
    contact_label,
    metres,
    route_order,
    score,
    sighting_key,
    to_utc,
)
from cctrace.report.geo import XY, Plane, path_points, plane_for, sighting_xy
from cctrace.report.plan_background import (
    PlanBackground,
    plan_corners,
    plan_on_plane,
    tiles_background,
    warp_background,
)
from cctrace.tracing.result import TraceResult
from cctrace.types import SightingStatus

WIDTH = 960
MARGIN = 48
MIN_HEIGHT = 280
MAX_HEIGHT = 620
MIN_EXTENT_M = 10.0
MAX_PATH_POINTS = 200
SCALE_STEPS_M = (0.5, 1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 20000)
ROUTE_COLOURS = ("#0b7285", "#1971c2", "#5f3dc4", "#9c36b5", "#c2255c")
"""Route colours run along this ramp from the first stop to the last."""
MARKER_R = 10.0
PLAN_FIT_LIMIT = 3.0
"""The drawing takes in the whole plan picture unless it is this many times wider or
taller than the route and cameras (then it shows the part around them)."""
CLOSE_CONTACT = "#c92a2a"
OTHER_CONTACT = "#868e96"


@dataclass(frozen=True)
class PlanCamera:
    """A camera on the plan."""

    x: float
    y: float
    label: str
    title: str
    on_route: bool


@dataclass(frozen=True)
class PlanLeg:
    """A polyline: ``observed`` (a ground path) or not (a jump between sightings)."""

    points: str
    observed: bool
    colour: str
    arrow_id: str


@dataclass(frozen=True)
class PlanMarker:
    """A numbered route stop, or a dot for a sighting needing review (number empty)."""

    x: float
    y: float
    number: str
    title: str
    colour: str = ""


@dataclass(frozen=True)
class SitePlan:
    """Everything the template needs to draw the plan."""

    width: int
    height: int
    cameras: tuple[PlanCamera, ...]
    legs: tuple[PlanLeg, ...]
    markers: tuple[PlanMarker, ...]
    review_markers: tuple[PlanMarker, ...]
    grid: tuple[tuple[float, float, float, float], ...]
    scale_x: float
    scale_y: float
    scale_px: float
    scale_label: str
    note: str
    arrows: tuple[tuple[str, str], ...] = ()
    """``(marker id, colour)`` of each arrowhead the legs use."""
    contacts: tuple[PlanMarker, ...] = ()
    """A diamond per contact (number as in the contact list), where the case was when
    they came closest."""
    background: PlanBackground | None = None
    """The site's own plan, warped to this drawing; None: the metric grid is drawn."""


def _nice_step(target_m: float) -> float:
    best = SCALE_STEPS_M[0]
    for step in SCALE_STEPS_M:
        if step <= target_m:
            best = step
    return float(best)


def _thin(points: Sequence[XY], limit: int = MAX_PATH_POINTS) -> list[XY]:
    if len(points) <= limit:
        return list(points)
    stride = math.ceil(len(points) / limit)
    kept = list(points[::stride])
    if kept[-1] != points[-1]:
        kept.append(points[-1])
    return kept


class _Frame:
    """Metres -> SVG pixels, fitted to the content, y up."""

    def __init__(self, points: Sequence[XY]) -> None:
        xs = [p[0] for p in points]
        ys = [p[1] for p in points]
        cx, cy = (min(xs) + max(xs)) / 2, (min(ys) + max(ys)) / 2
        dx = max(max(xs) - min(xs), MIN_EXTENT_M) * 1.1
        dy = max(max(ys) - min(ys), MIN_EXTENT_M) * 1.1
        inner_w = WIDTH - 2 * MARGIN
        self.scale = inner_w / dx
        height = dy * self.scale + 2 * MARGIN
        if height > MAX_HEIGHT:
            self.scale = (MAX_HEIGHT - 2 * MARGIN) / dy
            height = MAX_HEIGHT
        self.height = int(max(MIN_HEIGHT, height))
        self.cx, self.cy = cx, cy

    def px(self, p: XY) -> XY:
        return (
            WIDTH / 2 + (p[0] - self.cx) * self.scale,
            self.height / 2 - (p[1] - self.cy) * self.scale,
        )

    @property
    def matrix(self) -> Matrix:
        """Metres -> drawing pixels as a 2x3 affine map."""
        return (
            (self.scale, 0.0, WIDTH / 2 - self.cx * self.scale),
            (0.0, -self.scale, self.height / 2 + self.cy * self.scale),
        )

    def metres_at(self, x_px: float, y_px: float) -> XY:
        return (
            self.cx + (x_px - WIDTH / 2) / self.scale,
            self.cy - (y_px - self.height / 2) / self.scale,
        )


def route_colour(index: int, count: int) -> str:
    """Colour of stop ``index`` (0-based) of ``count``, along :data:`ROUTE_COLOURS`."""
    if count <= 1:
        return ROUTE_COLOURS[0]
    pos = index / (count - 1) * (len(ROUTE_COLOURS) - 1)
    lo = min(int(pos), len(ROUTE_COLOURS) - 2)
    f = pos - lo
    a = [int(ROUTE_COLOURS[lo][i : i + 2], 16) for i in (1, 3, 5)]
    b = [int(ROUTE_COLOURS[lo + 1][i : i + 2], 16) for i in (1, 3, 5)]
    return "#" + "".join(f"{round(x + (y - x) * f):02x}" for x, y in zip(a, b, strict=True))


def _trim(a: XY, b: XY, start: float, end: float) -> tuple[XY, XY] | None:
    """Segment a->b shortened by ``start`` and ``end`` pixels; None if too short."""
    d = math.dist(a, b)
    if d <= start + end + 4:
        return None
    ux, uy = (b[0] - a[0]) / d, (b[1] - a[1]) / d
    return (a[0] + ux * start, a[1] + uy * start), (b[0] - ux * end, b[1] - uy * end)


def _fmt(points: Sequence[XY]) -> str:
    return " ".join(f"{x:.1f},{y:.1f}" for x, y in points)


def _note(plane: Plane) -> str:
    if plane.source == "latlon":
        return gettext(
            "Cameras have lat/lon only: positions are projected to local metres (north up) "
            "and the route joins cameras, not walked paths."
        )
    if plane.source == "none":
        return gettext("No camera has a known position; only ground paths are drawn.")
    return gettext("Site-plan metres, y up. Solid: observed walking path; dashed: unobserved move.")


def _zone(clock: LocalClock) -> str:
    """`` (Asia/Seoul, UTC+09:00)`` after a tooltip's times; empty when each time carries
    its own offset."""
    return "" if clock.mixed else f" ({clock.caption})"


def _grid(frame: _Frame, step: float) -> tuple[tuple[float, float, float, float], ...]:
    """Grid lines every ``step`` metres across the drawing."""
    grid: list[tuple[float, float, float, float]] = []
    (mx0, my1) = frame.metres_at(0, 0)
    (mx1, my0) = frame.metres_at(WIDTH, frame.height)
    gx = math.floor(mx0 / step) * step
    while gx <= mx1:
        x, _ = frame.px((gx, 0.0))
        grid.append((x, 0.0, x, float(frame.height)))
        gx += step
    gy = math.floor(my0 / step) * step
    while gy <= my1:
        _, y = frame.px((0.0, gy))
        grid.append((0.0, y, float(WIDTH), y))
        gy += step
    return tuple(grid)


def _extent(points: Sequence[XY]) -> tuple[float, float]:
    xs = [p[0] for p in points]
    ys = [p[1] for p in points]
    return max(max(xs) - min(xs), MIN_EXTENT_M), max(max(ys) - min(ys), MIN_EXTENT_M)


def _contact_markers(
    result: TraceResult,
    plane: Plane,
    frame: _Frame,
    clock: LocalClock,
    stops: Sequence[PlanMarker] = (),
) -> tuple[PlanMarker, ...]:
    """Each contact's closest approach: the case's path point nearest that moment (the
    case's camera when the path cannot be drawn)."""
    cams = camera_index(result)
    case_tracks = {(s.camera_id, s.tracklet_id): s for s in result.sightings}
    out: list[PlanMarker] = []
    for number, contact in enumerate(result.contacts, 1):
        if not contact.encounters:
            continue
        closest = min(contact.encounters, key=lambda e: e.min_distance_m)
        sighting = case_tracks.get((closest.camera_id, closest.case_tracklet_id))
        xy: XY | None = None
        if sighting is not None and plane.paths_usable:
            pts = path_points(sighting)
            if pts:
                at = to_utc(closest.min_distance_at)
                p = min(pts, key=lambda q: abs((to_utc(q.timestamp) - at).total_seconds()))
                xy = (p.x_m, p.y_m)
        if xy is None:
            xy = plane.cameras.get(closest.camera_id)
        if xy is None:
            continue
        x, y = frame.px(xy)
        # Beside the route's numbered stops and earlier contacts, never hidden by them.
        for _ in range(20):
            hit = [m for m in (*stops, *out) if math.hypot(m.x - x, m.y - y) < MARKER_R + 9]
            if not hit:
                break
            x = max(m.x for m in hit) + MARKER_R + 9
        out.append(
            PlanMarker(
                x=x,
                y=y,
                number=str(number),
                title=gettext("{person}: closest {distance} at {time}{zone}").format(
                    person=contact_label(number, contact, cams, clock),
                    distance=metres(closest.min_distance_m),
                    time=clock.clock(closest.min_distance_at),
                    zone=_zone(clock),
                ),
                colour=CLOSE_CONTACT if contact.is_close_contact else OTHER_CONTACT,
            )
        )
    return tuple(out)


def _plan_background(
    image: ActivePlan, to_drawing: Matrix, frame: _Frame
) -> tuple[PlanBackground | None, str]:
    """The plan picture warped onto the drawing; None and why when it cannot be read."""
    try:
        path = image.config.image
        stat = path.stat()
        key = (
            str(path),
            stat.st_mtime_ns,
            stat.st_size,
            tuple(round(v, 9) for row in to_drawing for v in row),
            frame.height,
        )
        return _warped(image, key, to_drawing, frame.height), ""
    except (OSError, ValueError, CctraceError) as exc:
        return None, gettext("The site plan could not be placed: {error}").format(error=exc)


_WARPED_MAX = 32
"""Warped plans kept per process (a case page is viewed again and again; warping and
encoding the picture is most of its cost: ~0.2 s of a 0.25 s page)."""
_WARPED: LruCache[tuple[object, ...], PlanBackground] = LruCache(_WARPED_MAX)


def _warped(
    image: ActivePlan, key: tuple[object, ...], to_drawing: Matrix, height: int
) -> PlanBackground:
    """:func:`warp_background` of the plan for one drawing, from a small LRU cache keyed
    by the plan file's version and the drawing's placement."""

    def warp() -> PlanBackground:
        picture, factor = image.picture()
        reduced_to_full = ((float(factor), 0.0, 0.0), (0.0, float(factor), 0.0))
        return warp_background(picture, compose(to_drawing, reduced_to_full), WIDTH, height)

    return _WARPED.get_or_compute(key, warp)


def build_site_plan(
    result: TraceResult, clock: LocalClock = UTC_CLOCK, plan: Background | None = None
) -> SitePlan | None:
    """The site plan for ``result`` (tooltips in ``clock``'s local time), drawn on the
    site's own ``plan`` when given and placeable; None when nothing has a position."""
    plane = plane_for(result.cameras)
    route = result.route
    stops = [sighting_xy(s, plane) for s in route]
    review = [
        (s, sighting_xy(s, plane))
        for s in result.sightings
        if s.status == SightingStatus.NEEDS_REVIEW
    ]
    everything: list[XY] = list(plane.cameras.values())
    for pts in stops:
        everything.extend(pts)
    for _, pts in review:
        everything.extend(pts)
    if not everything:
        return None
    placed: Matrix | None = None
    plan_note = ""
    tiles = plan if isinstance(plan, TileSource) else None
    image = plan if isinstance(plan, ActivePlan) else None
    if image is not None:
        placed, plan_note = plan_on_plane(image, plane, result.cameras)
    if placed is not None and image is not None:
        corners = plan_corners(placed, image.width, image.height)
        cw, ch = _extent(everything)
        pw, ph = _extent(corners)
        if pw <= PLAN_FIT_LIMIT * cw and ph <= PLAN_FIT_LIMIT * ch:
            everything = everything + corners
    frame = _Frame(everything)
    cams = camera_index(result)
    on_route = {s.camera_id for s in route}

    legs: list[PlanLeg] = []
    markers: list[PlanMarker] = []
    arrows: dict[str, str] = {}
    previous_end: XY | None = None
    order = route_order(result)
    for i, (s, pts) in enumerate(zip(route, stops, strict=True)):
        if not pts:
            continue
        colour = route_colour(i, len(route))
        arrow = f"arrow-{i}"
        px = [frame.px(p) for p in _thin(pts)]
        if previous_end is not None:
            # Stop short of the numbered marker so the arrowhead shows.
            gap = _trim(previous_end, px[0], 2.0, MARKER_R + 2.0)
            if gap is not None:
                legs.append(PlanLeg(_fmt(gap), observed=False, colour=colour, arrow_id=arrow))
                arrows[arrow] = colour
        if len(px) >= 2 and math.dist(px[0], px[-1]) > 2.0:
            legs.append(PlanLeg(_fmt(px), observed=True, colour=colour, arrow_id=arrow))
            arrows[arrow] = colour
        previous_end = px[-1]
        x, y = px[0]
        # Keep numbers of repeated visits to one spot from hiding each other.
        for m in markers:
            if math.hypot(m.x - x, m.y - y) < 2 * MARKER_R:
                x += 2 * MARKER_R + 2
        markers.append(
            PlanMarker(
                x=x,
                y=y,
                number=str(order[sighting_key(s)]),
                title=(
                    f"{camera_name(cams, s.camera_id)} "
                    f"{clock.clock(s.start)}–{clock.clock(s.end)}{_zone(clock)}"
                ),
                colour=colour,
            )
        )

    review_markers = tuple(
        PlanMarker(
            x=sum(frame.px(p)[0] for p in pts) / len(pts),
            y=sum(frame.px(p)[1] for p in pts) / len(pts),
            number="",
            title=gettext("Needs review: {camera} {start}–{end}{zone}, score {score}").format(
                camera=camera_name(cams, s.camera_id),
                start=clock.clock(s.start),
                end=clock.clock(s.end),
                zone=_zone(clock),
                score=score(s.score),
            ),
        )
        for s, pts in review
        if pts
    )

    cameras = tuple(
        PlanCamera(
            x=frame.px(xy)[0],
            y=frame.px(xy)[1],
            label=camera_name(cams, cam_id),
            title=f"{camera_name(cams, cam_id)} ({cam_id})",
            on_route=cam_id in on_route,
        )
        for cam_id, xy in plane.cameras.items()
    )

    background: PlanBackground | None = None
    note = _note(plane)
    if placed is not None and image is not None:
        background, plan_note = _plan_background(image, compose(frame.matrix, placed), frame)
    if background is not None and image is not None:
        note = (
            gettext("Drawn on the site's own plan ({source}).").format(
                source=gettext("uploaded by an admin")
                if image.source == "upload"
                else gettext("from the site file")
            )
            + " "
            + note
        )
    elif tiles is not None:
        corners_m = [frame.metres_at(x, y) for x, y in ((0, 0), (WIDTH, 0), (0, frame.height))]
        corners_m.append(frame.metres_at(WIDTH, frame.height))
        background, plan_note = tiles_background(
            tiles, plane, result.cameras, corners_m, frame.matrix, WIDTH, frame.height
        )
        note = plan_note + " " + note
    elif plan_note:
        note = plan_note + " " + note

    step = _nice_step((WIDTH - 2 * MARGIN) / frame.scale / 5)
    scale_m = _nice_step(180 / frame.scale)
    grid = _grid(frame, step) if background is None else ()  # the plan replaces the grid
    return SitePlan(
        width=WIDTH,
        height=frame.height,
        cameras=cameras,
        legs=tuple(legs),
        markers=tuple(markers),
        review_markers=review_markers,
        grid=grid,
        scale_x=24.0,
        scale_y=frame.height - 22.0,
        scale_px=scale_m * frame.scale,
        scale_label=f"{scale_m:g} m",
        note=note,
        arrows=tuple(arrows.items()),
        contacts=_contact_markers(result, plane, frame, clock, markers),
        background=background,
    )
