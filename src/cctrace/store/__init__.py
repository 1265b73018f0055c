"""Storage: the SQL database (source of truth) and the face vector index (a cache).

Use :class:`Store` for everything in the database, through its repositories
(``store.cases``, ``store.audit``, ``store.tracklets``, ...; see
:mod:`cctrace.store.repository`), and :class:`FaceIndex` for face search; both return
frozen records from :mod:`cctrace.store.records`.
"""

from __future__ import annotations

from ._contacts import ContactStatus, ContactStatusChange, ContactStatusRecord
from ._retention import PurgeOutcome
from .audit_chain import GENESIS_HASH, AuditReport
from .records import (
    AlreadyExistsError,
    ApprovalRecord,
    AuditRecord,
    CameraRecord,
    CaseRecord,
    CaseStatus,
    EmbeddingBatch,
    EmbeddingRecord,
    EncounterRecord,
    FootageFailureRecord,
    FootageRecord,
    FootageStatus,
    InvalidInputError,
    LooseFaceRecord,
    MotRow,
    Role,
    SightingRecord,
    TraceJobRecord,
    TrackletRecord,
    UserRecord,
    WebSessionRecord,
)
from .repository import Store
from .vector_index import FaceIndex, Hit

__all__ = [
    "GENESIS_HASH",
    "AlreadyExistsError",
    "ApprovalRecord",
    "AuditRecord",
    "AuditReport",
    "CameraRecord",
    "CaseRecord",
    "CaseStatus",
    "ContactStatus",
    "ContactStatusChange",
    "ContactStatusRecord",
    "EmbeddingBatch",
    "EmbeddingRecord",
    "EncounterRecord",
    "FaceIndex",
    "FootageFailureRecord",
    "FootageRecord",
    "FootageStatus",
    "Hit",
    "InvalidInputError",
    "LooseFaceRecord",
    "MotRow",
    "PurgeOutcome",
    "Role",
    "SightingRecord",
    "Store",
    "TraceJobRecord",
    "TrackletRecord",
    "UserRecord",
    "WebSessionRecord",
]
