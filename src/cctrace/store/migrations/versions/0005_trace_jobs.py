"""Trace jobs in the database (issue 11, item 4): ``trace_jobs`` holds every trace the web
app was asked to run, its progress and which worker claimed it, so jobs outlive a restart
and several web processes share one queue.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from cctrace.store.migrations._helpers import Timestamp

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create ``trace_jobs`` and its indexes."""
    op.create_table(
        "trace_jobs",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("case_id", sa.String(64), nullable=False),
        sa.Column("params", sa.JSON(), nullable=False),
        sa.Column("requested_by", sa.String(128), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("stage", sa.String(200), nullable=False),
        sa.Column("progress", sa.Double(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("created_at", Timestamp, nullable=False),
        sa.Column("started_at", Timestamp, nullable=True),
        sa.Column("finished_at", Timestamp, nullable=True),
        sa.Column("claimed_by", sa.String(200), nullable=True),
        sa.Column("heartbeat_at", Timestamp, nullable=True),
        sa.CheckConstraint(
            "status IN ('queued', 'running', 'done', 'failed')", name="ck_trace_job_status"
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_trace_jobs_case_id", "trace_jobs", ["case_id"])
    op.create_index("ix_trace_jobs_requested_by", "trace_jobs", ["requested_by"])
    op.create_index("ix_trace_jobs_status_created", "trace_jobs", ["status", "created_at"])


def downgrade() -> None:
    """Drop ``trace_jobs``."""
    op.drop_table("trace_jobs")
