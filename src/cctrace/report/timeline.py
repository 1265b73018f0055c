"""Geometry of the report's timeline: one row per camera, bars for sightings.

Sightings are bars coloured by status (with their route number); encounters
with contacts are thin bars under them (red for close contacts). The template
draws the SVG from these plain records, so all text goes through autoescaping.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from cctrace.i18n import gettext
from cctrace.localtime import UTC_CLOCK, LocalClock, offset_text, to_local
from cctrace.report.formatting import (
    camera_index,
    camera_name,
    duration,
    metres,
    route_order,
    score,
    sighting_key,
    status_label,
    to_utc,
)
from cctrace.tracing.result import TraceResult

WIDTH = 960
LABEL_W = 170
PLOT_X0 = 180
PLOT_X1 = WIDTH - 24
TOP = 10
ROW_H = 36
"""Height of a camera lane with at most one encounter sub-lane."""
ENC_H = 5
ENC_STEP = 7
AXIS_H = 30
MIN_BAR_W = 3.0
TICK_STEPS_S = (
    1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400,
)  # fmt: skip


@dataclass(frozen=True)
class TimelineRow:
    """A camera's lane."""

    y: float
    label: str
    sublabel: str
    height: float = ROW_H - 4


@dataclass(frozen=True)
class TimelineBar:
    """A sighting or encounter interval."""

    x: float
    y: float
    w: float
    h: float
    css: str
    title: str
    number: str = ""


@dataclass(frozen=True)
class TimelineTick:
    """An axis tick."""

    x: float
    label: str


@dataclass(frozen=True)
class Timeline:
    """Everything the template needs to draw the timeline."""

    width: int
    height: int
    plot_x0: float
    plot_x1: float
    axis_y: float
    rows: tuple[TimelineRow, ...]
    bars: tuple[TimelineBar, ...]
    ticks: tuple[TimelineTick, ...]
    caption: str


def _tick_step(span_s: float) -> int:
    for step in TICK_STEPS_S:
        if span_s / step <= 8:
            return step
    return 86400 * math.ceil(span_s / 86400 / 8)


def _ticks(
    t0: datetime, t1: datetime, x_of: dict[str, float], clock: LocalClock
) -> list[TimelineTick]:
    span = (t1 - t0).total_seconds()
    step = _tick_step(span)
    # Ticks at round local times: count from the local midnight of 1970 at t0's offset.
    offset = to_local(t0, clock.tz).utcoffset() or timedelta(0)
    epoch = datetime(1970, 1, 1, tzinfo=t0.tzinfo) - offset
    first = math.ceil((t0 - epoch).total_seconds() / step) * step
    ticks: list[TimelineTick] = []
    k = first
    scale = (x_of["x1"] - x_of["x0"]) / span
    multi_day = to_local(t0, clock.tz).date() != to_local(t1, clock.tz).date()
    while k <= (t1 - epoch).total_seconds():
        t = epoch + timedelta(seconds=k)
        local = to_local(t, clock.tz)
        label = local.strftime("%H:%M:%S" if step < 60 else "%H:%M")
        if multi_day and local.hour == 0 and local.minute == 0 and local.second == 0:
            label = local.strftime("%m-%d")
        ticks.append(TimelineTick(x=x_of["x0"] + (t - t0).total_seconds() * scale, label=label))
        k += step
    return ticks


def _zone(clock: LocalClock, at: datetime) -> str:
    """The offset after a time range in a tooltip (``+09:00``, ``UTC``); empty when each
    time already carries its own (offsets mixed)."""
    return "" if clock.mixed else offset_text(at, clock.tz)


def build_timeline(result: TraceResult, clock: LocalClock = UTC_CLOCK) -> Timeline | None:
    """The timeline for ``result``, times local to ``clock``; None when there is nothing
    to draw."""
    encounters = [(n, c, e) for n, c in enumerate(result.contacts, start=1) for e in c.encounters]
    intervals = [(s.start, s.end) for s in result.sightings] + [
        (e.start, e.end) for _, _, e in encounters
    ]
    if not intervals:
        return None
    t0 = min(to_utc(a) for a, _ in intervals)
    t1 = max(to_utc(b) for _, b in intervals)
    span = max((t1 - t0).total_seconds(), 60.0)
    pad = span * 0.04
    centre = t0 + (t1 - t0) / 2
    t0 = centre - timedelta(seconds=span / 2 + pad)
    t1 = centre + timedelta(seconds=span / 2 + pad)
    total = (t1 - t0).total_seconds()

    def x(t: datetime) -> float:
        return PLOT_X0 + (to_utc(t) - t0).total_seconds() / total * (PLOT_X1 - PLOT_X0)

    first_seen: dict[str, datetime] = {}
    for cam_id, start in [(s.camera_id, s.start) for s in result.sightings] + [
        (e.camera_id, e.start) for _, _, e in encounters
    ]:
        if cam_id not in first_seen or to_utc(start) < first_seen[cam_id]:
            first_seen[cam_id] = to_utc(start)
    lanes = sorted(first_seen, key=lambda c: (first_seen[c], c))
    # Encounters that overlap in time within a camera get their own sub-lanes.
    sub_lane: dict[int, int] = {}
    lanes_needed: dict[str, int] = dict.fromkeys(lanes, 1)
    ends: dict[str, list[datetime]] = {c: [] for c in lanes}
    for k, (_, _, e) in sorted(enumerate(encounters), key=lambda t: to_utc(t[1][2].start)):
        cam_ends = ends[e.camera_id]
        slot = next((i for i, end in enumerate(cam_ends) if end <= to_utc(e.start)), None)
        if slot is None:
            slot = len(cam_ends)
            cam_ends.append(to_utc(e.end))
        else:
            cam_ends[slot] = to_utc(e.end)
        sub_lane[k] = slot
        lanes_needed[e.camera_id] = max(lanes_needed[e.camera_id], slot + 1)
    lane_y: dict[str, float] = {}
    y = float(TOP)
    cams = camera_index(result)
    rows: list[TimelineRow] = []
    for cam_id in lanes:
        height = ROW_H + (lanes_needed[cam_id] - 1) * ENC_STEP
        lane_y[cam_id] = y
        rows.append(
            TimelineRow(
                y=y,
                label=camera_name(cams, cam_id),
                sublabel=cam_id if camera_name(cams, cam_id) != cam_id else "",
                height=height - 4,
            )
        )
        y += height

    order = route_order(result)
    bars: list[TimelineBar] = []
    for s in sorted(result.sightings, key=lambda s: s.start):
        x0, x1 = x(s.start), x(s.end)
        pos = order.get(sighting_key(s))
        bars.append(
            TimelineBar(
                x=x0,
                y=lane_y[s.camera_id] + 5,
                w=max(x1 - x0, MIN_BAR_W),
                h=15,
                css=f"st-{s.status.value}",
                title=gettext("{camera} · {start}–{end} {zone} · score {score} · {status}").format(
                    camera=camera_name(cams, s.camera_id),
                    start=clock.clock(s.start),
                    end=clock.clock(s.end),
                    zone=_zone(clock, s.end),
                    score=score(s.score),
                    status=status_label(s.status),
                ),
                number="" if pos is None else str(pos),
            )
        )
    for k, (number, c, e) in enumerate(encounters):
        x0, x1 = x(e.start), x(e.end)
        bars.append(
            TimelineBar(
                x=x0,
                y=lane_y[e.camera_id] + 23 + sub_lane[k] * ENC_STEP,
                w=max(x1 - x0, MIN_BAR_W),
                h=ENC_H,
                css="enc-close" if c.is_close_contact else "enc",
                title=gettext(
                    "Contact {number} · {start}–{end} {zone} · {duration} within {m} m · min {min}"
                ).format(
                    number=number,
                    start=clock.clock(e.start),
                    end=clock.clock(e.end),
                    zone=_zone(clock, e.end),
                    duration=duration(e.seconds_within),
                    m=f"{result.query.distance_m:g}",
                    min=metres(e.min_distance_m),
                ),
            )
        )
    axis_y = y + 4
    day0 = clock.day(t0 + timedelta(seconds=pad))
    day1 = clock.day(t1 - timedelta(seconds=pad))
    caption = (
        gettext("Times {zone}, {day}").format(zone=clock.caption, day=day0)
        if day1 == day0
        else gettext("Times {zone}, {day} to {last}").format(
            zone=clock.caption, day=day0, last=day1
        )
    )
    return Timeline(
        width=WIDTH,
        height=int(axis_y + AXIS_H),
        plot_x0=PLOT_X0,
        plot_x1=PLOT_X1,
        axis_y=axis_y,
        rows=tuple(rows),
        bars=tuple(bars),
        ticks=tuple(_ticks(t0, t1, {"x0": PLOT_X0, "x1": PLOT_X1}, clock)),
        caption=caption,
    )
