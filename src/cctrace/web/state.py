"""What the app shares between requests: site, store, models, trace jobs, limiter."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import NamedTuple

from cctrace.config import SiteConfig
from cctrace.ingest.models import ModelSet
from cctrace.store import GENESIS_HASH
from cctrace.store.repository import Store

from .jobs import TraceJobs
from .security import LoginLimiter
from .settings import WebSettings


class AuditCheck(NamedTuple):
    """What the audit page shows about the chain."""

    broken: int | None
    """The first bad entry (None when the chain verifies, or no entry is to blame)."""
    verified: int
    """Entries verified."""
    problem: str | None
    """What is wrong (None when the chain and its newest checkpoints verify)."""


@dataclass
class AppState:
    """Shared state of one running app (``app.state.cctrace``)."""

    site: SiteConfig
    settings: WebSettings
    store: Store
    models: ModelSet
    jobs: TraceJobs
    limiter: LoginLimiter = field(init=False)
    audit_verified: tuple[int, str] = (0, GENESIS_HASH)
    """The last audit entry this process verified (the page checks only newer ones)."""
    audit_broken: int | None = None
    audit_problem: str | None = None
    _audit_lock: threading.Lock = field(default_factory=threading.Lock)
    _case_locks: dict[str, threading.Lock] = field(default_factory=dict)
    _case_locks_guard: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self.limiter = LoginLimiter(
            self.store, self.settings.login_attempts, self.settings.login_window_s
        )

    @contextmanager
    def case_lock(self, case_id: str) -> Iterator[None]:
        """Held while this process builds a case's site plan: requests for one case wait
        for the first to fill the plan caches instead of each warping and encoding the
        same picture (seconds of CPU when a dozen arrive at a fresh worker at once).
        Requests for other cases do not wait; one lock per case seen (a few bytes)."""
        with self._case_locks_guard:
            lock = self._case_locks.setdefault(case_id, threading.Lock())
        with lock:
            yield

    def verify_audit_incrementally(self) -> AuditCheck:
        """The whole chain and every checkpoint on first use (``store.audit.verify``),
        then only entries added since, with the newest checkpoints; a full check is
        ``/api/audit/verify``. Once a problem is found it stays until the app restarts."""
        with self._audit_lock:
            if self.audit_problem is None:
                if self.audit_verified[0] == 0:
                    report = self.store.audit.verify()
                    self.audit_verified = (report.verified, report.verified_hash)
                    if not report.ok:
                        self.audit_broken, self.audit_problem = report.first_bad, report.problems[0]
                else:
                    broken, last_id, last_hash = self.store.audit.verify_from(*self.audit_verified)
                    self.audit_verified = (last_id, last_hash)
                    if broken is not None:
                        self.audit_broken = broken
                        self.audit_problem = f"entry {broken} does not verify against the key"
                    else:
                        self.audit_broken, self.audit_problem = self.store.audit.check_anchor_tail()
            return AuditCheck(self.audit_broken, self.audit_verified[0], self.audit_problem)
