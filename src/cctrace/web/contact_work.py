"""Acting on a case: the contacts of a case's latest trace with what tracers did about
each (:mod:`cctrace.store._contacts`), the team's open work, and status changes.

A contact is addressed by any of its tracklet ids (the API's ``{tracklet_id}``, as for
a second-degree trace); its status is kept per tracklet, so it survives a re-trace that
renumbers the people. Open work is the **close contacts** (they pass the case's distance
and time thresholds) of **open** cases whose status is still ``to call``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from cctrace.casework import latest_result_path, load_latest_result
from cctrace.errors import NotFoundError
from cctrace.lru import LruCache
from cctrace.report.json_load import TraceFormatError, parse_document, trace_from_dict
from cctrace.store import ContactStatus, ContactStatusChange, ContactStatusRecord
from cctrace.store._contacts import status_of
from cctrace.store.records import CaseRecord, CaseStatus, UserRecord
from cctrace.tracing.result import ContactSummary, TraceResult

from .services import cases_for, open_case, visible_case
from .state import AppState

CACHE_SIZE = 4096
"""Cases whose latest contacts are kept parsed per process (by file, size and modification
time; only the contacts and cameras, see :func:`cached_contacts`)."""


@dataclass(frozen=True)
class ContactWork:
    """One contact of a case's latest trace and where the tracers stand with them."""

    case_id: str
    number: int
    """1-based place in the result ("Person 3"); may change with a re-trace."""
    contact: ContactSummary
    status: ContactStatus
    note: str
    updated_by: str | None
    updated_at: datetime | None

    @property
    def key(self) -> int:
        """The id used in URLs and anchors: the contact's smallest tracklet id."""
        return min(self.contact.contact_tracklet_ids)

    @property
    def is_open(self) -> bool:
        """A close contact not called yet."""
        return self.contact.is_close_contact and self.status == ContactStatus.TO_CALL


@dataclass(frozen=True)
class CaseWork:
    """A case, its latest trace (None when none ran; in :func:`team_work` only its contacts,
    cameras and query, and None for a closed case) and its contacts' statuses."""

    case: CaseRecord
    result: TraceResult | None
    contacts: tuple[ContactWork, ...]

    @property
    def open_contacts(self) -> list[ContactWork]:
        """Close contacts still to call (none for a closed case: it takes no changes)."""
        if self.case.status != CaseStatus.OPEN:
            return []
        return [c for c in self.contacts if c.is_open]


_cache: LruCache[tuple[str, int, int], TraceResult] = LruCache(CACHE_SIZE)


def cached_contacts(state: AppState, case_id: str) -> TraceResult | None:
    """The contacts of the case's latest trace (None when none ran), parsed once per file
    version: the case list reads every visible open case's result on each view. Only the
    contacts, cameras and query are kept (sightings and loose faces are dropped), so many
    cases fit the cache; use :func:`cctrace.casework.load_latest_result` for the whole."""
    path = latest_result_path(state.site, case_id)
    try:
        st = path.stat()
        key = (str(path), st.st_mtime_ns, st.st_size)
        return _cache.get_or_compute(key, lambda: _contacts_only(path))
    except FileNotFoundError:
        return None


def _contacts_only(path: Path) -> TraceResult:
    """The result file at ``path`` with only what open work shows (a result's sightings
    carry every path point)."""
    document = parse_document(path.read_bytes())
    return trace_from_dict({**document, "sightings": [], "loose_faces": [], "notes": []})


def contacts_of(
    case_id: str, result: TraceResult | None, statuses: dict[int, ContactStatusRecord]
) -> tuple[ContactWork, ...]:
    """The result's contacts, in its order, with their statuses."""
    if result is None:
        return ()
    out = []
    for number, contact in enumerate(result.contacts, start=1):
        found = status_of(statuses, contact.contact_tracklet_ids)
        out.append(
            ContactWork(
                case_id=case_id,
                number=number,
                contact=contact,
                status=found.status if found else ContactStatus.TO_CALL,
                note=found.note if found else "",
                updated_by=found.updated_by if found else None,
                updated_at=found.updated_at if found else None,
            )
        )
    return tuple(out)


def case_work(state: AppState, user: UserRecord, case_id: str) -> CaseWork:
    """A case ``user`` may see, its latest trace and its contacts' statuses."""
    case = visible_case(state.store, user, case_id)
    try:
        result: TraceResult | None = load_latest_result(state.site, case_id)
    except NotFoundError:
        result = None
    statuses = state.store.contacts.statuses(case_id)
    return CaseWork(case, result, contacts_of(case_id, result, statuses))


def team_work(state: AppState, user: UserRecord) -> list[CaseWork]:
    """Every case ``user`` may see (newest first); for open cases, their latest contacts
    (:func:`cached_contacts`) with their statuses. Closed cases carry no open work, so
    their results are not read (``result`` None). A case whose result file cannot be read
    shows no contacts rather than failing the list."""
    cases = cases_for(state.store, user)
    live = [c.id for c in cases if c.status == CaseStatus.OPEN]
    statuses = state.store.contacts.statuses_of(live)
    out = []
    for case in cases:
        if case.status != CaseStatus.OPEN:
            out.append(CaseWork(case, None, ()))
            continue
        try:
            result = cached_contacts(state, case.id)
        except TraceFormatError:
            result = None
        out.append(CaseWork(case, result, contacts_of(case.id, result, statuses[case.id])))
    return out


def find_contact(work: CaseWork, tracklet_id: int) -> ContactWork:
    """The contact of the case's latest trace that holds ``tracklet_id``."""
    for c in work.contacts:
        if tracklet_id in c.contact.contact_tracklet_ids:
            return c
    raise NotFoundError(
        f"tracklet {tracklet_id} is not a contact in the latest trace of case {work.case.id}"
    )


def set_contact_status(
    state: AppState,
    user: UserRecord,
    case_id: str,
    tracklet_id: int,
    status: ContactStatus | str,
    note: str,
) -> tuple[ContactWork, ContactStatusChange]:
    """Set a contact's status and note as ``user`` (the case's investigator or a
    supervisor of its team; an open case), audited with the change. The contact is the one
    of the latest trace holding ``tracklet_id``."""
    open_case(state.store, user, case_id)
    contact = find_contact(case_work(state, user, case_id), tracklet_id)
    change = state.store.contacts.set_status(
        case_id,
        contact.contact.contact_tracklet_ids,
        status,
        note,
        user.username,
        audit_query={"contact_no": contact.number},
    )
    return contact, change


def open_contacts(work: Sequence[CaseWork]) -> list[ContactWork]:
    """The open contacts of these cases, oldest first seen first (who waits longest)."""
    items = [c for w in work for c in w.open_contacts]
    return sorted(items, key=lambda c: (c.contact.first_seen, c.case_id, c.number))
