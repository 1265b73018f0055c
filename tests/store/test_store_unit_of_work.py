"""One unit of work: an action and its audit entry commit together or not at all, on
SQLite and on a real PostgreSQL server."""

from __future__ import annotations

import threading

import pytest

from cctrace.errors import NotFoundError
from cctrace.store import CaseStatus, InvalidInputError, Store


def _anchor_lines(store: Store) -> int:
    path = store.audit_anchor_path
    return len(path.read_text().splitlines()) if path.is_file() else 0


class Boom(RuntimeError):
    pass


def test_commits_action_and_audit_together(store: Store) -> None:
    with store.unit_of_work():
        store.create_case("C-1", "alice", "Public Health Act s.12")
        store.append_audit("alice", "case_open", "C-1", {}, {})
        # reads inside the block see its own uncommitted writes
        assert store.get_case("C-1").created_by == "alice"
        assert store.in_unit_of_work
    assert not store.in_unit_of_work
    assert store.get_case("C-1").status is CaseStatus.OPEN
    assert [e.action for e in store.list_audit(case_id="C-1")] == ["case_open"]
    assert store.verify_audit().first_bad is None
    assert _anchor_lines(store) == 1  # the checkpoint is written once the entry committed


def test_an_exception_rolls_back_action_audit_and_checkpoint(store: Store) -> None:
    store.create_case("C-1", "alice", "basis")
    before = len(store.list_audit())
    anchors = _anchor_lines(store)
    with pytest.raises(Boom), store.unit_of_work():
        store.set_case_status("C-1", CaseStatus.CLOSED)
        store.append_audit("alice", "case_close", "C-1", {}, {})
        raise Boom
    assert store.get_case("C-1").status is CaseStatus.OPEN
    assert len(store.list_audit()) == before
    assert _anchor_lines(store) == anchors  # no checkpoint of an entry that never was
    assert store.verify_audit().first_bad is None


def test_a_refused_audit_entry_undoes_the_action(store: Store) -> None:
    """The other direction: an audit entry that cannot be written leaves no change."""
    with pytest.raises(InvalidInputError), store.unit_of_work():
        store.create_case("C-2", "alice", "basis")
        store.append_audit("alice", "x" * 65, "C-2", {}, {})  # action too long: refused
    with pytest.raises(NotFoundError):
        store.get_case("C-2")


def test_nested_blocks_join_the_outer_one(store: Store) -> None:
    with pytest.raises(Boom), store.unit_of_work():
        with store.unit_of_work():
            store.create_case("C-3", "alice", "basis")
        raise Boom  # the inner block's case goes with the outer rollback
    with pytest.raises(NotFoundError):
        store.get_case("C-3")


def test_concurrent_units_keep_one_unbroken_chain(store: Store) -> None:
    """Threads that each open a case and audit it in one unit: every entry lands, the
    chain verifies (PostgreSQL: audit appends queue on an advisory lock)."""
    errors: list[BaseException] = []

    def work(i: int) -> None:
        try:
            for j in range(5):
                with store.unit_of_work():
                    store.create_case(f"C-{i}-{j}", f"user{i}", "basis")
                    store.append_audit(f"user{i}", "case_open", f"C-{i}-{j}", {}, {})
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    assert len(store.list_cases()) == 20
    assert len([e for e in store.list_audit(limit=100) if e.action == "case_open"]) == 20
    assert store.verify_audit().first_bad is None
