"""When a footage file starts (UTC), and file fingerprints.

The start time of a file is taken, in order, from:

1. an explicit value from the site config (wins over everything);
2. the file name (see below), read in the NVR's local time zone (``local_tz``);
3. the container's ``creation_time`` tag;
4. if the caller gives it, the end of the camera's previous file (segments in a row);

else :class:`~cctrace.errors.FootageError` says how to set it.

File-name patterns (searched in the file name only, not the folders; the first match
from the left wins, so a ``start-end`` name gives its start). Digits around a match
must not be other digits; the date must be valid with a year 1970-2100:

=================================  ===================================================
Pattern                            Examples
=================================  ===================================================
``YYYY-MM-DD?HH?MM?SS``            ``2026-03-15T08-15-00``, ``2026-03-15_08.15.00``,
  date/time separator one of        ``2026-03-15 08:15:00``, Dahua
  ``T _ . -``; time separators      ``2026-03-15.08.15.00-08.30.00[M][0@0][0].mp4``
  ``- : .``
``YYYYMMDD?HHMMSS``, ``?`` one     ``cam1_20260315_081500.mp4``, ``20260315-081500``,
  of ``_ - T``                      ``20260315T081500``
``YYYYMMDDHHMMSS[mmm]``            Hikvision ``ch01_20260315081500.mp4``,
                                    ``192.168.1.64_01_20260315081500123_TIMING.mp4``
=================================  ===================================================

Names carry no zone, so they are read in ``local_tz`` (default UTC) and converted to
UTC. A date without a time (``2026-03-15.mp4``) is not used.
"""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cctrace.errors import FootageError

log = logging.getLogger(__name__)

StartTimeSource = Literal["config", "filename", "container", "previous"]

_YEAR_RANGE = (1970, 2100)
_CHUNK = 1 << 20

_FILENAME_PATTERNS: tuple[re.Pattern[str], ...] = (
    re.compile(
        r"(?<!\d)(?P<Y>\d{4})-(?P<m>\d{2})-(?P<d>\d{2})[T_ .-]"
        r"(?P<H>\d{2})[-:.](?P<M>\d{2})[-:.](?P<S>\d{2})(?!\d)"
    ),
    re.compile(
        r"(?<!\d)(?P<Y>\d{4})(?P<m>\d{2})(?P<d>\d{2})[T_-](?P<H>\d{2})(?P<M>\d{2})(?P<S>\d{2})(?!\d)"
    ),
    re.compile(
        r"(?<!\d)(?P<Y>\d{4})(?P<m>\d{2})(?P<d>\d{2})(?P<H>\d{2})(?P<M>\d{2})(?P<S>\d{2})"
        r"(?P<ms>\d{3})?(?!\d)"
    ),
)


@dataclass(frozen=True)
class StartTime:
    """A file's start time (aware UTC) and where it came from."""

    value: datetime
    source: StartTimeSource


def as_tz(tz: tzinfo | str) -> tzinfo:
    """A ``tzinfo`` from itself or an IANA name ("Europe/Zurich", "UTC")."""
    if isinstance(tz, tzinfo):
        return tz
    try:
        return ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise FootageError(
            f"unknown time zone {tz!r}; use an IANA name like 'Europe/Zurich'"
        ) from exc


def to_utc(value: datetime, local_tz: tzinfo | str = UTC) -> datetime:
    """``value`` in UTC; a naive value is taken as local time in ``local_tz``."""
    if value.tzinfo is None or value.utcoffset() is None:
        value = value.replace(tzinfo=as_tz(local_tz))
    return value.astimezone(UTC)


def parse_filename_time(name: str | Path, local_tz: tzinfo | str = UTC) -> datetime | None:
    """The start time written in a file name (aware UTC), or None if there is none.

    Only the last path component is searched; see the module docstring for the patterns.
    """
    text = Path(name).name
    found: list[tuple[int, datetime]] = []
    for pattern in _FILENAME_PATTERNS:
        for match in pattern.finditer(text):
            parsed = _to_datetime(match)
            if parsed is not None:
                found.append((match.start(), parsed))
    if not found:
        return None
    _, naive = min(found, key=lambda item: item[0])
    return to_utc(naive, local_tz)


def _to_datetime(match: re.Match[str]) -> datetime | None:
    parts = match.groupdict()
    year = int(parts["Y"])
    if not _YEAR_RANGE[0] <= year <= _YEAR_RANGE[1]:
        return None
    millis = int(parts["ms"]) if parts.get("ms") else 0
    try:
        return datetime(
            year,
            int(parts["m"]),
            int(parts["d"]),
            int(parts["H"]),
            int(parts["M"]),
            int(parts["S"]),
            millis * 1000,
        )
    except ValueError:
        return None


def resolve_start(
    path: str | Path,
    explicit: datetime | None = None,
    local_tz: tzinfo | str = UTC,
    container_time: datetime | None = None,
    previous_end: datetime | None = None,
    *,
    read_container: bool = True,
) -> StartTime:
    """Decide when the footage in ``path`` starts (aware UTC), and say from what.

    In order: ``explicit`` (from the site config; a naive value is local time in
    ``local_tz``); the file name, read in ``local_tz``; ``container_time`` (pass the
    probed ``creation_time``) or, when not given and ``read_container``, the container's
    ``creation_time`` tag; ``previous_end``, the end of the camera's previous file
    (consecutive NVR segments without times). Else :class:`FootageError`.
    """
    path = Path(path)
    if explicit is not None:
        return StartTime(to_utc(explicit, local_tz), "config")
    from_name = parse_filename_time(path, local_tz)
    if from_name is not None:
        return StartTime(from_name, "filename")
    if container_time is None and read_container:
        from cctrace.footage.reader import probe  # av is needed only here

        container_time = probe(path).creation_time
    if container_time is not None:
        log.info("%s: start time from container creation_time %s", path, container_time)
        return StartTime(to_utc(container_time), "container")
    if previous_end is not None:
        log.info("%s: no start time of its own; continuing the previous file", path)
        return StartTime(to_utc(previous_end, local_tz), "previous")
    raise FootageError(
        f"{path}: cannot tell when this footage starts: no time in the file name and no "
        "creation_time in the container. Set the start time for this file or camera in the "
        "site config (ISO 8601 with zone, e.g. 2026-03-15T08:15:00+01:00), or rename the "
        "file with its start time, e.g. cam1_20260315_081500.mp4 (read in the camera's "
        "local time zone)."
    )


def resolve_start_time(
    path: str | Path,
    explicit: datetime | None = None,
    local_tz: tzinfo | str = UTC,
    container_time: datetime | None = None,
    previous_end: datetime | None = None,
    *,
    read_container: bool = True,
) -> datetime:
    """When the footage in ``path`` starts (aware UTC); see :func:`resolve_start`."""
    return resolve_start(
        path, explicit, local_tz, container_time, previous_end, read_container=read_container
    ).value


def sha256_file(path: str | Path, chunk_size: int = _CHUNK) -> str:
    """Hex SHA-256 of a file, read in ``chunk_size`` chunks (1 MiB by default)."""
    path = Path(path)
    digest = hashlib.sha256()
    try:
        with path.open("rb") as handle:
            while chunk := handle.read(chunk_size):
                digest.update(chunk)
    except OSError as exc:
        raise FootageError(f"{path}: cannot read to hash it ({exc.strerror or exc})") from exc
    return digest.hexdigest()


SOURCE_WORDS: dict[str, str] = {
    "config": "the site file's start_time",
    "filename": "its file name",
    "container": "its container's creation_time",
    "previous": "the end of the file before it",
}
"""How each start-time source is named in messages."""


def retention_cutoff(retention_days: int, now: datetime | None = None) -> datetime:
    """The instant before which footage is already past retention (``now`` - days)."""
    return (now or datetime.now(UTC)) - timedelta(days=retention_days)


def past_retention(
    path: str | Path, start: StartTime, retention_days: int, now: datetime | None = None
) -> str | None:
    """Why footage starting at ``start`` is already past retention, or None when it is not.

    Footage that starts before the cut-off (``retention.days`` before now) holds people
    the next purge deletes: usually a wrong time (a container clock, a missing
    ``start_time``), sometimes old footage ingested on purpose (``--allow-expired``).
    The message names the file, its start and where that came from, and the cut-off.
    """
    cutoff = retention_cutoff(retention_days, now)
    if start.value >= cutoff:
        return None
    return (
        f"{Path(path).name} starts {start.value.isoformat(timespec='seconds')} (from "
        f"{SOURCE_WORDS.get(start.source, start.source)}), more than {retention_days} days "
        f"ago: before the retention cut-off {cutoff.isoformat(timespec='seconds')} "
        "(retention.days), so the next purge would delete what it finds"
    )
