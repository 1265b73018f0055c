"""The printable, self-contained HTML report (Jinja2, autoescaped).

Everything is inline: CSS, SVG charts and snapshots as base64 data URIs, so the
file opens offline and can be mailed or printed as is. Snapshots are read from
the paths in the result (already redacted by the pipeline) and downscaled.
"""

from __future__ import annotations

import functools
import logging
import os
from dataclasses import dataclass
from datetime import tzinfo
from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from cctrace import __version__
from cctrace.i18n import current_language, gettext, ngettext, use_language
from cctrace.localtime import LocalClock
from cctrace.plans.storage import Background
from cctrace.report.formatting import (
    camera_index,
    camera_name,
    contact_label,
    count_status,
    duration,
    label,
    mask_label,
    message_text,
    metres,
    result_clock,
    route_order,
    score,
    seconds_between,
    sighting_key,
    sighting_label,
    status_label,
    timeline_numbers,
)
from cctrace.report.hangul_font import hangul_font_css
from cctrace.report.json_report import atomic_write_text
from cctrace.report.siteplan import build_site_plan
from cctrace.report.snapshots import SnapshotEmbedder
from cctrace.report.timeline import build_timeline
from cctrace.tracing.result import ContactSummary, LooseFaceResult, TraceResult
from cctrace.types import SightingStatus

logger = logging.getLogger(__name__)

TEMPLATE = "report.html"


@dataclass(frozen=True)
class SightingLine:
    """One row of the sightings table."""

    order: str
    label: str
    """``Sighting 2 · Plaza west, 12:34:40`` (number in time order, camera, local time)."""
    tracklet_id: int
    camera: str
    camera_id: str
    start: str
    date: str
    end: str
    duration: str
    score: str
    status: str
    status_label: str
    mask: str
    mask_label: str
    thumb: str | None


@dataclass(frozen=True)
class LooseFaceLine:
    """One face seen without a tracked person (for review; never a sighting)."""

    camera: str
    camera_id: str
    time: str
    date: str
    box: str
    score: str
    fate: str
    seen: str
    """"" for one face, else e.g. "5 faces until 12:34:07"."""


@dataclass(frozen=True)
class EncounterLine:
    """One encounter under a contact."""

    camera: str
    start: str
    date: str
    end: str
    seconds_within: str
    min_distance: str
    min_distance_at: str
    case_mask: str
    case_mask_label: str
    contact_mask: str
    contact_mask_label: str
    bands: tuple[str, ...]
    tracklets: str


@dataclass(frozen=True)
class ContactLine:
    """One contact person and their encounters."""

    number: int
    label: str
    """``Person 3 (Plaza east, 12:34)``: number, camera and local time of first sighting."""
    thumb: str | None
    total: str
    min_distance: str
    first_seen: str
    first_date: str
    last_seen: str
    last_date: str
    cameras: str
    contact_mask: str
    contact_mask_label: str
    case_masks: tuple[tuple[str, str], ...]
    is_close: bool
    tracklets: str
    linked_by: str
    """How the tracklets were joined into one person, comma separated ("" for one)."""
    encounters: tuple[EncounterLine, ...]


@functools.cache
def _environment() -> Environment:
    env = Environment(
        loader=PackageLoader("cctrace.report", "templates"),
        autoescape=select_autoescape(("html", "htm", "xml"), default_for_string=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        extensions=["jinja2.ext.i18n"],
    )
    # Translations follow cctrace.i18n's current language (render_html sets it).
    env.install_gettext_callables(gettext, ngettext, newstyle=True)  # type: ignore[attr-defined]
    env.filters["f1"] = lambda v: f"{float(v):.1f}"
    env.globals["current_language"] = current_language
    return env


def _sighting_rows(
    result: TraceResult, snaps: SnapshotEmbedder, clock: LocalClock
) -> list[SightingLine]:
    cams = camera_index(result)
    order = route_order(result)
    numbers = timeline_numbers(result)
    rows = []
    for s in sorted(result.sightings, key=lambda s: numbers[sighting_key(s)]):
        pos = order.get(sighting_key(s))
        cam = camera_name(cams, s.camera_id)
        rows.append(
            SightingLine(
                order="" if pos is None else str(pos),
                label=sighting_label(numbers[sighting_key(s)], cam, s.start, clock),
                tracklet_id=s.tracklet_id,
                camera=cam,
                camera_id=s.camera_id,
                start=clock.clock(s.start),
                date=clock.day(s.start),
                end=clock.clock(s.end),
                duration=duration(seconds_between(s.start, s.end)),
                score=score(s.score),
                status=s.status.value,
                status_label=status_label(s.status),
                mask=s.mask_status.value,
                mask_label=mask_label(s.mask_status),
                thumb=snaps.data_uri(s.snapshot_path),
            )
        )
    return rows


def _loose_face_rows(result: TraceResult, clock: LocalClock) -> list[LooseFaceLine]:
    cams = camera_index(result)
    return [
        LooseFaceLine(
            camera=camera_name(cams, f.camera_id),
            camera_id=f.camera_id,
            time=clock.clock(f.timestamp),
            date=clock.day(f.timestamp),
            box=_box(f),
            score=score(f.score),
            fate=label(f.fate),
            seen=(
                gettext("{n} faces until {time}").format(
                    n=f.faces_seen, time=clock.clock(f.seen_until)
                )
                if f.seen_until is not None
                else ""
            ),
        )
        for f in result.loose_faces
    ]


def _box(f: LooseFaceResult) -> str:
    x1, y1, x2, y2 = (round(v) for v in f.xyxy)
    return f"({x1}, {y1})–({x2}, {y2})"


def _bands(bands: dict[float, float]) -> tuple[str, ...]:
    return tuple(f"≤ {d:g} m: {duration(bands[d])}" for d in sorted(bands))


def _contact_row(
    number: int,
    c: ContactSummary,
    result: TraceResult,
    snaps: SnapshotEmbedder,
    clock: LocalClock,
) -> ContactLine:
    cams = camera_index(result)
    encounters = sorted(c.encounters, key=lambda e: e.start)
    thumb = next((u for u in (snaps.data_uri(e.snapshot_path) for e in encounters) if u), None)
    case_masks = sorted({e.case_mask for e in encounters}, key=lambda m: m.value)
    return ContactLine(
        number=number,
        label=contact_label(number, c, cams, clock),
        thumb=thumb,
        total=duration(c.total_seconds_within),
        min_distance=metres(c.min_distance_m),
        first_seen=clock.clock(c.first_seen),
        first_date=clock.day(c.first_seen),
        last_seen=clock.clock(c.last_seen),
        last_date=clock.day(c.last_seen),
        cameras=", ".join(sorted({camera_name(cams, e.camera_id) for e in encounters})),
        contact_mask=c.contact_mask.value,
        contact_mask_label=mask_label(c.contact_mask),
        case_masks=tuple((m.value, mask_label(m)) for m in case_masks),
        is_close=c.is_close_contact,
        tracklets=", ".join(str(t) for t in c.contact_tracklet_ids),
        linked_by=", ".join(label(how) for how in c.linked_by),
        encounters=tuple(
            EncounterLine(
                camera=camera_name(cams, e.camera_id),
                start=clock.clock(e.start),
                date=clock.day(e.start),
                end=clock.clock(e.end),
                seconds_within=duration(e.seconds_within),
                min_distance=metres(e.min_distance_m),
                min_distance_at=clock.clock(e.min_distance_at),
                case_mask=e.case_mask.value,
                case_mask_label=mask_label(e.case_mask),
                contact_mask=e.contact_mask.value,
                contact_mask_label=mask_label(e.contact_mask),
                bands=_bands(e.seconds_by_band),
                tracklets=gettext("{contact} ↔ case {case}").format(
                    contact=e.contact_tracklet_id, case=e.case_tracklet_id
                ),
            )
            for e in encounters
        ),
    )


def _auto_notes(result: TraceResult, missing_snapshots: list[str], plan_note: str) -> list[str]:
    notes: list[str] = []
    review = count_status(result.sightings, SightingStatus.NEEDS_REVIEW)
    if review:
        notes.append(
            gettext(
                "{n} sighting(s) need review: they are not on the route until an "
                "investigator confirms them."
            ).format(n=review)
        )
    known = {c.camera_id for c in result.cameras}
    used = {s.camera_id for s in result.sightings} | {
        e.camera_id for c in result.contacts for e in c.encounters
    }
    unknown = sorted(used - known)
    if unknown:
        notes.append(
            gettext("Camera(s) not in the site description: {cameras}.").format(
                cameras=", ".join(unknown)
            )
        )
    if result.loose_faces:
        notes.append(
            gettext(
                "{n} face(s) seen without a tracked person match the case: "
                "they need review and are never on the route or attributed to anyone."
            ).format(n=len(result.loose_faces))
        )
    if missing_snapshots:
        notes.append(
            gettext("{n} snapshot file(s) could not be read.").format(n=len(missing_snapshots))
        )
    if plan_note:
        notes.append(gettext("Site plan: {note}").format(note=plan_note))
    notes.append(
        gettext(
            "Distances are on the ground plane from camera calibration; faces are matched "
            "by similarity score, which a person must confirm before acting on a sighting."
        )
    )
    return notes


def build_context(
    result: TraceResult,
    snapshot_dir: str | os.PathLike[str] | None = None,
    tz: tzinfo | None = None,
    site_plan: Background | None = None,
) -> dict[str, Any]:
    """The template's variables (exposed for tests and other front ends); times are local
    to ``tz`` (the site's zone; default UTC), labels in the current language
    (:func:`cctrace.i18n.use_language`)."""
    clock = result_clock(result, tz)
    snaps = SnapshotEmbedder(snapshot_dir)
    q = result.query
    sightings = _sighting_rows(result, snaps, clock)
    contacts = [_contact_row(i, c, result, snaps, clock) for i, c in enumerate(result.contacts, 1)]
    plan = build_site_plan(result, clock, site_plan)
    route = result.route
    window = (
        gettext("{start} to {end}").format(
            start=clock.full(q.window_from, seconds=False),
            end=clock.full(q.window_to, seconds=False),
        )
        if q.window_from or q.window_to
        else gettext("All footage")
    )
    return {
        "case_id": q.case_id,
        "query": q,
        "window": window,
        "query_source": ([gettext("{n} photo(s)").format(n=len(q.photos))] if q.photos else [])
        + (
            [gettext("tracklet {id}").format(id=q.start_tracklet_id)]
            if q.start_tracklet_id is not None
            else []
        ),
        "created_at": clock.full(result.created_at),
        "zone": clock.caption,
        "actor": result.actor,
        "version": __version__,
        "summary": {
            "accepted": count_status(result.sightings, SightingStatus.ACCEPTED),
            "review": count_status(result.sightings, SightingStatus.NEEDS_REVIEW),
            "cameras": len({s.camera_id for s in route}),
            "close": sum(1 for c in result.contacts if c.is_close_contact),
            "other": sum(1 for c in result.contacts if not c.is_close_contact),
            "route_span": (
                f"{clock.hm(route[0].start)}–{clock.hm(max(s.end for s in route))}"
                if route
                else "—"
            ),
        },
        "timeline": build_timeline(result, clock),
        "plan": plan,
        "sightings": sightings,
        "loose_faces": _loose_face_rows(result, clock),
        "contacts": contacts,
        "notes": [message_text(n) for n in result.notes]
        + _auto_notes(result, snaps.missing, plan.note if plan else ""),
    }


def render_html(
    result: TraceResult,
    snapshot_dir: str | os.PathLike[str] | None = None,
    tz: tzinfo | None = None,
    lang: str | None = None,
    site_plan: Background | None = None,
) -> str:
    """The report as an HTML string, times local to ``tz`` (the site's zone; default UTC),
    in ``lang`` (``en``/``ko``; default the current language, see :mod:`cctrace.i18n`),
    the route drawn on ``site_plan`` when given.

    ``snapshot_dir`` resolves relative snapshot paths (default: working directory).
    """
    with use_language(lang):
        template = _environment().get_template(TEMPLATE)
        html = template.render(**build_context(result, snapshot_dir, tz, site_plan))
    fonts = hangul_font_css(html)  # Hangul on a device without a Korean font
    return html.replace("</style>", fonts + "\n</style>", 1) if fonts else html


def write_html(
    result: TraceResult,
    path: str | os.PathLike[str],
    snapshot_dir: str | os.PathLike[str] | None = None,
    tz: tzinfo | None = None,
    lang: str | None = None,
    site_plan: Background | None = None,
) -> Path:
    """Write the HTML report to ``path`` (times local to ``tz``, in ``lang``, on
    ``site_plan`` when given); returns the path."""
    out = atomic_write_text(Path(path), render_html(result, snapshot_dir, tz, lang, site_plan))
    logger.info("wrote HTML report %s", out)
    return out
