"""A case's trace as the CLI and the web app run it: the trace, its report, its latest
result and CSV exports.

This sits above :mod:`cctrace.tracing` (which finds sightings and contacts) and
:mod:`cctrace.report` (which writes them), so neither imports the other's way up.

The latest result of a case is kept as ``<data_dir>/reports/<case>/latest-trace.json``:
the same ``cctrace.trace/1`` document as the report's ``<case>.json``, read back by
:func:`cctrace.report.json_load.loads` (strict, typed; never a pickle). Export
approvals are bound to :func:`latest_result_digest`, the sha256 of that document in
canonical JSON. A ``latest-trace.pickle`` left by older cctrace is never read: run the
trace again.
"""

from __future__ import annotations

from pathlib import Path

from cctrace.config import SiteConfig
from cctrace.errors import NotFoundError
from cctrace.ingest.models import ModelSet
from cctrace.plans.storage import map_background
from cctrace.report.bundle import ReportPaths, write_report
from cctrace.report.json_load import canonical_digest, parse_document, trace_from_dict
from cctrace.report.json_report import atomic_write_text, dumps
from cctrace.store.repository import Store
from cctrace.tracing.result import TraceResult
from cctrace.tracing.service import TraceRequest, case_dir, trace_case, validate_request

LATEST_RESULT = "latest-trace.json"
"""A case's latest trace result, in its case folder."""
LEGACY_LATEST_RESULT = "latest-trace.pickle"
"""What cctrace before 0.2 kept instead; never loaded."""


def run_trace(
    site: SiteConfig,
    request: TraceRequest,
    out_dir: Path | None = None,
    models: ModelSet | None = None,
) -> tuple[TraceResult, ReportPaths]:
    """Run a trace, write its report and audit entry; return the result and report paths."""
    validate_request(site, request)
    models = models or ModelSet(site.models)
    with Store.for_site(site) as store:
        result = trace_case(site, store, request, models)
    target = out_dir or case_dir(site, request.case_id) / result.created_at.strftime(
        "%Y%m%dT%H%M%SZ"
    )
    paths = write_report(result, target, tz=site.zone(), site_plan=map_background(site))
    save_latest_result(site, result)
    return result, paths


def latest_result_path(site: SiteConfig, case_id: str) -> Path:
    """Where a case's latest trace result is kept."""
    return case_dir(site, case_id) / LATEST_RESULT


def save_latest_result(site: SiteConfig, result: TraceResult) -> Path:
    """Keep ``result`` as its case's latest trace (what exports and the web app show),
    as ``cctrace.trace/1`` JSON written atomically."""
    path = latest_result_path(site, result.query.case_id)
    return atomic_write_text(path, dumps(result) + "\n")


def _latest_document(site: SiteConfig, case_id: str) -> dict[str, object]:
    path = latest_result_path(site, case_id)
    if not path.is_file():
        legacy = path.with_name(LEGACY_LATEST_RESULT).is_file()
        hint = " (a result saved by an older cctrace is not read)" if legacy else ""
        raise NotFoundError(
            f"no trace has been run for case {case_id!r}{hint}; run `cctrace trace`"
        )
    return parse_document(path.read_bytes())


def load_latest_result(site: SiteConfig, case_id: str) -> TraceResult:
    """The last trace result of a case; ``NotFoundError`` when none was run,
    :class:`~cctrace.report.json_load.TraceFormatError` when the file is not a trace."""
    return trace_from_dict(_latest_document(site, case_id))


def latest_result_digest(site: SiteConfig, case_id: str) -> str | None:
    """sha256 of the case's latest trace result in canonical JSON (None when none has
    run): what an export request and its approval are bound to."""
    try:
        return canonical_digest(_latest_document(site, case_id))
    except NotFoundError:
        return None


def export_case_csv(site: SiteConfig, case_id: str, what: str, out: Path, actor: str) -> int:
    """Write the latest trace's sightings or contacts of a case as CSV; audited."""
    from cctrace.report.csv_export import write_contacts_csv, write_sightings_csv

    result = load_latest_result(site, case_id)
    if what == "sightings":
        write_sightings_csv(result, out, site.zone())
        rows = len(result.sightings)
    elif what == "contacts":
        write_contacts_csv(result, out, site.zone())
        rows = sum(len(c.encounters) for c in result.contacts)
    else:
        raise ValueError(f"unknown export {what!r}; expected sightings or contacts")
    with Store.for_site(site) as store:
        store.audit.append(actor, f"export_{what}", case_id, {"file": out.name}, {"rows": rows})
    return rows
