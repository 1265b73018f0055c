"""Cases, their sightings, and the append-only hash-chained audit log."""

from __future__ import annotations

import hashlib
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
from .records import (
    AlreadyExistsError,
    AuditRecord,
    CaseRecord,
    CaseStatus,
    InvalidInputError,
    SightingRecord,
)
from .schema import AuditRow, CaseRow, CaseSightingRow, TrackletRow, utcnow

log = logging.getLogger(__name__)

GENESIS_HASH = "0" * 64
"""``prev_hash`` of the first audit entry."""
RETRIES = 5
R = TypeVar("R")


def canonical_json(value: Any) -> str:
    """Deterministic JSON: sorted keys, no spaces, UTF-8, no NaN."""
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    )


def audit_hash(prev_hash: str, entry: Mapping[str, Any]) -> str:
    """sha256 hex of ``prev_hash`` + the canonical JSON of the entry."""
    return hashlib.sha256((prev_hash + canonical_json(entry)).encode("utf-8")).hexdigest()


def audit_entry(
    entry_id: int,
    timestamp: datetime,
    actor: str,
    action: str,
    case_id: str | None,
    query: Mapping[str, Any],
    result: Mapping[str, Any],
) -> dict[str, Any]:
    """The hashed content of an audit entry."""
    return {
        "id": entry_id,
        "timestamp": timestamp.isoformat(),
        "actor": actor,
        "action": action,
        "case_id": case_id,
        "query": query,
        "result": result,
    }


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
    """Case, sighting and audit methods of :class:`~cctrace.store.Store`."""

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

    def list_cases(self, status: CaseStatus | str | None = None) -> list[CaseRecord]:
        """Cases, newest first."""
        stmt = select(CaseRow).order_by(CaseRow.created_at.desc(), CaseRow.id)
        if status is not None:
            stmt = stmt.where(CaseRow.status == CaseStatus(status).value)
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

    # ---- audit ---------------------------------------------------------------------

    def append_audit(
        self,
        actor: str,
        action: str,
        case_id: str | None,
        query: Mapping[str, Any],
        result: Mapping[str, Any],
    ) -> AuditRecord:
        """Append one entry to the hash-chained audit log (who, what, why, how many).

        ``query`` and ``result`` must be JSON-serialisable (result: counts, not data).
        """
        _text(actor, "actor", 128)
        _text(action, "action", 64)
        if case_id is not None:
            _text(case_id, "case id", 64)
        q = _json_dict(query, "query")
        r = _json_dict(result, "result")

        def append() -> AuditRecord:
            with self._write() as s:
                head = s.execute(
                    select(AuditRow.id, AuditRow.hash).order_by(AuditRow.id.desc()).limit(1)
                ).first()
                new_id, prev = (head[0] + 1, head[1]) if head else (1, GENESIS_HASH)
                now = utcnow()
                digest = audit_hash(prev, audit_entry(new_id, now, actor, action, case_id, q, r))
                row = AuditRow(
                    id=new_id,
                    timestamp=now,
                    actor=actor,
                    action=action,
                    case_id=case_id,
                    query=q,
                    result=r,
                    prev_hash=prev,
                    hash=digest,
                )
                s.add(row)
                s.flush()
                return _convert.audit(row)

        return _retry_on_conflict(append)

    def list_audit(
        self,
        case_id: str | None = None,
        since: datetime | None = None,
        limit: int | None = None,
    ) -> list[AuditRecord]:
        """Audit entries in chain order (optionally of one case / since an instant)."""
        stmt = select(AuditRow).order_by(AuditRow.id)
        if case_id is not None:
            stmt = stmt.where(AuditRow.case_id == case_id)
        if since is not None:
            stmt = stmt.where(AuditRow.timestamp >= require_aware(since, "since"))
        if limit is not None:
            stmt = stmt.limit(int(limit))
        with self._read() as s:
            return [_convert.audit(row) for row in s.scalars(stmt)]

    def audit_head(self) -> tuple[int, str]:
        """(id, hash) of the newest entry ((0, genesis) when empty): publish or print it
        elsewhere to anchor the chain, since truncating the tail is otherwise invisible."""
        with self._read() as s:
            head = s.execute(
                select(AuditRow.id, AuditRow.hash).order_by(AuditRow.id.desc()).limit(1)
            ).first()
        return (int(head[0]), str(head[1])) if head else (0, GENESIS_HASH)

    def list_audit_page(
        self, case_id: str | None = None, limit: int = 100, before_id: int | None = None
    ) -> list[AuditRecord]:
        """The newest ``limit`` entries (older than ``before_id``), newest first."""
        stmt = select(AuditRow).order_by(AuditRow.id.desc()).limit(int(limit))
        if case_id is not None:
            stmt = stmt.where(AuditRow.case_id == case_id)
        if before_id is not None:
            stmt = stmt.where(AuditRow.id < int(before_id))
        with self._read() as s:
            return [_convert.audit(row) for row in s.scalars(stmt)]

    def verify_audit_chain(self, batch_size: int = 1000) -> int | None:
        """The id of the first entry that breaks the chain (edited, reordered, or after a
        deletion), or None when the whole chain verifies."""
        return self.verify_audit_from(0, GENESIS_HASH, batch_size)[0]

    def verify_audit_from(
        self, after_id: int, after_hash: str, batch_size: int = 1000
    ) -> tuple[int | None, int, str]:
        """Verify the entries after a verified one (``after_id``, ``after_hash``; 0 and
        :data:`GENESIS_HASH` for the whole chain). Returns (first broken id or None, the
        last verified id, its hash), so a caller can carry on from there next time."""
        expected_id, expected_prev = after_id + 1, after_hash
        last = after_id
        while True:
            with self._read() as s:
                rows = list(
                    s.scalars(
                        select(AuditRow)
                        .where(AuditRow.id > last)
                        .order_by(AuditRow.id)
                        .limit(batch_size)
                    )
                )
                entries = [_convert.audit(r) for r in rows]
            if not entries:
                return None, expected_id - 1, expected_prev
            for e in entries:
                recomputed = audit_hash(
                    e.prev_hash,
                    audit_entry(e.id, e.timestamp, e.actor, e.action, e.case_id, e.query, e.result),
                )
                if e.id != expected_id or e.prev_hash != expected_prev or recomputed != e.hash:
                    log.warning("audit chain broken at entry %d", e.id)
                    return e.id, expected_id - 1, expected_prev
                expected_id, expected_prev = e.id + 1, e.hash
            last = entries[-1].id
