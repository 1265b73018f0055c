"""Web app users, sign-in sessions and supervisor approvals.

Passwords arrive already hashed (:mod:`cctrace.web.security` hashes them with
argon2); session tokens are stored only as their sha256, so a copy of the
database does not let anyone sign in.
"""

from __future__ import annotations

import hashlib
from datetime import datetime

from sqlalchemy import delete, select

from cctrace.errors import NotFoundError

from ._base import StoreBase, require_aware
from .records import (
    AlreadyExistsError,
    ApprovalRecord,
    InvalidInputError,
    Role,
    UserRecord,
    WebSessionRecord,
)
from .schema import APPROVAL_KINDS, ApprovalRow, CaseRow, UserRow, WebSessionRow, utcnow


def token_digest(token: str) -> str:
    """sha256 hex of a session token (what the database keeps)."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _user(row: UserRow) -> UserRecord:
    return UserRecord(
        username=row.username,
        role=Role(row.role),
        team=row.team,
        active=bool(row.active),
        created_at=row.created_at,
    )


def _approval(row: ApprovalRow) -> ApprovalRecord:
    return ApprovalRecord(
        id=row.id,
        case_id=row.case_id,
        kind=row.kind,
        tracklet_id=row.tracklet_id,
        reason=row.reason,
        requested_by=row.requested_by,
        requested_at=row.requested_at,
        status=row.status,
        decided_by=row.decided_by,
        decided_at=row.decided_at,
        result_digest=row.result_digest,
    )


def _role(role: Role | str) -> Role:
    try:
        return Role(role)
    except ValueError:
        allowed = ", ".join(r.value for r in Role)
        raise InvalidInputError(f"role: expected one of {allowed}, got {role!r}") from None


class UserMixin(StoreBase):
    """User, session and approval methods of :class:`~cctrace.store.Store`."""

    # ---- users ---------------------------------------------------------------------

    def create_user(
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

    def get_user(self, username: str) -> UserRecord:
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

    def list_users(self) -> list[UserRecord]:
        """Every user, by name."""
        with self._read() as s:
            return [_user(r) for r in s.scalars(select(UserRow).order_by(UserRow.username))]

    def update_user(
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

    # ---- sessions ------------------------------------------------------------------

    def create_session(
        self, token: str, username: str, csrf_token: str, expires_at: datetime
    ) -> None:
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

    def get_session(self, token: str, now: datetime | None = None) -> WebSessionRecord | None:
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

    def delete_session(self, token: str) -> None:
        """Sign a session out."""
        with self._write() as s:
            s.execute(delete(WebSessionRow).where(WebSessionRow.token_hash == token_digest(token)))

    def purge_expired_sessions(self, now: datetime | None = None) -> int:
        """Remove expired sessions; returns how many."""
        with self._write() as s:
            result = s.execute(
                delete(WebSessionRow).where(WebSessionRow.expires_at <= (now or utcnow()))
            )
            return int(getattr(result, "rowcount", 0) or 0)

    # ---- approvals -----------------------------------------------------------------

    def request_approval(
        self,
        case_id: str,
        kind: str,
        requested_by: str,
        reason: str,
        tracklet_id: int | None,
        result_digest: str | None = None,
    ) -> ApprovalRecord:
        """Ask a supervisor to approve an export or an un-blurred view."""
        if kind not in APPROVAL_KINDS:
            raise InvalidInputError(
                f"approval kind: expected one of {APPROVAL_KINDS}, got {kind!r}"
            )
        if not reason.strip() or len(reason) > 2000:
            raise InvalidInputError("reason: expected 1..2000 characters saying why")
        with self._write() as s:
            if s.get(CaseRow, case_id) is None:
                raise NotFoundError(f"expected a stored case {case_id!r}, found none")
            row = ApprovalRow(
                case_id=case_id,
                kind=kind,
                tracklet_id=tracklet_id,
                reason=reason,
                requested_by=requested_by,
                requested_at=utcnow(),
                status="pending",
                result_digest=result_digest,
            )
            s.add(row)
            s.flush()
            return _approval(row)

    def decide_approval(self, approval_id: int, approve: bool, decided_by: str) -> ApprovalRecord:
        """A supervisor approves or denies a pending request."""
        with self._write() as s:
            row = s.get(ApprovalRow, int(approval_id), with_for_update=True)
            if row is None:
                raise NotFoundError(f"expected an approval request {approval_id}, found none")
            if row.status != "pending":
                raise InvalidInputError(
                    f"approval request {approval_id} was already {row.status} by {row.decided_by}"
                )
            row.status = "approved" if approve else "denied"
            row.decided_by, row.decided_at = decided_by, utcnow()
            s.flush()
            return _approval(row)

    def get_approval(self, approval_id: int) -> ApprovalRecord:
        """One approval request; :class:`NotFoundError` if unknown."""
        with self._read() as s:
            row = s.get(ApprovalRow, int(approval_id))
            if row is None:
                raise NotFoundError(f"expected an approval request {approval_id}, found none")
            return _approval(row)

    def list_approvals(
        self, case_id: str | None = None, status: str | None = None, *, team: str | None = None
    ) -> list[ApprovalRecord]:
        """Approval requests, newest first (optionally of one case, in one status, on one
        team's cases: filtered in SQL)."""
        stmt = select(ApprovalRow).order_by(ApprovalRow.id.desc())
        if team is not None:
            stmt = stmt.join(CaseRow, CaseRow.id == ApprovalRow.case_id).where(CaseRow.team == team)
        if case_id is not None:
            stmt = stmt.where(ApprovalRow.case_id == case_id)
        if status is not None:
            stmt = stmt.where(ApprovalRow.status == status)
        with self._read() as s:
            return [_approval(r) for r in s.scalars(stmt)]

    def approved(self, case_id: str, kind: str, tracklet_id: int | None = None) -> bool:
        """Whether a supervisor approved this kind of request for the case (and tracklet)."""
        stmt = select(ApprovalRow.id).where(
            ApprovalRow.case_id == case_id,
            ApprovalRow.kind == kind,
            ApprovalRow.status == "approved",
        )
        if tracklet_id is not None:
            stmt = stmt.where(ApprovalRow.tracklet_id == tracklet_id)
        with self._read() as s:
            return s.execute(stmt.limit(1)).first() is not None


def _check_team(team: str) -> None:
    """A team name is 1..64 printable characters (no control characters, no newlines)."""
    if not team or len(team) > 64 or not team.isprintable() or team != team.strip():
        raise InvalidInputError(
            f"team: expected 1..64 printable characters without surrounding spaces, got {team!r}"
        )
