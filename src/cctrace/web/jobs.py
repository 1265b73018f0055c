"""Traces run in background threads; a job reports its stage and progress to the page."""

from __future__ import annotations

import logging
import threading
import uuid
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

from cctrace.errors import CctraceError, QueryError, StoreError

log = logging.getLogger(__name__)

MAX_KEPT_JOBS = 500
"""Finished jobs remembered (for their progress page); running ones are never dropped."""
MAX_JOBS_PER_USER = 3
ACTIVE = ("queued", "running")
ProgressFn = Callable[[str, float], None]


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
    created_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    finished_at: datetime | None = None


class TraceJobs:
    """A small pool of trace workers and the state of recent jobs."""

    def __init__(self, workers: int = 1) -> None:
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="cctrace-trace")
        self._jobs: OrderedDict[str, Job] = OrderedDict()
        self._lock = threading.Lock()

    def _set(self, job_id: str, **changes: object) -> None:
        with self._lock:
            job = self._jobs.get(job_id)
            if job is not None:
                self._jobs[job_id] = replace(job, **changes)  # type: ignore[arg-type]

    def submit(self, case_id: str, actor: str, work: Callable[[ProgressFn], None]) -> Job:
        """Queue ``work(progress)``; returns the queued job.

        A case has at most one queued job: asking again while one waits returns that
        job (it reads the case's decisions when it starts, so it includes the new ones).
        A user may have at most ``MAX_JOBS_PER_USER`` jobs waiting or running.
        """
        with self._lock:
            for waiting in self._jobs.values():
                if waiting.case_id == case_id and waiting.status == "queued":
                    return waiting
            busy = [j for j in self._jobs.values() if j.actor == actor and j.status in ACTIVE]
            if len(busy) >= MAX_JOBS_PER_USER:
                raise QueryError(
                    f"you already have {len(busy)} traces waiting or running; "
                    "wait for one to finish"
                )
            job = Job(job_id=uuid.uuid4().hex, case_id=case_id, actor=actor)
            self._jobs[job.job_id] = job
            finished = [k for k, j in self._jobs.items() if j.status not in ACTIVE]
            for key in finished[: max(0, len(self._jobs) - MAX_KEPT_JOBS)]:
                del self._jobs[key]  # only finished jobs are forgotten

        def progress(stage: str, fraction: float) -> None:
            self._set(job.job_id, stage=stage, progress=max(0.0, min(1.0, fraction)))

        def run() -> None:
            self._set(job.job_id, status="running", stage="starting", progress=0.01)
            try:
                work(progress)
            except Exception as exc:
                log.warning("trace job %s for case %s failed: %s", job.job_id, case_id, exc)
                # A cctrace error says what to fix; anything else stays in the log.
                message = (
                    str(exc) or type(exc).__name__
                    if isinstance(exc, CctraceError) and not isinstance(exc, StoreError)
                    else f"internal error (server log, job {job.job_id[:8]})"
                )
                self._set(
                    job.job_id,
                    status="failed",
                    stage="failed",
                    error=message,
                    finished_at=datetime.now(UTC),
                )
            else:
                self._set(
                    job.job_id,
                    status="done",
                    stage="done",
                    progress=1.0,
                    finished_at=datetime.now(UTC),
                )

        self._pool.submit(run)
        return job

    def get(self, job_id: str) -> Job | None:
        """The job's current state, or None when unknown."""
        with self._lock:
            return self._jobs.get(job_id)

    def latest_for_case(self, case_id: str) -> Job | None:
        """The newest job of a case, or None."""
        with self._lock:
            for job in reversed(self._jobs.values()):
                if job.case_id == case_id:
                    return job
        return None

    def wait_idle(self, timeout_s: float = 60.0) -> bool:
        """Block until no job is queued or running (tests, shutdown)."""
        import time

        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            with self._lock:
                busy = any(j.status in ("queued", "running") for j in self._jobs.values())
            if not busy:
                return True
            time.sleep(0.05)
        return False

    def shutdown(self) -> None:
        """Stop taking jobs; let running ones finish."""
        self._pool.shutdown(wait=True, cancel_futures=True)
