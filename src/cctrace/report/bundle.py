"""Write every report format for a trace into one folder."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from datetime import tzinfo
from pathlib import Path

from cctrace.plans.storage import Background
from cctrace.report.csv_export import (
    write_contact_persons_csv,
    write_contacts_csv,
    write_sightings_csv,
)
from cctrace.report.geojson import write_geojson
from cctrace.report.html import write_html
from cctrace.report.json_report import write_json
from cctrace.tracing.result import TraceResult

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ReportPaths:
    """Where :func:`write_report` put each file."""

    json: Path
    geojson: Path
    html: Path
    sightings_csv: Path
    contacts_csv: Path
    contact_persons_csv: Path


def _safe_stem(case_id: str) -> str:
    keep = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in case_id)
    return keep.strip("._") or "case"


def safe_stem(case_id: str) -> str:
    """The file-name stem used for a case's report files (unsafe characters -> ``_``)."""
    return _safe_stem(case_id)


def write_report(
    result: TraceResult,
    out_dir: str | os.PathLike[str],
    snapshot_dir: str | os.PathLike[str] | None = None,
    tz: tzinfo | None = None,
    lang: str | None = None,
    site_plan: Background | None = None,
) -> ReportPaths:
    """Write JSON, GeoJSON, HTML and the CSVs into ``out_dir`` (created if needed).

    Files are named after the case: ``<case>.json``, ``<case>.geojson``,
    ``<case>.html``, ``<case>-sightings.csv``, ``<case>-contacts.csv`` and
    ``<case>-contact-persons.csv`` (unsafe characters in the case id become ``_``).
    ``snapshot_dir`` resolves relative snapshot paths for the HTML. ``tz`` is the site's
    time zone: the HTML and the CSVs' ``*_local`` columns show local time in it (default
    UTC); JSON and GeoJSON stay UTC. ``lang`` is the HTML's language (default the
    current one, :mod:`cctrace.i18n`; the CLI's ``--lang``). ``site_plan``: the site's
    own plan to draw the route on (:func:`cctrace.plans.storage.active_plan`).
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    stem = _safe_stem(result.query.case_id)
    paths = ReportPaths(
        json=write_json(result, out / f"{stem}.json"),
        geojson=write_geojson(result, out / f"{stem}.geojson"),
        html=write_html(result, out / f"{stem}.html", snapshot_dir, tz, lang, site_plan),
        sightings_csv=write_sightings_csv(result, out / f"{stem}-sightings.csv", tz),
        contacts_csv=write_contacts_csv(result, out / f"{stem}-contacts.csv", tz),
        contact_persons_csv=write_contact_persons_csv(
            result, out / f"{stem}-contact-persons.csv", tz
        ),
    )
    logger.info("wrote report for case %s to %s", result.query.case_id, out)
    return paths
