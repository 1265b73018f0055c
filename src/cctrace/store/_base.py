"""The shared base of the store: engine, connection settings, the data cipher, the unit
of work, and :class:`Repository`, the parent of every repository over that base."""

from __future__ import annotations

import json
import logging
import math
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError, OperationalError, SQLAlchemyError
from sqlalchemy.orm import Session

from cctrace.config import PoolConfig
from cctrace.errors import CctraceError, StoreError
from cctrace.privacy.crypto import DataCipher, load_data_cipher

from .audit_chain import ANCHOR_FILE, canonical_json
from .migrations import current_revision, head_revision, migrate
from .records import InvalidInputError
from .schema import StoreMetaRow
from .time_bounds import LONGEST_KEY, measure_longest

log = logging.getLogger(__name__)

SQLITE_BUSY_TIMEOUT_MS = 30_000
IN_CHUNK = 500
"""Ids per ``IN (...)`` clause; keeps us well under every driver's parameter limit."""

T = TypeVar("T")
R = TypeVar("R")
RETRIES = 5
"""Attempts of a write that conflicts with a concurrent writer."""


def default_url(data_dir: Path) -> str:
    """The default SQLite database inside ``data_dir``."""
    return f"sqlite:///{(data_dir / 'cctrace.db').resolve()}"


def chunks(items: Sequence[T], size: int = IN_CHUNK) -> Iterator[Sequence[T]]:
    """Consecutive slices of at most ``size`` items."""
    for i in range(0, len(items), size):
        yield items[i : i + size]


def unique_ints(ids: Iterable[int]) -> list[int]:
    """Distinct ids in first-seen order, as Python ints."""
    return list(dict.fromkeys(int(i) for i in ids))


def require_aware(value: datetime, name: str) -> datetime:
    """``value`` if it is a timezone-aware datetime, else :class:`InvalidInputError`."""
    if not isinstance(value, datetime):
        raise InvalidInputError(f"{name}: expected a datetime, got {type(value).__name__}")
    if value.tzinfo is None or value.utcoffset() is None:
        raise InvalidInputError(f"{name}: expected a timezone-aware datetime, got {value!r}")
    return value


def require_finite(value: float, name: str) -> float:
    """``value`` as a float if finite, else :class:`InvalidInputError`."""
    try:
        out = float(value)
    except (TypeError, ValueError) as exc:
        raise InvalidInputError(f"{name}: expected a number, got {value!r}") from exc
    if not math.isfinite(out):
        raise InvalidInputError(f"{name}: expected a finite number, got {out}")
    return out


def json_dict(value: Mapping[str, Any], name: str) -> dict[str, Any]:
    """``value`` as a plain JSON dict (canonical round trip), else :class:`InvalidInputError`."""
    try:
        out = json.loads(canonical_json(dict(value)))
    except (TypeError, ValueError) as exc:
        raise InvalidInputError(f"{name}: expected JSON-serialisable values: {exc}") from exc
    if not isinstance(out, dict):  # pragma: no cover - dict() above guarantees it
        raise InvalidInputError(f"{name}: expected a mapping")
    return out


def check_text(value: str, name: str, max_len: int) -> str:
    """``value`` if it is 1..``max_len`` characters, not blank; else :class:`InvalidInputError`."""
    if not isinstance(value, str) or not value.strip() or len(value) > max_len:
        raise InvalidInputError(f"{name}: expected 1..{max_len} characters, got {value!r}")
    return value


def retry_on_conflict(fn: Callable[[], R]) -> R:
    """``fn()``, run again (up to :data:`RETRIES` times) when it fails on a constraint
    conflict with a concurrent writer (outside a unit of work only: inside one the whole
    transaction is aborted)."""
    for attempt in range(RETRIES):
        try:
            return fn()
        except StoreError as exc:
            if attempt == RETRIES - 1 or not isinstance(exc.__cause__, IntegrityError):
                raise
            log.debug("write conflict, retrying (%d): %s", attempt + 1, exc)
    raise AssertionError("unreachable")  # pragma: no cover


def _configure_sqlite(engine: Engine) -> None:
    """WAL, foreign keys, busy timeout, and explicit BEGIN so writers can take the lock
    up front (``BEGIN IMMEDIATE``) instead of failing on a read-to-write upgrade."""

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # we emit BEGIN ourselves
        cur = dbapi_conn.cursor()
        try:
            cur.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
            cur.execute("PRAGMA journal_mode = WAL")
            cur.execute("PRAGMA synchronous = FULL")
            cur.execute("PRAGMA foreign_keys = ON")
        finally:
            cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        mode = conn.get_execution_options().get("cctrace_sqlite_begin", "DEFERRED")
        conn.exec_driver_sql(f"BEGIN {mode}")


@dataclass(frozen=True)
class _Unit:
    """An open unit of work: its session and what runs after it commits."""

    session: Session
    after_commit: list[Callable[[], None]]


class StoreBase:
    """Owns the engine and the data cipher, and hands out read and write transactions.

    ``cipher`` encrypts face embeddings and crops at rest; by default it is loaded by
    :func:`~cctrace.privacy.crypto.load_data_cipher` (``$CCTRACE_DATA_KEY``, ...).
    ``audit_anchor`` is the audit checkpoint file (default ``<data_dir>/audit/anchors.jsonl``)
    and ``audit_syslog`` sends each checkpoint to syslog as well. ``pool`` sizes the
    connection pool on PostgreSQL (``storage.pool`` of the site).
    """

    def __init__(
        self,
        data_dir: Path | str,
        *,
        url: str | None = None,
        echo: bool = False,
        cipher: DataCipher | None = None,
        audit_anchor: Path | str | None = None,
        audit_syslog: bool = False,
        pool: PoolConfig | None = None,
    ):
        self.data_dir = Path(data_dir).resolve()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.cipher = cipher if cipher is not None else load_data_cipher(self.data_dir)
        self.audit_anchor_path = (
            Path(audit_anchor).expanduser().resolve()
            if audit_anchor is not None
            else self.data_dir / ANCHOR_FILE
        )
        """The file audit checkpoints are appended to (outside the database)."""
        self.audit_syslog = audit_syslog
        """Whether each checkpoint also goes to syslog."""
        self.url = url or default_url(self.data_dir)
        try:
            parsed = make_url(self.url)
        except SQLAlchemyError as exc:
            raise StoreError(f"expected a database URL, got {self.url!r}: {exc}") from exc
        self.dialect = parsed.get_backend_name()
        self.safe_url = parsed.render_as_string(hide_password=True)
        """The URL with any password masked (for messages and logs)."""
        kwargs: dict[str, Any] = {"echo": echo}
        if self.dialect == "sqlite":
            kwargs["connect_args"] = {"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000}
        else:
            pool = pool or PoolConfig()
            kwargs.update(
                pool_pre_ping=True,
                pool_size=pool.size,
                max_overflow=pool.max_overflow,
                pool_timeout=pool.timeout_s,
                pool_recycle=pool.recycle_s,
            )
        try:
            self._engine = create_engine(self.url, **kwargs)
        except (SQLAlchemyError, ImportError) as exc:
            raise StoreError(f"cannot create a database engine for {parsed!r}: {exc}") from exc
        self._write_engine: Engine = self._engine
        if self.dialect == "sqlite":
            _configure_sqlite(self._engine)
            self._write_engine = self._engine.execution_options(cctrace_sqlite_begin="IMMEDIATE")
        self._unit: ContextVar[_Unit | None] = ContextVar(f"cctrace_unit_{id(self)}", default=None)
        self.instance_id = self._init_schema()
        log.info("store open: %s (instance %s)", parsed.render_as_string(), self.instance_id)

    @property
    def engine(self) -> Engine:
        """The SQLAlchemy engine (for maintenance and tests; application code uses methods)."""
        return self._engine

    def _init_schema(self) -> str:
        """Migrate the schema to the newest revision, then read or create the instance id."""
        try:
            with self._engine.connect() as conn:
                at_head = current_revision(conn) == head_revision()
            if not at_head:
                with self._write_engine.begin() as conn:
                    outcome = migrate(conn, self.safe_url)
                if outcome.changed and (outcome.before or outcome.legacy_version):
                    log.warning(
                        "upgraded the database at %s from %s to revision %s",
                        self.safe_url,
                        f"schema {outcome.legacy_version}"
                        if outcome.legacy_version
                        else f"revision {outcome.before}",
                        outcome.after,
                    )
        except StoreError:
            raise
        except SQLAlchemyError as exc:
            raise StoreError(
                f"cannot create or upgrade the schema at {self.safe_url!r}: {exc}"
            ) from exc
        self._ensure_longest_key()
        for attempt in range(2):
            try:
                with self._write() as s:
                    row = s.get(StoreMetaRow, "instance_id")
                    if row is not None:
                        return row.value
                    instance = uuid.uuid4().hex
                    s.add(StoreMetaRow(key="instance_id", value=instance))
                    return instance
            except StoreError as exc:
                # Another process initialised the same database at the same moment.
                if attempt == 0 and isinstance(exc.__cause__, IntegrityError):
                    continue
                raise
        raise StoreError("unreachable")  # pragma: no cover

    def _ensure_longest_key(self) -> None:
        """Create the longest-tracklet key (measured once from the table) if missing."""
        with self._read() as s:
            if s.get(StoreMetaRow, LONGEST_KEY) is not None:
                return
        try:
            with self._write() as s:
                if s.get(StoreMetaRow, LONGEST_KEY) is None:
                    s.add(StoreMetaRow(key=LONGEST_KEY, value=repr(measure_longest(s))))
        except StoreError as exc:
            if not isinstance(exc.__cause__, IntegrityError):
                raise  # another process created it at the same moment: nothing to do

    @contextmanager
    def unit_of_work(self) -> Iterator[None]:
        """One transaction for every store call inside the block: they commit together
        when the block ends, or none of them does (an exception rolls all back).

        The web app wraps an action and its audit entry in one, so a change is never
        stored without its audit entry (nor an entry without its change). Nested blocks
        join the outer one. Work registered with :meth:`_after_commit` (audit
        checkpoints outside the database) runs once the transaction has committed."""
        if self._unit.get() is not None:
            yield
            return
        pending: list[Callable[[], None]] = []
        with self._session(self._write_engine) as s:
            token = self._unit.set(_Unit(s, pending))
            try:
                yield
            finally:
                self._unit.reset(token)
        for action in pending:
            action()

    @property
    def in_unit_of_work(self) -> bool:
        """Whether a :meth:`unit_of_work` block is open in this thread/context."""
        return self._unit.get() is not None

    def _after_commit(self, action: Callable[[], None]) -> None:
        """Run ``action`` after the open unit of work commits (at once when none is open)."""
        unit = self._unit.get()
        if unit is None:
            action()
        else:
            unit.after_commit.append(action)

    @contextmanager
    def _write(self) -> Iterator[Session]:
        """A write transaction: commits on success, rolls back on any exception (inside
        a :meth:`unit_of_work`, its session: the commit waits for the block's end)."""
        unit = self._unit.get()
        if unit is not None:
            with self._store_errors():
                yield unit.session
                unit.session.flush()  # constraint errors surface here, as outside a unit
            return
        with self._session(self._write_engine) as s:
            yield s

    @contextmanager
    def _read(self) -> Iterator[Session]:
        """A read transaction (inside a :meth:`unit_of_work`, its session: reads see the
        block's own uncommitted writes)."""
        unit = self._unit.get()
        if unit is not None:
            with self._store_errors():
                yield unit.session
            return
        with self._session(self._engine) as s:
            yield s

    @contextmanager
    def _session(self, engine: Engine) -> Iterator[Session]:
        with (
            self._store_errors(),
            Session(engine, expire_on_commit=False) as session,
            session.begin(),
        ):
            yield session

    @contextmanager
    def _store_errors(self) -> Iterator[None]:
        """Database errors as :class:`StoreError` (the cause kept for conflict retries)."""
        try:
            yield
        except CctraceError:
            raise
        except IntegrityError as exc:
            raise StoreError(f"database constraint violated: {exc.orig}") from exc
        except OperationalError as exc:
            raise StoreError(
                f"database unavailable or locked ({self.safe_url}): {exc.orig}"
            ) from exc
        except SQLAlchemyError as exc:
            raise StoreError(f"database error: {exc}") from exc

    def abspath(self, relpath: str | None) -> str | None:
        """Absolute path of a file stored relative to the data directory."""
        if relpath is None:
            return None
        return str(self.data_dir / relpath)

    def close(self) -> None:
        """Release every pooled connection."""
        self._engine.dispose()


class Repository:
    """One part of the store (cases, footage, the audit log, ...) over the shared
    :class:`StoreBase`: every repository of a :class:`~cctrace.store.Store` reads and
    writes through the same engine and the same open unit of work, so calls on several
    repositories inside ``store.unit_of_work()`` commit together or not at all.

    Repositories do not import each other; one that needs another's writes (contact
    statuses append audit entries) is handed it by the store that composes them.
    """

    def __init__(self, base: StoreBase) -> None:
        self._base = base

    def _write(self) -> AbstractContextManager[Session]:
        """A write transaction of the shared base (see :meth:`StoreBase._write`)."""
        return self._base._write()

    def _read(self) -> AbstractContextManager[Session]:
        """A read transaction of the shared base (see :meth:`StoreBase._read`)."""
        return self._base._read()

    def _unit_of_work(self) -> AbstractContextManager[None]:
        """The shared unit of work (joins the open one; see :meth:`StoreBase.unit_of_work`)."""
        return self._base.unit_of_work()

    def _after_commit(self, action: Callable[[], None]) -> None:
        """Run ``action`` once the open unit of work commits (at once when none is open)."""
        self._base._after_commit(action)

    @property
    def cipher(self) -> DataCipher:
        """The shared data cipher (face vectors, crops, checkpoints at rest)."""
        return self._base.cipher

    @property
    def data_dir(self) -> Path:
        """The shared data directory (derived files are stored relative to it)."""
        return self._base.data_dir

    @property
    def dialect(self) -> str:
        """The database dialect (``sqlite`` or ``postgresql``)."""
        return self._base.dialect

    @property
    def in_unit_of_work(self) -> bool:
        """Whether a unit of work is open on the shared base in this thread/context."""
        return self._base.in_unit_of_work

    def abspath(self, relpath: str | None) -> str | None:
        """Absolute path of a file stored relative to the data directory."""
        return self._base.abspath(relpath)
