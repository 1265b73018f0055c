"""Small formatting helpers shared by the report writers (times, numbers, labels)."""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from datetime import UTC, datetime, tzinfo

from cctrace.i18n import N_, gettext, ngettext
from cctrace.localtime import LocalClock
from cctrace.tracing.result import (
    CameraInfo,
    ContactSummary,
    EncounterResult,
    SightingResult,
    TraceResult,
)
from cctrace.types import MaskStatus, SightingStatus


def to_utc(dt: datetime) -> datetime:
    """``dt`` in UTC; a naive datetime is taken to be UTC already (project rule)."""
    return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)


def iso_utc(dt: datetime) -> str:
    """ISO-8601 UTC with milliseconds and a ``Z`` suffix: ``2024-05-01T09:30:00.000Z``."""
    return to_utc(dt).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def iso_or_none(dt: datetime | None) -> str | None:
    """:func:`iso_utc`, passing None through."""
    return None if dt is None else iso_utc(dt)


def human_utc(dt: datetime | None, *, seconds: bool = True) -> str:
    """``2024-05-01 09:30:05 UTC`` for people; an em dash for None."""
    if dt is None:
        return "—"
    fmt = "%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M"
    return to_utc(dt).strftime(fmt) + " UTC"


def clock(dt: datetime) -> str:
    """``09:30:05`` (UTC)."""
    return to_utc(dt).strftime("%H:%M:%S")


def day(dt: datetime) -> str:
    """``2024-05-01`` (UTC)."""
    return to_utc(dt).strftime("%Y-%m-%d")


def duration(seconds: float) -> str:
    """``45 s``, ``3 min 05 s``, ``1 h 02 min`` — compact and unambiguous."""
    if not math.isfinite(seconds):
        return "—"
    total = round(max(0.0, seconds))
    if total < 60:
        return gettext("{s} s").format(s=total)
    minutes, secs = divmod(total, 60)
    if minutes < 60:
        return gettext("{m} min {s} s").format(m=minutes, s=f"{secs:02d}")
    hours, minutes = divmod(minutes, 60)
    return gettext("{h} h {m} min").format(h=hours, m=f"{minutes:02d}")


def seconds_between(start: datetime, end: datetime) -> float:
    """``end - start`` in seconds (both taken as UTC)."""
    return (to_utc(end) - to_utc(start)).total_seconds()


def finite(x: float | None) -> float | None:
    """``x`` when it is a finite number, else None (JSON has no NaN or infinity)."""
    if x is None or not math.isfinite(x):
        return None
    return float(x)


def metres(x: float | None) -> str:
    """``1.25 m``; an em dash when unknown."""
    value = finite(x)
    return "—" if value is None else f"{value:.2f} m"


def score(x: float | None) -> str:
    """``0.71``; an em dash when unknown."""
    value = finite(x)
    return "—" if value is None else f"{value:.2f}"


MASK_LABELS = {
    MaskStatus.WORN: N_("Mask worn"),
    MaskStatus.NOT_WORN: N_("No mask"),
    MaskStatus.UNKNOWN: N_("Unknown"),
}
STATUS_LABELS = {
    SightingStatus.ACCEPTED: N_("Accepted"),
    SightingStatus.NEEDS_REVIEW: N_("Needs review"),
    SightingStatus.REJECTED: N_("Rejected"),
}
VALUE_LABELS = {
    # case, sighting, mask, approval and footage states as the web pages write them
    "open": N_("open"),
    "closed": N_("closed"),
    "accepted": N_("accepted"),
    "needs_review": N_("needs review"),
    "rejected": N_("rejected"),
    "worn": N_("worn"),
    "not_worn": N_("not worn"),
    "unknown": N_("unknown"),
    "pending": N_("pending"),
    "approved": N_("approved"),
    "denied": N_("denied"),
    "export": N_("export"),
    "unblur": N_("unblur"),
    "running": N_("running"),
    "done": N_("done"),
    "partial": N_("partial"),
    "failed": N_("failed"),
    "interrupted": N_("interrupted"),
    # where tracers stand with a contact (cctrace.store.ContactStatus)
    "to_call": N_("to call"),
    "called": N_("called"),
    "tested": N_("tested"),
    "isolated": N_("isolated"),
    "not_reachable": N_("not reachable"),
    # roles
    "investigator": N_("investigator"),
    "supervisor": N_("supervisor"),
    "auditor": N_("auditor"),
    "admin": N_("admin"),
    # what joined a contact's tracklets into one person (cctrace.tracing.contacts)
    "face": N_("face"),
    "motion continuity": N_("motion continuity"),
    "same ground path in overlapping cameras": N_("same ground path in overlapping cameras"),
    # why a face was not given to a tracked person
    "ambiguous": N_("near several people's heads"),
    "no_person": N_("nobody tracked there"),
    # a trace job's stages (cctrace.web.jobs, cctrace.tracing.service)
    "waiting for a free worker": N_("waiting for a free worker"),
    "starting": N_("starting"),
    "reading the query photos": N_("reading the query photos"),
    "searching the face index": N_("searching the face index"),
    "following tracks across cameras": N_("following tracks across cameras"),
    "following the case to neighbouring cameras": N_("following the case to neighbouring cameras"),
    "measuring close contacts": N_("measuring close contacts"),
    "saving the result": N_("saving the result"),
}
"""Stored values (English ids) -> their label, translated where shown (:func:`label`)."""


def label(value: object) -> str:
    """The reader's word for a stored value (a status, role, link kind, job stage) in
    the current language; unknown values (ids, names) are returned as they are."""
    text = str(getattr(value, "value", value))
    known = VALUE_LABELS.get(text)
    return gettext(known) if known is not None else text


def mask_label(status: MaskStatus) -> str:
    """Reader-facing label of a mask status."""
    return gettext(MASK_LABELS[MaskStatus(status)])


def status_label(status: SightingStatus) -> str:
    """Reader-facing label of a sighting status."""
    return gettext(STATUS_LABELS[SightingStatus(status)])


def plural(singular: str, plural_: str, n: int) -> str:
    """:func:`cctrace.i18n.ngettext` with ``{n}`` filled in."""
    return ngettext(singular, plural_, n).format(n=n)


def camera_index(result: TraceResult) -> dict[str, CameraInfo]:
    """Cameras by id."""
    return {c.camera_id: c for c in result.cameras}


def camera_name(cameras: dict[str, CameraInfo], camera_id: str) -> str:
    """The camera's display name, falling back to its id."""
    cam = cameras.get(camera_id)
    return cam.name if cam is not None and cam.name else camera_id


def sighting_key(sighting: SightingResult) -> tuple[str, int]:
    """A sighting's identity: (camera id, tracklet id)."""
    return (sighting.camera_id, sighting.tracklet_id)


def route_order(result: TraceResult) -> dict[tuple[str, int], int]:
    """:func:`sighting_key` -> 1-based position on the route (accepted, in time order)."""
    return {sighting_key(s): i for i, s in enumerate(result.route, start=1)}


def count_status(sightings: Iterable[SightingResult], status: SightingStatus) -> int:
    """How many sightings have ``status``."""
    return sum(1 for s in sightings if s.status == status)


def result_times(result: TraceResult) -> list[datetime]:
    """Every time a report of ``result`` shows in its tables (for :func:`result_clock`)."""
    times: list[datetime] = []
    for s in result.sightings:
        times += [s.start, s.end]
    for c in result.contacts:
        times += [c.first_seen, c.last_seen]
        for e in c.encounters:
            times += [e.start, e.end, e.min_distance_at]
    for f in result.loose_faces:
        times.append(f.timestamp)
        if f.seen_until is not None:
            times.append(f.seen_until)
    return times


def result_clock(result: TraceResult, tz: tzinfo | None = None) -> LocalClock:
    """How a report of ``result`` writes times in ``tz`` (default UTC): short local
    times in tables, with per-cell offsets only when the times straddle a DST change."""
    return LocalClock.of(tz or UTC, result_times(result))


def first_encounter(contact: ContactSummary) -> EncounterResult | None:
    """A contact's earliest encounter (where and when they were first seen with the case)."""
    return min(contact.encounters, key=lambda e: to_utc(e.start), default=None)


def person_label(number: int, camera: str, first_seen: datetime, clock: LocalClock) -> str:
    """``Person 3 (Plaza east, 12:34)``: a contact as a tracer names them, by their number
    in this result and the camera and local time of their first sighting."""
    return gettext("Person {number} ({camera}, {time})").format(
        number=number, camera=camera, time=clock.hm(first_seen)
    )


def contact_label(
    number: int, contact: ContactSummary, cameras: dict[str, CameraInfo], clock: LocalClock
) -> str:
    """:func:`person_label` of a result's contact (``Person 3`` when it has no encounter)."""
    first = first_encounter(contact)
    if first is None:
        return gettext("Person {number}").format(number=number)
    return person_label(number, camera_name(cameras, first.camera_id), first.start, clock)


def sighting_label(number: int, camera: str, start: datetime, clock: LocalClock) -> str:
    """``Sighting 2 · Plaza west, 12:34:40``: a sighting by its number in the result's
    timeline (time order), its camera and local start time."""
    return gettext("Sighting {number} · {camera}, {time}").format(
        number=number, camera=camera, time=clock.clock(start)
    )


def timeline_numbers(result: TraceResult) -> dict[tuple[str, int], int]:
    """:func:`sighting_key` -> 1-based position among all sightings in time order (the
    "Sighting N" number of the web page and reports)."""
    ordered = sorted(result.sightings, key=lambda s: (to_utc(s.start), s.tracklet_id))
    return {sighting_key(s): i for i, s in enumerate(ordered, start=1)}


STORED_MESSAGES = (
    # Notes a trace writes into its result (cctrace.tracing.service), kept in English in
    # the JSON and translated where a person reads them (:func:`message_text`).
    N_(
        "distances in camera(s) {cameras} are estimated from person height (no ground "
        "calibration): treat them as +/-30%"
    ),
    N_(
        "{n} sighting(s) suggested for review: they continue an accepted sighting's track "
        "(motion continuity in one camera, or the same ground path in overlapping cameras), "
        "not matched by face"
    ),
    N_(
        "{n} sighting(s) in neighbouring cameras suggested for review by body appearance "
        "and walking time (never accepted on appearance alone)"
    ),
    N_("trace started from tracklet {id} picked by the user"),
    N_(
        "times within {m} m are interpolated between the distance bands computed at ingest "
        "({bands} m)"
    ),
)


def _pattern(message: str) -> re.Pattern[str]:
    parts = re.split(r"\{(\w+)\}", message)
    regex = "".join(
        f"(?P<{part}>.+?)" if i % 2 else re.escape(part) for i, part in enumerate(parts)
    )
    return re.compile(f"^{regex}$", re.DOTALL)


_STORED_PATTERNS = tuple((_pattern(m), m) for m in STORED_MESSAGES)


def message_text(message: str) -> str:
    """A stored English message (a trace's note, a server message) in the current
    language: a catalogue message as is, a note with values (:data:`STORED_MESSAGES`)
    by its pattern; anything else unchanged."""
    translated = gettext(message)
    if translated != message:
        return translated
    for pattern, template in _STORED_PATTERNS:
        found = pattern.match(message)
        if found is not None:
            return gettext(template).format(**found.groupdict())
    return message
