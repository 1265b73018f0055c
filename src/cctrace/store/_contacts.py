"""What tracers did about each contact of a case: a status and a note, audited.

**How a contact is keyed.** A trace result's contact is a person made of one or more
tracklets (one tracked person in one camera; ``contact_tracklet_ids`` in the result and
its JSON). Tracklet ids are database ids: ingest is idempotent and a trace only joins
stored encounters, so a re-trace of the same case finds the same tracklets again, while
the contact's number ("Person 3") may change with the new result's order. A status is
therefore stored once per tracklet of the contact (``contact_statuses``, primary key
``(case_id, tracklet_id)``), and a contact's status is the newest row among its
tracklets (:func:`status_of`). When a re-trace joins tracklets into one person
differently, the person takes the newest status any of their tracklets had; a tracklet
new to the person inherits it.

Every change is written to the audit log in the same transaction as the change
(action ``contact_status``: who, when, the case, old -> new status, the tracklets); the
note's text stays in the contact's row only (it may hold health details, and the audit
log is never purged), the entry records whether the note changed.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol

from sqlalchemy import select

from cctrace.errors import NotFoundError

from ._base import Repository, StoreBase, check_text, chunks, retry_on_conflict
from .records import AuditRecord, InvalidInputError
from .schema import CONTACT_NOTE_MAX, CaseRow, ContactStatusRow, utcnow

MAX_TRACKLETS = 1000
"""Most tracklets one contact may have (a bound on one request's work)."""
AUDIT_ACTION = "contact_status"


class ContactStatus(StrEnum):
    """Where a tracer stands with one contact."""

    TO_CALL = "to_call"
    """Not called yet (every contact starts here)."""
    CALLED = "called"
    TESTED = "tested"
    ISOLATED = "isolated"
    NOT_REACHABLE = "not_reachable"


@dataclass(frozen=True)
class ContactStatusRecord:
    """The stored status of one tracklet of a case's contact."""

    case_id: str
    tracklet_id: int
    status: ContactStatus
    note: str
    updated_by: str
    updated_at: datetime


@dataclass(frozen=True)
class ContactStatusChange:
    """What :meth:`ContactStatusRepository.set_status` did."""

    case_id: str
    tracklet_ids: tuple[int, ...]
    before: ContactStatus
    after: ContactStatus
    note: str
    updated_by: str
    updated_at: datetime
    changed: bool
    """False when the status and note were already these (nothing written or audited)."""
    audit: AuditRecord | None
    """The audit entry written with the change (None when nothing changed)."""


def contact_status(value: ContactStatus | str) -> ContactStatus:
    """``value`` as a :class:`ContactStatus`; :class:`InvalidInputError` naming the
    allowed values otherwise."""
    try:
        return ContactStatus(value)
    except ValueError:
        allowed = ", ".join(s.value for s in ContactStatus)
        raise InvalidInputError(
            f"contact status: expected one of {allowed}, got {value!r}"
        ) from None


def check_note(note: str) -> str:
    """A contact note: at most :data:`CONTACT_NOTE_MAX` characters, no control characters
    but line breaks and tabs; surrounding white space removed."""
    if not isinstance(note, str):
        raise InvalidInputError(f"note: expected text, got {type(note).__name__}")
    text = note.strip()
    if len(text) > CONTACT_NOTE_MAX:
        raise InvalidInputError(
            f"note: expected at most {CONTACT_NOTE_MAX} characters, got {len(text)}"
        )
    bad = sorted(
        {f"U+{ord(c):04X}" for c in text if unicodedata.category(c) == "Cc" and c not in "\n\r\t"}
    )
    if bad:
        raise InvalidInputError(f"note: control characters are not allowed ({', '.join(bad)})")
    return text.replace("\r\n", "\n")


def check_tracklet_ids(ids: Iterable[int]) -> tuple[int, ...]:
    """Distinct positive tracklet ids, sorted; :class:`InvalidInputError` otherwise."""
    out: set[int] = set()
    for value in ids:
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise InvalidInputError(f"tracklet ids: expected positive integers, got {value!r}")
        out.add(value)
    if not out:
        raise InvalidInputError("tracklet ids: a contact needs at least one tracklet")
    if len(out) > MAX_TRACKLETS:
        raise InvalidInputError(
            f"tracklet ids: at most {MAX_TRACKLETS} per contact, got {len(out)}"
        )
    return tuple(sorted(out))


def status_of(
    statuses: Mapping[int, ContactStatusRecord], tracklet_ids: Iterable[int]
) -> ContactStatusRecord | None:
    """A contact's status: the newest stored row among its tracklets (ties: the highest
    tracklet id), or None when none has one (the contact is still to call)."""
    rows = [statuses[t] for t in tracklet_ids if t in statuses]
    if not rows:
        return None
    return max(rows, key=lambda r: (r.updated_at, r.tracklet_id))


def _record(row: ContactStatusRow) -> ContactStatusRecord:
    return ContactStatusRecord(
        case_id=row.case_id,
        tracklet_id=int(row.tracklet_id),
        status=ContactStatus(row.status),
        note=row.note,
        updated_by=row.updated_by,
        updated_at=row.updated_at,
    )


class AuditAppender(Protocol):
    """What contact statuses need of the audit log (:class:`~cctrace.store._audit.AuditLog`,
    handed over by the store: repositories do not import each other)."""

    def append(
        self,
        actor: str,
        action: str,
        case_id: str | None,
        query: Mapping[str, Any],
        result: Mapping[str, Any],
    ) -> AuditRecord:
        """Append one audit entry (in the open unit of work, if any)."""
        ...


class ContactStatusRepository(Repository):
    """Contact statuses of cases (``store.contacts``); each change writes its audit entry
    to ``audit`` in the same unit of work."""

    def __init__(self, base: StoreBase, audit: AuditAppender) -> None:
        super().__init__(base)
        self._audit = audit

    def set_status(
        self,
        case_id: str,
        tracklet_ids: Sequence[int],
        status: ContactStatus | str,
        note: str,
        actor: str,
        *,
        audit_query: Mapping[str, Any] | None = None,
    ) -> ContactStatusChange:
        """Set the status and note of the contact made of ``tracklet_ids`` in case
        ``case_id`` (every one of its tracklets), and write the audit entry in the same
        transaction. ``audit_query`` adds facts to the entry (e.g. the contact's number).

        Setting what is already stored for every tracklet changes and audits nothing
        (``changed`` False). :class:`NotFoundError` for an unknown case,
        :class:`InvalidInputError` for a bad status, note, tracklet id or actor.
        """
        value = contact_status(status)
        text = check_note(note)
        ids = check_tracklet_ids(tracklet_ids)
        check_text(actor, "actor", 128)
        extra = dict(audit_query or {})

        def write() -> ContactStatusChange:
            with self._unit_of_work(), self._write() as s:
                if s.get(CaseRow, case_id) is None:
                    raise NotFoundError(f"expected a stored case {case_id!r}, found none")
                rows = {
                    int(r.tracklet_id): r
                    for part in chunks(ids)
                    for r in s.scalars(
                        select(ContactStatusRow)
                        .where(
                            ContactStatusRow.case_id == case_id,
                            ContactStatusRow.tracklet_id.in_(part),
                        )
                        .with_for_update()
                    )
                }
                current = status_of({t: _record(r) for t, r in rows.items()}, ids)
                before = current.status if current else ContactStatus.TO_CALL
                old_note = current.note if current else ""
                now = utcnow()
                same = len(rows) == len(ids) and all(
                    r.status == value.value and r.note == text for r in rows.values()
                )
                if same and current is not None:
                    unchanged = ContactStatusChange(
                        case_id, ids, before, value, text, current.updated_by,
                        current.updated_at, False, None,
                    )  # fmt: skip
                    return unchanged
                for tid in ids:
                    row = rows.get(tid)
                    if row is None:
                        s.add(
                            ContactStatusRow(
                                case_id=case_id,
                                tracklet_id=tid,
                                status=value.value,
                                note=text,
                                updated_by=actor,
                                updated_at=now,
                            )
                        )
                    else:
                        row.status, row.note = value.value, text
                        row.updated_by, row.updated_at = actor, now
                entry = self._audit.append(
                    actor,
                    AUDIT_ACTION,
                    case_id,
                    {
                        **extra,
                        "tracklet_ids": list(ids),
                        "from": before.value,
                        "to": value.value,
                        "note_changed": text != old_note,
                    },
                    {},
                )
                return ContactStatusChange(
                    case_id, ids, before, value, text, actor, now, True, entry
                )

        # Inside an outer unit of work a conflict aborts it all: nothing to retry here.
        return write() if self.in_unit_of_work else retry_on_conflict(write)

    def statuses(self, case_id: str) -> dict[int, ContactStatusRecord]:
        """Every stored contact status of a case, by tracklet id (absent: to call)."""
        return self.statuses_of([case_id]).get(case_id, {})

    def statuses_of(self, case_ids: Iterable[str]) -> dict[str, dict[int, ContactStatusRecord]]:
        """Stored contact statuses of several cases: case id -> tracklet id -> record."""
        wanted = sorted(set(case_ids))
        out: dict[str, dict[int, ContactStatusRecord]] = {c: {} for c in wanted}
        with self._read() as s:
            for part in chunks(wanted):
                for row in s.scalars(
                    select(ContactStatusRow).where(ContactStatusRow.case_id.in_(part))
                ):
                    rec = _record(row)
                    out[rec.case_id][rec.tracklet_id] = rec
        return out
