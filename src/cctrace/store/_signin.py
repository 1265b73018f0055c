"""Sign-in attempts: the web app's rate limiter, kept in the database so every web
process (uvicorn workers, hosts) counts against the same limits.

Each counted attempt is one ``signin_attempts`` row per limiter key. Checking the
limits and recording an attempt happen in one transaction that holds a lock (a
transaction advisory lock on PostgreSQL, the write lock on SQLite), so parallel guesses
sent to different workers cannot all slip through between the check and the record.
Growth is bounded: every attempt first deletes the rows older than the window, and the
table never keeps more than :data:`MAX_SIGNIN_ROWS` rows (the oldest go first).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete, func, select, text
from sqlalchemy.orm import Session

from ._base import Repository
from .records import InvalidInputError
from .schema import SigninAttemptRow, utcnow

MAX_SIGNIN_ROWS = 100_000
"""Most attempt rows kept (3 per attempt): a flood within one window cannot grow the
table without bound; the oldest rows are dropped first."""
MAX_KEY_LENGTH = 300
_PG_SIGNIN_LOCK = 0x63637473  # "ccts": serialises limiter checks on PostgreSQL


def _check_keys(keys: dict[str, int]) -> None:
    for key, limit in keys.items():
        if not key or len(key) > MAX_KEY_LENGTH:
            raise InvalidInputError(f"limiter key: expected 1..{MAX_KEY_LENGTH} characters")
        if limit < 1:
            raise InvalidInputError(f"limiter limit of {key!r}: expected >= 1, got {limit}")


class SigninAttemptRepository(Repository):
    """The sign-in limiter's counters (``store.signin_attempts``)."""

    def _lock_signin(self, s: Session) -> None:
        if self.dialect == "postgresql":
            s.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_SIGNIN_LOCK})

    def record(self, keys: dict[str, int], window_s: float) -> float:
        """Check each key's attempts in the last ``window_s`` seconds against its limit
        (``keys``: key -> limit): 0.0 and the attempt recorded under every key when all
        are under their limits, else the seconds until the fullest key frees a place
        (nothing recorded)."""
        _check_keys(keys)
        now = utcnow()
        since = now - timedelta(seconds=window_s)
        with self._write() as s:
            self._lock_signin(s)
            s.execute(delete(SigninAttemptRow).where(SigninAttemptRow.attempted_at <= since))
            wait = 0.0
            for key, limit in keys.items():
                count, oldest = s.execute(
                    select(func.count(), func.min(SigninAttemptRow.attempted_at)).where(
                        SigninAttemptRow.key == key, SigninAttemptRow.attempted_at > since
                    )
                ).one()
                if count >= limit and isinstance(oldest, datetime):
                    wait = max(wait, (oldest - since).total_seconds())
            if wait > 0:
                return wait
            s.add_all(SigninAttemptRow(key=key, attempted_at=now) for key in keys)
            s.flush()
            newest = s.scalar(select(func.max(SigninAttemptRow.id)))
            if newest is not None and newest > MAX_SIGNIN_ROWS:
                s.execute(
                    delete(SigninAttemptRow).where(SigninAttemptRow.id <= newest - MAX_SIGNIN_ROWS)
                )
            return 0.0

    def forget(self, clear: list[str], take_back: list[str]) -> None:
        """A successful sign-in: delete every attempt under the ``clear`` keys, and the
        newest attempt under each ``take_back`` key (only failures count there)."""
        with self._write() as s:
            self._lock_signin(s)
            if clear:
                s.execute(delete(SigninAttemptRow).where(SigninAttemptRow.key.in_(clear)))
            for key in take_back:
                newest = s.scalar(
                    select(func.max(SigninAttemptRow.id)).where(SigninAttemptRow.key == key)
                )
                if newest is not None:
                    s.execute(delete(SigninAttemptRow).where(SigninAttemptRow.id == newest))

    def count(self) -> int:
        """Attempt rows kept (all keys, pruned or not yet)."""
        with self._read() as s:
            return int(s.scalar(select(func.count()).select_from(SigninAttemptRow)) or 0)
