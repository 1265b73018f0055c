"""Small formatting helpers shared by the report writers (times, numbers, labels)."""

from __future__ import annotations

import math
from collections.abc import Iterable
from datetime import UTC, datetime

from cctrace.tracing.result import CameraInfo, SightingResult, TraceResult
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
        return f"{total} s"
    minutes, secs = divmod(total, 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


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


def mask_label(status: MaskStatus) -> str:
    """Reader-facing label of a mask status."""
    return {
        MaskStatus.WORN: "Mask worn",
        MaskStatus.NOT_WORN: "No mask",
        MaskStatus.UNKNOWN: "Unknown",
    }[MaskStatus(status)]


def status_label(status: SightingStatus) -> str:
    """Reader-facing label of a sighting status."""
    return {
        SightingStatus.ACCEPTED: "Accepted",
        SightingStatus.NEEDS_REVIEW: "Needs review",
        SightingStatus.REJECTED: "Rejected",
    }[SightingStatus(status)]


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
