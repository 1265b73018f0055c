"""Cases: who opened them, on what legal basis, for which team and infectious window."""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from cctrace.errors import NotFoundError, StoreError

from . import _convert
from ._base import Repository, check_text, require_aware
from .records import (
    AlreadyExistsError,
    CaseRecord,
    CaseStatus,
    InvalidInputError,
)
from .schema import CaseRow, utcnow

log = logging.getLogger(__name__)


def _check_window(start: datetime | None, end: datetime | None) -> None:
    if start is not None:
        require_aware(start, "window_from")
    if end is not None:
        require_aware(end, "window_to")
    if start is not None and end is not None and start > end:
        raise InvalidInputError(
            f"infectious window: starts ({start.isoformat()}) after it ends ({end.isoformat()})"
        )


class CaseRepository(Repository):
    """Cases (``store.cases``): opening, reading, finding, closing and editing them."""

    def create(
        self,
        case_id: str,
        created_by: str,
        legal_basis: str,
        notes: str = "",
        *,
        team: str = "default",
        window_from: datetime | None = None,
        window_to: datetime | None = None,
        parent_case_id: str | None = None,
    ) -> CaseRecord:
        """Open a case; :class:`AlreadyExistsError` if the case number is taken."""
        check_text(case_id, "case id", 64)
        check_text(created_by, "created_by", 128)
        check_text(legal_basis, "legal_basis", 10_000)
        check_text(team, "team", 64)
        _check_window(window_from, window_to)
        with self._read() as s:
            if s.get(CaseRow, case_id) is not None:
                raise AlreadyExistsError(f"expected a new case number, {case_id!r} exists")
        try:
            with self._write() as s:
                row = CaseRow(
                    id=case_id,
                    created_by=created_by,
                    legal_basis=legal_basis,
                    notes=notes,
                    status=CaseStatus.OPEN.value,
                    created_at=utcnow(),
                    team=team,
                    window_from=window_from,
                    window_to=window_to,
                    parent_case_id=parent_case_id,
                )
                s.add(row)
                s.flush()
                return _convert.case(row)
        except StoreError as exc:
            if isinstance(exc.__cause__, IntegrityError):
                raise AlreadyExistsError(f"expected a new case number, {case_id!r} exists") from exc
            raise

    def get(self, case_id: str) -> CaseRecord:
        """The case ``case_id``; :class:`NotFoundError` if unknown."""
        with self._read() as s:
            row = s.get(CaseRow, case_id)
            if row is None:
                raise NotFoundError(f"expected a stored case {case_id!r}, found none")
            return _convert.case(row)

    def find(
        self,
        status: CaseStatus | str | None = None,
        *,
        created_by: str | None = None,
        team: str | None = None,
        parent_case_id: str | None = None,
    ) -> list[CaseRecord]:
        """Cases, newest first; each given filter is applied in SQL (an investigator's
        own cases, a team's, a case's second-degree cases)."""
        stmt = select(CaseRow).order_by(CaseRow.created_at.desc(), CaseRow.id)
        if status is not None:
            stmt = stmt.where(CaseRow.status == CaseStatus(status).value)
        if created_by is not None:
            stmt = stmt.where(CaseRow.created_by == created_by)
        if team is not None:
            stmt = stmt.where(CaseRow.team == team)
        if parent_case_id is not None:
            stmt = stmt.where(CaseRow.parent_case_id == parent_case_id)
        with self._read() as s:
            return [_convert.case(r) for r in s.scalars(stmt)]

    def set_status(self, case_id: str, status: CaseStatus | str) -> CaseRecord:
        """Open or close a case."""
        try:
            value = CaseStatus(status).value
        except ValueError:
            raise InvalidInputError(
                f"case status: expected open or closed, got {status!r}"
            ) from None
        with self._write() as s:
            row = s.get(CaseRow, case_id)
            if row is None:
                raise NotFoundError(f"expected a stored case {case_id!r}, found none")
            row.status = value
            row.closed_at = utcnow() if value == CaseStatus.CLOSED.value else None
            return _convert.case(row)

    def update(
        self,
        case_id: str,
        *,
        legal_basis: str | None = None,
        notes: str | None = None,
        window_from: datetime | None = None,
        window_to: datetime | None = None,
    ) -> CaseRecord:
        """Change a case's legal basis, notes or infectious window (None keeps a field)."""
        if legal_basis is not None:
            check_text(legal_basis, "legal_basis", 10_000)
        if notes is not None and len(notes) > 100_000:
            raise InvalidInputError("notes: expected at most 100000 characters")
        with self._write() as s:
            row = s.get(CaseRow, case_id)
            if row is None:
                raise NotFoundError(f"expected a stored case {case_id!r}, found none")
            new_from = window_from if window_from is not None else row.window_from
            new_to = window_to if window_to is not None else row.window_to
            _check_window(new_from, new_to)
            row.window_from, row.window_to = new_from, new_to
            if legal_basis is not None:
                row.legal_basis = legal_basis
            if notes is not None:
                row.notes = notes
            s.flush()
            return _convert.case(row)
