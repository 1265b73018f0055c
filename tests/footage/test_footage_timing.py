"""Footage start times (config > file name > container) and file hashing."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pytest

from cctrace.errors import FootageError
from cctrace.footage.timing import (
    parse_filename_time,
    resolve_start,
    resolve_start_time,
    sha256_file,
    to_utc,
)

AT_0815 = datetime(2026, 3, 15, 8, 15, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("cam1_20260315_081500.mp4", AT_0815),
        ("20260315-081500.avi", AT_0815),
        ("20260315T081500.mkv", AT_0815),
        ("2026-03-15T08-15-00.mp4", AT_0815),
        ("entrance 2026-03-15 08:15:00.mov", AT_0815),
        ("2026-03-15_08.15.00.ts", AT_0815),
        ("2026-03-15.08.15.00-08.30.00[M][0@0][0].mp4", AT_0815),  # Dahua: start-end
        ("ch01_20260315081500.mp4", AT_0815),  # Hikvision
        ("192.168.1.64_01_20260315081500123_TIMING.mp4", AT_0815 + timedelta(milliseconds=123)),
        ("/footage/2019-01-01T00-00-00/cam1_20260315_081500.mp4", AT_0815),  # folders ignored
        ("CAM2_20261231_235959.MP4", datetime(2026, 12, 31, 23, 59, 59, tzinfo=UTC)),
        ("cam1.mp4", None),
        ("2026-03-15.mp4", None),  # a date alone is not enough
        ("cam1_20261315_081500.mp4", None),  # month 13
        ("cam1_20260315_256000.mp4", None),  # hour 25
        ("id_120260315_081500.mp4", None),  # more digits before: not a date
        ("18000315_081500.mp4", None),  # implausible year
        ("view001.mp4", None),
    ],
)
def test_parse_filename_time(name: str, expected: datetime | None) -> None:
    assert parse_filename_time(name) == expected


def test_filename_time_is_read_in_the_local_zone() -> None:
    got = parse_filename_time("cam1_20260315_091500.mp4", local_tz="Europe/Zurich")
    assert got == AT_0815  # CET = UTC+1 in March before the switch
    got = parse_filename_time("cam1_20260715_101500.mp4", local_tz="Europe/Zurich")
    assert got == datetime(2026, 7, 15, 8, 15, tzinfo=UTC)  # CEST = UTC+2
    got = parse_filename_time("cam1_20260315_031500.mp4", timezone(timedelta(hours=-5)))
    assert got == AT_0815


def test_unknown_zone_raises() -> None:
    with pytest.raises(FootageError, match="unknown time zone 'Mars/Olympus'"):
        parse_filename_time("cam1_20260315_081500.mp4", local_tz="Mars/Olympus")


def test_to_utc() -> None:
    assert to_utc(datetime(2026, 3, 15, 9, 15), "Europe/Zurich") == AT_0815
    aware = datetime(2026, 3, 15, 3, 15, tzinfo=timezone(timedelta(hours=-5)))
    assert to_utc(aware, "Europe/Zurich") == AT_0815  # an aware value keeps its zone


@pytest.fixture
def tagged_clip(
    tmp_path: Path, pets_frames: list[np.ndarray], clip_writer: Callable[..., Path]
) -> Callable[[str, str | None], Path]:
    def make(name: str, creation_time: str | None) -> Path:
        meta = {"creation_time": creation_time} if creation_time else None
        return clip_writer(tmp_path / name, pets_frames[:3], 10, "mpeg4", metadata=meta)

    return make


def test_resolution_order(tagged_clip: Callable[[str, str | None], Path]) -> None:
    named_and_tagged = tagged_clip("cam1_20260315_081500.mp4", "2025-01-01T00:00:00Z")
    configured = datetime(2026, 3, 15, 10, 0, tzinfo=UTC)
    before = datetime(2020, 1, 1, tzinfo=UTC)
    got = resolve_start(named_and_tagged, configured, previous_end=before)
    assert (got.value, got.source) == (configured, "config")
    got = resolve_start(named_and_tagged, previous_end=before)
    assert (got.value, got.source) == (AT_0815, "filename")
    tagged = tagged_clip("cam1.mp4", "2025-01-01T00:00:00.000000Z")
    got = resolve_start(tagged, previous_end=before)
    assert (got.value, got.source) == (datetime(2025, 1, 1, tzinfo=UTC), "container")
    untagged = tagged_clip("cam2.mp4", None)
    got = resolve_start(untagged, previous_end=before)
    assert (got.value, got.source) == (before, "previous")
    assert resolve_start_time(named_and_tagged) == AT_0815  # the plain datetime


def test_configured_naive_time_is_local() -> None:
    got = resolve_start_time("any.mp4", datetime(2026, 3, 15, 9, 15), "Europe/Zurich")
    assert got == AT_0815 and got.tzinfo == UTC


def test_container_time_passed_in_is_used_without_reading(tmp_path: Path) -> None:
    got = resolve_start(tmp_path / "not-read.mp4", container_time=AT_0815)
    assert (got.value, got.source) == (AT_0815, "container")
    got = resolve_start(tmp_path / "not-read.mp4", read_container=False, previous_end=AT_0815)
    assert got.source == "previous"


def test_no_start_time_says_how_to_set_it(tagged_clip: Callable[[str, str | None], Path]) -> None:
    untagged = tagged_clip("cam1.mp4", None)
    with pytest.raises(FootageError, match=r"cam1\.mp4: cannot tell when this footage starts"):
        resolve_start_time(untagged)
    with pytest.raises(FootageError, match=r"site config .*cam1_20260315_081500\.mp4"):
        resolve_start_time(untagged)


def test_sha256_file_streams_in_chunks(tmp_path: Path) -> None:
    data = np.random.default_rng(0).integers(0, 256, 3 * (1 << 20) + 17, dtype=np.uint8).tobytes()
    path = tmp_path / "blob.bin"
    path.write_bytes(data)
    assert sha256_file(path) == hashlib.sha256(data).hexdigest()
    assert sha256_file(path, chunk_size=1000) == hashlib.sha256(data).hexdigest()
    empty = tmp_path / "empty"
    empty.write_bytes(b"")
    assert sha256_file(empty) == hashlib.sha256(b"").hexdigest()


def test_sha256_of_a_missing_file_raises(tmp_path: Path) -> None:
    with pytest.raises(FootageError, match=r"nope\.mp4: cannot read"):
        sha256_file(tmp_path / "nope.mp4")
