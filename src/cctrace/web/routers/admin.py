"""Administration: users, cameras, retention. Admins cannot search or open cases."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, Request

from cctrace.ingest.owner import INTERRUPTED, run_state
from cctrace.store.records import FootageRecord, FootageStatus, UserRecord
from cctrace.store.repository import Store

from ..deps import AuthError, app_state, current_user, get_store, needs
from ..roles import Permission
from ..schemas import (
    AdminCameraOut,
    AuditOut,
    FootageProblemOut,
    RetentionOut,
    UserIn,
    UserOut,
    UserPatch,
)
from ..security import PasswordPolicyError, check_password_policy, hash_password

router = APIRouter(prefix="/api/admin", tags=["administration"])
User = Annotated[UserRecord, Depends(current_user)]
StoreDep = Annotated[Store, Depends(get_store)]


def _password(password: str, username: str) -> str:
    try:
        check_password_policy(password, username)
    except PasswordPolicyError as exc:
        raise AuthError(400, "weak_password", str(exc)) from None
    return hash_password(password)


@router.get("/users", response_model=list[UserOut])
@needs(Permission.ADMIN)
def list_users(store: StoreDep) -> list[UserOut]:
    """Every user, their role and team."""
    return [UserOut.of(u) for u in store.users.all()]


@router.post("/users", response_model=UserOut, status_code=201)
@needs(Permission.ADMIN)
def create_user(body: UserIn, user: User, store: StoreDep) -> UserOut:
    """Add a user with a role and a team."""
    password_hash = _password(body.password, body.username)
    with store.unit_of_work():
        created = store.users.create(body.username, password_hash, body.role, body.team)
        store.audit.append(
            user.username,
            "user_create",
            None,
            {"username": body.username, "role": body.role.value, "team": body.team},
            {},
        )
    return UserOut.of(created)


@router.patch("/users/{username}", response_model=UserOut)
@needs(Permission.ADMIN)
def update_user(username: str, body: UserPatch, user: User, store: StoreDep) -> UserOut:
    """Change a user's role or team, deactivate them (ends their sessions), or reset
    their password."""
    if username == user.username and (body.active is False or body.role not in (None, user.role)):
        raise AuthError(400, "self_lockout", "you cannot deactivate or demote yourself")
    password_hash = None if body.password is None else _password(body.password, username)
    changes = body.model_dump(mode="json", exclude_none=True)
    if "password" in changes:
        changes["password"] = "reset"
    with store.unit_of_work():
        if password_hash is not None:
            store.users.set_password_hash(username, password_hash, end_sessions=True)
        updated = store.users.update(username, role=body.role, team=body.team, active=body.active)
        store.audit.append(
            user.username, "user_update", None, {"username": username, **changes}, {}
        )
    return UserOut.of(updated)


def _reason(footage: FootageRecord, state: str) -> str:
    if state == INTERRUPTED:
        return f"ingest stopped (process gone); resumes at {footage.progress_offset_s:.0f} s"
    return footage.error or "no reason recorded"


@router.get("/cameras", response_model=list[AdminCameraOut])
@needs(Permission.ADMIN)
def list_cameras(store: StoreDep) -> list[AdminCameraOut]:
    """Cameras (configured in the site file) and how their footage ingest went.

    Failed files are counted and listed with their reason, also those that could not
    be registered (unreadable, no start time); so are interrupted ingests.
    """
    out = []
    for cam in store.cameras.all():
        files = store.footage.files(cam.id)
        unregistered = store.footage.failures(cam.id)
        problems = [
            FootageProblemOut(file=Path(f.path).name, status=state, reason=_reason(f, state))
            for f in files
            if (state := run_state(f)) in (FootageStatus.FAILED.value, INTERRUPTED)
        ] + [
            FootageProblemOut(file=Path(u.path).name, status="failed", reason=u.error)
            for u in unregistered
        ]
        out.append(
            AdminCameraOut(
                camera_id=cam.id,
                name=cam.name,
                x_m=cam.x_m,
                y_m=cam.y_m,
                lat=cam.lat,
                lon=cam.lon,
                footage_files=len(files) + len(unregistered),
                footage_done=sum(
                    f.status in (FootageStatus.DONE, FootageStatus.PARTIAL) for f in files
                ),
                footage_failed=sum(p.status == "failed" for p in problems),
                footage_interrupted=sum(p.status == INTERRUPTED for p in problems),
                problems=problems,
            )
        )
    return out


def _last_purge(store: Store) -> AuditOut | None:
    purges = [e for e in store.audit.entries() if e.action == "purge"]
    return AuditOut.of(purges[-1]) if purges else None


@router.get("/retention", response_model=RetentionOut)
@needs(Permission.ADMIN)
def retention(request: Request, store: StoreDep) -> RetentionOut:
    """The retention periods (from the site file) and the last purge."""
    cfg = app_state(request).site.retention
    return RetentionOut(
        days=cfg.days,
        case_evidence_days=cfg.case_evidence_days,
        purge_interval_hours=cfg.purge_interval_hours,
        last_purge=_last_purge(store),
    )


@router.post("/purge", response_model=AuditOut)
@needs(Permission.ADMIN)
def purge_now(request: Request, user: User, store: StoreDep) -> AuditOut:
    """Purge everything past retention now (also runs on a schedule). Audited."""
    from cctrace.retention import purge

    purge(app_state(request).site, actor=user.username)
    last = _last_purge(store)
    if last is None:  # pragma: no cover - purge always audits
        raise AuthError(500, "purge", "the purge wrote no audit entry")
    return last
