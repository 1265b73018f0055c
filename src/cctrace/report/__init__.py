"""Reports of a trace: versioned JSON, GeoJSON route, CSVs, a printable HTML page,
and MOTChallenge track files.

Typical use::

    from cctrace.report import write_report
    paths = write_report(result, "out/case-42")

Everything written is self-contained and offline: no resource is fetched when a
report is opened. Snapshots must already be redacted (see
:mod:`cctrace.privacy.redaction`).
"""

from cctrace.report.bundle import ReportPaths, write_report
from cctrace.report.csv_export import (
    write_contact_persons_csv,
    write_contacts_csv,
    write_sightings_csv,
)
from cctrace.report.geojson import route_to_geojson, write_geojson
from cctrace.report.html import render_html, write_html
from cctrace.report.json_report import SCHEMA_ID, load_schema, trace_to_dict, write_json
from cctrace.report.mot import read_mot, write_mot

__all__ = [
    "SCHEMA_ID",
    "ReportPaths",
    "load_schema",
    "read_mot",
    "render_html",
    "route_to_geojson",
    "trace_to_dict",
    "write_contact_persons_csv",
    "write_contacts_csv",
    "write_geojson",
    "write_html",
    "write_json",
    "write_mot",
    "write_report",
    "write_sightings_csv",
]
