"""Web app sign-in sessions.

Session tokens are stored only as their sha256, so a copy of the database does not let
anyone sign in.
"""

from __future__ import annotations

import hashlib
from datetime import datetime

from sqlalchemy import delete

from ._base import Repository, require_aware
from .records import WebSessionRecord
from .schema import UserRow, WebSessionRow, utcnow


def token_digest(token: str) -> str:
    """sha256 hex of a session token (what the database keeps)."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


class WebSessionRepository(Repository):
    """Signed-in web sessions (``store.web_sessions``)."""

    def create(self, token: str, username: str, csrf_token: str, expires_at: datetime) -> None:
        """Store a new session under the sha256 of ``token``."""
        require_aware(expires_at, "expires_at")
        with self._write() as s:
            s.add(
                WebSessionRow(
                    token_hash=token_digest(token),
                    username=username,
                    csrf_token=csrf_token,
                    created_at=utcnow(),
                    expires_at=expires_at,
                )
            )

    def get(self, token: str, now: datetime | None = None) -> WebSessionRecord | None:
        """The live session of ``token`` (None when unknown, expired or the user is
        deactivated)."""
        moment = now or utcnow()
        with self._read() as s:
            row = s.get(WebSessionRow, token_digest(token))
            if row is None or row.expires_at <= moment:
                return None
            user = s.get(UserRow, row.username)
            if user is None or not user.active:
                return None
            return WebSessionRecord(row.username, row.csrf_token, row.expires_at)

    def delete(self, token: str) -> None:
        """Sign a session out."""
        with self._write() as s:
            s.execute(delete(WebSessionRow).where(WebSessionRow.token_hash == token_digest(token)))

    def purge_expired(self, now: datetime | None = None) -> int:
        """Remove expired sessions; returns how many."""
        with self._write() as s:
            result = s.execute(
                delete(WebSessionRow).where(WebSessionRow.expires_at <= (now or utcnow()))
            )
            return int(getattr(result, "rowcount", 0) or 0)
