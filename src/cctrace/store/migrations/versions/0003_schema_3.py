"""Schema 3 (issue 12): footage files record where their start time came from and which
process is ingesting them (owner, heartbeat); ``footage_failures`` lists files that
could not be registered.

Revision ID: 0003
Revises: 0002
Create Date: 2026-01-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from cctrace.store.migrations._helpers import Id, Timestamp

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

FOOTAGE_COLUMNS = ("start_source", "run_owner", "heartbeat_at")


def upgrade() -> None:
    """Add the footage columns and ``footage_failures``."""
    op.add_column("footage_files", sa.Column("start_source", sa.String(16), nullable=True))
    op.add_column("footage_files", sa.Column("run_owner", sa.String(160), nullable=True))
    op.add_column("footage_files", sa.Column("heartbeat_at", Timestamp, nullable=True))
    op.create_table(
        "footage_failures",
        sa.Column("id", Id, autoincrement=True, nullable=False),
        sa.Column("camera_id", sa.String(128), nullable=False),
        sa.Column("path", sa.Text(), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=True),
        sa.Column("error", sa.Text(), nullable=False),
        sa.Column("failed_at", Timestamp, nullable=False),
        sa.ForeignKeyConstraint(["camera_id"], ["cameras.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("camera_id", "path", name="uq_footage_failure_path"),
    )
    op.create_index("ix_footage_failures_camera_id", "footage_failures", ["camera_id"])


def downgrade() -> None:
    """Drop ``footage_failures`` and the footage columns."""
    op.drop_table("footage_failures")
    for column in FOOTAGE_COLUMNS:
        op.drop_column("footage_files", column)
