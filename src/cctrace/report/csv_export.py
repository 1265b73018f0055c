"""Sightings and contacts as CSV for spreadsheets.

All files are UTF-8, comma-separated, with a header row, ``\\r\\n`` line ends
(RFC 4180) and times in ISO-8601 UTC (``2024-05-01T09:30:00.000Z``), each followed
by the same time in the site's local zone with its offset for people
(``*_local``: ``2024-05-01 18:30:00 +09:00``; ``... UTC`` on a UTC site). Empty
cells mean "unknown / not applicable". Text cells that a spreadsheet would run
as a formula (starting with ``= + - @``, tab or CR) are prefixed with ``'``.
Column names are stable within a major version of cctrace.

``sightings.csv`` — one row per sighting, best score first:
    case_id, route_order (1-based position on the route; empty unless accepted),
    tracklet_id, camera_id, camera_name, start_utc, start_local, end_utc,
    end_local, duration_s, score (cosine similarity, 3 decimals), status (accepted |
    needs_review |
    rejected), mask_status (worn | not_worn | unknown), path_points (number of
    ground positions), snapshot_path

``contacts.csv`` — one row per encounter (a contact and the case together in one
camera), contacts in report order, encounters in time order; the person columns
repeat on each of that person's rows so the file filters well:
    case_id, contact_no (1-based, as in the HTML report), person_label
    (``Person 3 (Plaza east, 12:34)``: number, camera and local time of the first
    encounter, as the web app and reports name them), contact_tracklet_ids
    (``;``-separated), is_close_contact (true | false),
    person_total_seconds_within, person_min_distance_m, person_first_seen_utc,
    person_first_seen_local, person_last_seen_utc, person_last_seen_local,
    person_contact_mask, encounter_no (1-based within the contact), camera_id,
    camera_name, contact_tracklet_id, case_tracklet_id, start_utc, start_local,
    end_utc, end_local, seconds_within (within the query distance),
    min_distance_m, min_distance_at_utc, min_distance_at_local, case_mask,
    contact_mask, seconds_by_band (``distance_m:seconds`` pairs, ``;``-separated, nearest
    first), snapshot_path

``contact_persons.csv`` — one row per contact person:
    case_id, contact_no, person_label, contact_tracklet_ids, is_close_contact,
    total_seconds_within, total_minutes_within, min_distance_m,
    first_seen_utc, first_seen_local, last_seen_utc, last_seen_local, contact_mask,
    case_masks (distinct case mask statuses over the encounters, ``;``-separated),
    camera_ids, camera_names (``;``-separated), encounters (count), snapshot_path
    (first encounter snapshot available)
"""

from __future__ import annotations

import csv
import io
import logging
import os
from collections.abc import Sequence
from datetime import UTC, datetime, tzinfo
from pathlib import Path, PurePath, PurePosixPath

from cctrace.localtime import human
from cctrace.report.formatting import (
    camera_index,
    camera_name,
    contact_label,
    finite,
    iso_utc,
    result_clock,
    route_order,
    seconds_between,
    sighting_key,
)
from cctrace.report.json_report import atomic_write_text
from cctrace.store.files import SNAPSHOTS_DIR
from cctrace.tracing.result import ContactSummary, EncounterResult, TraceResult

logger = logging.getLogger(__name__)

SIGHTING_COLUMNS: tuple[str, ...] = (
    "case_id",
    "route_order",
    "tracklet_id",
    "camera_id",
    "camera_name",
    "start_utc",
    "start_local",
    "end_utc",
    "end_local",
    "duration_s",
    "score",
    "status",
    "mask_status",
    "path_points",
    "snapshot_path",
)
CONTACT_COLUMNS: tuple[str, ...] = (
    "case_id",
    "contact_no",
    "person_label",
    "contact_tracklet_ids",
    "is_close_contact",
    "person_total_seconds_within",
    "person_min_distance_m",
    "person_first_seen_utc",
    "person_first_seen_local",
    "person_last_seen_utc",
    "person_last_seen_local",
    "person_contact_mask",
    "encounter_no",
    "camera_id",
    "camera_name",
    "contact_tracklet_id",
    "case_tracklet_id",
    "start_utc",
    "start_local",
    "end_utc",
    "end_local",
    "seconds_within",
    "min_distance_m",
    "min_distance_at_utc",
    "min_distance_at_local",
    "case_mask",
    "contact_mask",
    "seconds_by_band",
    "snapshot_path",
)
CONTACT_PERSON_COLUMNS: tuple[str, ...] = (
    "case_id",
    "contact_no",
    "person_label",
    "contact_tracklet_ids",
    "is_close_contact",
    "total_seconds_within",
    "total_minutes_within",
    "min_distance_m",
    "first_seen_utc",
    "first_seen_local",
    "last_seen_utc",
    "last_seen_local",
    "contact_mask",
    "case_masks",
    "camera_ids",
    "camera_names",
    "encounters",
    "snapshot_path",
)

Row = dict[str, str]
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _text(value: str | None) -> str:
    """A text cell, defused against spreadsheet formula injection."""
    if not value:
        return ""
    return "'" + value if value.startswith(_FORMULA_START) else value


def _snapshot(path: str | None) -> str:
    """A snapshot's path relative to the data directory (``snapshots/...``), so a CSV
    that leaves the building does not show the server's folders."""
    if not path:
        return ""
    parts = PurePath(path).parts
    if SNAPSHOTS_DIR in parts:
        return str(PurePosixPath(*parts[parts.index(SNAPSHOTS_DIR) :]))
    return PurePath(path).name


def _num(value: float | None, places: int) -> str:
    v = finite(value)
    return "" if v is None else f"{v:.{places}f}"


def _bool(value: bool) -> str:
    return "true" if value else "false"


def _ids(ids: Sequence[int]) -> str:
    return ";".join(str(i) for i in ids)


def _local(dt: datetime, tz: tzinfo) -> str:
    return human(dt, tz)


def sighting_rows(result: TraceResult, tz: tzinfo = UTC) -> list[Row]:
    """Rows of ``sightings.csv`` (see the module docstring); ``*_local`` in ``tz``."""
    cams = camera_index(result)
    order = route_order(result)
    rows: list[Row] = []
    for s in result.sightings:
        pos = order.get(sighting_key(s))
        rows.append(
            {
                "case_id": _text(result.query.case_id),
                "route_order": "" if pos is None else str(pos),
                "tracklet_id": str(s.tracklet_id),
                "camera_id": _text(s.camera_id),
                "camera_name": _text(camera_name(cams, s.camera_id)),
                "start_utc": iso_utc(s.start),
                "start_local": _local(s.start, tz),
                "end_utc": iso_utc(s.end),
                "end_local": _local(s.end, tz),
                "duration_s": _num(seconds_between(s.start, s.end), 1),
                "score": _num(s.score, 3),
                "status": s.status.value,
                "mask_status": s.mask_status.value,
                "path_points": str(len(s.path)),
                "snapshot_path": _snapshot(s.snapshot_path),
            }
        )
    return rows


def _bands(e: EncounterResult) -> str:
    return ";".join(
        f"{d:g}:{e.seconds_by_band[d]:.1f}"
        for d in sorted(e.seconds_by_band)
        if finite(d) is not None and finite(e.seconds_by_band[d]) is not None
    )


def _encounters(c: ContactSummary) -> list[EncounterResult]:
    return sorted(c.encounters, key=lambda e: e.start)


def contact_rows(result: TraceResult, tz: tzinfo = UTC) -> list[Row]:
    """Rows of ``contacts.csv``: one per encounter (see the module docstring)."""
    cams = camera_index(result)
    clock = result_clock(result, tz)
    rows: list[Row] = []
    for number, c in enumerate(result.contacts, start=1):
        person = {
            "case_id": _text(result.query.case_id),
            "contact_no": str(number),
            "person_label": _text(contact_label(number, c, cams, clock)),
            "contact_tracklet_ids": _ids(c.contact_tracklet_ids),
            "is_close_contact": _bool(c.is_close_contact),
            "person_total_seconds_within": _num(c.total_seconds_within, 1),
            "person_min_distance_m": _num(c.min_distance_m, 2),
            "person_first_seen_utc": iso_utc(c.first_seen),
            "person_first_seen_local": _local(c.first_seen, tz),
            "person_last_seen_utc": iso_utc(c.last_seen),
            "person_last_seen_local": _local(c.last_seen, tz),
            "person_contact_mask": c.contact_mask.value,
        }
        encounters = _encounters(c)
        if not encounters:
            rows.append({**dict.fromkeys(CONTACT_COLUMNS, ""), **person})
        for k, e in enumerate(encounters, start=1):
            rows.append(
                {
                    **person,
                    "encounter_no": str(k),
                    "camera_id": _text(e.camera_id),
                    "camera_name": _text(camera_name(cams, e.camera_id)),
                    "contact_tracklet_id": str(e.contact_tracklet_id),
                    "case_tracklet_id": str(e.case_tracklet_id),
                    "start_utc": iso_utc(e.start),
                    "start_local": _local(e.start, tz),
                    "end_utc": iso_utc(e.end),
                    "end_local": _local(e.end, tz),
                    "seconds_within": _num(e.seconds_within, 1),
                    "min_distance_m": _num(e.min_distance_m, 2),
                    "min_distance_at_utc": iso_utc(e.min_distance_at),
                    "min_distance_at_local": _local(e.min_distance_at, tz),
                    "case_mask": e.case_mask.value,
                    "contact_mask": e.contact_mask.value,
                    "seconds_by_band": _bands(e),
                    "snapshot_path": _snapshot(e.snapshot_path),
                }
            )
    return rows


def contact_person_rows(result: TraceResult, tz: tzinfo = UTC) -> list[Row]:
    """Rows of ``contact_persons.csv``: one per contact person."""
    cams = camera_index(result)
    clock = result_clock(result, tz)
    rows: list[Row] = []
    for number, c in enumerate(result.contacts, start=1):
        encounters = _encounters(c)
        camera_ids = sorted({e.camera_id for e in encounters})
        snapshot = next((e.snapshot_path for e in encounters if e.snapshot_path), None)
        rows.append(
            {
                "case_id": _text(result.query.case_id),
                "contact_no": str(number),
                "person_label": _text(contact_label(number, c, cams, clock)),
                "contact_tracklet_ids": _ids(c.contact_tracklet_ids),
                "is_close_contact": _bool(c.is_close_contact),
                "total_seconds_within": _num(c.total_seconds_within, 1),
                "total_minutes_within": _num(c.total_seconds_within / 60.0, 2),
                "min_distance_m": _num(c.min_distance_m, 2),
                "first_seen_utc": iso_utc(c.first_seen),
                "first_seen_local": _local(c.first_seen, tz),
                "last_seen_utc": iso_utc(c.last_seen),
                "last_seen_local": _local(c.last_seen, tz),
                "contact_mask": c.contact_mask.value,
                "case_masks": ";".join(sorted({e.case_mask.value for e in encounters})),
                "camera_ids": _text(";".join(camera_ids)),
                "camera_names": _text(";".join(camera_name(cams, i) for i in camera_ids)),
                "encounters": str(len(encounters)),
                "snapshot_path": _snapshot(snapshot),
            }
        )
    return rows


def to_csv(rows: Sequence[Row], columns: Sequence[str]) -> str:
    """CSV text with a header row and ``\\r\\n`` line ends."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(columns), lineterminator="\r\n")
    writer.writeheader()
    writer.writerows(rows)
    return buf.getvalue()


def _write(text: str, path: str | os.PathLike[str], what: str) -> Path:
    out = atomic_write_text(Path(path), text)
    logger.info("wrote %s CSV %s", what, out)
    return out


def write_sightings_csv(
    result: TraceResult, path: str | os.PathLike[str], tz: tzinfo | None = None
) -> Path:
    """Write ``sightings.csv`` to ``path`` (``*_local`` in ``tz``, default UTC); returns
    the path."""
    rows = sighting_rows(result, tz or UTC)
    return _write(to_csv(rows, SIGHTING_COLUMNS), path, "sightings")


def write_contacts_csv(
    result: TraceResult, path: str | os.PathLike[str], tz: tzinfo | None = None
) -> Path:
    """Write ``contacts.csv`` (one row per encounter; ``*_local`` in ``tz``) to ``path``;
    returns the path."""
    return _write(to_csv(contact_rows(result, tz or UTC), CONTACT_COLUMNS), path, "contacts")


def write_contact_persons_csv(
    result: TraceResult, path: str | os.PathLike[str], tz: tzinfo | None = None
) -> Path:
    """Write ``contact_persons.csv`` (one row per person; ``*_local`` in ``tz``) to
    ``path``; returns the path."""
    rows = contact_person_rows(result, tz or UTC)
    return _write(to_csv(rows, CONTACT_PERSON_COLUMNS), path, "contact persons")
