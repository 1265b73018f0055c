"""Cases and their sightings (the audit log is in :mod:`._audit`)."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from cctrace.errors import NotFoundError, StoreError
from cctrace.types import SightingStatus

from . import _convert
from ._base import StoreBase, chunks, require_aware, require_finite
from .audit_chain import canonical_json
from .records import (
    AlreadyExistsError,
    CaseRecord,
    CaseStatus,
    InvalidInputError,
    SightingRecord,
)
from .schema import CaseRow, CaseSightingRow, TrackletRow, utcnow

log = logging.getLogger(__name__)

RETRIES = 5
R = TypeVar("R")


def _json_dict(value: Mapping[str, Any], name: str) -> dict[str, Any]:
    try:
        out = json.loads(canonical_json(dict(value)))
    except (TypeError, ValueError) as exc:
        raise InvalidInputError(f"{name}: expected JSON-serialisable values: {exc}") from exc
    if not isinstance(out, dict):  # pragma: no cover - dict() above guarantees it
        raise InvalidInputError(f"{name}: expected a mapping")
    return out


def _text(value: str, name: str, max_len: int) -> str:
    if not isinstance(value, str) or not value.strip() or len(value) > max_len:
        raise InvalidInputError(f"{name}: expected 1..{max_len} characters, got {value!r}")
    return value


def _check_window(start: datetime | None, end: datetime | None) -> None:
    if start is not None:
        require_aware(start, "window_from")
    if end is not None:
        require_aware(end, "window_to")
    if start is not None and end is not None and start > end:
        raise InvalidInputError(
            f"infectious window: starts ({start.isoformat()}) after it ends ({end.isoformat()})"
        )


def _sighting_status(status: SightingStatus | str) -> SightingStatus:
    try:
        return SightingStatus(status)
    except ValueError:
        allowed = ", ".join(s.value for s in SightingStatus)
        raise InvalidInputError(
            f"sighting status: expected one of {allowed}, got {status!r}"
        ) from None


def _retry_on_conflict(fn: Callable[[], R]) -> R:
    for attempt in range(RETRIES):
        try:
            return fn()
        except StoreError as exc:
            if attempt == RETRIES - 1 or not isinstance(exc.__cause__, IntegrityError):
                raise
            log.debug("write conflict, retrying (%d): %s", attempt + 1, exc)
    raise AssertionError("unreachable")  # pragma: no cover


class CaseMixin(StoreBase):
    """Case and sighting methods of :class:`~cctrace.store.Store`."""

    # ---- cases ---------------------------------------------------------------------

    def create_case(
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
        _text(case_id, "case id", 64)
        _text(created_by, "created_by", 128)
        _text(legal_basis, "legal_basis", 10_000)
        _text(team, "team", 64)
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

    def get_case(self, case_id: str) -> CaseRecord:
        """The case ``case_id``; :class:`NotFoundError` if unknown."""
        with self._read() as s:
            row = s.get(CaseRow, case_id)
            if row is None:
                raise NotFoundError(f"expected a stored case {case_id!r}, found none")
            return _convert.case(row)

    def list_cases(
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

    def set_case_status(self, case_id: str, status: CaseStatus | str) -> CaseRecord:
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

    def update_case(
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
            _text(legal_basis, "legal_basis", 10_000)
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

    # ---- sightings -----------------------------------------------------------------

    def record_sightings(
        self, case_id: str, sightings: Iterable[tuple[int, float, SightingStatus | str]]
    ) -> list[SightingRecord]:
        """Upsert machine-scored sightings of a case; returns the stored rows.

        A row a person decided on keeps its status (it is never downgraded or upgraded
        by the machine); only its score rises if the new one is higher. An undecided row
        takes the new (score, status) when the score is at least the stored one.
        """
        best: dict[int, tuple[float, SightingStatus]] = {}
        for tracklet_id, score, status in sightings:
            entry = (require_finite(score, "score"), _sighting_status(status))
            tid = int(tracklet_id)
            if tid not in best or entry[0] > best[tid][0]:
                best[tid] = entry
        return _retry_on_conflict(lambda: self._record_sightings(case_id, best))

    def _record_sightings(
        self, case_id: str, best: dict[int, tuple[float, SightingStatus]]
    ) -> list[SightingRecord]:
        out: list[SightingRecord] = []
        with self._write() as s:
            if s.get(CaseRow, case_id) is None:
                raise NotFoundError(f"expected a stored case {case_id!r}, found none")
            for part in chunks(sorted(best)):
                known = set(s.scalars(select(TrackletRow.id).where(TrackletRow.id.in_(part))))
                missing = [t for t in part if t not in known]
                if missing:
                    raise NotFoundError(f"expected stored tracklets, found none for {missing}")
                rows = {
                    r.tracklet_id: r
                    for r in s.scalars(
                        select(CaseSightingRow)
                        .where(
                            CaseSightingRow.case_id == case_id,
                            CaseSightingRow.tracklet_id.in_(part),
                        )
                        .with_for_update()
                    )
                }
                for tid in part:
                    score, status = best[tid]
                    row = rows.get(tid)
                    if row is None:
                        row = CaseSightingRow(
                            case_id=case_id,
                            tracklet_id=tid,
                            score=score,
                            status=status.value,
                            updated_at=utcnow(),
                        )
                        s.add(row)
                    elif row.decided_by is not None:
                        if score > row.score:
                            row.score, row.updated_at = score, utcnow()
                    elif score >= row.score:
                        row.score, row.status, row.updated_at = score, status.value, utcnow()
                    out.append(_convert.sighting(row))
        return out

    def decide_sighting(
        self,
        case_id: str,
        tracklet_id: int,
        status: SightingStatus | str,
        decided_by: str,
        score: float | None = None,
    ) -> SightingRecord:
        """Record a person's decision (accept / reject / back to review) on a sighting.

        Creates the sighting if the investigator picked the tracklet by hand (score 1.0
        unless given).
        """
        value = _sighting_status(status)
        _text(decided_by, "decided_by", 128)
        with self._write() as s:
            if s.get(CaseRow, case_id) is None:
                raise NotFoundError(f"expected a stored case {case_id!r}, found none")
            if s.get(TrackletRow, int(tracklet_id)) is None:
                raise NotFoundError(f"expected a stored tracklet {tracklet_id}, found none")
            row = s.get(CaseSightingRow, (case_id, int(tracklet_id)), with_for_update=True)
            now = utcnow()
            if row is None:
                row = CaseSightingRow(
                    case_id=case_id,
                    tracklet_id=int(tracklet_id),
                    score=1.0 if score is None else require_finite(score, "score"),
                    status=value.value,
                )
                s.add(row)
            elif score is not None:
                row.score = require_finite(score, "score")
            row.status, row.decided_by, row.decided_at, row.updated_at = (
                value.value,
                decided_by,
                now,
                now,
            )
            s.flush()
            return _convert.sighting(row)

    def list_sightings(
        self, case_id: str, status: SightingStatus | str | None = None
    ) -> list[SightingRecord]:
        """A case's sightings, best score first."""
        stmt = (
            select(CaseSightingRow)
            .where(CaseSightingRow.case_id == case_id)
            .order_by(CaseSightingRow.score.desc(), CaseSightingRow.tracklet_id)
        )
        if status is not None:
            stmt = stmt.where(CaseSightingRow.status == _sighting_status(status).value)
        with self._read() as s:
            return [_convert.sighting(r) for r in s.scalars(stmt)]
