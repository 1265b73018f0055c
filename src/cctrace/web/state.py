"""What the app shares between requests: site, store, models, trace jobs, limiter."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from cctrace.config import SiteConfig
from cctrace.ingest.models import ModelSet
from cctrace.store import GENESIS_HASH
from cctrace.store.repository import Store

from .jobs import TraceJobs
from .security import LoginLimiter
from .settings import WebSettings


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
    _audit_lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self.limiter = LoginLimiter(self.settings.login_attempts, self.settings.login_window_s)

    def verify_audit_incrementally(self) -> tuple[int | None, int]:
        """(first broken entry or None, entries verified): the whole chain on first use,
        then only entries added since; a full check is ``/api/audit/verify``."""
        with self._audit_lock:
            if self.audit_broken is None:
                broken, last_id, last_hash = self.store.verify_audit_from(*self.audit_verified)
                self.audit_verified = (last_id, last_hash)
                self.audit_broken = broken
            return self.audit_broken, self.audit_verified[0]
