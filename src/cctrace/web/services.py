"""The service layer between routes and the store: who may see which case, and traces.

Routes stay thin; every rule about cases lives here so pages and the JSON API
apply the same one.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, tzinfo
from pathlib import Path

from cctrace.casework import latest_result_digest as _latest_digest
from cctrace.casework import load_latest_result, save_latest_result
from cctrace.errors import NotFoundError, QueryError
from cctrace.localtime import human
from cctrace.store.records import (
    AlreadyExistsError,
    CaseRecord,
    CaseStatus,
    Role,
    TraceJobRecord,
    UserRecord,
)
from cctrace.store.repository import Store
from cctrace.tracing.result import TraceResult
from cctrace.tracing.service import (
    TraceRequest,
    audited_trace,
    case_dir,
    validate_request,
)

from .jobs import Job, ProgressFn
from .state import AppState

log = logging.getLogger(__name__)

TRACE_PARAMS_FILE = "trace-request.json"
PHOTOS_DIR = "query-photos"


def can_see(user: UserRecord, case: CaseRecord) -> bool:
    """Investigators see their own cases, supervisors their team's; no other role any."""
    if user.role == Role.INVESTIGATOR:
        return case.created_by == user.username
    if user.role == Role.SUPERVISOR:
        return case.team == user.team
    return False


def visible_case(store: Store, user: UserRecord, case_id: str) -> CaseRecord:
    """The case if ``user`` may see it; the same ``NotFoundError`` whether it does not
    exist or belongs to someone else (case numbers are not disclosed)."""
    try:
        case = store.cases.get(case_id)
    except NotFoundError:
        case = None
    if case is None or not can_see(user, case):
        raise NotFoundError(f"no case {case_id!r} that you can open")
    return case


def open_case(store: Store, user: UserRecord, case_id: str) -> CaseRecord:
    """:func:`visible_case`, refusing a closed case (``QueryError``)."""
    case = visible_case(store, user, case_id)
    if case.status == CaseStatus.CLOSED:
        raise QueryError(f"case {case_id} is closed; nothing can be searched in it")
    return case


def number_taken(case_id: str) -> AlreadyExistsError:
    """The one refusal for a case number already in use, whoever holds it: the same
    status, code and words for the user's own case, a colleague's and another team's,
    so nothing tells whose it is (or what it holds)."""
    return AlreadyExistsError(
        f"case number {case_id!r} cannot be used: case numbers are unique on this site; "
        "open your existing case from the case list, or choose another number"
    )


def create_case_for(
    store: Store,
    user: UserRecord,
    case_id: str,
    legal_basis: str,
    notes: str = "",
    *,
    team: str,
    audit_query: dict[str, object],
    window_from: datetime | None = None,
    window_to: datetime | None = None,
    parent_case_id: str | None = None,
) -> CaseRecord:
    """Open a case as ``user`` with its ``case_open`` audit entry (``audit_query``) in one
    unit of work. A number already in use gets :func:`number_taken` (409) and an audit
    entry (``case_open_refused``) that is kept, so probing for numbers shows in the log."""
    try:
        with store.unit_of_work():
            case = store.cases.create(
                case_id,
                user.username,
                legal_basis,
                notes,
                team=team,
                window_from=window_from,
                window_to=window_to,
                parent_case_id=parent_case_id,
            )
            store.audit.append(user.username, "case_open", case.id, audit_query, {})
            return case
    except AlreadyExistsError:
        if store.in_unit_of_work:
            raise  # pragma: no cover - callers open cases outside any unit of work
        store.audit.append(
            user.username, "case_open_refused", None, {"case_id": case_id}, {"reason": "in use"}
        )
        raise number_taken(case_id) from None


def cases_for(store: Store, user: UserRecord) -> list[CaseRecord]:
    """The cases ``user`` may see, newest first (the rule of :func:`can_see`, in SQL)."""
    if user.role == Role.INVESTIGATOR:
        return store.cases.find(created_by=user.username)
    if user.role == Role.SUPERVISOR:
        return store.cases.find(team=user.team)
    return []


@dataclass(frozen=True)
class TraceParams:
    """What a trace searches for; kept with the case so a review decision can re-run it."""

    photos: tuple[str, ...] = ()
    """Query photos saved in the case folder (paths)."""
    tracklet_id: int | None = None
    window_from: datetime | None = None
    window_to: datetime | None = None
    distance_m: float = 2.0
    minutes: float = 15.0

    def to_json(self) -> str:
        """JSON for the case folder."""
        data = asdict(self)
        data["photos"] = list(self.photos)
        for key in ("window_from", "window_to"):
            value = data[key]
            data[key] = value.isoformat() if value else None
        return json.dumps(data, indent=1)

    @classmethod
    def from_json(cls, text: str) -> TraceParams:
        """Read :meth:`to_json` output."""
        data = json.loads(text)
        for key in ("window_from", "window_to"):
            if data.get(key):
                data[key] = datetime.fromisoformat(data[key])
        data["photos"] = tuple(data.get("photos", ()))
        return cls(**data)


def saved_params(state: AppState, case_id: str) -> TraceParams | None:
    """The parameters of the case's last trace (saved by the web app, or read back from
    a trace run on the command line), or None when no trace has run."""
    path = case_dir(state.site, case_id) / TRACE_PARAMS_FILE
    if path.is_file():
        return TraceParams.from_json(path.read_text())
    result = latest_result(state, case_id)
    if result is None:
        return None
    q = result.query
    return TraceParams(
        photos=tuple(p for p in q.photos if Path(p).is_file()),
        tracklet_id=q.start_tracklet_id,
        window_from=q.window_from,
        window_to=q.window_to,
        distance_m=q.distance_m,
        minutes=q.minutes,
    )


def photo_dir(state: AppState, case_id: str) -> Path:
    """Where a case's query photos are kept (case evidence; purged with it)."""
    return case_dir(state.site, case_id) / PHOTOS_DIR


def request_for(case: CaseRecord, params: TraceParams, actor: str) -> TraceRequest:
    """The tracing service's request; the case's infectious window is the default."""
    return TraceRequest(
        case_id=case.id,
        actor=actor,
        photos=tuple(Path(p) for p in params.photos),
        tracklet_id=params.tracklet_id,
        window_from=params.window_from or case.window_from,
        window_to=params.window_to or case.window_to,
        distance_m=params.distance_m,
        minutes=params.minutes,
        legal_basis=case.legal_basis,
    )


def start_trace(state: AppState, case: CaseRecord, params: TraceParams, actor: str) -> Job:
    """Validate, remember the parameters, and queue the trace (any web process's worker
    runs it: :func:`run_trace_job`)."""
    check_in_window(case, params.window_from, params.window_to, state.site.zone())
    request = request_for(case, params, actor)
    validate_request(state.site, request)
    if not request.photos and request.tracklet_id is None:
        raise QueryError("give at least one photo of the case, or pick a person (tracklet)")
    folder = case_dir(state.site, case.id)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / TRACE_PARAMS_FILE).write_text(params.to_json())
    return state.jobs.submit(case.id, actor, json.loads(params.to_json()))


def run_trace_job(state: AppState, job: TraceJobRecord, progress: ProgressFn) -> None:
    """Run a queued trace: the case's newest parameters when the job starts (a request
    made while this one waited joined it, see ``store.trace_jobs.enqueue``), else
    those queued with it."""
    case = state.store.cases.get(job.case_id)
    params = saved_params(state, case.id) or TraceParams.from_json(json.dumps(job.params))
    latest = request_for(case, params, job.requested_by)
    result = audited_trace(state.site, state.store, latest, state.models, progress)
    progress("saving the result", 0.95)
    save_latest_result(state.site, result)


def check_in_window(
    case: CaseRecord,
    start: datetime | None,
    end: datetime | None,
    tz: tzinfo | None = None,
) -> None:
    """``QueryError`` when a search reaches outside the case's infectious window: the
    legal basis covers that window only (change the case's window, audited, first). The
    message gives times in ``tz`` (the site's zone) with their offset; default UTC."""
    zone = tz or UTC
    if case.window_from is not None and start is not None and start < case.window_from:
        raise QueryError(
            f"{human(start, zone)} is before case {case.id}'s infectious window "
            f"({human(case.window_from, zone)}); change the case's window first"
        )
    if case.window_to is not None and end is not None and end > case.window_to:
        raise QueryError(
            f"{human(end, zone)} is after case {case.id}'s infectious window "
            f"({human(case.window_to, zone)}); change the case's window first"
        )


def latest_result(state: AppState, case_id: str) -> TraceResult | None:
    """The case's latest trace, or None when none has run."""
    try:
        return load_latest_result(state.site, case_id)
    except NotFoundError:
        return None


def latest_result_digest(state: AppState, case_id: str) -> str | None:
    """sha256 of the case's latest trace result in canonical JSON (None when none has
    run): what an export request and its approval are bound to."""
    return _latest_digest(state.site, case_id)


def case_tracklets(result: TraceResult | None) -> set[int]:
    """Every tracklet a case's latest trace shows (sightings and contacts)."""
    if result is None:
        return set()
    ids = {s.tracklet_id for s in result.sightings}
    for c in result.contacts:
        ids.update(c.contact_tracklet_ids)
    return ids


def contact_tracklets(result: TraceResult | None) -> set[int]:
    """The contacts' tracklets of a case's latest trace."""
    if result is None:
        return set()
    return {t for c in result.contacts for t in c.contact_tracklet_ids}
