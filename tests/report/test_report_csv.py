"""CSV exports: stable columns, ISO times, one row per encounter, formula-safe."""

from __future__ import annotations

import csv
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from cctrace.report.csv_export import (
    CONTACT_COLUMNS,
    CONTACT_PERSON_COLUMNS,
    SIGHTING_COLUMNS,
    write_contact_persons_csv,
    write_contacts_csv,
    write_sightings_csv,
)
from cctrace.tracing.result import TraceResult

Writer = Callable[[TraceResult, Path], Path]
WRITERS: list[tuple[Writer, tuple[str, ...], int]] = [
    (write_sightings_csv, SIGHTING_COLUMNS, 5),
    (write_contacts_csv, CONTACT_COLUMNS, 4),
    (write_contact_persons_csv, CONTACT_PERSON_COLUMNS, 3),
]


def read(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    with path.open(encoding="utf-8", newline="") as fh:
        reader = csv.DictReader(fh)
        rows = list(reader)
        return list(reader.fieldnames or []), rows


@pytest.mark.parametrize(("writer", "columns", "n_rows"), WRITERS)
def test_columns_and_rows(
    tmp_path: Path,
    trace: TraceResult,
    writer: Writer,
    columns: tuple[str, ...],
    n_rows: int,
) -> None:
    header, rows = read(writer(trace, tmp_path / "out.csv"))
    assert tuple(header) == columns
    assert len(rows) == n_rows
    for row in rows:
        assert row["case_id"] == "C-2024-0193"
        for key, value in row.items():
            if key.endswith("_utc") and value:
                assert value.endswith("Z")
                assert datetime.fromisoformat(value).utcoffset() == timedelta(0)


@pytest.mark.parametrize(("writer", "columns", "_n"), WRITERS)
def test_empty_result_has_only_a_header(
    tmp_path: Path,
    empty: TraceResult,
    writer: Writer,
    columns: tuple[str, ...],
    _n: int,
) -> None:
    header, rows = read(writer(empty, tmp_path / "out.csv"))
    assert tuple(header) == columns
    assert rows == []


def test_sightings_values(tmp_path: Path, trace: TraceResult) -> None:
    _, rows = read(write_sightings_csv(trace, tmp_path / "s.csv"))
    by_id = {r["tracklet_id"]: r for r in rows}
    assert by_id["101"]["route_order"] == "1"
    assert by_id["233"]["route_order"] == ""
    assert by_id["233"]["status"] == "needs_review"
    assert by_id["310"]["camera_name"] == "Food court"
    assert by_id["310"]["duration_s"] == "1300.0"
    assert by_id["310"]["score"] == "0.580"
    assert by_id["233"]["snapshot_path"] == ""


def test_contact_rows_repeat_the_person_per_encounter(tmp_path: Path, trace: TraceResult) -> None:
    _, rows = read(write_contacts_csv(trace, tmp_path / "c.csv"))
    second = [r for r in rows if r["contact_no"] == "2"]
    assert [r["encounter_no"] for r in second] == ["1", "2"]
    assert [r["camera_id"] for r in second] == ["cam-atrium", "cam-food"]
    assert {r["person_total_seconds_within"] for r in second} == {"940.0"}
    assert {r["contact_tracklet_ids"] for r in second} == {"207;318"}
    assert second[0]["seconds_by_band"] == "1:40.0;2:190.0;3:200.0"
    assert [r["is_close_contact"] for r in rows] == ["true", "true", "true", "false"]


def test_person_summary(tmp_path: Path, trace: TraceResult) -> None:
    _, rows = read(write_contact_persons_csv(trace, tmp_path / "p.csv"))
    assert rows[1]["total_minutes_within"] == "15.67"
    assert rows[1]["camera_ids"] == "cam-atrium;cam-food"
    assert rows[1]["case_masks"] == "not_worn;unknown"
    assert rows[1]["encounters"] == "2"
    assert rows[2]["snapshot_path"] == ""


@pytest.mark.parametrize("name", ['=HYPERLINK("x")', "+1", "-2+3", "@SUM(A1)"])
def test_formula_like_text_is_defused(tmp_path: Path, trace: TraceResult, name: str) -> None:
    cams = tuple(replace(c, name=name) if c.camera_id == "cam-food" else c for c in trace.cameras)
    _, rows = read(write_sightings_csv(replace(trace, cameras=cams), tmp_path / "s.csv"))
    food = next(r for r in rows if r["camera_id"] == "cam-food")
    assert food["camera_name"] == "'" + name
