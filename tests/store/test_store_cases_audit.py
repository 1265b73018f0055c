"""Cases, sightings (never downgrade a human decision) and the hash-chained audit log."""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import delete, text, update

from cctrace.errors import NotFoundError
from cctrace.store import GENESIS_HASH, AlreadyExistsError, CaseStatus, InvalidInputError, Store
from cctrace.store.schema import AuditRow
from cctrace.types import SightingStatus
from tests.store.store_factories import save, setup_footage, tracklet

ACC, REV, REJ = SightingStatus.ACCEPTED, SightingStatus.NEEDS_REVIEW, SightingStatus.REJECTED


def test_case_lifecycle(store: Store) -> None:
    case = store.cases.create("C-2024-001", "alice", "Public Health Act s.12", notes="index case")
    assert case.status is CaseStatus.OPEN and case.created_at.tzinfo is not None
    assert store.cases.get("C-2024-001") == case
    with pytest.raises(AlreadyExistsError):
        store.cases.create("C-2024-001", "bob", "again")
    with pytest.raises(NotFoundError):
        store.cases.get("C-404")
    assert store.cases.set_status("C-2024-001", "closed").status is CaseStatus.CLOSED
    assert [c.id for c in store.cases.find(CaseStatus.CLOSED)] == ["C-2024-001"]
    with pytest.raises(InvalidInputError):
        store.cases.set_status("C-2024-001", "shredded")


@pytest.mark.parametrize(
    ("args", "match"),
    [
        (("", "alice", "basis"), "case id"),
        (("C1", "", "basis"), "created_by"),
        (("C1", "alice", "  "), "legal_basis"),
    ],
)
def test_bad_case_inputs(sqlite_store: Store, args: tuple[str, str, str], match: str) -> None:
    with pytest.raises(InvalidInputError, match=match):
        sqlite_store.cases.create(*args)


@pytest.fixture
def case_with_tracklets(store: Store) -> tuple[Store, list[int]]:
    f = setup_footage(store)
    ids = save(store, f.id, [tracklet(1), tracklet(2), tracklet(3)])
    store.cases.create("C1", "alice", "basis")
    return store, ids


def test_record_sightings_upserts(case_with_tracklets: tuple[Store, list[int]]) -> None:
    store, (a, b, c) = case_with_tracklets
    store.sightings.record("C1", [(a, 0.9, ACC), (b, 0.6, "needs_review"), (c, 0.2, REJ)])
    # a weaker machine score does not replace a stronger one; a stronger one does
    store.sightings.record("C1", [(a, 0.5, REV), (b, 0.8, ACC)])
    got = {s.tracklet_id: s for s in store.sightings.of_case("C1")}
    assert (got[a].score, got[a].status) == (0.9, ACC)
    assert (got[b].score, got[b].status) == (0.8, ACC)
    assert [s.tracklet_id for s in store.sightings.of_case("C1")] == [a, b, c]  # best first
    assert [s.tracklet_id for s in store.sightings.of_case("C1", REJ)] == [c]


def test_human_decision_is_never_downgraded(case_with_tracklets: tuple[Store, list[int]]) -> None:
    store, (a, b, _) = case_with_tracklets
    store.sightings.record("C1", [(a, 0.7, REV)])
    decided = store.sightings.decide("C1", a, ACC, "bob")
    assert decided.decided_by == "bob" and decided.decided_at is not None
    store.sightings.record("C1", [(a, 0.95, REJ), (a, 0.3, REJ)])
    got = store.sightings.of_case("C1")[0]
    assert (got.status, got.decided_by, got.score) == (ACC, "bob", 0.95)
    # rejected by a person stays rejected, even for a high machine score
    store.sightings.decide("C1", b, REJ, "bob", score=0.4)
    store.sightings.record("C1", [(b, 0.99, ACC)])
    assert {s.tracklet_id: s.status for s in store.sightings.of_case("C1")}[b] is REJ


@pytest.mark.parametrize(
    ("case_id", "rows", "error"),
    [
        ("C404", [(1, 0.5, ACC)], NotFoundError),
        ("C1", [(9999, 0.5, ACC)], NotFoundError),
        ("C1", [(1, float("nan"), ACC)], InvalidInputError),
        ("C1", [(1, 0.5, "maybe")], InvalidInputError),
    ],
)
def test_bad_sightings(
    case_with_tracklets: tuple[Store, list[int]],
    case_id: str,
    rows: list[tuple[int, float, Any]],
    error: type,
) -> None:
    store, ids = case_with_tracklets
    rows = [(ids[0] if t == 1 else t, s, st) for t, s, st in rows]
    with pytest.raises(error):
        store.sightings.record(case_id, rows)
    assert store.sightings.of_case("C1") == []


# ---- audit ---------------------------------------------------------------------------


def _fill_audit(store: Store, n: int = 5) -> None:
    for i in range(n):
        store.audit.append(
            "alice",
            "search",
            "C1" if i % 2 else None,
            {"photos": i, "window": ["2024-03-01", "2024-03-14"], "t": 0.1 * i},
            {"hits": i * 3, "name": "Zoë"},
        )


def test_audit_chain_verifies(store: Store) -> None:
    assert store.audit.verify_chain() is None
    assert store.audit.head() == (0, GENESIS_HASH)
    _fill_audit(store)
    entries = store.audit.entries()
    assert [e.id for e in entries] == [1, 2, 3, 4, 5]
    assert entries[0].prev_hash == GENESIS_HASH
    assert all(e.prev_hash == p.hash for p, e in itertools.pairwise(entries))
    assert entries[1].query["window"] == ["2024-03-01", "2024-03-14"]
    assert store.audit.verify_chain() is None
    assert store.audit.head() == (5, entries[-1].hash)
    assert [e.id for e in store.audit.entries(case_id="C1")] == [2, 4]
    assert [e.id for e in store.audit.entries(limit=2)] == [1, 2]
    since = store.audit.entries(since=entries[0].timestamp + timedelta(days=1))
    assert since == []


def _raw(store: Store, stmt: Any) -> None:
    with store.engine.begin() as c:
        c.execute(stmt)


@pytest.mark.parametrize(
    ("tamper", "first_bad"),
    [
        pytest.param(
            lambda s: _raw(s, update(AuditRow).where(AuditRow.id == 3).values(actor="mallory")),
            3,
            id="edit-actor",
        ),
        pytest.param(
            lambda s: _raw(s, text("UPDATE audit_log SET result = '{\"hits\": 0}' WHERE id = 2")),
            2,
            id="edit-result-sql",
        ),
        pytest.param(
            lambda s: _raw(
                s,
                update(AuditRow)
                .where(AuditRow.id == 4)
                .values(timestamp=datetime(2020, 1, 1).astimezone()),
            ),
            4,
            id="edit-time",
        ),
        pytest.param(
            lambda s: _raw(s, delete(AuditRow).where(AuditRow.id == 2)), 3, id="delete-middle"
        ),
        pytest.param(
            lambda s: _raw(s, delete(AuditRow).where(AuditRow.id == 1)), 2, id="delete-first"
        ),
        pytest.param(lambda s: _swap(s, 2, 3), 2, id="reorder"),
    ],
)
def test_audit_chain_detects_tampering(store: Store, tamper: Any, first_bad: int) -> None:
    _fill_audit(store)
    tamper(store)
    assert store.audit.verify_chain() == first_bad


def _swap(store: Store, a: int, b: int) -> None:
    with store.engine.begin() as c:
        c.execute(update(AuditRow).where(AuditRow.id == a).values(id=-1, prev_hash="x"))
        c.execute(update(AuditRow).where(AuditRow.id == b).values(id=a))
        c.execute(update(AuditRow).where(AuditRow.id == -1).values(id=b))
        # keep prev_hash unique while swapping, then put the real value back
        row = c.execute(text(f"SELECT hash FROM audit_log WHERE id = {a - 1}")).scalar_one()
        c.execute(update(AuditRow).where(AuditRow.id == b).values(prev_hash=row))


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"query": {"when": datetime(2024, 1, 1)}}, "JSON"),
        ({"result": {"x": float("nan")}}, "JSON"),
        ({"actor": ""}, "actor"),
        ({"action": "x" * 65}, "action"),
    ],
)
def test_bad_audit_inputs(sqlite_store: Store, kwargs: dict[str, Any], match: str) -> None:
    args: dict[str, Any] = {
        "actor": "a",
        "action": "search",
        "case_id": None,
        "query": {},
        "result": {},
    }
    with pytest.raises(InvalidInputError, match=match):
        sqlite_store.audit.append(**(args | kwargs))
    assert sqlite_store.audit.entries() == []


@pytest.mark.parametrize("team", ["", "north\nsouth", "bell\x07", " padded ", "x" * 65])
def test_team_names_are_printable(sqlite_store: Store, team: str) -> None:
    from cctrace.store import InvalidInputError

    with pytest.raises(InvalidInputError, match="team"):
        sqlite_store.users.create("ann", "hash", "investigator", team)
    sqlite_store.users.create("bob", "hash", "investigator", "north")
    with pytest.raises(InvalidInputError, match="team"):
        sqlite_store.users.update("bob", team=team)
