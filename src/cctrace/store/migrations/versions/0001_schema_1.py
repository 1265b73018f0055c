"""Schema 1: cameras, footage, tracklets, track points, face embeddings, encounters,
cases, case sightings, the audit log and store_meta (cctrace 0.1).

Revision ID: 0001
Revises:
Create Date: 2026-01-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from cctrace.store.migrations._helpers import Id, Timestamp

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create the schema-1 tables."""
    op.create_table(
        "store_meta",
        sa.Column("key", sa.String(64), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("key"),
    )
    op.create_table(
        "cameras",
        sa.Column("id", sa.String(128), nullable=False),
        sa.Column("name", sa.String(256), nullable=False),
        sa.Column("lat", sa.Double(), nullable=True),
        sa.Column("lon", sa.Double(), nullable=True),
        sa.Column("x_m", sa.Double(), nullable=True),
        sa.Column("y_m", sa.Double(), nullable=True),
        sa.Column("homography", sa.JSON(), nullable=True),
        sa.Column("config", sa.JSON(), nullable=False),
        sa.Column("created_at", Timestamp, nullable=False),
        sa.Column("updated_at", Timestamp, nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "cases",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("created_at", Timestamp, nullable=False),
        sa.Column("created_by", sa.String(128), nullable=False),
        sa.Column("legal_basis", sa.Text(), nullable=False),
        sa.Column("notes", sa.Text(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.CheckConstraint("status IN ('open', 'closed')", name="ck_case_status"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "audit_log",
        sa.Column("id", Id, autoincrement=False, nullable=False),
        sa.Column("timestamp", Timestamp, nullable=False),
        sa.Column("actor", sa.String(128), nullable=False),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("case_id", sa.String(64), nullable=True),
        sa.Column("query", sa.JSON(), nullable=False),
        sa.Column("result", sa.JSON(), nullable=False),
        sa.Column("prev_hash", sa.String(64), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("prev_hash"),
    )
    op.create_index("ix_audit_log_case_id", "audit_log", ["case_id"])
    op.create_table(
        "footage_files",
        sa.Column("id", Id, autoincrement=True, nullable=False),
        sa.Column("camera_id", sa.String(128), nullable=False),
        sa.Column("path", sa.Text(), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("start_time", Timestamp, nullable=False),
        sa.Column("duration_s", sa.Double(), nullable=False),
        sa.Column("fps", sa.Double(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("progress_offset_s", sa.Double(), nullable=False),
        sa.Column("checkpoint_state", sa.LargeBinary(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("frames_decoded", sa.BigInteger(), nullable=False),
        sa.Column("frames_failed", sa.BigInteger(), nullable=False),
        sa.Column("created_at", Timestamp, nullable=False),
        sa.Column("updated_at", Timestamp, nullable=False),
        sa.CheckConstraint(
            "status IN ('pending', 'running', 'done', 'partial', 'failed')",
            name="ck_footage_status",
        ),
        sa.ForeignKeyConstraint(["camera_id"], ["cameras.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("camera_id", "sha256", name="uq_footage_camera_sha256"),
    )
    op.create_index("ix_footage_files_camera_id", "footage_files", ["camera_id"])
    op.create_table(
        "tracklets",
        sa.Column("id", Id, autoincrement=True, nullable=False),
        sa.Column("camera_id", sa.String(128), nullable=False),
        sa.Column("footage_id", Id, nullable=False),
        sa.Column("track_id", sa.BigInteger(), nullable=False),
        sa.Column("start_time", Timestamp, nullable=False),
        sa.Column("end_time", Timestamp, nullable=False),
        sa.Column("n_points", sa.Integer(), nullable=False),
        sa.Column("mask_status", sa.String(16), nullable=False),
        sa.Column("mask_worn_votes", sa.Integer(), nullable=False),
        sa.Column("mask_not_worn_votes", sa.Integer(), nullable=False),
        sa.Column("snapshot_path", sa.Text(), nullable=True),
        sa.Column("best_face_quality", sa.Double(), nullable=True),
        sa.CheckConstraint(
            "mask_status IN ('worn', 'not_worn', 'unknown')", name="ck_tracklet_mask"
        ),
        sa.CheckConstraint("start_time <= end_time", name="ck_tracklet_span"),
        sa.ForeignKeyConstraint(["camera_id"], ["cameras.id"]),
        sa.ForeignKeyConstraint(["footage_id"], ["footage_files.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("footage_id", "track_id", name="uq_tracklet_footage_track"),
    )
    op.create_index("ix_tracklets_camera_time", "tracklets", ["camera_id", "start_time"])
    op.create_index("ix_tracklets_time", "tracklets", ["start_time", "end_time"])
    op.create_table(
        "track_points",
        sa.Column("tracklet_id", Id, nullable=False),
        sa.Column("frame_index", sa.BigInteger(), nullable=False),
        sa.Column("timestamp", Timestamp, nullable=False),
        sa.Column("x1", sa.Double(), nullable=False),
        sa.Column("y1", sa.Double(), nullable=False),
        sa.Column("x2", sa.Double(), nullable=False),
        sa.Column("y2", sa.Double(), nullable=False),
        sa.Column("ground_x", sa.Double(), nullable=True),
        sa.Column("ground_y", sa.Double(), nullable=True),
        sa.Column("confidence", sa.Double(), nullable=False),
        sa.ForeignKeyConstraint(["tracklet_id"], ["tracklets.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("tracklet_id", "frame_index"),
    )
    op.create_table(
        "face_embeddings",
        sa.Column("id", Id, autoincrement=True, nullable=False),
        sa.Column("tracklet_id", Id, nullable=False),
        sa.Column("frame_index", sa.BigInteger(), nullable=False),
        sa.Column("timestamp", Timestamp, nullable=False),
        sa.Column("quality", sa.Double(), nullable=False),
        sa.Column("mask_probability", sa.Double(), nullable=True),
        sa.Column("vector", sa.LargeBinary(), nullable=False),
        sa.Column("crop_path", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["tracklet_id"], ["tracklets.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_face_embeddings_timestamp", "face_embeddings", ["timestamp"])
    op.create_index("ix_face_embeddings_tracklet_id", "face_embeddings", ["tracklet_id"])
    op.create_table(
        "encounters",
        sa.Column("id", Id, autoincrement=True, nullable=False),
        sa.Column("camera_id", sa.String(128), nullable=False),
        sa.Column("footage_id", Id, nullable=False),
        sa.Column("tracklet_a_id", Id, nullable=False),
        sa.Column("tracklet_b_id", Id, nullable=False),
        sa.Column("start_time", Timestamp, nullable=False),
        sa.Column("end_time", Timestamp, nullable=False),
        sa.Column("seconds_within_1m", sa.Double(), nullable=True),
        sa.Column("seconds_within_2m", sa.Double(), nullable=True),
        sa.Column("seconds_within_3m", sa.Double(), nullable=True),
        sa.Column("seconds_by_band", sa.JSON(), nullable=False),
        sa.Column("min_distance_m", sa.Double(), nullable=False),
        sa.Column("min_distance_at", Timestamp, nullable=False),
        sa.CheckConstraint("tracklet_a_id < tracklet_b_id", name="ck_encounter_order"),
        sa.ForeignKeyConstraint(["camera_id"], ["cameras.id"]),
        sa.ForeignKeyConstraint(["footage_id"], ["footage_files.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["tracklet_a_id"], ["tracklets.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["tracklet_b_id"], ["tracklets.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint(
            "tracklet_a_id", "tracklet_b_id", "start_time", name="uq_encounter_pair_start"
        ),
    )
    op.create_index("ix_encounters_b", "encounters", ["tracklet_b_id"])
    op.create_index("ix_encounters_time", "encounters", ["start_time", "end_time"])
    op.create_table(
        "case_sightings",
        sa.Column("case_id", sa.String(64), nullable=False),
        sa.Column("tracklet_id", Id, nullable=False),
        sa.Column("score", sa.Double(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("decided_by", sa.String(128), nullable=True),
        sa.Column("decided_at", Timestamp, nullable=True),
        sa.Column("updated_at", Timestamp, nullable=False),
        sa.CheckConstraint(
            "status IN ('accepted', 'needs_review', 'rejected')", name="ck_sighting_status"
        ),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["tracklet_id"], ["tracklets.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("case_id", "tracklet_id"),
    )
    op.create_index("ix_case_sightings_tracklet_id", "case_sightings", ["tracklet_id"])


def downgrade() -> None:
    """Drop every schema-1 table."""
    for table in (
        "case_sightings",
        "encounters",
        "face_embeddings",
        "track_points",
        "tracklets",
        "footage_files",
        "audit_log",
        "cases",
        "cameras",
        "store_meta",
    ):
        op.drop_table(table)
