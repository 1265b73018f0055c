"""The site's local time: zone choice, display with offsets, typed times, DST changes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from cctrace.config import load_site
from cctrace.errors import ConfigError
from cctrace.localtime import (
    LocalClock,
    from_local,
    human,
    input_value,
    offset_text,
    parse_local,
    site_zone_name,
    zone,
)

SEOUL = ZoneInfo("Asia/Seoul")
BERLIN = ZoneInfo("Europe/Berlin")


def test_tz_data_is_available() -> None:
    """zoneinfo finds real zones (system tzdata or the tzdata package)."""
    assert ZoneInfo("Asia/Seoul").utcoffset(datetime(2026, 3, 15)) == timedelta(hours=9)


def test_seoul_times_read_with_their_offset() -> None:
    at = datetime(2026, 3, 15, 8, 34, 2, tzinfo=UTC)
    assert human(at, SEOUL) == "2026-03-15 17:34:02 +09:00"
    assert human(at, SEOUL, seconds=False) == "2026-03-15 17:34 +09:00"
    assert human(at.replace(tzinfo=None), SEOUL) == "2026-03-15 17:34:02 +09:00"  # naive=UTC
    assert human(None, SEOUL) == "—"
    assert human(at, zone("UTC")) == "2026-03-15 08:34:02 UTC"
    assert human(at, UTC) == "2026-03-15 08:34:02 UTC"
    assert offset_text(at, ZoneInfo("Asia/Kolkata")) == "+05:30"
    assert offset_text(at, ZoneInfo("America/St_Johns")) == "-02:30"
    assert input_value(at, SEOUL) == "2026-03-15T17:34:02"


def test_typed_times_are_local_unless_they_carry_an_offset() -> None:
    want = datetime(2026, 3, 15, 8, 34, 2, tzinfo=UTC)
    assert from_local(datetime(2026, 3, 15, 17, 34, 2), SEOUL) == want
    assert from_local(want, SEOUL) == want  # aware: honoured as given
    assert parse_local("2026-03-15T17:34:02", SEOUL) == want
    assert parse_local("2026-03-15T08:34:02Z", SEOUL) == want
    assert parse_local("2026-03-15T09:34:02+01:00", SEOUL) == want
    assert from_local(datetime(2026, 3, 15, 17, 34, 2), SEOUL).tzinfo is UTC
    with pytest.raises(ValueError):
        parse_local("15/03/2026 17:34", SEOUL)


def test_berlin_skipped_hour_reads_with_the_offset_before_the_change() -> None:
    """2026-03-29: clocks jump 02:00 CET -> 03:00 CEST; 02:30 never happens there. It is
    read with the offset before the change (+01:00): 01:30 UTC, shown as 03:30 +02:00."""
    got = from_local(datetime(2026, 3, 29, 2, 30), BERLIN)
    assert got == datetime(2026, 3, 29, 1, 30, tzinfo=UTC)
    assert human(got, BERLIN) == "2026-03-29 03:30:00 +02:00"
    # Either side of the gap is unambiguous.
    assert from_local(datetime(2026, 3, 29, 1, 59), BERLIN) == datetime(
        2026, 3, 29, 0, 59, tzinfo=UTC
    )
    assert from_local(datetime(2026, 3, 29, 3, 0), BERLIN) == datetime(
        2026, 3, 29, 1, 0, tzinfo=UTC
    )


def test_berlin_repeated_hour_is_the_first_and_the_offset_tells_them_apart() -> None:
    """2026-10-25: clocks go back 03:00 CEST -> 02:00 CET; 02:30 happens twice. A typed
    02:30 is the first (summer time, +02:00); shown times carry their offset."""
    got = from_local(datetime(2026, 10, 25, 2, 30), BERLIN)
    assert got == datetime(2026, 10, 25, 0, 30, tzinfo=UTC)
    assert human(got, BERLIN) == "2026-10-25 02:30:00 +02:00"
    second = datetime(2026, 10, 25, 1, 30, tzinfo=UTC)
    assert human(second, BERLIN) == "2026-10-25 02:30:00 +01:00"
    assert parse_local("2026-10-25T02:30:00+01:00", BERLIN) == second  # the second one


def test_clock_states_the_offset_once_unless_a_dst_change_falls_inside() -> None:
    seoul = LocalClock.of(SEOUL, [datetime(2026, 3, 15, 3, 4, 5, tzinfo=UTC), None])
    assert not seoul.mixed and seoul.caption == "Asia/Seoul, UTC+09:00"
    assert seoul.clock(datetime(2026, 3, 15, 3, 4, 5, tzinfo=UTC)) == "12:04:05"
    assert seoul.hm(datetime(2026, 3, 15, 3, 4, 5, tzinfo=UTC)) == "12:04"
    assert seoul.short(datetime(2026, 3, 15, 3, 4, 5, tzinfo=UTC)) == "2026-03-15 12:04:05"
    before, after = (
        datetime(2026, 3, 29, 0, 59, tzinfo=UTC),
        datetime(2026, 3, 29, 1, 1, tzinfo=UTC),
    )
    berlin = LocalClock.of(BERLIN, [after, before])
    assert berlin.mixed and berlin.offsets == ("+01:00", "+02:00")
    assert berlin.caption == "Europe/Berlin, UTC+01:00 / +02:00"
    assert berlin.clock(before) == "01:59:00 +01:00"
    assert berlin.clock(after) == "03:01:00 +02:00"
    assert LocalClock.of(UTC, [before]).caption == "UTC"
    assert LocalClock.of(zone("UTC"), [before]).clock(before) == "00:59:00"


def test_site_zone_defaults_to_the_cameras_common_zone() -> None:
    assert site_zone_name("Europe/Berlin", ["Asia/Seoul"]) == "Europe/Berlin"
    assert site_zone_name(None, ["Asia/Seoul", "Asia/Seoul"]) == "Asia/Seoul"
    assert site_zone_name(None, ["Asia/Seoul", "UTC"]) == "UTC"
    assert site_zone_name(None, []) == "UTC"
    with pytest.raises(ValueError, match="unknown time zone 'Mars/Olympus'"):
        zone("Mars/Olympus")


def _site(tmp_path: Path, top: str = "", camera: str = "") -> Path:
    path = tmp_path / "site.yaml"
    path.write_text(
        f"name: tz test\n{top}"
        "cameras:\n"
        "  - id: cam1\n"
        "    location: {x_m: 0, y_m: 0}\n"
        f"    footage: [cam1.mp4]\n{camera}"
        "  - id: cam2\n"
        "    location: {x_m: 5, y_m: 0}\n"
        f"    footage: [cam2.mp4]\n{camera}"
    )
    return path


def test_site_file_timezone(tmp_path: Path) -> None:
    assert load_site(_site(tmp_path), check_files=False).zone_name == "UTC"
    cams = load_site(_site(tmp_path, camera="    timezone: Asia/Seoul\n"), check_files=False)
    assert cams.zone_name == "Asia/Seoul" and cams.zone() == SEOUL
    both = load_site(
        _site(tmp_path, top="timezone: Europe/Berlin\n", camera="    timezone: Asia/Seoul\n"),
        check_files=False,
    )
    assert both.zone_name == "Europe/Berlin"
    with pytest.raises(ConfigError, match=r"site.yaml:2: timezone: .*unknown time zone 'Mars/X'"):
        load_site(_site(tmp_path, top="timezone: Mars/X\n"), check_files=False)


def test_fixed_offset_zone_is_written_with_its_offset() -> None:
    tz = timezone(timedelta(hours=9))
    assert human(datetime(2026, 1, 1, tzinfo=UTC), tz) == "2026-01-01 09:00:00 +09:00"
