"""Trace jobs: queued in the database, run by worker threads in every web process.

:meth:`TraceJobs.submit` inserts a ``queued`` row (``trace_jobs``); each web process runs
``workers`` threads that claim the oldest queued job (atomically, see
``store.trace_jobs.claim``), run it and record its stage and progress
in the row, which ``/api/jobs/{id}`` reads. So a job outlives the process that queued
it, several web processes (uvicorn workers, hosts) share one queue, and no job runs
twice. A process that dies mid-trace leaves its job ``running``: at start-up and every
:data:`HEARTBEAT_S` each process puts back in the queue the jobs of owners that are
gone (on this host: no such process; elsewhere: no heartbeat for ``stale_after_s``).
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cctrace.errors import CctraceError, StoreError
from cctrace.ingest.owner import owner_alive, process_owner
from cctrace.store.records import TraceJobRecord
from cctrace.store.repository import Store

log = logging.getLogger(__name__)

MAX_JOBS_PER_USER = 3
ACTIVE = ("queued", "running")
HEARTBEAT_S = 5.0
"""Seconds between heartbeats of running jobs (and sweeps for jobs of dead owners)."""
STALE_AFTER_S = 60.0
"""A running job with no heartbeat for this long goes back to the queue."""
POLL_S = 1.0
"""How often an idle worker looks for jobs queued by other processes."""
PROGRESS_EVERY_S = 0.25
"""Progress within one stage is written at most this often."""
ProgressFn = Callable[[str, float], None]
Runner = Callable[[TraceJobRecord, ProgressFn], None]
"""Runs one job (reporting progress); raises to fail it."""


@dataclass(frozen=True)
class Job:
    """A snapshot of one background trace."""

    job_id: str
    case_id: str
    actor: str
    status: str = "queued"
    stage: str = "waiting for a free worker"
    progress: float = 0.0
    error: str | None = None
    created_at: datetime | None = None
    finished_at: datetime | None = None

    @classmethod
    def of(cls, record: TraceJobRecord) -> Job:
        """The snapshot of a stored job."""
        return cls(
            job_id=record.id,
            case_id=record.case_id,
            actor=record.requested_by,
            status=record.status,
            stage=record.stage,
            progress=record.progress,
            error=record.error,
            created_at=record.created_at,
            finished_at=record.finished_at,
        )


def _owner_gone(owner: str) -> bool:
    """Whether the process behind a job owner (``token@host:pid:start``) has exited."""
    _, _, process = owner.partition("@")
    return owner_alive(process) is False


class TraceJobs:
    """The trace queue of one web process: submits to the store, and ``workers`` threads
    that claim and run jobs with ``runner`` (none when ``workers`` is 0: this process
    only queues, others run)."""

    def __init__(
        self,
        store: Store,
        runner: Runner,
        workers: int = 1,
        *,
        stale_after_s: float = STALE_AFTER_S,
        heartbeat_s: float = HEARTBEAT_S,
        poll_s: float = POLL_S,
    ) -> None:
        self.store = store
        self.runner = runner
        self.owner = f"{uuid.uuid4().hex[:8]}@{process_owner()}"
        """Who this process's workers claim jobs as."""
        self.stale_after_s = stale_after_s
        self.heartbeat_s = heartbeat_s
        self.poll_s = poll_s
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._threads: list[threading.Thread] = []
        self.workers = workers
        self._running = 0
        self._running_lock = threading.Lock()

    def start(self) -> TraceJobs:
        """Re-queue jobs left running by a process that is gone (a restart), then start
        the workers and the heartbeat."""
        self.requeue()
        if self.workers > 0 and not self._threads:
            for i in range(self.workers):
                self._start(self._work, f"cctrace-trace-{i}")
            self._start(self._beat, "cctrace-trace-heartbeat")
        return self

    def _start(self, target: Callable[[], None], name: str) -> None:
        thread = threading.Thread(target=target, name=name, daemon=True)
        thread.start()
        self._threads.append(thread)

    def requeue(self) -> list[str]:
        """Put back in the queue the running jobs whose owner is gone; their ids."""
        try:
            ids = self.store.trace_jobs.requeue(self.stale_after_s, dead=_owner_gone)
        except StoreError as exc:
            log.warning("could not look for trace jobs of stopped workers: %s", exc)
            return []
        if ids:
            log.warning("re-queued %d trace job(s) whose worker stopped: %s", len(ids), ids)
            self._wake.set()
        return ids

    def submit(self, case_id: str, actor: str, params: dict[str, Any]) -> Job:
        """Queue a trace of ``case_id`` with ``params``; returns the queued job.

        A case has at most one queued job: asking again while one waits returns that
        job (it reads the case's decisions when it starts, so it includes the new ones).
        A user may have at most ``MAX_JOBS_PER_USER`` jobs waiting or running.
        """
        record = self.store.trace_jobs.enqueue(
            case_id, actor, params, max_active_per_user=MAX_JOBS_PER_USER
        )
        self._wake.set()
        return Job.of(record)

    def get(self, job_id: str) -> Job | None:
        """The job's current state, or None when unknown."""
        record = self.store.trace_jobs.get(job_id)
        return Job.of(record) if record is not None else None

    def latest_for_case(self, case_id: str) -> Job | None:
        """The newest job of a case, or None."""
        record = self.store.trace_jobs.latest(case_id)
        return Job.of(record) if record is not None else None

    # ---- workers ------------------------------------------------------------------

    def _work(self) -> None:
        while not self._stop.is_set():
            try:
                record = self.store.trace_jobs.claim(self.owner)
            except StoreError as exc:
                log.warning("could not claim a trace job: %s", exc)
                record = None
            if record is None:
                self._wake.wait(self.poll_s)
                self._wake.clear()
                continue
            with self._running_lock:
                self._running += 1
            try:
                self._run(record)
            finally:
                with self._running_lock:
                    self._running -= 1

    def _run(self, record: TraceJobRecord) -> None:
        job_id = record.id
        last_stage, last_at = [record.stage], [0.0]

        def progress(stage: str, fraction: float) -> None:
            now = time.monotonic()
            if stage == last_stage[0] and now - last_at[0] < PROGRESS_EVERY_S:
                return
            last_stage[0], last_at[0] = stage, now
            try:
                self.store.trace_jobs.update(job_id, self.owner, stage, fraction)
            except StoreError as exc:
                log.warning("could not record progress of trace job %s: %s", job_id, exc)

        try:
            self.runner(record, progress)
        except Exception as exc:
            log.warning("trace job %s for case %s failed: %s", job_id, record.case_id, exc)
            # A cctrace error says what to fix; anything else stays in the log.
            message = (
                str(exc) or type(exc).__name__
                if isinstance(exc, CctraceError) and not isinstance(exc, StoreError)
                else f"internal error (server log, job {job_id[:8]})"
            )
            self._finish(job_id, message)
        else:
            self._finish(job_id, None)

    def _finish(self, job_id: str, error: str | None) -> None:
        for attempt in range(3):
            try:
                if not self.store.trace_jobs.finish(job_id, self.owner, error):
                    log.warning("trace job %s was re-queued while it ran here", job_id)
                return
            except StoreError as exc:
                log.warning("could not record the end of trace job %s: %s", job_id, exc)
                time.sleep(0.5 * (attempt + 1))

    def _beat(self) -> None:
        while not self._stop.wait(self.heartbeat_s):
            if not self._running:
                self.requeue()
                continue
            try:
                self.store.trace_jobs.heartbeat(self.owner)
            except StoreError as exc:
                log.warning("trace job heartbeat failed: %s", exc)
            self.requeue()

    # ---- tests and shutdown ---------------------------------------------------------

    def wait_idle(self, timeout_s: float = 60.0) -> bool:
        """Block until no job in the store is queued or running (tests, shutdown)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.store.trace_jobs.count_active() == 0:
                return True
            time.sleep(0.05)
        return False

    def shutdown(self) -> None:
        """Stop taking jobs; let running ones finish. Queued jobs stay in the store for
        the next process."""
        self._stop.set()
        self._wake.set()
        for thread in self._threads:
            thread.join()
        self._threads.clear()
