"""What tracers did about each contact (issue 13, item 5): ``contact_statuses`` holds a
status (to call, called, tested, isolated, not reachable) and a note per contact of a
case, keyed by the contact's tracklets; every change is also in the audit log.

Revision ID: 0006_contact_status
Revises: 0005
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from cctrace.store.migrations._helpers import Timestamp

revision = "0006_contact_status"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create ``contact_statuses``."""
    op.create_table(
        "contact_statuses",
        sa.Column("case_id", sa.String(64), nullable=False),
        sa.Column("tracklet_id", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("updated_by", sa.String(128), nullable=False),
        sa.Column("updated_at", Timestamp, nullable=False),
        sa.CheckConstraint(
            "status IN ('to_call', 'called', 'tested', 'isolated', 'not_reachable')",
            name="ck_contact_status",
        ),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("case_id", "tracklet_id"),
    )


def downgrade() -> None:
    """Drop ``contact_statuses``."""
    op.drop_table("contact_statuses")
