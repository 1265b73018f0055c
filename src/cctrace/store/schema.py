"""SQLAlchemy 2.0 schema: the database is the source of truth.

Portable between SQLite (default) and PostgreSQL: no dialect-specific SQL, ids are
BIGINT on PostgreSQL and INTEGER (rowid) on SQLite, and every datetime goes through
:class:`UTCDateTime`, which stores UTC and always returns timezone-aware UTC.

These models are the schema the newest migration produces; every change to them needs a
new Alembic revision in :mod:`cctrace.store.migrations` (``tests/store/test_migrations.py``
fails when the two differ).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    DateTime,
    Dialect,
    Double,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

FOOTAGE_STATUSES = ("pending", "running", "done", "partial", "failed")
MASK_STATUSES = ("worn", "not_worn", "unknown")
SIGHTING_STATUSES = ("accepted", "needs_review", "rejected")
CASE_STATUSES = ("open", "closed")
ROLES = ("investigator", "supervisor", "auditor", "admin")
APPROVAL_KINDS = ("export", "unblur")
APPROVAL_STATUSES = ("pending", "approved", "denied")
JOB_STATUSES = ("queued", "running", "done", "failed")
CONTACT_STATUSES = ("to_call", "called", "tested", "isolated", "not_reachable")
CONTACT_NOTE_MAX = 500
"""Longest note a tracer may keep on a contact (characters)."""

# BIGINT ids on PostgreSQL; plain INTEGER on SQLite so the column aliases the rowid.
Id = BigInteger().with_variant(Integer(), "sqlite")


def utcnow() -> datetime:
    """The current instant, timezone-aware UTC."""
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """A datetime column that takes aware datetimes and returns aware UTC.

    Naive datetimes are refused on the way in (``ValueError``): a naive instant is
    ambiguous. SQLite keeps no zone, so values are stored as naive UTC there (in a
    fixed-width format, so comparisons stay correct) and marked UTC on the way out.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if not isinstance(value, datetime):
            raise TypeError(f"expected a datetime, got {type(value).__name__}")
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"expected a timezone-aware datetime, got naive {value!r}")
        utc = value.astimezone(UTC)
        if dialect.name == "sqlite":
            return utc.replace(tzinfo=None)
        return utc

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def _in(column: str, values: tuple[str, ...]) -> str:
    quoted = ", ".join(f"'{v}'" for v in values)
    return f"{column} IN ({quoted})"


class Base(DeclarativeBase):
    """Declarative base for every cctrace table."""

    type_annotation_map = {  # noqa: RUF012 - SQLAlchemy reads this class attribute
        datetime: UTCDateTime(),
        float: Double(),
        dict[str, Any]: JSON(),
        bytes: LargeBinary(),
    }


class StoreMetaRow(Base):
    """Key/value facts about this database (schema version, instance id)."""

    __tablename__ = "store_meta"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


class CameraRow(Base):
    """A camera, its position on the site plan and its ground calibration."""

    __tablename__ = "cameras"

    id: Mapped[str] = mapped_column(String(128), primary_key=True)
    name: Mapped[str] = mapped_column(String(256))
    lat: Mapped[float | None]
    lon: Mapped[float | None]
    x_m: Mapped[float | None]
    y_m: Mapped[float | None]
    homography: Mapped[Any | None] = mapped_column(JSON, nullable=True)
    config: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class FootageRow(Base):
    """One video file of one camera and how far its ingest got."""

    __tablename__ = "footage_files"
    __table_args__ = (
        UniqueConstraint("camera_id", "sha256", name="uq_footage_camera_sha256"),
        CheckConstraint(_in("status", FOOTAGE_STATUSES), name="ck_footage_status"),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    camera_id: Mapped[str] = mapped_column(ForeignKey("cameras.id"), index=True)
    path: Mapped[str] = mapped_column(Text)
    sha256: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(BigInteger)
    start_time: Mapped[datetime]
    duration_s: Mapped[float]
    fps: Mapped[float]
    status: Mapped[str] = mapped_column(String(16), default="pending")
    progress_offset_s: Mapped[float] = mapped_column(default=0.0)
    checkpoint_state: Mapped[bytes | None]
    error: Mapped[str | None] = mapped_column(Text)
    frames_decoded: Mapped[int] = mapped_column(BigInteger, default=0)
    frames_failed: Mapped[int] = mapped_column(BigInteger, default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    start_source: Mapped[str | None] = mapped_column(String(16))
    """Where ``start_time`` came from: config, filename, container or previous."""
    run_owner: Mapped[str | None] = mapped_column(String(160))
    """The process ingesting the file (``host:pid:start``) while it is ``running``."""
    heartbeat_at: Mapped[datetime | None]
    """When that process last said it was alive."""


class FootageFailureRow(Base):
    """A footage file that could not even be registered (unreadable, no start time...).

    Files that fail once registered keep their ``footage_files`` row (status ``failed``);
    these have no fingerprint or start time to make one, so they are listed here until
    they ingest.
    """

    __tablename__ = "footage_failures"
    __table_args__ = (UniqueConstraint("camera_id", "path", name="uq_footage_failure_path"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    camera_id: Mapped[str] = mapped_column(ForeignKey("cameras.id"), index=True)
    path: Mapped[str] = mapped_column(Text)
    size: Mapped[int | None] = mapped_column(BigInteger)
    error: Mapped[str] = mapped_column(Text)
    failed_at: Mapped[datetime] = mapped_column(default=utcnow)


class TrackletRow(Base):
    """One person, one camera, one continuous track."""

    __tablename__ = "tracklets"
    __table_args__ = (
        UniqueConstraint("footage_id", "track_id", name="uq_tracklet_footage_track"),
        Index("ix_tracklets_time", "start_time", "end_time"),
        Index("ix_tracklets_camera_time", "camera_id", "start_time"),
        CheckConstraint(_in("mask_status", MASK_STATUSES), name="ck_tracklet_mask"),
        CheckConstraint("start_time <= end_time", name="ck_tracklet_span"),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    camera_id: Mapped[str] = mapped_column(ForeignKey("cameras.id"))
    footage_id: Mapped[int] = mapped_column(ForeignKey("footage_files.id", ondelete="CASCADE"))
    track_id: Mapped[int] = mapped_column(BigInteger)
    start_time: Mapped[datetime]
    end_time: Mapped[datetime]
    n_points: Mapped[int] = mapped_column(Integer)
    mask_status: Mapped[str] = mapped_column(String(16))
    mask_worn_votes: Mapped[int] = mapped_column(Integer, default=0)
    mask_not_worn_votes: Mapped[int] = mapped_column(Integer, default=0)
    snapshot_path: Mapped[str | None] = mapped_column(Text)
    best_face_quality: Mapped[float | None]


class TrackPointRow(Base):
    """A tracklet's box and ground position in one analysed frame."""

    __tablename__ = "track_points"

    tracklet_id: Mapped[int] = mapped_column(
        ForeignKey("tracklets.id", ondelete="CASCADE"), primary_key=True
    )
    frame_index: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    timestamp: Mapped[datetime]
    x1: Mapped[float]
    y1: Mapped[float]
    x2: Mapped[float]
    y2: Mapped[float]
    # Nullable: SQLite stores NaN as NULL, and an unmapped foot point is NaN.
    ground_x: Mapped[float | None]
    ground_y: Mapped[float | None]
    confidence: Mapped[float]


class FaceEmbeddingRow(Base):
    """A face crop of a tracklet and its L2-normalised float32 embedding."""

    __tablename__ = "face_embeddings"
    # AUTOINCREMENT on SQLite: ids are never reused, so the vector index's
    # "everything up to max id" bookkeeping stays sound after deletions.
    __table_args__ = ({"sqlite_autoincrement": True},)

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    tracklet_id: Mapped[int] = mapped_column(
        ForeignKey("tracklets.id", ondelete="CASCADE"), index=True
    )
    frame_index: Mapped[int] = mapped_column(BigInteger)
    timestamp: Mapped[datetime] = mapped_column(index=True)
    quality: Mapped[float]
    mask_probability: Mapped[float | None]
    vector: Mapped[bytes]
    crop_path: Mapped[str | None] = mapped_column(Text)


class BodyEmbeddingRow(Base):
    """A tracklet's body appearance embedding (mean of its clean-box samples), encrypted."""

    __tablename__ = "body_embeddings"

    tracklet_id: Mapped[int] = mapped_column(
        ForeignKey("tracklets.id", ondelete="CASCADE"), primary_key=True
    )
    model: Mapped[str] = mapped_column(String(64))
    """The body embedder's type (embeddings of different models are not comparable)."""
    vector: Mapped[bytes]


class LooseFaceRow(Base):
    """A face no tracked person surely holds (ambiguous, or in nobody's head region):
    searchable as "face seen at camera X, time T, box B", never given to a tracklet.

    The embedding is encrypted like a tracklet's face vectors (kind ``embedding``), bound
    to its footage file and frame. One row per (footage, frame, box): a retried ingest
    batch adds nothing twice.
    """

    __tablename__ = "loose_faces"
    __table_args__ = (
        UniqueConstraint(
            "footage_id", "frame_index", "x1", "y1", "x2", "y2", name="uq_loose_face_frame_box"
        ),
        Index("ix_loose_faces_time", "timestamp"),
        Index("ix_loose_faces_camera_time", "camera_id", "timestamp"),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    camera_id: Mapped[str] = mapped_column(ForeignKey("cameras.id", ondelete="CASCADE"))
    footage_id: Mapped[int] = mapped_column(ForeignKey("footage_files.id", ondelete="CASCADE"))
    frame_index: Mapped[int] = mapped_column(BigInteger)
    timestamp: Mapped[datetime]
    x1: Mapped[float]
    y1: Mapped[float]
    x2: Mapped[float]
    y2: Mapped[float]
    score: Mapped[float]
    """Face detector score."""
    quality: Mapped[float]
    fate: Mapped[str] = mapped_column(String(16))
    """``ambiguous`` or ``no_person`` (see :class:`cctrace.ingest.face_assignment.FaceFate`)."""
    vector: Mapped[bytes]


class EncounterRow(Base):
    """Two co-present tracklets of one camera and how close they came."""

    __tablename__ = "encounters"
    __table_args__ = (
        UniqueConstraint(
            "tracklet_a_id", "tracklet_b_id", "start_time", name="uq_encounter_pair_start"
        ),
        CheckConstraint("tracklet_a_id < tracklet_b_id", name="ck_encounter_order"),
        Index("ix_encounters_b", "tracklet_b_id"),
        Index("ix_encounters_time", "start_time", "end_time"),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    camera_id: Mapped[str] = mapped_column(ForeignKey("cameras.id"))
    footage_id: Mapped[int] = mapped_column(ForeignKey("footage_files.id", ondelete="CASCADE"))
    tracklet_a_id: Mapped[int] = mapped_column(ForeignKey("tracklets.id", ondelete="CASCADE"))
    tracklet_b_id: Mapped[int] = mapped_column(ForeignKey("tracklets.id", ondelete="CASCADE"))
    start_time: Mapped[datetime]
    end_time: Mapped[datetime]
    seconds_within_1m: Mapped[float | None]
    seconds_within_2m: Mapped[float | None]
    seconds_within_3m: Mapped[float | None]
    seconds_by_band: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    """Every band the encounter builder computed: {"1.0": seconds, ...}."""
    min_distance_m: Mapped[float]
    min_distance_at: Mapped[datetime]


class CaseRow(Base):
    """A case: every search belongs to one, with a legal basis."""

    __tablename__ = "cases"
    __table_args__ = (CheckConstraint(_in("status", CASE_STATUSES), name="ck_case_status"),)

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by: Mapped[str] = mapped_column(String(128))
    legal_basis: Mapped[str] = mapped_column(Text)
    notes: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(16), default="open")
    team: Mapped[str] = mapped_column(String(64), default="default")
    window_from: Mapped[datetime | None]
    window_to: Mapped[datetime | None]
    parent_case_id: Mapped[str | None] = mapped_column(String(64))
    closed_at: Mapped[datetime | None]


class CaseSightingRow(Base):
    """A tracklet matched to a case, with the machine score and any human decision."""

    __tablename__ = "case_sightings"
    __table_args__ = (CheckConstraint(_in("status", SIGHTING_STATUSES), name="ck_sighting_status"),)

    case_id: Mapped[str] = mapped_column(
        ForeignKey("cases.id", ondelete="CASCADE"), primary_key=True
    )
    tracklet_id: Mapped[int] = mapped_column(
        ForeignKey("tracklets.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    score: Mapped[float]
    status: Mapped[str] = mapped_column(String(16))
    decided_by: Mapped[str | None] = mapped_column(String(128))
    decided_at: Mapped[datetime | None]
    result_digest: Mapped[str | None] = mapped_column(String(64))
    """For an export: sha256 of the trace result the request and approval are about."""
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class AuditRow(Base):
    """One append-only, hash-chained audit entry.

    ``id`` is assigned by the writer (previous id + 1) because it is part of the
    hashed content; ``prev_hash`` is unique, so two concurrent writers cannot both
    extend the same head: one fails and retries.
    """

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=False)
    timestamp: Mapped[datetime]
    actor: Mapped[str] = mapped_column(String(128))
    action: Mapped[str] = mapped_column(String(64))
    case_id: Mapped[str | None] = mapped_column(String(64), index=True)
    query: Mapped[dict[str, Any]] = mapped_column(JSON)
    result: Mapped[dict[str, Any]] = mapped_column(JSON)
    prev_hash: Mapped[str] = mapped_column(String(64), unique=True)
    hash: Mapped[str] = mapped_column(String(64))


class UserRow(Base):
    """A person who signs in to the web app, with one role and one team."""

    __tablename__ = "users"
    __table_args__ = (CheckConstraint(_in("role", ROLES), name="ck_user_role"),)

    username: Mapped[str] = mapped_column(String(128), primary_key=True)
    password_hash: Mapped[str] = mapped_column(Text)
    role: Mapped[str] = mapped_column(String(16))
    team: Mapped[str] = mapped_column(String(64), default="default")
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class WebSessionRow(Base):
    """A signed-in session; only the sha256 of its token is stored."""

    __tablename__ = "web_sessions"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    username: Mapped[str] = mapped_column(
        ForeignKey("users.username", ondelete="CASCADE"), index=True
    )
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(index=True)


class ApprovalRow(Base):
    """A request for an export or an un-blurred view, and a supervisor's decision."""

    __tablename__ = "approvals"
    __table_args__ = (
        CheckConstraint(_in("kind", APPROVAL_KINDS), name="ck_approval_kind"),
        CheckConstraint(_in("status", APPROVAL_STATUSES), name="ck_approval_status"),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    case_id: Mapped[str] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    tracklet_id: Mapped[int | None] = mapped_column(BigInteger)
    reason: Mapped[str] = mapped_column(Text)
    requested_by: Mapped[str] = mapped_column(String(128))
    requested_at: Mapped[datetime] = mapped_column(default=utcnow)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    decided_by: Mapped[str | None] = mapped_column(String(128))
    decided_at: Mapped[datetime | None]
    result_digest: Mapped[str | None] = mapped_column(String(64))
    """For an export: sha256 of the trace result the request and approval are about."""


class TraceJobRow(Base):
    """A trace the web app was asked to run: queued, claimed by one worker (``claimed_by``,
    kept alive by ``heartbeat_at``), then done or failed. Every web process takes work
    from this one table, so jobs outlive a restart and several workers share them."""

    __tablename__ = "trace_jobs"
    __table_args__ = (
        CheckConstraint(_in("status", JOB_STATUSES), name="ck_trace_job_status"),
        Index("ix_trace_jobs_status_created", "status", "created_at"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    case_id: Mapped[str] = mapped_column(String(64), index=True)
    params: Mapped[dict[str, Any]] = mapped_column(JSON)
    requested_by: Mapped[str] = mapped_column(String(128), index=True)
    status: Mapped[str] = mapped_column(String(16), default="queued")
    stage: Mapped[str] = mapped_column(String(200), default="")
    progress: Mapped[float] = mapped_column(default=0.0)
    error: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    claimed_by: Mapped[str | None] = mapped_column(String(200))
    heartbeat_at: Mapped[datetime | None]


class SigninAttemptRow(Base):
    """One counted sign-in attempt under one limiter key (``pair:``, ``addr:``, ``user:``
    or ``noted:``), shared by every web process; rows older than the window are pruned."""

    __tablename__ = "signin_attempts"
    __table_args__ = (Index("ix_signin_attempts_key_at", "key", "attempted_at"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    key: Mapped[str] = mapped_column(String(300))
    attempted_at: Mapped[datetime] = mapped_column(index=True)


class ContactStatusRow(Base):
    """What a tracer did about one contact of a case: to call, called, tested, isolated or
    not reachable, with a short note.

    Keyed by the contact's tracklets (a tracked person in one camera; database ids that a
    re-trace of the case finds again), one row per tracklet, so the status follows the
    person whatever number the next result gives them (see
    :mod:`cctrace.store._contacts`). No foreign key to ``tracklets``: the status outlives a
    purged tracklet until the case itself expires.
    """

    __tablename__ = "contact_statuses"
    __table_args__ = (CheckConstraint(_in("status", CONTACT_STATUSES), name="ck_contact_status"),)

    case_id: Mapped[str] = mapped_column(
        ForeignKey("cases.id", ondelete="CASCADE"), primary_key=True
    )
    tracklet_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    status: Mapped[str] = mapped_column(String(16))
    note: Mapped[str] = mapped_column(Text, default="")
    updated_by: Mapped[str] = mapped_column(String(128))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
