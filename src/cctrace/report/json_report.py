"""The trace as versioned JSON (schema ``cctrace.trace/1``).

The layout is described, field by field, by the JSON Schema shipped next to this
module (``trace.schema.json``, see :func:`load_schema`) and by
``docs/report-schema.md``. Conventions:

* every time is ISO-8601 UTC with milliseconds and a ``Z`` suffix;
* distances are metres, durations seconds; numbers that are not finite are null;
* no embeddings and no image data: snapshots are referenced by path;
* ``schema`` changes its number on any breaking change; fields may be added
  within a version.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from importlib import resources
from pathlib import Path
from typing import Any

from cctrace import __version__
from cctrace.report.formatting import (
    camera_index,
    count_status,
    finite,
    iso_or_none,
    iso_utc,
    route_order,
    seconds_between,
    sighting_key,
)
from cctrace.tracing.result import (
    CameraInfo,
    ContactSummary,
    EncounterResult,
    LooseFaceResult,
    SightingResult,
    TraceQuery,
    TraceResult,
)
from cctrace.types import SightingStatus

logger = logging.getLogger(__name__)

SCHEMA_ID = "cctrace.trace/1"
"""Value of the ``schema`` field written by this module."""
SCHEMA_FILE = "trace.schema.json"


def load_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) that :func:`trace_to_dict` output follows."""
    text = resources.files("cctrace.report").joinpath(SCHEMA_FILE).read_text("utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema


def _query(q: TraceQuery) -> dict[str, Any]:
    return {
        "case_id": q.case_id,
        "photos": list(q.photos),
        "start_tracklet_id": q.start_tracklet_id,
        "window_from": iso_or_none(q.window_from),
        "window_to": iso_or_none(q.window_to),
        "distance_m": q.distance_m,
        "minutes": q.minutes,
        "accept_threshold": q.accept_threshold,
        "review_threshold": q.review_threshold,
    }


def _camera(c: CameraInfo) -> dict[str, Any]:
    return {
        "camera_id": c.camera_id,
        "name": c.name,
        "x_m": finite(c.x_m),
        "y_m": finite(c.y_m),
        "lat": finite(c.lat),
        "lon": finite(c.lon),
    }


def _sighting(s: SightingResult, order: int | None) -> dict[str, Any]:
    return {
        "tracklet_id": s.tracklet_id,
        "camera_id": s.camera_id,
        "route_order": order,
        "start": iso_utc(s.start),
        "end": iso_utc(s.end),
        "duration_s": round(seconds_between(s.start, s.end), 3),
        "score": finite(s.score),
        "status": s.status.value,
        "mask_status": s.mask_status.value,
        "snapshot": s.snapshot_path,
        "path": [
            {"t": iso_utc(p.timestamp), "x_m": finite(p.x_m), "y_m": finite(p.y_m)}
            for p in sorted(s.path, key=lambda p: p.timestamp)
        ],
        "link": None
        if s.link is None
        else {
            "from_tracklet_id": s.link.from_tracklet_id,
            "from_camera_id": s.link.from_camera_id,
            "direction": s.link.direction,
            "gap_s": finite(s.link.gap_s),
            "window_s": [finite(s.link.window_s[0]), finite(s.link.window_s[1])],
            "window_source": s.link.window_source,
            "distance_m": finite(s.link.distance_m),
            "body_similarity": finite(s.link.body_similarity),
            "case_height_m": finite(s.link.case_height_m),
            "candidate_height_m": finite(s.link.candidate_height_m),
            "exit_cos": finite(s.link.exit_cos),
            "entry_cos": finite(s.link.entry_cos),
            "score": finite(s.link.score),
        },
    }


def _loose_face(f: LooseFaceResult) -> dict[str, Any]:
    return {
        "loose_face_id": f.loose_face_id,
        "camera_id": f.camera_id,
        "time": iso_utc(f.timestamp),
        "frame_index": f.frame_index,
        "box": [finite(v) for v in f.xyxy],
        "score": finite(f.score),
        "fate": f.fate,
        "faces_seen": f.faces_seen,
        "seen_until": iso_utc(f.seen_until) if f.seen_until is not None else None,
    }


def _bands(bands: dict[float, float]) -> list[dict[str, float]]:
    return [
        {"distance_m": float(d), "seconds": float(bands[d])}
        for d in sorted(bands)
        if finite(d) is not None and finite(bands[d]) is not None
    ]


def _encounter(e: EncounterResult) -> dict[str, Any]:
    return {
        "contact_tracklet_id": e.contact_tracklet_id,
        "case_tracklet_id": e.case_tracklet_id,
        "camera_id": e.camera_id,
        "start": iso_utc(e.start),
        "end": iso_utc(e.end),
        "seconds_within": e.seconds_within,
        "min_distance_m": finite(e.min_distance_m),
        "min_distance_at": iso_utc(e.min_distance_at),
        "case_mask": e.case_mask.value,
        "contact_mask": e.contact_mask.value,
        "snapshot": e.snapshot_path,
        "seconds_by_band": _bands(e.seconds_by_band),
    }


def _contact(number: int, c: ContactSummary) -> dict[str, Any]:
    return {
        "contact_no": number,
        "contact_tracklet_ids": list(c.contact_tracklet_ids),
        "is_close_contact": c.is_close_contact,
        "total_seconds_within": c.total_seconds_within,
        "min_distance_m": finite(c.min_distance_m),
        "first_seen": iso_utc(c.first_seen),
        "last_seen": iso_utc(c.last_seen),
        "contact_mask": c.contact_mask.value,
        "camera_ids": sorted({e.camera_id for e in c.encounters}),
        "linked_by": list(c.linked_by),
        "encounters": [_encounter(e) for e in sorted(c.encounters, key=lambda e: e.start)],
    }


def _summary(result: TraceResult) -> dict[str, Any]:
    route = result.route
    return {
        "sightings_total": len(result.sightings),
        "sightings_accepted": count_status(result.sightings, SightingStatus.ACCEPTED),
        "sightings_needs_review": count_status(result.sightings, SightingStatus.NEEDS_REVIEW),
        "sightings_rejected": count_status(result.sightings, SightingStatus.REJECTED),
        "route_cameras": len({s.camera_id for s in route}),
        "route_start": iso_utc(route[0].start) if route else None,
        "route_end": iso_utc(max(s.end for s in route)) if route else None,
        "contacts_total": len(result.contacts),
        "close_contacts": sum(1 for c in result.contacts if c.is_close_contact),
        "encounters_total": sum(len(c.encounters) for c in result.contacts),
    }


def trace_to_dict(result: TraceResult) -> dict[str, Any]:
    """The trace as a JSON-ready dict following ``cctrace.trace/1``.

    Sightings keep the result's order (best score first); ``route`` lists the
    accepted ones in time order; contacts keep the result's order and are
    numbered from 1 (``contact_no``), as in the HTML and CSV reports.
    """
    known = camera_index(result)
    order = route_order(result)
    used = {s.camera_id for s in result.sightings} | {
        e.camera_id for c in result.contacts for e in c.encounters
    }
    missing = sorted(used - set(known))
    if missing:
        logger.warning("trace %s refers to unknown cameras: %s", result.query.case_id, missing)
    return {
        "schema": SCHEMA_ID,
        "generator": {"name": "cctrace", "version": __version__},
        "case_id": result.query.case_id,
        "created_at": iso_utc(result.created_at),
        "actor": result.actor,
        "query": _query(result.query),
        "summary": _summary(result),
        "cameras": [_camera(c) for c in result.cameras],
        "sightings": [_sighting(s, order.get(sighting_key(s))) for s in result.sightings],
        "route": [
            {
                "order": i,
                "tracklet_id": s.tracklet_id,
                "camera_id": s.camera_id,
                "start": iso_utc(s.start),
                "end": iso_utc(s.end),
            }
            for i, s in enumerate(result.route, start=1)
        ],
        "contacts": [_contact(i, c) for i, c in enumerate(result.contacts, start=1)],
        # Faces seen without a tracked person: for review, never sightings.
        "loose_faces": [_loose_face(f) for f in result.loose_faces],
        "notes": list(result.notes),
    }


def dumps(result: TraceResult) -> str:
    """The trace as a JSON string (UTF-8 text, 2-space indent, no NaN)."""
    return json.dumps(trace_to_dict(result), indent=2, ensure_ascii=False, allow_nan=False)


def atomic_write_text(path: Path, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` via a temporary file and a rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def write_json(result: TraceResult, path: str | os.PathLike[str]) -> Path:
    """Write the trace as ``cctrace.trace/1`` JSON to ``path``; returns the path."""
    out = atomic_write_text(Path(path), dumps(result) + "\n")
    logger.info("wrote JSON report %s", out)
    return out
