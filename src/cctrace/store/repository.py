"""The :class:`Store` repository: the only door to the database for the rest of cctrace.

Every method runs in its own transaction and returns frozen records
(:mod:`cctrace.store.records`), never ORM objects. SQLite (WAL) by default; pass a
PostgreSQL URL (``postgresql+psycopg://...``) for a shared server.
"""

from __future__ import annotations

import logging
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING

from ._audit import AuditMixin
from ._cases import CaseMixin
from ._contacts import ContactStatusMixin
from ._footage import FootageMixin
from ._ingest import IngestMixin
from ._jobs import JobMixin
from ._queries import QueryMixin
from ._retention import RetentionMixin
from ._signin import SigninMixin
from ._users import UserMixin

if TYPE_CHECKING:
    from cctrace.config import SiteConfig

log = logging.getLogger(__name__)


class Store(
    FootageMixin,
    IngestMixin,
    QueryMixin,
    RetentionMixin,
    CaseMixin,
    ContactStatusMixin,
    AuditMixin,
    UserMixin,
    JobMixin,
    SigninMixin,
):
    """Cameras, footage, tracklets, encounters, cases, sightings, the audit log, and the
    web app's users, sessions, approvals, trace jobs and sign-in attempts, what tracers
    did about each contact; and the retention purge.

    ``Store(data_dir)`` opens (creating if needed) ``<data_dir>/cctrace.db``;
    ``Store(data_dir, url=...)`` uses another database. Derived files (face crops,
    snapshots) live under ``data_dir`` in both cases and are stored as relative paths.
    Face embeddings and crops are encrypted at rest with ``cipher`` (default: the key
    from ``$CCTRACE_DATA_KEY``, see :func:`cctrace.privacy.crypto.load_data_cipher`).
    The audit log is chained with a key derived from the same data key, and each append
    writes a signed checkpoint to ``audit_anchor`` (default
    ``<data_dir>/audit/anchors.jsonl``; see :mod:`cctrace.store.audit_chain`).
    """

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
