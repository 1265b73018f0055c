"""The audit log, for auditors: read it and verify its keyed chain and checkpoints."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from cctrace.store.records import UserRecord
from cctrace.store.repository import Store

from ..deps import current_user, get_store, needs
from ..roles import Permission
from ..schemas import MAX_DB_ID, AuditOut, AuditVerifyOut

router = APIRouter(prefix="/api/audit", tags=["audit"])
User = Annotated[UserRecord, Depends(current_user)]
StoreDep = Annotated[Store, Depends(get_store)]


def read_audit(
    store: Store, user: UserRecord, case_id: str | None, limit: int, before_id: int | None
) -> list[AuditOut]:
    """The newest ``limit`` entries (of one case), newest first; the read is audited."""
    page = [AuditOut.of(e) for e in store.audit.page(case_id, limit, before_id)]
    store.audit.append(
        user.username, "audit_read", case_id, {"limit": limit, "before_id": before_id}, {}
    )
    return page


@router.get("", response_model=list[AuditOut])
@needs(Permission.AUDIT_READ)
def list_audit(
    user: User,
    store: StoreDep,
    case_id: str | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    before_id: Annotated[int | None, Query(ge=1, le=MAX_DB_ID)] = None,
) -> list[AuditOut]:
    """Audit entries, newest first (who, when, case, what, why)."""
    return read_audit(store, user, case_id, limit, before_id)


@router.get("/verify", response_model=AuditVerifyOut)
@needs(Permission.AUDIT_READ)
def verify_audit(store: StoreDep) -> AuditVerifyOut:
    """Check the whole keyed chain and every checkpoint in the anchor file; ``broken_at``
    is the first edited, moved, replayed or missing entry, ``problems`` says what."""
    report = store.audit.verify()
    head_id, head_hash = store.audit.head()
    return AuditVerifyOut(
        ok=report.ok,
        broken_at=report.first_bad,
        head_id=head_id,
        head_hash=head_hash,
        entries=report.entries,
        keyed_from=report.keyed_from,
        key_id=report.key_id,
        anchor_path=report.anchor_path,
        checkpoints=report.checkpoints,
        last_anchored=report.last_anchored,
        problems=report.problems,
        notes=report.notes,
    )
