"""Column types the revisions share, frozen here so that later edits of
:mod:`cctrace.store.schema` cannot change what an old revision creates."""

from __future__ import annotations

import sqlalchemy as sa

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
"""BIGINT ids on PostgreSQL; INTEGER on SQLite so the column aliases the rowid."""

Timestamp = sa.DateTime(timezone=True)
"""Every datetime column (``UTCDateTime`` in the models adds only value conversion)."""


def has_table(name: str) -> bool:
    """Whether the database being migrated has table ``name``."""
    from alembic import op

    return sa.inspect(op.get_bind()).has_table(name)


def columns(table: str) -> set[str]:
    """The column names ``table`` has in the database being migrated."""
    from alembic import op

    return {c["name"] for c in sa.inspect(op.get_bind()).get_columns(table)}
