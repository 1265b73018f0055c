"""Reports in the site's local time (a +09:00 site, a DST change) with names a tracer
can use ("Person 1 (Food court, 19:09)"); JSON stays UTC and CSVs keep the ids."""

from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pypdf

from cctrace.report import render_html, write_report
from cctrace.report.csv_export import write_contacts_csv, write_sightings_csv
from cctrace.report.html import build_context
from cctrace.report.pdf import PdfHeader, render_pdf
from cctrace.tracing.result import SightingResult, TraceResult

SEOUL = ZoneInfo("Asia/Seoul")
BERLIN = ZoneInfo("Europe/Berlin")
UTC_TIME = re.compile(r"\d\d:\d\d(:\d\d)? UTC")


def test_html_report_of_a_seoul_site(trace: TraceResult) -> None:
    html = render_html(trace, tz=SEOUL)
    assert "2024-05-03 23:02:40 +09:00" in html  # generated (14:02:40 UTC)
    assert "2024-04-29 09:00 +09:00 to 2024-05-02 09:00 +09:00" in html  # window
    assert "local time, Asia/Seoul, UTC+09:00" in html
    assert "Times Asia/Seoul, UTC+09:00, 2024-05-01" in html  # timeline caption
    assert "Sighting 1 · Main entrance, 18:58:12" in html  # 09:58:12 UTC
    assert "tracklet 101" in html  # the id stays, muted
    assert "Person 1 (Food court, 19:09)" in html
    assert "Person 2 (Atrium, 19:01)" in html  # first encounter, not the first listed
    assert "Person 3 (Main entrance, 19:36)" in html
    assert "tracklet(s) 207, 318" in html
    assert not UTC_TIME.search(html), UTC_TIME.search(html)
    ctx = build_context(trace, tz=SEOUL)
    assert ctx["summary"]["route_span"] == "18:58–19:36"
    assert {t.label for t in ctx["timeline"].ticks} >= {"19:00", "19:10", "19:20"}


def test_utc_is_the_default_and_says_utc(trace: TraceResult) -> None:
    html = render_html(trace)
    assert "2024-05-03 14:02:40 UTC" in html
    assert "Sighting 1 · Main entrance, 09:58:12" in html
    assert "Person 1 (Food court, 10:09)" in html


def _shift(s: SightingResult, d: timedelta) -> SightingResult:
    path = tuple(replace(p, timestamp=p.timestamp + d) for p in s.path)
    return replace(s, start=s.start + d, end=s.end + d, path=path)


def test_a_report_across_the_spring_dst_change_gives_each_time_its_offset(
    trace: TraceResult,
) -> None:
    """Europe/Berlin, 2026-03-29: the route runs 01:40 CET to 03:18 CEST (00:40-01:18
    UTC); each time carries its own offset and the zone names both."""
    d = datetime(2026, 3, 29, 0, 40, tzinfo=UTC) - min(s.start for s in trace.sightings)
    shifted = replace(
        trace,
        sightings=tuple(_shift(s, d) for s in trace.sightings),
        contacts=(),
        created_at=trace.created_at + d,
    )
    html = render_html(shifted, tz=BERLIN)
    assert "Europe/Berlin, UTC+01:00 / +02:00" in html
    assert "Sighting 1 · Main entrance, 01:40:00 +01:00" in html
    assert "Sighting 5 · Main entrance, 03:18:08 +02:00" in html
    assert "01:40:00 +01:00" in html and "03:18:08 +02:00" in html


def test_csv_keeps_utc_and_ids_and_adds_local_time_and_names(
    trace: TraceResult, tmp_path: Path
) -> None:
    with write_sightings_csv(trace, tmp_path / "s.csv", SEOUL).open(encoding="utf-8") as fh:
        rows = {r["tracklet_id"]: r for r in csv.DictReader(fh)}
    assert rows["101"]["start_utc"] == "2024-05-01T09:58:12.000Z"
    assert rows["101"]["start_local"] == "2024-05-01 18:58:12 +09:00"
    with write_contacts_csv(trace, tmp_path / "c.csv", SEOUL).open(encoding="utf-8") as fh:
        contacts = list(csv.DictReader(fh))
    first = contacts[0]
    assert first["person_label"] == "Person 1 (Food court, 19:09)"
    assert first["contact_tracklet_ids"] == "312" and first["contact_tracklet_id"] == "312"
    assert first["start_local"] == "2024-05-01 19:09:52 +09:00"
    assert first["min_distance_at_utc"].endswith("Z")


def test_json_stays_utc(trace: TraceResult, tmp_path: Path) -> None:
    paths = write_report(trace, tmp_path / "out", tz=SEOUL)
    doc = json.loads(paths.json.read_text(encoding="utf-8"))
    assert doc["created_at"] == "2024-05-03T14:02:40.000Z"
    assert "+09:00" not in paths.json.read_text(encoding="utf-8")
    assert "2024-05-03 23:02:40 +09:00" in paths.html.read_text(encoding="utf-8")


def test_pdf_of_a_seoul_site(trace: TraceResult) -> None:
    header = PdfHeader(
        case_id="CASE-9",
        legal_basis="IDCPA Art. 76-2",
        team="north",
        exported_by="supervisor1",
        exported_at=datetime(2024, 5, 2, 8, 0, tzinfo=UTC),
        window_from=datetime(2024, 4, 28, tzinfo=UTC),
        window_to=datetime(2024, 5, 1, 23, 59, tzinfo=UTC),
    )
    data = render_pdf(trace, header, tz=SEOUL)
    text = " ".join(p.extract_text() for p in pypdf.PdfReader(io.BytesIO(data)).pages)
    flat = re.sub(r"\s+", " ", text)
    assert "supervisor1, 2024-05-02 17:00:00 +09:00" in flat
    assert "2024-04-28 09:00:00 +09:00 to 2024-05-02 08:59:00 +09:00" in flat
    assert "Asia/Seoul, UTC+09:00" in flat
    assert "2024-05-01 18:58:12" in flat  # route table, short form
    assert "Person 1 (Food court, 19:09)" in flat
    assert "tracklet 312" in flat
    assert not UTC_TIME.search(flat)
