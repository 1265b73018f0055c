"""Alembic environment for cctrace's schema.

cctrace runs migrations itself when a :class:`~cctrace.store.Store` opens (see
:mod:`cctrace.store.migrations`), passing its own connection, already inside the
transaction that holds the migration lock, in ``config.attributes["connection"]``.
Developers using the ``alembic`` command (``alembic.ini`` at the repository root) get an
engine from ``sqlalchemy.url`` or ``$CCTRACE_DATABASE_URL`` instead.
"""

from __future__ import annotations

import os

from alembic import context
from sqlalchemy import create_engine

from cctrace.store.schema import Base

config = context.config
target_metadata = Base.metadata


def _run(connection: object) -> None:
    context.configure(
        connection=connection,  # type: ignore[arg-type]
        target_metadata=target_metadata,
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    """Run the migrations on the caller's connection, or on one of our own."""
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    url = config.get_main_option("sqlalchemy.url") or os.environ.get("CCTRACE_DATABASE_URL")
    if not url:
        raise RuntimeError("set sqlalchemy.url in alembic.ini or $CCTRACE_DATABASE_URL")
    engine = create_engine(url)
    with engine.connect() as conn:
        _run(conn)
    engine.dispose()


if context.is_offline_mode():
    raise RuntimeError("cctrace migrations run online only")
run_migrations_online()
