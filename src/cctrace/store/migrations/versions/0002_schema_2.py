"""Schema 2 (issue 4): cases gain team, window, parent case and closing time; users,
web sessions and approvals.

Revision ID: 0002
Revises: 0001
Create Date: 2026-01-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from cctrace.store.migrations._helpers import Id, Timestamp

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

CASE_COLUMNS = ("team", "window_from", "window_to", "parent_case_id", "closed_at")


def upgrade() -> None:
    """Add the case columns and the sign-in and approval tables."""
    op.add_column(
        "cases",
        sa.Column("team", sa.String(64), nullable=False, server_default="default"),
    )
    op.add_column("cases", sa.Column("window_from", Timestamp, nullable=True))
    op.add_column("cases", sa.Column("window_to", Timestamp, nullable=True))
    op.add_column("cases", sa.Column("parent_case_id", sa.String(64), nullable=True))
    op.add_column("cases", sa.Column("closed_at", Timestamp, nullable=True))
    op.create_table(
        "users",
        sa.Column("username", sa.String(128), nullable=False),
        sa.Column("password_hash", sa.Text(), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("team", sa.String(64), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", Timestamp, nullable=False),
        sa.CheckConstraint(
            "role IN ('investigator', 'supervisor', 'auditor', 'admin')", name="ck_user_role"
        ),
        sa.PrimaryKeyConstraint("username"),
    )
    op.create_table(
        "web_sessions",
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("username", sa.String(128), nullable=False),
        sa.Column("csrf_token", sa.String(64), nullable=False),
        sa.Column("created_at", Timestamp, nullable=False),
        sa.Column("expires_at", Timestamp, nullable=False),
        sa.ForeignKeyConstraint(["username"], ["users.username"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("token_hash"),
    )
    op.create_index("ix_web_sessions_expires_at", "web_sessions", ["expires_at"])
    op.create_index("ix_web_sessions_username", "web_sessions", ["username"])
    op.create_table(
        "approvals",
        sa.Column("id", Id, autoincrement=True, nullable=False),
        sa.Column("case_id", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("tracklet_id", sa.BigInteger(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("requested_by", sa.String(128), nullable=False),
        sa.Column("requested_at", Timestamp, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("decided_by", sa.String(128), nullable=True),
        sa.Column("decided_at", Timestamp, nullable=True),
        sa.CheckConstraint("kind IN ('export', 'unblur')", name="ck_approval_kind"),
        sa.CheckConstraint(
            "status IN ('pending', 'approved', 'denied')", name="ck_approval_status"
        ),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_approvals_case_id", "approvals", ["case_id"])


def downgrade() -> None:
    """Drop the schema-2 tables and case columns."""
    for table in ("approvals", "web_sessions", "users"):
        op.drop_table(table)
    for column in CASE_COLUMNS:
        op.drop_column("cases", column)
