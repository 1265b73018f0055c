"""The sign-in rate limiter in the database (issue 11, item 4): ``signin_attempts`` holds
the attempts of the current window under each limiter key, so every web process (uvicorn
workers, hosts) counts against the same limits.

Revision ID: 0007_signin_attempts
Revises: 0006_contact_status
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from cctrace.store.migrations._helpers import Id, Timestamp

revision = "0007_signin_attempts"
down_revision = "0006_contact_status"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create ``signin_attempts`` and its indexes."""
    op.create_table(
        "signin_attempts",
        sa.Column("id", Id, autoincrement=True, nullable=False),
        sa.Column("key", sa.String(300), nullable=False),
        sa.Column("attempted_at", Timestamp, nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_signin_attempts_key_at", "signin_attempts", ["key", "attempted_at"])
    op.create_index("ix_signin_attempts_attempted_at", "signin_attempts", ["attempted_at"])


def downgrade() -> None:
    """Drop ``signin_attempts``."""
    op.drop_table("signin_attempts")
