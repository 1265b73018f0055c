"""Web app users.

Passwords arrive already hashed (:mod:`cctrace.web.security` hashes them with argon2).
Sign-in sessions are in :mod:`cctrace.store._web_sessions`, supervisor approvals in
:mod:`cctrace.store._approvals`.
"""

from __future__ import annotations

from sqlalchemy import delete, select

from cctrace.errors import NotFoundError

from ._base import Repository
from .records import (
    AlreadyExistsError,
    InvalidInputError,
    Role,
    UserRecord,
)
from .schema import UserRow, WebSessionRow, utcnow


def _user(row: UserRow) -> UserRecord:
    return UserRecord(
        username=row.username,
        role=Role(row.role),
        team=row.team,
        active=bool(row.active),
        created_at=row.created_at,
    )


def _role(role: Role | str) -> Role:
    try:
        return Role(role)
    except ValueError:
        allowed = ", ".join(r.value for r in Role)
        raise InvalidInputError(f"role: expected one of {allowed}, got {role!r}") from None


class UserRepository(Repository):
    """Web app users (``store.users``): accounts, roles, teams, password hashes."""

    def create(
        self, username: str, password_hash: str, role: Role | str, team: str = "default"
    ) -> UserRecord:
        """Add a user; :class:`AlreadyExistsError` if the name is taken."""
        if not username or len(username) > 128 or not username.isprintable():
            raise InvalidInputError(
                f"username: expected 1..128 printable characters, got {username!r}"
            )
        value = _role(role)
        _check_team(team)
        with self._write() as s:
            if s.get(UserRow, username) is not None:
                raise AlreadyExistsError(f"expected a new user name, {username!r} exists")
            row = UserRow(
                username=username,
                password_hash=password_hash,
                role=value.value,
                team=team,
                active=True,
                created_at=utcnow(),
            )
            s.add(row)
            s.flush()
            return _user(row)

    def get(self, username: str) -> UserRecord:
        """The user ``username``; :class:`NotFoundError` if unknown."""
        with self._read() as s:
            row = s.get(UserRow, username)
            if row is None:
                raise NotFoundError(f"expected a user {username!r}, found none")
            return _user(row)

    def password_hash(self, username: str) -> str | None:
        """The stored password hash of an active user, or None."""
        with self._read() as s:
            row = s.get(UserRow, username)
            return row.password_hash if row is not None and row.active else None

    def set_password_hash(
        self, username: str, password_hash: str, *, end_sessions: bool = False
    ) -> None:
        """Replace a user's password hash; ``end_sessions`` signs them out everywhere (a
        reset), as opposed to a re-hash of the same password at sign-in."""
        with self._write() as s:
            row = s.get(UserRow, username)
            if row is None:
                raise NotFoundError(f"expected a user {username!r}, found none")
            row.password_hash = password_hash
            if end_sessions:
                s.execute(delete(WebSessionRow).where(WebSessionRow.username == username))

    def all(self) -> list[UserRecord]:
        """Every user, by name."""
        with self._read() as s:
            return [_user(r) for r in s.scalars(select(UserRow).order_by(UserRow.username))]

    def update(
        self,
        username: str,
        *,
        role: Role | str | None = None,
        team: str | None = None,
        active: bool | None = None,
    ) -> UserRecord:
        """Change a user's role, team or active flag; deactivating ends their sessions."""
        with self._write() as s:
            row = s.get(UserRow, username)
            if row is None:
                raise NotFoundError(f"expected a user {username!r}, found none")
            if role is not None:
                row.role = _role(role).value
            if team is not None:
                _check_team(team)
                row.team = team
            if active is not None:
                row.active = active
                if not active:
                    s.execute(delete(WebSessionRow).where(WebSessionRow.username == username))
            s.flush()
            return _user(row)


def _check_team(team: str) -> None:
    """A team name is 1..64 printable characters (no control characters, no newlines)."""
    if not team or len(team) > 64 or not team.isprintable() or team != team.strip():
        raise InvalidInputError(
            f"team: expected 1..64 printable characters without surrounding spaces, got {team!r}"
        )
