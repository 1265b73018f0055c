"""Contact statuses (issue 13, item 5): stored per tracklet, read per contact, every change
audited in the same transaction, nothing written for a non-change, purged with the case."""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from cctrace.errors import NotFoundError
from cctrace.store import ContactStatus, InvalidInputError, Store
from cctrace.store._contacts import status_of
from cctrace.store.schema import ContactStatusRow, utcnow


@pytest.fixture
def case_store(store: Store) -> Store:
    store.cases.create("C1", "alice", "basis")
    return store


def _audits(store: Store) -> list[Any]:
    return [a for a in store.audit.entries("C1") if a.action == "contact_status"]


def _rows(store: Store) -> int:
    with store.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(ContactStatusRow)).scalar_one())


def test_a_change_is_stored_per_tracklet_and_audited(case_store: Store) -> None:
    store = case_store
    assert store.contacts.statuses("C1") == {}
    change = store.contacts.set_status(
        "C1", [12, 7], "called", "  left a message  ", "alice", audit_query={"contact_no": 3}
    )
    assert change.changed and change.before is ContactStatus.TO_CALL
    assert change.after is ContactStatus.CALLED and change.tracklet_ids == (7, 12)
    assert change.note == "left a message"
    stored = store.contacts.statuses("C1")
    assert sorted(stored) == [7, 12]
    assert {r.status for r in stored.values()} == {ContactStatus.CALLED}
    assert {r.updated_by for r in stored.values()} == {"alice"}
    (entry,) = _audits(store)
    assert entry.actor == "alice" and entry.case_id == "C1"
    assert entry.query == {
        "contact_no": 3,
        "tracklet_ids": [7, 12],
        "from": "to_call",
        "to": "called",
        "note_changed": True,
    }
    assert "left a message" not in str(entry.query)  # the note's text is not in the log
    assert change.audit == entry

    later = store.contacts.set_status("C1", [7, 12], ContactStatus.TESTED, "left a message", "bob")
    assert later.before is ContactStatus.CALLED and later.after is ContactStatus.TESTED
    assert _audits(store)[-1].query["from"] == "called"
    assert _audits(store)[-1].query["note_changed"] is False
    assert store.audit.verify_chain() is None


def test_setting_what_is_stored_writes_nothing(case_store: Store) -> None:
    store = case_store
    first = store.contacts.set_status("C1", [5], "isolated", "home", "alice")
    again = store.contacts.set_status("C1", [5], "isolated", "home", "bob")
    assert not again.changed and again.audit is None
    assert again.updated_by == "alice" and again.updated_at == first.updated_at
    assert len(_audits(store)) == 1
    # the same status for a contact with a tracklet that has none yet is a change
    grown = store.contacts.set_status("C1", [5, 6], "isolated", "home", "bob")
    assert grown.changed and grown.before is ContactStatus.ISOLATED
    assert len(_audits(store)) == 2


def test_a_regrouped_contact_takes_the_newest_status(case_store: Store) -> None:
    """A re-trace may join tracklets into people differently: the person takes the newest
    status among their tracklets; a tracklet new to them inherits it."""
    store = case_store
    store.contacts.set_status("C1", [1, 2], "called", "", "alice")
    store.contacts.set_status("C1", [3], "not_reachable", "no answer", "alice")
    stored = store.contacts.statuses("C1")
    merged = status_of(stored, [1, 2, 3])
    assert merged is not None and merged.status is ContactStatus.NOT_REACHABLE
    grown = status_of(stored, [2, 9])
    assert grown is not None and grown.status is ContactStatus.CALLED
    assert status_of(stored, [9]) is None
    change = store.contacts.set_status("C1", [1, 2, 3], "tested", "", "alice")
    assert change.before is ContactStatus.NOT_REACHABLE


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"status": "done"}, "contact status: expected one of to_call, called"),
        ({"status": ""}, "contact status"),
        ({"note": "x" * 501}, "at most 500 characters"),
        ({"note": "bell\x07"}, r"control characters are not allowed \(U\+0007\)"),
        ({"note": 5}, "note: expected text"),
        ({"tracklet_ids": []}, "at least one tracklet"),
        ({"tracklet_ids": [0]}, "positive integers"),
        ({"tracklet_ids": [True]}, "positive integers"),
        ({"tracklet_ids": ["3"]}, "positive integers"),
        ({"tracklet_ids": list(range(1, 1002))}, "at most 1000"),
        ({"actor": ""}, "actor"),
    ],
)
def test_bad_input_is_refused_and_nothing_is_written(
    sqlite_store: Store, kwargs: dict[str, Any], match: str
) -> None:
    sqlite_store.cases.create("C1", "alice", "basis")
    args: dict[str, Any] = {
        "case_id": "C1",
        "tracklet_ids": [1],
        "status": "called",
        "note": "",
        "actor": "alice",
    } | kwargs
    with pytest.raises(InvalidInputError, match=match):
        sqlite_store.contacts.set_status(**args)
    assert _rows(sqlite_store) == 0 and _audits(sqlite_store) == []


def test_a_note_keeps_line_breaks_and_korean(sqlite_store: Store) -> None:
    sqlite_store.cases.create("C1", "alice", "basis")
    change = sqlite_store.contacts.set_status(
        "C1", [1], "called", "검사 예정\r\n내일 10시", "alice"
    )
    assert change.note == "검사 예정\n내일 10시"
    assert sqlite_store.contacts.statuses("C1")[1].note == "검사 예정\n내일 10시"


def test_an_unknown_case_is_not_found(case_store: Store) -> None:
    with pytest.raises(NotFoundError, match="C-404"):
        case_store.contacts.set_status("C-404", [1], "called", "", "alice")
    assert _rows(case_store) == 0


def test_the_change_and_its_audit_entry_commit_together(sqlite_store: Store) -> None:
    """An audit entry that cannot be written takes the status change back with it."""
    sqlite_store.cases.create("C1", "alice", "basis")
    with pytest.raises(InvalidInputError, match="JSON-serialisable"):
        sqlite_store.contacts.set_status(
            "C1", [1], "called", "", "alice", audit_query={"bad": object()}
        )
    assert _rows(sqlite_store) == 0 and _audits(sqlite_store) == []


def test_concurrent_changes_each_get_their_entry(sqlite_store: Store) -> None:
    sqlite_store.cases.create("C1", "alice", "basis")
    statuses = ["called", "tested", "isolated", "not_reachable", "to_call"]
    errors: list[BaseException] = []

    def work(worker: int) -> None:
        try:
            for k, status in enumerate(statuses):
                sqlite_store.contacts.set_status("C1", [worker], status, f"{k}", f"w{worker}")
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(w,)) for w in range(1, 5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(_audits(sqlite_store)) == 4 * len(statuses)
    assert {r.status for r in sqlite_store.contacts.statuses("C1").values()} == {
        ContactStatus.TO_CALL
    }
    assert sqlite_store.audit.verify_chain() is None


def test_statuses_of_several_cases_and_the_purge(sqlite_store: Store) -> None:
    store = sqlite_store
    store.cases.create("C1", "alice", "basis")
    store.cases.create("C2", "alice", "basis")
    store.contacts.set_status("C1", [1], "called", "", "alice")
    store.contacts.set_status("C2", [1], "tested", "", "alice")
    both = store.contacts.statuses_of(["C1", "C2", "C3"])
    assert both["C1"][1].status is ContactStatus.CALLED
    assert both["C2"][1].status is ContactStatus.TESTED and both["C3"] == {}
    store.cases.set_status("C1", "closed")
    now = utcnow()
    store.retention.purge_expired(now - timedelta(days=28), now + timedelta(seconds=1))
    assert store.contacts.statuses("C1") == {}  # the expired case's notes are gone
    assert 1 in store.contacts.statuses("C2")
    assert _audits(store)  # the audit log stays
