"""Acting on a case: each contact's status and note (to call, called, tested, isolated,
not reachable), the team's open work, and the call list as CSV.

Who may do what follows the case roles: the case's investigator and the supervisors of
its team read and set statuses (``case_read`` / ``case_write``; a closed case is read
only); auditors and admins cannot open cases, and read every change in the audit log
(``contact_status``). Reading a case's contacts, the open-work list and the call list
is audited like any view of a case's result.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from cctrace.errors import NotFoundError
from cctrace.i18n import gettext as _
from cctrace.localtime import LocalClock
from cctrace.report.call_list import call_list_csv
from cctrace.report.formatting import camera_index, contact_label, result_clock
from cctrace.store import ContactStatus
from cctrace.store.records import UserRecord
from cctrace.store.schema import CONTACT_NOTE_MAX
from cctrace.tracing.result import TraceResult

from ..contact_work import (
    ContactWork,
    case_work,
    find_contact,
    open_contacts,
    set_contact_status,
    team_work,
)
from ..deps import AuthError, app_state, current_user, needs
from ..roles import Permission
from ..schemas import DbId, ErrorOut, snapshot_url
from .pages import render

ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorOut, "description": what}
    for status, what in (
        (400, "Bad input or a closed case"),
        (401, "Not signed in"),
        (403, "Not allowed for your role, or a missing CSRF token"),
        (404, "No such case you can open, or no such contact in its latest trace"),
        (422, "A malformed body or parameter"),
    )
}
"""The one error body (``{"error": {"status", "code", "message"}}``) in the API schema."""
router = APIRouter(tags=["contacts"], responses=ERRORS)
User = Annotated[UserRecord, Depends(current_user)]
CSV_TYPE = "text/csv; charset=utf-8"


class ContactStatusIn(BaseModel):
    """A tracer's status for a contact, with an optional note."""

    model_config = ConfigDict(extra="forbid")

    status: ContactStatus = Field(description="to_call, called, tested, isolated or not_reachable")
    note: str = Field("", max_length=CONTACT_NOTE_MAX, description="Free text, line breaks ok")


class ContactWorkOut(BaseModel):
    """A contact of a case's latest trace and where the tracers stand with them."""

    case_id: str
    number: int = Field(description="1-based place in the latest result (may change)")
    name: str = Field(description='"Person 3 (Plaza east, 12:34)", in the request language')
    tracklet_ids: list[int] = Field(
        description="The contact's tracklets: the stable key of their status"
    )
    is_close_contact: bool
    first_seen: datetime
    last_seen: datetime
    status: ContactStatus
    note: str
    updated_by: str | None
    updated_at: datetime | None

    @classmethod
    def of(cls, c: ContactWork, result: TraceResult, clock: LocalClock) -> ContactWorkOut:
        """From a contact and the result it belongs to."""
        return cls(
            case_id=c.case_id,
            number=c.number,
            name=contact_label(c.number, c.contact, camera_index(result), clock),
            tracklet_ids=list(c.contact.contact_tracklet_ids),
            is_close_contact=c.contact.is_close_contact,
            first_seen=c.contact.first_seen,
            last_seen=c.contact.last_seen,
            status=c.status,
            note=c.note,
            updated_by=c.updated_by,
            updated_at=c.updated_at,
        )


class ContactStatusOut(BaseModel):
    """What a status change did."""

    contact: ContactWorkOut
    previous_status: ContactStatus
    changed: bool = Field(description="False when the status and note were already these")


def _file_part(text: str) -> str:
    """``text`` safe inside a quoted file name of a header."""
    return re.sub(r"[^A-Za-z0-9_.-]", "_", text)[:64] or "case"


def _clock(request: Request, result: TraceResult) -> LocalClock:
    return result_clock(result, app_state(request).site.zone())


@router.get("/api/cases/{case_id}/contacts", response_model=list[ContactWorkOut])
@needs(Permission.CASE_READ)
def list_contacts(case_id: str, request: Request, user: User) -> list[ContactWorkOut]:
    """The contacts of the case's latest trace with their statuses (empty before a trace).
    Audited as a view of the case."""
    state = app_state(request)
    work = case_work(state, user, case_id)
    state.store.audit.append(user.username, "view_case", case_id, {"via": "contacts"}, {})
    if work.result is None:
        return []
    clock = _clock(request, work.result)
    return [ContactWorkOut.of(c, work.result, clock) for c in work.contacts]


def _change(
    request: Request, user: UserRecord, case_id: str, tracklet_id: int, status: str, note: str
) -> ContactStatusOut:
    state = app_state(request)
    _, change = set_contact_status(state, user, case_id, tracklet_id, status, note)
    work = case_work(state, user, case_id)
    now = find_contact(work, tracklet_id)
    if work.result is None:  # pragma: no cover - a contact implies a result
        raise NotFoundError(f"no trace has been run for case {case_id} yet")
    return ContactStatusOut(
        contact=ContactWorkOut.of(now, work.result, _clock(request, work.result)),
        previous_status=change.before,
        changed=change.changed,
    )


@router.put("/api/cases/{case_id}/contacts/{tracklet_id}/status", response_model=ContactStatusOut)
@needs(Permission.CASE_WRITE)
def put_contact_status(
    case_id: str, tracklet_id: DbId, body: ContactStatusIn, request: Request, user: User
) -> ContactStatusOut:
    """Set the status and note of the contact holding ``tracklet_id`` in the case's latest
    trace (any of its tracklets). The case's investigator or a supervisor of its team, on
    an open case; the change and the audit entry commit together."""
    return _change(request, user, case_id, tracklet_id, body.status, body.note)


@router.post("/cases/{case_id}/contacts/{tracklet_id}/status", include_in_schema=False)
@needs(Permission.CASE_WRITE, csrf_in_form=True)
def form_contact_status(
    case_id: str,
    tracklet_id: DbId,
    request: Request,
    user: User,
    status: Annotated[str, Form(max_length=32)],
    note: Annotated[str, Form(max_length=CONTACT_NOTE_MAX * 2)] = "",
    csrf_token: Annotated[str, Form(max_length=256)] = "",
) -> Response:
    """The case page's status form (works without JavaScript): back to the contact."""
    from ..security import tokens_equal

    if not tokens_equal(csrf_token, request.state.csrf_token):
        raise AuthError(403, "csrf", _("the form's CSRF token is missing or wrong"))
    out = _change(request, user, case_id, tracklet_id, status, note)
    key = min(out.contact.tracklet_ids)
    return RedirectResponse(f"/cases/{case_id}?saved={key}#contact-{key}", status_code=303)


@router.get("/api/contacts/open", response_model=list[ContactWorkOut])
@needs(Permission.CASE_READ)
def api_open_contacts(request: Request, user: User) -> list[ContactWorkOut]:
    """Open work across the cases you can see: close contacts of open cases still to call,
    longest waiting first. Audited."""
    state = app_state(request)
    work = team_work(state, user)
    items = open_contacts(work)
    state.store.audit.append(
        user.username, "view_open_contacts", None, {"via": "api"}, {"contacts": len(items)}
    )
    results = {w.case.id: w.result for w in work}
    out = []
    for c in items:
        result = results[c.case_id]
        if result is not None:
            out.append(ContactWorkOut.of(c, result, _clock(request, result)))
    return out


@router.get("/contacts", response_class=HTMLResponse, include_in_schema=False)
@needs(Permission.CASE_READ)
def open_contacts_page(request: Request, user: User) -> Response:
    """Every open contact of the cases you can see, with a link to each."""
    state = app_state(request)
    work = team_work(state, user)
    items = open_contacts(work)
    state.store.audit.append(
        user.username, "view_open_contacts", None, {"via": "page"}, {"contacts": len(items)}
    )
    results = {w.case.id: w.result for w in work}
    clock = LocalClock.of(state.site.zone(), [c.contact.first_seen for c in items])
    names = {}
    for c in items:
        result = results[c.case_id]
        if result is not None:
            names[(c.case_id, c.number)] = contact_label(
                c.number, c.contact, camera_index(result), _clock(request, result)
            )
    return render(request, "contacts.html", {"items": items, "names": names, "clock": clock})


@router.get(
    "/api/cases/{case_id}/call-list.csv",
    response_class=Response,
    responses={200: {"content": {"text/csv": {}}}},
)
@needs(Permission.CASE_READ)
def call_list(case_id: str, request: Request, user: User) -> Response:
    """The call list: one row per contact of the latest trace with status and note, local
    times, UTF-8 with BOM for spreadsheets, in the request language. Audited."""
    state = app_state(request)
    work = case_work(state, user, case_id)
    if work.result is None:
        raise NotFoundError(f"no trace has been run for case {case_id} yet")
    base = str(request.base_url).rstrip("/")
    data = call_list_csv(
        work.result,
        work.contacts,
        state.site.zone(),
        lambda tid: base + snapshot_url(case_id, tid),
    )
    state.store.audit.append(
        user.username,
        "export_call_list",
        case_id,
        {"format": "csv"},
        {"rows": len(work.contacts)},
    )
    return Response(
        data,
        media_type=CSV_TYPE,
        headers={
            "Content-Disposition": f'attachment; filename="{_file_part(case_id)}-call-list.csv"',
            "Cache-Control": "no-store",
        },
    )
