"""Images and files the web app renders on demand: un-blurred views and case exports."""

from __future__ import annotations

from pathlib import Path

from cctrace.errors import NotFoundError
from cctrace.i18n import current_language
from cctrace.store.records import CaseRecord
from cctrace.tracing.service import case_dir

from .schemas import EXPORT_FILES
from .services import latest_result
from .state import AppState

EXPORTS_DIR = "exports"


def unblurred_snapshot(state: AppState, case_id: str, tracklet_id: int) -> bytes:
    """JPEG of the tracklet's moment from the original footage: this person and the
    case's accepted sightings shown, every other face blurred."""
    from cctrace.report.evidence import ExtraDetectors, render_evidence

    result = latest_result(state, case_id)
    if result is None:
        raise NotFoundError(f"no trace has been run for case {case_id} yet")
    case_ids = {s.tracklet_id for s in result.route}
    allowed = dict.fromkeys(case_ids, "Case") | {tracklet_id: "Approved"}
    evidence = render_evidence(
        state.store,
        tracklet_id,
        allowed,
        focus=(tracklet_id,),
        case_ids=case_ids,
        detectors=ExtraDetectors.from_models(state.models),
    )
    return evidence.jpeg()


def _export_paths(state: AppState, case_id: str, approval_id: int) -> dict[str, Path]:
    folder = case_dir(state.site, case_id) / EXPORTS_DIR / str(approval_id)
    return {name: folder / name for name in EXPORT_FILES}


def export_files(
    state: AppState, case: CaseRecord, approval_id: int, exported_by: str
) -> dict[str, Path]:
    """Write an export's files from the case's latest trace (when it is approved); they
    are kept with the case."""
    from cctrace.report.case_export import export_case
    from cctrace.report.evidence import ExtraDetectors

    names = _export_paths(state, case.id, approval_id)
    result = latest_result(state, case.id)
    if result is None:
        raise NotFoundError(f"case {case.id} has no trace to export yet")
    done = export_case(
        state.site,
        state.store,
        case,
        result,
        names["report.pdf"].parent,
        exported_by,
        detectors=ExtraDetectors.from_models(state.models),
        lang=current_language(),  # the language of the request that writes the export
    )
    written = {
        "report.pdf": done.pdf,
        "sightings.csv": done.sightings_csv,
        "contacts.csv": done.contacts_csv,
    }
    for name, path in written.items():
        Path(path).replace(names[name])
    return names


def approved_export_files(state: AppState, case: CaseRecord, approval_id: int) -> dict[str, Path]:
    """The files written when the export was approved; ``NotFoundError`` when they are
    gone (the case's evidence was purged)."""
    names = _export_paths(state, case.id, approval_id)
    missing = [n for n, p in names.items() if not p.is_file()]
    if missing:
        raise NotFoundError(
            f"export {approval_id} of case {case.id} has no {', '.join(missing)} any more "
            "(purged with the case's evidence?); request a new export"
        )
    return names
