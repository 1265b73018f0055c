"""Roles and permissions. Every route names one permission; nothing else gets through.

- investigator: their own cases (create, search, review, request exports and un-blurring)
- supervisor: every case of their team, and approves un-blurring and exports
- auditor: reads the audit log; cannot search
- admin: users, cameras, retention; cannot search
"""

from __future__ import annotations

from enum import StrEnum

from cctrace.store.records import Role


class Permission(StrEnum):
    """What a route needs. ``PUBLIC`` routes need no sign-in; ``SIGNED_IN`` any role."""

    PUBLIC = "public"
    SIGNED_IN = "signed_in"
    CASE_READ = "case_read"
    CASE_WRITE = "case_write"
    SEARCH = "search"
    REVIEW = "review"
    SNAPSHOT_VIEW = "snapshot_view"
    REQUEST_APPROVAL = "request_approval"
    APPROVE = "approve"
    EXPORT = "export"
    AUDIT_READ = "audit_read"
    ADMIN = "admin"


ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.INVESTIGATOR: frozenset(
        {
            Permission.SIGNED_IN,
            Permission.CASE_READ,
            Permission.CASE_WRITE,
            Permission.SEARCH,
            Permission.REVIEW,
            Permission.SNAPSHOT_VIEW,
            Permission.REQUEST_APPROVAL,
            Permission.EXPORT,
        }
    ),
    Role.SUPERVISOR: frozenset(
        {
            Permission.SIGNED_IN,
            Permission.CASE_READ,
            Permission.CASE_WRITE,
            Permission.SEARCH,
            Permission.REVIEW,
            Permission.SNAPSHOT_VIEW,
            Permission.REQUEST_APPROVAL,
            Permission.APPROVE,
            Permission.EXPORT,
        }
    ),
    Role.AUDITOR: frozenset({Permission.SIGNED_IN, Permission.AUDIT_READ}),
    Role.ADMIN: frozenset({Permission.SIGNED_IN, Permission.ADMIN}),
}
"""Exports need an approved request as well: :data:`Permission.EXPORT` only lets an
investigator download what a supervisor approved."""


def allowed(role: Role, permission: Permission) -> bool:
    """Whether ``role`` holds ``permission`` (PUBLIC is always allowed)."""
    return permission == Permission.PUBLIC or permission in ROLE_PERMISSIONS.get(role, frozenset())


def roles_with(permission: Permission) -> list[Role]:
    """The roles holding ``permission``."""
    return [r for r in Role if allowed(r, permission)]
