"""Snapshots (redacted, audited), un-blurring and exports (supervisor-approved)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import FileResponse, Response

from cctrace.errors import NotFoundError, QueryError
from cctrace.store.records import UserRecord
from cctrace.store.repository import Store

from ..approvals import decide, request_approval
from ..deps import AuthError, app_state, current_user, get_store, needs
from ..roles import Permission
from ..schemas import EXPORT_FILES, ApprovalDecisionIn, ApprovalIn, ApprovalOut, DbId
from ..services import (
    case_tracklets,
    latest_result,
    open_case,
    visible_case,
)
from ..views import approved_export_files, unblurred_snapshot

router = APIRouter(prefix="/api", tags=["snapshots, exports and approvals"])
User = Annotated[UserRecord, Depends(current_user)]
StoreDep = Annotated[Store, Depends(get_store)]
JPEG = "image/jpeg"


@router.get(
    "/cases/{case_id}/snapshots/{tracklet_id}.jpg",
    responses={200: {"content": {JPEG: {}}}},
    response_class=Response,
)
@needs(Permission.SNAPSHOT_VIEW)
def snapshot(
    case_id: str, tracklet_id: DbId, request: Request, user: User, view: str = "redacted"
) -> Response:
    """A tracklet's snapshot: every person blurred, or (``view=unblurred``, once a
    supervisor approved it) this person and the case shown. Every view is audited."""
    state = app_state(request)
    visible_case(state.store, user, case_id)
    if tracklet_id not in case_tracklets(latest_result(state, case_id)):
        raise NotFoundError(f"tracklet {tracklet_id} is not part of case {case_id}")
    if view == "unblurred":
        if not state.store.approvals.is_approved(case_id, "unblur", tracklet_id):
            raise AuthError(
                403, "approval_required", "un-blurring needs a supervisor's approval first"
            )
        data = unblurred_snapshot(state, case_id, tracklet_id)
        state.store.audit.append(
            user.username, "view_unblurred", case_id, {"tracklet_id": tracklet_id}, {}
        )
        return Response(data, media_type=JPEG, headers={"Cache-Control": "no-store"})
    if view != "redacted":
        raise QueryError("view must be 'redacted' or 'unblurred'")
    record = state.store.tracklets.get(tracklet_id)
    path = state.store.abspath(record.snapshot_path)
    if path is None or not Path(path).is_file():
        raise NotFoundError(f"tracklet {tracklet_id} has no snapshot (purged or never taken)")
    state.store.audit.append(
        user.username, "view_snapshot", case_id, {"tracklet_id": tracklet_id}, {}
    )
    return FileResponse(path, media_type=JPEG, headers={"Cache-Control": "private, no-store"})


@router.post("/cases/{case_id}/unblur", response_model=ApprovalOut, status_code=201)
@needs(Permission.REQUEST_APPROVAL)
def request_unblur(case_id: str, body: ApprovalIn, request: Request, user: User) -> ApprovalOut:
    """Ask to see one person of the case un-blurred, saying why."""
    state = app_state(request)
    open_case(state.store, user, case_id)
    if body.tracklet_id is None:
        raise QueryError("say whose face (tracklet_id) should be un-blurred")
    if body.tracklet_id not in case_tracklets(latest_result(state, case_id)):
        raise NotFoundError(f"tracklet {body.tracklet_id} is not part of case {case_id}")
    return ApprovalOut.of(
        request_approval(state, case_id, "unblur", body.reason, body.tracklet_id, user)
    )


@router.post("/cases/{case_id}/exports", response_model=ApprovalOut, status_code=201)
@needs(Permission.REQUEST_APPROVAL)
def request_export(case_id: str, body: ApprovalIn, request: Request, user: User) -> ApprovalOut:
    """Ask for a PDF and CSV export of the case (a supervisor approves)."""
    state = app_state(request)
    visible_case(state.store, user, case_id)
    if latest_result(state, case_id) is None:
        raise QueryError(f"case {case_id} has no trace to export yet")
    return ApprovalOut.of(
        request_approval(state, case_id, "export", body.reason, body.tracklet_id, user)
    )


@router.get("/cases/{case_id}/approvals", response_model=list[ApprovalOut])
@needs(Permission.CASE_READ)
def case_approvals(case_id: str, user: User, store: StoreDep) -> list[ApprovalOut]:
    """The case's export and un-blur requests."""
    visible_case(store, user, case_id)
    return [ApprovalOut.of(a) for a in store.approvals.find(case_id)]


@router.get("/cases/{case_id}/exports/{approval_id}/{name}", response_class=Response)
@needs(Permission.EXPORT)
def download_export(
    case_id: str, approval_id: DbId, name: str, request: Request, user: User
) -> Response:
    """An approved export's PDF or CSV (every face but the case's and the confirmed
    contacts' blurred). Audited."""
    state = app_state(request)
    case = visible_case(state.store, user, case_id)
    if name not in EXPORT_FILES:
        raise NotFoundError(f"an export holds {', '.join(EXPORT_FILES)}, not {name!r}")
    approval = state.store.approvals.get(approval_id)
    if approval.case_id != case_id or approval.kind != "export":
        raise NotFoundError(f"no export {approval_id} in case {case_id}")
    if approval.status != "approved":
        raise AuthError(403, "approval_required", f"export {approval_id} is {approval.status}")
    files = approved_export_files(state, case, approval_id)
    state.store.audit.append(
        user.username, "export", case_id, {"approval_id": approval_id, "file": name}, {}
    )
    media = "application/pdf" if name.endswith(".pdf") else "text/csv"
    return FileResponse(
        files[name],
        media_type=media,
        filename=f"{case_id}-{name}",
        headers={"Cache-Control": "private, no-store"},
    )


@router.get("/approvals", response_model=list[ApprovalOut])
@needs(Permission.APPROVE)
def pending_approvals(user: User, store: StoreDep, status: str = "pending") -> list[ApprovalOut]:
    """Requests on your team's cases (pending by default)."""
    return [ApprovalOut.of(a) for a in store.approvals.find(status=status or None, team=user.team)]


@router.post("/approvals/{approval_id}", response_model=ApprovalOut)
@needs(Permission.APPROVE)
def decide_approval(
    approval_id: DbId, body: ApprovalDecisionIn, request: Request, user: User
) -> ApprovalOut:
    """Approve or deny an export or un-blur request of your team."""
    state = app_state(request)
    approval = state.store.approvals.get(approval_id)
    visible_case(state.store, user, approval.case_id)
    return ApprovalOut.of(decide(state, approval, user, approve=body.approve))
