"""Trace jobs: the web app's queue of traces, shared by every web process on the store.

A job is ``queued`` until one worker claims it (``running``, ``claimed_by`` its owner,
``heartbeat_at`` refreshed while it runs), then ``done`` or ``failed``. Claiming is
atomic on both backends: PostgreSQL picks the oldest queued row with
``SELECT ... FOR UPDATE SKIP LOCKED`` (concurrent claimers skip each other's row);
SQLite runs the pick and a conditional ``UPDATE ... WHERE status = 'queued'`` inside one
``BEGIN IMMEDIATE`` transaction, which holds the database's write lock. A running job
whose owner stopped heartbeating (or is known dead) goes back to the queue.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, select, text, update
from sqlalchemy.orm import Session

from cctrace.errors import QueryError

from ._base import Repository
from .records import InvalidInputError, TraceJobRecord
from .schema import TraceJobRow, utcnow

ACTIVE_JOB_STATUSES = ("queued", "running")
QUEUED_STAGE = "waiting for a free worker"
KEEP_FINISHED_JOBS = timedelta(days=30)
"""Finished jobs older than this are deleted when new ones are queued."""
_PG_ENQUEUE_LOCK = 0x63637472  # "cctr": serialises enqueues on PostgreSQL


def _record(row: TraceJobRow) -> TraceJobRecord:
    return TraceJobRecord(
        id=row.id,
        case_id=row.case_id,
        params=dict(row.params or {}),
        requested_by=row.requested_by,
        status=row.status,
        stage=row.stage,
        progress=float(row.progress),
        error=row.error,
        attempts=int(row.attempts),
        created_at=row.created_at,
        started_at=row.started_at,
        finished_at=row.finished_at,
        claimed_by=row.claimed_by,
        heartbeat_at=row.heartbeat_at,
    )


def _owner(owner: str) -> str:
    if not owner or len(owner) > 200:
        raise InvalidInputError(f"owner: expected 1..200 characters, got {owner!r}")
    return owner


class TraceJobRepository(Repository):
    """The queue of background traces (``store.trace_jobs``)."""

    def _lock_enqueue(self, s: Session) -> None:
        # SQLite writers already hold the database lock (BEGIN IMMEDIATE); PostgreSQL
        # takes a transaction advisory lock so "one queued job per case" and the per-user
        # cap hold across processes.
        if self.dialect == "postgresql":
            s.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_ENQUEUE_LOCK})

    def enqueue(
        self,
        case_id: str,
        requested_by: str,
        params: dict[str, Any],
        *,
        max_active_per_user: int | None = None,
    ) -> TraceJobRecord:
        """Queue a trace of ``case_id``. A case has at most one queued job: while one
        waits, this returns it (it reads the case's newest parameters when it starts).
        ``QueryError`` when ``requested_by`` already has ``max_active_per_user`` jobs
        queued or running."""
        with self._write() as s:
            self._lock_enqueue(s)
            waiting = s.scalars(
                select(TraceJobRow)
                .where(TraceJobRow.case_id == case_id, TraceJobRow.status == "queued")
                .order_by(TraceJobRow.created_at)
                .limit(1)
            ).first()
            if waiting is not None:
                return _record(waiting)
            if max_active_per_user is not None:
                busy = s.scalar(
                    select(func.count())
                    .select_from(TraceJobRow)
                    .where(
                        TraceJobRow.requested_by == requested_by,
                        TraceJobRow.status.in_(ACTIVE_JOB_STATUSES),
                    )
                )
                if (busy or 0) >= max_active_per_user:
                    raise QueryError(
                        f"you already have {busy} traces waiting or running; wait for one to finish"
                    )
            now = utcnow()
            s.execute(
                delete(TraceJobRow).where(
                    TraceJobRow.status.not_in(ACTIVE_JOB_STATUSES),
                    TraceJobRow.finished_at < now - KEEP_FINISHED_JOBS,
                )
            )
            row = TraceJobRow(
                id=uuid.uuid4().hex,
                case_id=case_id,
                params=params,
                requested_by=requested_by,
                status="queued",
                stage=QUEUED_STAGE,
                progress=0.0,
                attempts=0,
                created_at=now,
            )
            s.add(row)
            s.flush()
            return _record(row)

    def get(self, job_id: str) -> TraceJobRecord | None:
        """The job, or None when there is no such job."""
        with self._read() as s:
            row = s.get(TraceJobRow, job_id)
            return _record(row) if row is not None else None

    def latest(self, case_id: str) -> TraceJobRecord | None:
        """The newest job of a case, or None."""
        with self._read() as s:
            row = s.scalars(
                select(TraceJobRow)
                .where(TraceJobRow.case_id == case_id)
                .order_by(TraceJobRow.created_at.desc(), TraceJobRow.id.desc())
                .limit(1)
            ).first()
            return _record(row) if row is not None else None

    def count_active(self) -> int:
        """Jobs queued or running."""
        with self._read() as s:
            count = s.scalar(
                select(func.count())
                .select_from(TraceJobRow)
                .where(TraceJobRow.status.in_(ACTIVE_JOB_STATUSES))
            )
            return int(count or 0)

    def claim(self, owner: str) -> TraceJobRecord | None:
        """Take the oldest queued job for ``owner`` (``running``), or None when none waits.

        No two callers ever get the same job: PostgreSQL locks the picked row and other
        claimers skip it (``FOR UPDATE SKIP LOCKED``); on SQLite the transaction holds
        the write lock; on both the ``UPDATE`` only changes a row still ``queued``.
        """
        _owner(owner)
        with self._read() as s:  # idle pollers do not take SQLite's write lock
            if (
                s.scalar(select(TraceJobRow.id).where(TraceJobRow.status == "queued").limit(1))
                is None
            ):
                return None
        with self._write() as s:
            pick = (
                select(TraceJobRow.id)
                .where(TraceJobRow.status == "queued")
                .order_by(TraceJobRow.created_at, TraceJobRow.id)
                .limit(1)
                .with_for_update(skip_locked=True)
            )
            job_id = s.scalar(pick)
            if job_id is None:
                return None
            now = utcnow()
            done = s.execute(
                update(TraceJobRow)
                .where(TraceJobRow.id == job_id, TraceJobRow.status == "queued")
                .values(
                    status="running",
                    stage="starting",
                    progress=0.01,
                    error=None,
                    attempts=TraceJobRow.attempts + 1,
                    started_at=now,
                    claimed_by=owner,
                    heartbeat_at=now,
                )
                .execution_options(synchronize_session=False)
            )
            if not getattr(done, "rowcount", 0):
                return None  # pragma: no cover - the lock makes this unreachable
            row = s.get(TraceJobRow, job_id, populate_existing=True)
            assert row is not None
            return _record(row)

    def update(self, job_id: str, owner: str, stage: str, fraction: float) -> bool:
        """Record progress (and a heartbeat) of a job ``owner`` runs; False when the job
        is no longer its own (re-queued after a missed heartbeat)."""
        with self._write() as s:
            done = s.execute(
                update(TraceJobRow)
                .where(
                    TraceJobRow.id == job_id,
                    TraceJobRow.claimed_by == owner,
                    TraceJobRow.status == "running",
                )
                .values(
                    stage=stage[:200],
                    progress=max(0.0, min(1.0, float(fraction))),
                    heartbeat_at=utcnow(),
                )
            )
            return bool(getattr(done, "rowcount", 0))

    def heartbeat(self, owner: str) -> int:
        """Say ``owner`` is still running its jobs; how many it holds."""
        with self._write() as s:
            done = s.execute(
                update(TraceJobRow)
                .where(TraceJobRow.claimed_by == owner, TraceJobRow.status == "running")
                .values(heartbeat_at=utcnow())
            )
            return int(getattr(done, "rowcount", 0) or 0)

    def finish(self, job_id: str, owner: str, error: str | None = None) -> bool:
        """Mark a job ``owner`` runs done (``error`` None) or failed; False when it is no
        longer its own."""
        now = utcnow()
        values: dict[str, Any] = (
            {"status": "done", "stage": "done", "progress": 1.0}
            if error is None
            else {"status": "failed", "stage": "failed", "error": error}
        )
        with self._write() as s:
            done = s.execute(
                update(TraceJobRow)
                .where(
                    TraceJobRow.id == job_id,
                    TraceJobRow.claimed_by == owner,
                    TraceJobRow.status == "running",
                )
                .values(finished_at=now, heartbeat_at=now, **values)
            )
            return bool(getattr(done, "rowcount", 0))

    def requeue(
        self,
        stale_after_s: float,
        *,
        dead: Callable[[str], bool] | None = None,
        max_attempts: int = 3,
    ) -> list[str]:
        """Put back in the queue every running job whose owner is gone: no heartbeat for
        ``stale_after_s`` seconds, or ``dead(owner)`` true. A job that has already been
        claimed ``max_attempts`` times fails instead (it may be what kills its workers).
        Returns the ids changed."""
        cutoff = utcnow() - timedelta(seconds=stale_after_s)

        def gone(owner: str | None, heartbeat: datetime | None) -> bool:
            if heartbeat is None or heartbeat < cutoff:
                return True
            return bool(dead is not None and owner and dead(owner))

        with self._read() as s:  # most sweeps find nothing: no write lock for them
            running = s.execute(
                select(TraceJobRow.claimed_by, TraceJobRow.heartbeat_at).where(
                    TraceJobRow.status == "running"
                )
            ).all()
        if not any(gone(owner, beat) for owner, beat in running):
            return []
        changed: list[str] = []
        with self._write() as s:
            rows = s.scalars(
                select(TraceJobRow)
                .where(TraceJobRow.status == "running")
                .with_for_update(skip_locked=True)
            ).all()
            for row in rows:
                if not gone(row.claimed_by, row.heartbeat_at):
                    continue
                if row.attempts >= max_attempts:
                    row.status, row.stage = "failed", "failed"
                    row.error = f"the worker running it stopped {row.attempts} times"
                    row.finished_at = utcnow()
                else:
                    row.status, row.stage, row.progress = "queued", QUEUED_STAGE, 0.0
                    row.started_at = None
                row.claimed_by = None
                row.heartbeat_at = None
                changed.append(row.id)
        return changed
