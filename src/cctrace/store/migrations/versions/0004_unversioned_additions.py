"""What schema 2 gained without a version number: the ``result_digest`` of case
sightings and approvals (exports bound to the approved result), ``body_embeddings`` and
``loose_faces``.

Older cctrace created missing tables on every open but never added these two columns, so
a legacy database may have any subset of them: each is added only if it is missing.

Revision ID: 0004
Revises: 0003
Create Date: 2026-01-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from cctrace.store.migrations._helpers import Id, Timestamp, columns, has_table

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

DIGEST_TABLES = ("case_sightings", "approvals")


def upgrade() -> None:
    """Add whichever of the columns and tables the database lacks."""
    for table in DIGEST_TABLES:
        if "result_digest" not in columns(table):
            op.add_column(table, sa.Column("result_digest", sa.String(64), nullable=True))
    if not has_table("body_embeddings"):
        op.create_table(
            "body_embeddings",
            sa.Column("tracklet_id", Id, nullable=False),
            sa.Column("model", sa.String(64), nullable=False),
            sa.Column("vector", sa.LargeBinary(), nullable=False),
            sa.ForeignKeyConstraint(["tracklet_id"], ["tracklets.id"], ondelete="CASCADE"),
            sa.PrimaryKeyConstraint("tracklet_id"),
        )
    if not has_table("loose_faces"):
        op.create_table(
            "loose_faces",
            sa.Column("id", Id, autoincrement=True, nullable=False),
            sa.Column("camera_id", sa.String(128), nullable=False),
            sa.Column("footage_id", Id, nullable=False),
            sa.Column("frame_index", sa.BigInteger(), nullable=False),
            sa.Column("timestamp", Timestamp, nullable=False),
            sa.Column("x1", sa.Double(), nullable=False),
            sa.Column("y1", sa.Double(), nullable=False),
            sa.Column("x2", sa.Double(), nullable=False),
            sa.Column("y2", sa.Double(), nullable=False),
            sa.Column("score", sa.Double(), nullable=False),
            sa.Column("quality", sa.Double(), nullable=False),
            sa.Column("fate", sa.String(16), nullable=False),
            sa.Column("vector", sa.LargeBinary(), nullable=False),
            sa.ForeignKeyConstraint(["camera_id"], ["cameras.id"], ondelete="CASCADE"),
            sa.ForeignKeyConstraint(["footage_id"], ["footage_files.id"], ondelete="CASCADE"),
            sa.PrimaryKeyConstraint("id"),
            sa.UniqueConstraint(
                "footage_id",
                "frame_index",
                "x1",
                "y1",
                "x2",
                "y2",
                name="uq_loose_face_frame_box",
            ),
            sqlite_autoincrement=True,
        )
        op.create_index("ix_loose_faces_camera_time", "loose_faces", ["camera_id", "timestamp"])
        op.create_index("ix_loose_faces_time", "loose_faces", ["timestamp"])


def downgrade() -> None:
    """Drop the columns and tables :func:`upgrade` adds."""
    op.drop_table("loose_faces")
    op.drop_table("body_embeddings")
    for table in DIGEST_TABLES:
        op.drop_column(table, "result_digest")
