"""Jinja2 templates for the server-rendered pages (the report's site-plan SVG included).

Pages are translated with ``jinja2.ext.i18n``: ``_()``/``ngettext()`` in a template
read the language :mod:`cctrace.i18n` holds for the request (set by
:func:`cctrace.web.routers.pages.render` and the app's middleware).

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

from cctrace import i18n
from cctrace.i18n import N_
from cctrace.localtime import UTC_CLOCK, LocalClock, input_value
from cctrace.report import formatting

templates = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))
templates.env.add_extension("jinja2.ext.i18n")
templates.env.loader = ChoiceLoader(
    [
        FileSystemLoader(str(Path(__file__).parent / "templates")),
        PackageLoader("cctrace.report", "templates"),
    ]
)
templates.env.install_gettext_callables(  # type: ignore[attr-defined]
    i18n.gettext, i18n.ngettext, newstyle=True
)

JS_STRINGS = {
    # The script's messages (static/app.js reads them from the page, translated).
    "waiting": N_("Waiting for a free worker"),
    "trace_done": N_("Trace finished."),
    "trace_failed": N_("Trace failed: {error}"),
    "verified": N_(
        "The whole chain verifies: {entries} entries, against {checkpoints} signed checkpoints."
    ),
    "not_verified": N_("The audit log does not verify: {problem}"),
    "broken_at": N_("The chain is broken at entry {entry}: {problem}"),
    "done": N_("Done."),
    "network_error": N_("Network error: {error}"),
    "no_cameras": N_("No camera has ingested footage yet."),
    "person": N_("Person {id}"),
    "person_chosen": N_("Person {id} chosen: press Run trace."),
}


def js_strings() -> dict[str, Any]:
    """The script's messages and the job stages' labels in the current language."""
    out: dict[str, Any] = {key: i18n.gettext(text) for key, text in JS_STRINGS.items()}
    out["labels"] = {v: i18n.gettext(t) for v, t in formatting.VALUE_LABELS.items()}
    return out


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
        return i18n.gettext("Person {number}").format(number=contact.number)
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
templates.env.filters["tr"] = formatting.label
templates.env.filters["tr_message"] = formatting.message_text
templates.env.globals["app_name"] = "cctrace"
templates.env.globals["languages"] = i18n.LANGUAGE_NAMES
templates.env.globals["current_language"] = i18n.current_language
templates.env.globals["js_strings"] = js_strings
