"""The :class:`Store`: the only door to the database for the rest of cctrace, one
repository per kind of thing over one shared base (engine, cipher, unit of work).

Every repository method runs in its own transaction (or the open unit of work) and
returns frozen records (:mod:`cctrace.store.records`), never ORM objects. SQLite (WAL)
by default; pass a PostgreSQL URL (``postgresql+psycopg://...``) for a shared server.
"""

from __future__ import annotations

import logging
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING

from cctrace.config import PoolConfig
from cctrace.privacy.crypto import DataCipher

from ._approvals import ApprovalRepository
from ._audit import AuditLog
from ._base import StoreBase
from ._cameras import CameraRepository
from ._cases import CaseRepository
from ._contacts import ContactStatusRepository
from ._faces import FaceRepository
from ._footage import FootageRepository
from ._jobs import TraceJobRepository
from ._retention import RetentionRepository
from ._sightings import SightingRepository
from ._signin import SigninAttemptRepository
from ._tracklets import TrackletRepository
from ._users import UserRepository
from ._web_sessions import WebSessionRepository

if TYPE_CHECKING:
    from cctrace.config import SiteConfig

log = logging.getLogger(__name__)


class Store(StoreBase):
    """The database of cctrace: the one object that is opened and closed, holding the
    shared base (engine, data cipher, unit of work) and one repository per kind of thing.

    - ``cameras``, ``footage``: cameras; footage files, their ingest progress and failures
    - ``tracklets``: the ingest batch writer and the tracing reads (tracklets, points,
      encounters, body embeddings); ``faces``: face embeddings, crops, loose faces
    - ``cases``, ``sightings``, ``contacts`` (what tracers did about each contact)
    - ``audit``: the keyed, anchored audit log
    - ``users``, ``web_sessions``, ``approvals``, ``trace_jobs``, ``signin_attempts``
      (the web app's)
    - ``retention``: the retention purge and resetting a footage file

    Every repository method runs in its own transaction, unless a
    :meth:`~StoreBase.unit_of_work` is open: then calls on any repositories commit
    together (``with store.unit_of_work(): store.cases.set_status(...);
    store.audit.append(...)``). Methods return frozen records
    (:mod:`cctrace.store.records`), never ORM objects.

    ``Store(data_dir)`` opens (creating if needed) ``<data_dir>/cctrace.db``;
    ``Store(data_dir, url=...)`` uses another database. Derived files (face crops,
    snapshots) live under ``data_dir`` in both cases and are stored as relative paths.
    Face embeddings and crops are encrypted at rest with ``cipher`` (default: the key
    from ``$CCTRACE_DATA_KEY``, see :func:`cctrace.privacy.crypto.load_data_cipher`).
    The audit log is chained with a key derived from the same data key, and each append
    writes a signed checkpoint to ``audit_anchor`` (default
    ``<data_dir>/audit/anchors.jsonl``; see :mod:`cctrace.store.audit_chain`).
    """

    def __init__(
        self,
        data_dir: Path | str,
        *,
        url: str | None = None,
        echo: bool = False,
        cipher: DataCipher | None = None,
        audit_anchor: Path | str | None = None,
        audit_syslog: bool = False,
        pool: PoolConfig | None = None,
    ):
        super().__init__(
            data_dir,
            url=url,
            echo=echo,
            cipher=cipher,
            audit_anchor=audit_anchor,
            audit_syslog=audit_syslog,
            pool=pool,
        )
        self.cameras = CameraRepository(self)
        self.footage = FootageRepository(self)
        self.tracklets = TrackletRepository(self)
        self.faces = FaceRepository(self)
        self.cases = CaseRepository(self)
        self.sightings = SightingRepository(self)
        self.audit = AuditLog(self)
        self.contacts = ContactStatusRepository(self, self.audit)
        self.users = UserRepository(self)
        self.web_sessions = WebSessionRepository(self)
        self.approvals = ApprovalRepository(self)
        self.trace_jobs = TraceJobRepository(self)
        self.signin_attempts = SigninAttemptRepository(self)
        self.retention = RetentionRepository(self)

    @classmethod
    def open(
        cls, data_dir: Path | str, url: str | None = None, audit_anchor: Path | None = None
    ) -> Store:
        """Open the store in ``data_dir`` (SQLite unless ``url`` is given)."""
        return cls(data_dir, url=url, audit_anchor=audit_anchor)

    @classmethod
    def for_site(cls, site: SiteConfig) -> Store:
        """Open the store a site's ``storage`` section names (data dir, optional URL),
        anchoring the audit log where its ``audit`` section says."""
        return cls(
            site.storage.data_dir,
            url=site.storage.database_url,
            audit_anchor=site.audit.anchor_path,
            audit_syslog=site.audit.syslog,
            pool=site.storage.pool,
        )

    def __enter__(self) -> Store:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Store(data_dir={str(self.data_dir)!r}, dialect={self.dialect!r})"
