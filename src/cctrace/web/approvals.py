"""The approval workflow: un-blur and export requests, a supervisor's decision.

Each step and its audit entry commit together (:meth:`Store.unit_of_work`), so the
log never misses a decision and never records one that did not happen. An export's
files are written when it is approved, from the very trace result the request was
about, so what was approved is what can be downloaded.
"""

from __future__ import annotations

from cctrace.errors import QueryError
from cctrace.store.records import ApprovalRecord, Role, UserRecord

from .services import latest_result_digest
from .state import AppState
from .views import export_files


def request_approval(
    state: AppState,
    case_id: str,
    kind: str,
    reason: str,
    tracklet_id: int | None,
    user: UserRecord,
) -> ApprovalRecord:
    """Ask a supervisor to approve ``kind`` ("unblur" or "export"), saying why.

    A supervisor's own request is approved by asking: it is theirs to approve."""
    store = state.store
    with store.unit_of_work():
        approval = store.approvals.request(
            case_id,
            kind,
            user.username,
            reason,
            tracklet_id,
            result_digest=latest_result_digest(state, case_id),
        )
        store.audit.append(
            user.username,
            f"{kind}_request",
            case_id,
            {"reason": reason, "tracklet_id": tracklet_id, "approval_id": approval.id},
            {},
        )
    if user.role == Role.SUPERVISOR:
        approval = decide(state, approval, user, approve=True)
    return approval


def decide(
    state: AppState, approval: ApprovalRecord, user: UserRecord, *, approve: bool
) -> ApprovalRecord:
    """Approve or deny a pending request (``QueryError`` if it was decided already, or an
    export whose case was traced again since it was asked for)."""
    if approval.status != "pending":
        raise QueryError(
            f"approval request {approval.id} was already {approval.status} by {approval.decided_by}"
        )
    store = state.store
    if approve and approval.kind == "export":
        case = store.cases.get(approval.case_id)
        if latest_result_digest(state, case.id) != approval.result_digest:
            raise QueryError(
                f"case {case.id} was traced again after export {approval.id} was requested; "
                "deny this request and ask for a new export of the current result"
            )
        # Written before the decision commits: a failed write leaves the request pending.
        export_files(state, case, approval.id, user.username)
    with store.unit_of_work():
        decided = store.approvals.decide(approval.id, approve, user.username)
        store.audit.append(
            user.username,
            "approval",
            approval.case_id,
            {"approval_id": approval.id, "kind": approval.kind, "approve": approve},
            {},
        )
    return decided
