"""The call list: a case's contacts with what the tracers did about each, as the CSV a
tracer's spreadsheet opens.

One row per contact person of the case's latest trace, in the result's order (longest
cumulative time first). The file is UTF-8 **with a byte-order mark** (so Excel reads
Korean correctly), comma-separated, ``\\r\\n`` line ends, one header row; headers, the
contact's name, mask, close-contact and status words are in the reader's language (the
current :mod:`cctrace.i18n` language); times are the site's local time with their
offset (``2026-03-15 17:34:02 +09:00``). Columns, in order:

    case, contact ("Person 3 (Plaza east, 12:34)"), cameras (``;``-separated names),
    first seen, last seen, time within the query distance (minutes, two decimals),
    closest distance (metres, two decimals), mask (the contact's), close contact (yes/no),
    status, note, status set by, status set at, snapshot (address of the audited,
    blurred snapshot; empty when none), tracklets (``;``-separated ids)

Text cells a spreadsheet would run as a formula (``= + - @``, tab, CR) get a leading
``'``. For machine-readable columns (UTC, ids, every encounter) use ``contacts.csv``.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Sequence
from datetime import datetime, tzinfo
from typing import Protocol

from cctrace.i18n import N_, gettext
from cctrace.localtime import human
from cctrace.tracing.result import ContactSummary, TraceResult

from .formatting import (
    camera_index,
    camera_name,
    contact_label,
    finite,
    label,
    mask_label,
    result_clock,
)

BOM = "\ufeff"
HEADERS = (
    N_("Case"),
    N_("Contact"),
    N_("Cameras"),
    N_("First seen"),
    N_("Last seen"),
    N_("Time within {m} m (min)"),
    N_("Closest distance (m)"),
    N_("Mask"),
    N_("Close contact"),
    N_("Status"),
    N_("Note"),
    N_("Status set by"),
    N_("Status set at"),
    N_("Snapshot"),
    N_("Tracklets"),
)
"""Column headings (English ids; written in the reader's language)."""
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


class CallListContact(Protocol):
    """What the call list reads of a contact (e.g. :class:`cctrace.web.contact_work.
    ContactWork`)."""

    @property
    def number(self) -> int: ...
    @property
    def contact(self) -> ContactSummary: ...
    @property
    def status(self) -> str: ...
    @property
    def note(self) -> str: ...
    @property
    def updated_by(self) -> str | None: ...
    @property
    def updated_at(self) -> datetime | None: ...


def cell(value: str | None) -> str:
    """A text cell, defused against spreadsheet formula injection."""
    if not value:
        return ""
    return "'" + value if value.startswith(_FORMULA_START) else value


def _num(value: float | None, places: int) -> str:
    v = finite(value)
    return "" if v is None else f"{v:.{places}f}"


def headers(result: TraceResult) -> list[str]:
    """The heading row in the current language."""
    return [gettext(h).format(m=f"{result.query.distance_m:g}") for h in HEADERS]


def call_list_rows(
    result: TraceResult,
    contacts: Sequence[CallListContact],
    tz: tzinfo,
    snapshot_link: Callable[[int], str],
) -> list[list[str]]:
    """The rows under the heading: one per contact, in ``contacts`` order.
    ``snapshot_link(tracklet_id)`` is the address written for a contact's snapshot."""
    cams = camera_index(result)
    clock = result_clock(result, tz)
    rows = []
    for c in contacts:
        s = c.contact
        encounters = sorted(s.encounters, key=lambda e: e.start)
        camera_ids = list(dict.fromkeys(e.camera_id for e in encounters))
        snap = next((e for e in encounters if e.snapshot_path), None)
        rows.append(
            [
                cell(result.query.case_id),
                cell(contact_label(c.number, s, cams, clock)),
                cell("; ".join(camera_name(cams, i) for i in camera_ids)),
                human(s.first_seen, tz),
                human(s.last_seen, tz),
                _num(s.total_seconds_within / 60.0, 2),
                _num(s.min_distance_m, 2),
                mask_label(s.contact_mask),
                gettext("yes") if s.is_close_contact else gettext("no"),
                label(c.status),
                cell(c.note),
                cell(c.updated_by),
                human(c.updated_at, tz) if c.updated_at else "",
                snapshot_link(snap.contact_tracklet_id) if snap else "",
                ";".join(str(t) for t in s.contact_tracklet_ids),
            ]
        )
    return rows


def call_list_csv(
    result: TraceResult,
    contacts: Sequence[CallListContact],
    tz: tzinfo,
    snapshot_link: Callable[[int], str],
) -> bytes:
    """The whole file: BOM, heading row, one row per contact, UTF-8."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow(headers(result))
    writer.writerows(call_list_rows(result, contacts, tz, snapshot_link))
    return (BOM + buf.getvalue()).encode("utf-8")
