"""One unit of work: an action and its audit entry commit together or not at all, on
SQLite and on a real PostgreSQL server, across every repository of the store."""

from __future__ import annotations

import threading

import pytest

from cctrace.errors import NotFoundError
from cctrace.store import CaseStatus, InvalidInputError, Store
from cctrace.types import SightingStatus
from tests.store.store_factories import save, setup_footage, tracklet


def _anchor_lines(store: Store) -> int:
    path = store.audit_anchor_path
    return len(path.read_text().splitlines()) if path.is_file() else 0


def _store_with_a_tracklet(store: Store) -> int:
    footage = setup_footage(store)
    (tid,) = save(store, footage.id, [tracklet(1)])
    return tid


class Boom(RuntimeError):
    pass


def test_commits_action_and_audit_together(store: Store) -> None:
    with store.unit_of_work():
        store.cases.create("C-1", "alice", "Public Health Act s.12")
        store.audit.append("alice", "case_open", "C-1", {}, {})
        # reads inside the block see its own uncommitted writes
        assert store.cases.get("C-1").created_by == "alice"
        assert store.in_unit_of_work
    assert not store.in_unit_of_work
    assert store.cases.get("C-1").status is CaseStatus.OPEN
    assert [e.action for e in store.audit.entries(case_id="C-1")] == ["case_open"]
    assert store.audit.verify().first_bad is None
    assert _anchor_lines(store) == 1  # the checkpoint is written once the entry committed


def test_an_exception_rolls_back_action_audit_and_checkpoint(store: Store) -> None:
    store.cases.create("C-1", "alice", "basis")
    before = len(store.audit.entries())
    anchors = _anchor_lines(store)
    with pytest.raises(Boom), store.unit_of_work():
        store.cases.set_status("C-1", CaseStatus.CLOSED)
        store.audit.append("alice", "case_close", "C-1", {}, {})
        raise Boom
    assert store.cases.get("C-1").status is CaseStatus.OPEN
    assert len(store.audit.entries()) == before
    assert _anchor_lines(store) == anchors  # no checkpoint of an entry that never was
    assert store.audit.verify().first_bad is None


def test_a_refused_audit_entry_undoes_the_action(store: Store) -> None:
    """The other direction: an audit entry that cannot be written leaves no change."""
    with pytest.raises(InvalidInputError), store.unit_of_work():
        store.cases.create("C-2", "alice", "basis")
        store.audit.append("alice", "x" * 65, "C-2", {}, {})  # action too long: refused
    with pytest.raises(NotFoundError):
        store.cases.get("C-2")


def test_nested_blocks_join_the_outer_one(store: Store) -> None:
    with pytest.raises(Boom), store.unit_of_work():
        with store.unit_of_work():
            store.cases.create("C-3", "alice", "basis")
        raise Boom  # the inner block's case goes with the outer rollback
    with pytest.raises(NotFoundError):
        store.cases.get("C-3")


def test_concurrent_units_keep_one_unbroken_chain(store: Store) -> None:
    """Threads that each open a case and audit it in one unit: every entry lands, the
    chain verifies (PostgreSQL: audit appends queue on an advisory lock)."""
    errors: list[BaseException] = []

    def work(i: int) -> None:
        try:
            for j in range(5):
                with store.unit_of_work():
                    store.cases.create(f"C-{i}-{j}", f"user{i}", "basis")
                    store.audit.append(f"user{i}", "case_open", f"C-{i}-{j}", {}, {})
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    assert len(store.cases.find()) == 20
    assert len([e for e in store.audit.entries(limit=100) if e.action == "case_open"]) == 20
    assert store.audit.verify().first_bad is None


def test_calls_on_several_repositories_roll_back_together(store: Store) -> None:
    """Cases, sightings, contact statuses (which audit on their own), approvals and the
    audit log share one session: an exception at the end leaves none of them."""
    tid = _store_with_a_tracklet(store)
    store.cases.create("C-0", "alice", "basis")
    entries, anchors = len(store.audit.entries()), _anchor_lines(store)
    with pytest.raises(Boom), store.unit_of_work():
        store.cases.create("C-4", "alice", "basis")
        store.sightings.decide("C-4", tid, SightingStatus.ACCEPTED, "alice")
        change = store.contacts.set_status("C-4", [tid], "called", "rang", "alice")
        assert change.changed and change.audit is not None
        store.approvals.request("C-4", "export", "alice", "for the file", None)
        store.cases.set_status("C-0", CaseStatus.CLOSED)
        store.audit.append("alice", "case_open", "C-4", {}, {})
        assert store.contacts.statuses("C-4")[tid].note == "rang"  # the block's own writes
        raise Boom
    with pytest.raises(NotFoundError):
        store.cases.get("C-4")
    assert store.sightings.of_case("C-4") == [] and store.contacts.statuses("C-4") == {}
    assert store.approvals.find(case_id="C-4") == []
    assert store.cases.get("C-0").status is CaseStatus.OPEN
    assert len(store.audit.entries()) == entries
    assert _anchor_lines(store) == anchors  # the contact status's checkpoint never written
    assert store.audit.verify().first_bad is None


def test_calls_on_several_repositories_commit_together(store: Store) -> None:
    tid = _store_with_a_tracklet(store)
    with store.unit_of_work():
        store.cases.create("C-5", "alice", "basis")
        store.sightings.decide("C-5", tid, SightingStatus.ACCEPTED, "alice")
        store.contacts.set_status("C-5", [tid], "called", "", "alice")
        store.audit.append("alice", "case_open", "C-5", {}, {})
        assert _anchor_lines(store) == 0  # checkpoints wait for the commit
    assert [s.tracklet_id for s in store.sightings.of_case("C-5")] == [tid]
    assert store.contacts.statuses("C-5")[tid].status == "called"
    assert [e.action for e in store.audit.entries(case_id="C-5")] == [
        "contact_status",
        "case_open",
    ]
    assert _anchor_lines(store) == 2
    assert store.audit.verify().first_bad is None


def test_the_store_keeps_no_door_of_its_repositories(store: Store) -> None:
    """Actions live on the repositories only (one door per action): the store itself
    offers opening, closing, units of work and the shared settings."""
    public = {
        name
        for name in dir(store)
        if not name.startswith("_")
        and callable(getattr(store, name))
        and not hasattr(getattr(store, name), "_base")
    }
    assert public == {"abspath", "close", "for_site", "open", "unit_of_work"}
    repositories = {n for n in dir(store) if hasattr(getattr(store, n, None), "_base")}
    assert all(getattr(store, n)._base is store for n in repositories)
    assert len(repositories) == 14
