"""Schema migrations with Alembic, run by the store itself whenever it opens.

Revisions live in ``versions/`` (shipped with the package): ``0001`` is schema 1 as
cctrace 0.1 created it, each later revision one change. :func:`migrate` brings any
database to the newest (``head``) inside the caller's transaction, holding a lock
(SQLite ``BEGIN IMMEDIATE`` from the store's write engine; a PostgreSQL advisory lock
here) so concurrent processes opening the same database migrate it once.

Databases from cctrace before Alembic record ``schema_version`` 1, 2 or 3 in
``store_meta``: they are stamped with the matching revision (:data:`LEGACY_REVISIONS`),
upgraded, and the old key is removed; ``alembic_version`` is the only record after that.
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util.exc import CommandError
from sqlalchemy import Connection, create_engine, inspect, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from cctrace.errors import StoreError

from ..schema import Base

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).resolve().parent
"""Alembic's script location (``env.py``, ``versions/``)."""

LEGACY_KEY = "schema_version"
"""The ``store_meta`` key cctrace used before Alembic."""

LEGACY_REVISIONS: dict[str, str] = {"1": "0001", "2": "0002", "3": "0003"}
"""Revision matching each legacy ``schema_version``. Columns and tables that schema 2
gained without a new number are added by ``0004`` only where missing."""

PG_LOCK_KEY = 0x6363_7472_6D69_6772
"""PostgreSQL advisory lock key held while migrating (``cctrmigr``)."""


@dataclass(frozen=True)
class MigrationOutcome:
    """What :func:`migrate` did."""

    before: str | None
    """Revision before (``None``: an empty database, or a legacy one)."""
    after: str
    """Revision after (always the head)."""
    legacy_version: str | None = None
    """The pre-Alembic ``schema_version`` the database had, if any."""

    @property
    def changed(self) -> bool:
        """Whether anything was created, stamped or upgraded."""
        return self.before != self.after


def alembic_config(connection: Connection | None = None) -> Config:
    """An Alembic config for cctrace's migrations, bound to ``connection`` if given."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR).replace("%", "%%"))
    config.attributes["connection"] = connection
    return config


@functools.cache
def script_directory() -> ScriptDirectory:
    """The revisions shipped with this cctrace (loaded once per process)."""
    return ScriptDirectory.from_config(alembic_config())


def head_revision() -> str:
    """The newest revision this cctrace knows."""
    head = script_directory().get_current_head()
    if head is None:  # pragma: no cover - the package always ships revisions
        raise StoreError("no schema migrations found")
    return head


def current_revision(connection: Connection) -> str | None:
    """The revision recorded in the database (``None`` if it has none)."""
    return MigrationContext.configure(connection).get_current_revision()


def legacy_version(connection: Connection) -> str | None:
    """The pre-Alembic ``store_meta.schema_version``, if the database has one."""
    if not inspect(connection).has_table("store_meta"):
        return None
    row = connection.execute(
        text("SELECT value FROM store_meta WHERE key = :key"), {"key": LEGACY_KEY}
    ).first()
    return None if row is None else str(row[0])


def migrate(connection: Connection, safe_url: str) -> MigrationOutcome:
    """Bring the database on ``connection`` to the head revision.

    ``connection`` must be in a transaction (the caller commits); on SQLite it should
    be the store's write engine (``BEGIN IMMEDIATE``) so a second process waits.
    Raises :class:`StoreError` for a database newer than this cctrace, an unknown legacy
    version, or cctrace tables with no version at all.
    """
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": PG_LOCK_KEY})
    head = head_revision()
    before = current_revision(connection)
    if before == head:
        return MigrationOutcome(before, head)
    config = alembic_config(connection)
    legacy: str | None = None
    if before is not None:
        try:
            script_directory().get_revision(before)
        except CommandError as exc:
            raise StoreError(
                f"the database at {safe_url!r} is at schema revision {before}, which this "
                f"cctrace does not know (newest here: {head}); upgrade cctrace"
            ) from exc
    else:
        legacy = legacy_version(connection)
        if legacy is not None:
            revision = LEGACY_REVISIONS.get(legacy)
            if revision is None:
                raise StoreError(
                    f"expected schema version {', '.join(LEGACY_REVISIONS)} or an Alembic "
                    f"revision, found schema version {legacy!r} in {safe_url!r}"
                )
            command.stamp(config, revision)
        else:
            present = set(inspect(connection).get_table_names()) & set(Base.metadata.tables)
            if present:
                raise StoreError(
                    f"the database at {safe_url!r} has cctrace tables "
                    f"({', '.join(sorted(present))}) but no schema version; refusing to "
                    "guess which migrations it needs"
                )
    command.upgrade(config, "head")
    if legacy is not None:
        connection.execute(text("DELETE FROM store_meta WHERE key = :key"), {"key": LEGACY_KEY})
    return MigrationOutcome(before, head, legacy)


@dataclass(frozen=True)
class SchemaStatus:
    """Where a database stands against the revisions this cctrace ships."""

    current: str | None
    """The Alembic revision it records (``None``: empty, or from before Alembic)."""
    head: str
    """The newest revision this cctrace knows."""
    legacy_version: str | None
    """The pre-Alembic ``schema_version``, if it still has one (not yet upgraded)."""

    @property
    def up_to_date(self) -> bool:
        """Whether opening a store would change nothing."""
        return self.current == self.head


def schema_status(url: str) -> SchemaStatus:
    """The schema status of the database at ``url``, read only (creates nothing; a
    SQLite file that does not exist reads as empty)."""
    parsed = make_url(url)
    database = parsed.database or ":memory:"
    sqlite_file = parsed.get_backend_name() == "sqlite" and database != ":memory:"
    if sqlite_file and not Path(database).exists():
        return SchemaStatus(None, head_revision(), None)
    engine = create_engine(parsed)
    try:
        with engine.connect() as conn:
            current = current_revision(conn)
            legacy = legacy_version(conn) if current is None else None
    except SQLAlchemyError as exc:
        raise StoreError(
            f"cannot read the schema of {parsed.render_as_string(hide_password=True)!r}: {exc}"
        ) from exc
    finally:
        engine.dispose()
    return SchemaStatus(current, head_revision(), legacy)
