"""What the app shares between requests: site, store, models, trace jobs, limiter."""

from __future__ import annotations

from dataclasses import dataclass, field

from cctrace.config import SiteConfig
from cctrace.ingest.models import ModelSet
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

    def __post_init__(self) -> None:
        self.limiter = LoginLimiter(self.settings.login_attempts, self.settings.login_window_s)
