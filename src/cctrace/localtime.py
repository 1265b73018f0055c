"""The site's local time: how people read and type times (the database and JSON stay UTC).

A site has one time zone (``timezone`` in the site file, an IANA name such as
``Asia/Seoul``; by default the cameras' common ``timezone``, else UTC). Everything a
person reads (web pages, HTML and PDF reports, CSV ``*_local`` columns) shows local
time with its UTC offset, ``2026-03-15 17:34:02 +09:00``; a UTC site writes ``UTC``
instead of ``+00:00``.

Times a person types without an offset are read in the site's zone
(:func:`from_local`); a time with an offset (or ``Z``) means exactly that instant.
Around a daylight-saving change the rule is fixed (PEP 495, ``fold=0``):

* a time in the **repeated hour** (clocks go back; Europe/Berlin 2026-10-25
  02:30 happens twice) is the **first** of the two, still on summer time
  (``02:30 +02:00`` = 00:30 UTC);
* a time in the **skipped hour** (clocks go forward; Europe/Berlin 2026-03-29
  02:30 never happens) is read with the offset **before** the change
  (``02:30 +01:00`` = 01:30 UTC, which the clocks showed as 03:30 +02:00).

Shown times always carry their offset, so the two 02:30s of a repeated hour read
differently (``+02:00`` and ``+01:00``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DEFAULT_ZONE = "UTC"
"""The zone of a site that names none and whose cameras do not agree on one."""


def zone(name: str) -> ZoneInfo:
    """The IANA zone ``name``; ``ValueError`` naming the problem when it is unknown."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, TypeError) as exc:
        raise ValueError(
            f"unknown time zone {name!r}; use an IANA name like Asia/Seoul or Europe/Berlin"
        ) from exc


def check_zone_name(name: str) -> str:
    """``name`` when it is a known IANA zone, else ``ValueError`` (for config validators)."""
    zone(name)
    return name


def site_zone_name(explicit: str | None, camera_zones: Iterable[str]) -> str:
    """The site's zone: ``explicit`` when given, else the cameras' zone when they all
    name the same one, else :data:`DEFAULT_ZONE`."""
    if explicit:
        return explicit
    zones = set(camera_zones)
    return zones.pop() if len(zones) == 1 else DEFAULT_ZONE


def _aware(dt: datetime) -> datetime:
    """A naive datetime from the database or a result is UTC (project rule)."""
    return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt


def is_utc(tz: tzinfo) -> bool:
    """Whether ``tz`` is UTC itself (its times are written with ``UTC``, not ``+00:00``)."""
    return tz is UTC or getattr(tz, "key", None) in ("UTC", "Etc/UTC", "Etc/UCT", "UCT", "Zulu")


def to_local(dt: datetime, tz: tzinfo) -> datetime:
    """``dt`` (aware, or naive = UTC) as wall-clock time in ``tz``."""
    return _aware(dt).astimezone(tz)


def offset_text(dt: datetime, tz: tzinfo) -> str:
    """``+09:00`` / ``-03:30``: ``tz``'s offset at the instant ``dt``; ``UTC`` for UTC."""
    if is_utc(tz):
        return "UTC"
    return _offset(to_local(dt, tz).utcoffset() or timedelta(0))


def _offset(delta: timedelta) -> str:
    minutes = round(delta.total_seconds() / 60)
    sign = "-" if minutes < 0 else "+"
    hours, mins = divmod(abs(minutes), 60)
    return f"{sign}{hours:02d}:{mins:02d}"


def human(dt: datetime | None, tz: tzinfo, *, seconds: bool = True) -> str:
    """``2026-03-15 17:34:02 +09:00`` (``... UTC`` on a UTC site); an em dash for None."""
    if dt is None:
        return "—"
    fmt = "%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M"
    return f"{to_local(dt, tz).strftime(fmt)} {offset_text(dt, tz)}"


def from_local(dt: datetime, tz: tzinfo) -> datetime:
    """A typed time as an aware UTC instant: a naive ``dt`` is wall-clock time in
    ``tz`` (repeated hour: the first; skipped hour: the offset before the change; see
    the module docstring); an aware one is honoured as given."""
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=tz, fold=0)
    return dt.astimezone(UTC)


def parse_local(text: str, tz: tzinfo) -> datetime:
    """:func:`from_local` of an ISO-8601 string (``2026-03-15T17:34``, ``...+09:00``,
    ``...Z``); ``ValueError`` when it is not one."""
    raw = text.strip()
    if raw.endswith(("Z", "z")):
        raw = raw[:-1] + "+00:00"
    return from_local(datetime.fromisoformat(raw), tz)


def input_value(dt: datetime | None, tz: tzinfo) -> str:
    """``2026-03-15T17:34:02``: local wall-clock time for an ``<input type=datetime-local>``."""
    return "" if dt is None else to_local(dt, tz).strftime("%Y-%m-%dT%H:%M:%S")


@dataclass(frozen=True)
class LocalClock:
    """How one page or document writes times in its tables: short local times (the
    zone and offset said once, in :attr:`caption`), each with its own offset only when
    the document's times fall on both sides of a daylight-saving change."""

    tz: tzinfo
    offsets: tuple[str, ...] = ()
    """The distinct offsets of the document's times, in time order."""

    @classmethod
    def of(cls, tz: tzinfo, times: Iterable[datetime | None] = ()) -> LocalClock:
        """The clock for a document holding ``times`` (None ignored)."""
        seen: list[str] = []
        for t in sorted(_aware(t) for t in times if t is not None):
            off = offset_text(t, tz)
            if off not in seen:
                seen.append(off)
        return cls(tz, tuple(seen))

    @property
    def mixed(self) -> bool:
        """Whether the document's times have more than one offset (a DST change)."""
        return len(self.offsets) > 1

    @property
    def zone_name(self) -> str:
        """The IANA name of the zone (``UTC`` for UTC)."""
        return "UTC" if is_utc(self.tz) else str(getattr(self.tz, "key", self.tz))

    @property
    def caption(self) -> str:
        """``Asia/Seoul, UTC+09:00``; ``UTC``; ``Europe/Berlin, UTC+01:00 / +02:00``."""
        if is_utc(self.tz):
            return "UTC"
        offsets = self.offsets or (offset_text(datetime.now(UTC), self.tz),)
        return f"{self.zone_name}, UTC{' / '.join(offsets)}"

    def _suffix(self, dt: datetime) -> str:
        return f" {offset_text(dt, self.tz)}" if self.mixed else ""

    def clock(self, dt: datetime | None) -> str:
        """``17:34:02`` (``02:30:00 +01:00`` when offsets are mixed); an em dash for None."""
        if dt is None:
            return "—"
        return to_local(dt, self.tz).strftime("%H:%M:%S") + self._suffix(dt)

    def hm(self, dt: datetime) -> str:
        """``17:34`` (with the offset when offsets are mixed)."""
        return to_local(dt, self.tz).strftime("%H:%M") + self._suffix(dt)

    def day(self, dt: datetime) -> str:
        """``2026-03-15``: the local date."""
        return to_local(dt, self.tz).strftime("%Y-%m-%d")

    def short(self, dt: datetime | None) -> str:
        """``2026-03-15 17:34:02`` (with the offset when offsets are mixed)."""
        if dt is None:
            return "—"
        return to_local(dt, self.tz).strftime("%Y-%m-%d %H:%M:%S") + self._suffix(dt)

    def full(self, dt: datetime | None, *, seconds: bool = True) -> str:
        """:func:`human`: always with the offset."""
        return human(dt, self.tz, seconds=seconds)


UTC_CLOCK = LocalClock(UTC)
"""The clock of a UTC site (and the default of every renderer given no zone)."""
