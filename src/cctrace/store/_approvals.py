"""Supervisor approvals: requests to export a case or view a person un-blurred, and
the supervisor's decision."""

from __future__ import annotations

from sqlalchemy import select

from cctrace.errors import NotFoundError

from ._base import Repository
from .records import ApprovalRecord, InvalidInputError
from .schema import APPROVAL_KINDS, ApprovalRow, CaseRow, utcnow


def _approval(row: ApprovalRow) -> ApprovalRecord:
    return ApprovalRecord(
        id=row.id,
        case_id=row.case_id,
        kind=row.kind,
        tracklet_id=row.tracklet_id,
        reason=row.reason,
        requested_by=row.requested_by,
        requested_at=row.requested_at,
        status=row.status,
        decided_by=row.decided_by,
        decided_at=row.decided_at,
        result_digest=row.result_digest,
    )


class ApprovalRepository(Repository):
    """Approval requests and decisions (``store.approvals``)."""

    def request(
        self,
        case_id: str,
        kind: str,
        requested_by: str,
        reason: str,
        tracklet_id: int | None,
        result_digest: str | None = None,
    ) -> ApprovalRecord:
        """Ask a supervisor to approve an export or an un-blurred view."""
        if kind not in APPROVAL_KINDS:
            raise InvalidInputError(
                f"approval kind: expected one of {APPROVAL_KINDS}, got {kind!r}"
            )
        if not reason.strip() or len(reason) > 2000:
            raise InvalidInputError("reason: expected 1..2000 characters saying why")
        with self._write() as s:
            if s.get(CaseRow, case_id) is None:
                raise NotFoundError(f"expected a stored case {case_id!r}, found none")
            row = ApprovalRow(
                case_id=case_id,
                kind=kind,
                tracklet_id=tracklet_id,
                reason=reason,
                requested_by=requested_by,
                requested_at=utcnow(),
                status="pending",
                result_digest=result_digest,
            )
            s.add(row)
            s.flush()
            return _approval(row)

    def decide(self, approval_id: int, approve: bool, decided_by: str) -> ApprovalRecord:
        """A supervisor approves or denies a pending request."""
        with self._write() as s:
            row = s.get(ApprovalRow, int(approval_id), with_for_update=True)
            if row is None:
                raise NotFoundError(f"expected an approval request {approval_id}, found none")
            if row.status != "pending":
                raise InvalidInputError(
                    f"approval request {approval_id} was already {row.status} by {row.decided_by}"
                )
            row.status = "approved" if approve else "denied"
            row.decided_by, row.decided_at = decided_by, utcnow()
            s.flush()
            return _approval(row)

    def get(self, approval_id: int) -> ApprovalRecord:
        """One approval request; :class:`NotFoundError` if unknown."""
        with self._read() as s:
            row = s.get(ApprovalRow, int(approval_id))
            if row is None:
                raise NotFoundError(f"expected an approval request {approval_id}, found none")
            return _approval(row)

    def find(
        self, case_id: str | None = None, status: str | None = None, *, team: str | None = None
    ) -> list[ApprovalRecord]:
        """Approval requests, newest first (optionally of one case, in one status, on one
        team's cases: filtered in SQL)."""
        stmt = select(ApprovalRow).order_by(ApprovalRow.id.desc())
        if team is not None:
            stmt = stmt.join(CaseRow, CaseRow.id == ApprovalRow.case_id).where(CaseRow.team == team)
        if case_id is not None:
            stmt = stmt.where(ApprovalRow.case_id == case_id)
        if status is not None:
            stmt = stmt.where(ApprovalRow.status == status)
        with self._read() as s:
            return [_approval(r) for r in s.scalars(stmt)]

    def is_approved(self, case_id: str, kind: str, tracklet_id: int | None = None) -> bool:
        """Whether a supervisor approved this kind of request for the case (and tracklet)."""
        stmt = select(ApprovalRow.id).where(
            ApprovalRow.case_id == case_id,
            ApprovalRow.kind == kind,
            ApprovalRow.status == "approved",
        )
        if tracklet_id is not None:
            stmt = stmt.where(ApprovalRow.tracklet_id == tracklet_id)
        with self._read() as s:
            return s.execute(stmt.limit(1)).first() is not None
