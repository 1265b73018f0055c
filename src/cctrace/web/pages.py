"""Jinja2 templates for the server-rendered pages (the report's site-plan SVG included).

Times are shown in the site's local time: every page gets a ``clock``
(:class:`~cctrace.localtime.LocalClock`, from :func:`cctrace.web.routers.pages.render`)
and the filters below read it from the page's context (UTC when a page has none).
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from fastapi.templating import Jinja2Templates
from jinja2 import ChoiceLoader, FileSystemLoader, PackageLoader, pass_context
from jinja2.runtime import Context

from cctrace.localtime import UTC_CLOCK, LocalClock, input_value
from cctrace.report import formatting

templates = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))
templates.env.loader = ChoiceLoader(
    [
        FileSystemLoader(str(Path(__file__).parent / "templates")),
        PackageLoader("cctrace.report", "templates"),
    ]
)


def page_clock(ctx: Context | dict[str, Any]) -> LocalClock:
    """The page's clock (the site's zone), UTC when the page was rendered without one."""
    clock = ctx.get("clock")
    return clock if isinstance(clock, LocalClock) else UTC_CLOCK


@pass_context
def local(ctx: Context, dt: datetime | None) -> str:
    """``2026-03-15 17:34:02 +09:00``: local time with its offset; an em dash for None."""
    return page_clock(ctx).full(dt) if dt else "—"


@pass_context
def short(ctx: Context, dt: datetime | None) -> str:
    """``2026-03-15 17:34:02``: for tables whose heading states the zone (the offset is
    added per cell when the page's times straddle a DST change)."""
    return page_clock(ctx).short(dt) if dt else "—"


@pass_context
def local_input(ctx: Context, dt: datetime | None) -> str:
    """The value of an ``<input type=datetime-local>``: local wall-clock time."""
    return input_value(dt, page_clock(ctx).tz)


@pass_context
def person(ctx: Context, contact: Any) -> str:
    """``Person 3 (Plaza east, 12:34)`` of a :class:`~cctrace.web.schemas.ContactOut`."""
    clock = page_clock(ctx)
    first = min(contact.encounters, key=lambda e: e.start, default=None)
    if first is None:
        return f"Person {contact.number}"
    return formatting.person_label(contact.number, first.camera_name, first.start, clock)


@pass_context
def sighting(ctx: Context, s: Any) -> str:
    """``Sighting 2 · Plaza west, 12:34:40`` of a :class:`~cctrace.web.schemas.SightingOut`."""
    return formatting.sighting_label(s.number, s.camera_name, s.start, page_clock(ctx))


templates.env.filters["f1"] = lambda v: f"{float(v):.1f}"
templates.env.filters["local"] = local
templates.env.filters["short"] = short
templates.env.filters["local_input"] = local_input
templates.env.filters["person"] = person
templates.env.filters["sighting"] = sighting
templates.env.filters["duration"] = formatting.duration
templates.env.filters["metres"] = formatting.metres
templates.env.filters["mask"] = lambda status: formatting.mask_label(status)
templates.env.globals["app_name"] = "cctrace"
