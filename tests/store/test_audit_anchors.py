"""The keyed audit chain and its signed checkpoints: every kind of tampering a database
writer can do (without the data key) is detected; a normal site verifies clean."""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import delete, select, text, update
from typer.testing import CliRunner

from cctrace.cli import app
from cctrace.config import load_site
from cctrace.privacy.crypto import DataCipher
from cctrace.store import GENESIS_HASH, Store
from cctrace.store.audit_chain import SWITCH_KEY, AuditKey, audit_entry, audit_hash
from cctrace.store.records import AuditRecord
from cctrace.store.schema import AuditRow, StoreMetaRow, utcnow

runner = CliRunner()
N = 8


def _fill(store: Store, n: int = N, actor: str = "alice") -> None:
    for i in range(n):
        store.audit.append(
            actor,
            "search",
            "C1" if i % 2 else None,
            {"photos": i, "window": ["2024-03-01", "2024-03-14"]},
            {"hits": i * 3, "name": "Zoë"},
        )


def _sql(store: Store, stmt: Any) -> None:
    with store.engine.begin() as c:
        c.execute(stmt)


def _content(e: AuditRecord, **changes: Any) -> dict[str, Any]:
    fields = {
        "entry_id": e.id,
        "timestamp": e.timestamp,
        "actor": e.actor,
        "action": e.action,
        "case_id": e.case_id,
        "query": e.query,
        "result": e.result,
    }
    fields.update(changes)
    return audit_entry(**fields)


def _rewrite_from(
    store: Store, first: int, hasher: Callable[[str, dict[str, Any]], str], **changes: Any
) -> None:
    """Change entry ``first`` and recompute every later hash with ``hasher`` (what an
    attacker with database access can do)."""
    entries = store.audit.entries()
    prev = entries[first - 2].hash if first > 1 else GENESIS_HASH
    with store.engine.begin() as c:
        for e in entries[first - 1 :]:
            row_changes = changes if e.id == first else {}
            digest = hasher(prev, _content(e, **row_changes))
            # prev_hash is unique: park the row's prev_hash first, then set the real ones
            c.execute(
                update(AuditRow)
                .where(AuditRow.id == e.id)
                .values(prev_hash=f"tmp-{e.id}", hash=digest, **row_changes)
            )
            prev = digest
        prev = entries[first - 2].hash if first > 1 else GENESIS_HASH
        for e in entries[first - 1 :]:
            c.execute(update(AuditRow).where(AuditRow.id == e.id).values(prev_hash=prev))
            prev = c.execute(select(AuditRow.hash).where(AuditRow.id == e.id)).scalar_one()


def _swap(store: Store, a: int, b: int) -> None:
    with store.engine.begin() as c:
        c.execute(update(AuditRow).where(AuditRow.id == a).values(id=-1, prev_hash="x"))
        c.execute(update(AuditRow).where(AuditRow.id == b).values(id=a))
        c.execute(update(AuditRow).where(AuditRow.id == -1).values(id=b))
        prev = c.execute(select(AuditRow.hash).where(AuditRow.id == a - 1)).scalar_one()
        c.execute(update(AuditRow).where(AuditRow.id == b).values(prev_hash=prev))


def _replay(store: Store, source: int) -> None:
    """Append a copy of entry ``source`` at the end of the chain, linked to the head."""
    e = next(x for x in store.audit.entries() if x.id == source)
    head_id, head_hash = store.audit.head()
    _sql(
        store,
        AuditRow.__table__.insert().values(
            id=head_id + 1,
            timestamp=e.timestamp,
            actor=e.actor,
            action=e.action,
            case_id=e.case_id,
            query=e.query,
            result=e.result,
            prev_hash=head_hash,
            hash=e.hash,
        ),
    )


WRONG_KEY = AuditKey(os.urandom(32), "attacker's guess")

TAMPERS: list[Any] = [
    pytest.param(
        lambda s: _sql(s, update(AuditRow).where(AuditRow.id == 3).values(actor="mallory")),
        3,
        "does not match its keyed hash",
        id="edit",
    ),
    pytest.param(
        lambda s: _sql(s, text("UPDATE audit_log SET result = '{\"hits\": 0}' WHERE id = 5")),
        5,
        "does not match its keyed hash",
        id="edit-sql",
    ),
    pytest.param(
        lambda s: _rewrite_from(s, 3, audit_hash, actor="mallory"),
        3,
        "public unkeyed hash",
        id="rewrite-public-hash",
    ),
    pytest.param(
        lambda s: _rewrite_from(s, 1, audit_hash, actor="mallory"),
        1,
        "public unkeyed hash",
        id="rewrite-all-public-hash",
    ),
    pytest.param(
        lambda s: _rewrite_from(s, 4, WRONG_KEY.entry_hash, action="login"),
        4,
        "without the audit key",
        id="rewrite-wrong-key",
    ),
    pytest.param(
        lambda s: _sql(s, delete(AuditRow).where(AuditRow.id >= N - 2)),
        N - 2,
        f"entries {N - 2}..{N} are missing",
        id="delete-tail",
    ),
    pytest.param(
        lambda s: _sql(s, delete(AuditRow).where(AuditRow.id == N)),
        N,
        f"entry {N} is missing",
        id="delete-last",
    ),
    pytest.param(
        lambda s: _sql(s, delete(AuditRow)),
        1,
        f"entries 1..{N} are missing",
        id="delete-all",
    ),
    pytest.param(
        lambda s: (_sql(s, delete(AuditRow)), _sql(s, delete(StoreMetaRow))),
        1,
        f"entries 1..{N} are missing",
        id="delete-all-and-meta",
    ),
    pytest.param(
        lambda s: _sql(s, delete(AuditRow).where(AuditRow.id == 2)),
        3,
        "entry 2 is missing",
        id="delete-middle",
    ),
    pytest.param(lambda s: _swap(s, 2, 3), 2, "does not follow", id="reorder"),
    pytest.param(lambda s: _replay(s, 3), N + 1, "repeats entry 3", id="replay"),
    pytest.param(
        lambda s: (_sql(s, delete(AuditRow).where(AuditRow.id >= 6)), _fill(s, 4, "mallory")),
        6,
        "not the entry the checkpoint",
        id="delete-tail-then-append",
    ),
]


@pytest.mark.parametrize(("tamper", "first_bad", "says"), TAMPERS)
def test_every_tamper_kind_is_detected(
    store: Store, tamper: Callable[[Store], Any], first_bad: int, says: str
) -> None:
    _fill(store)
    assert store.audit.verify().ok
    tamper(store)
    report = store.audit.verify()
    assert not report.ok
    assert report.first_bad == first_bad, report.problems
    assert any(says in p for p in report.problems), report.problems
    assert store.audit.verify_chain() == first_bad


def test_a_normal_site_verifies_clean_after_reopening(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with Store(data) as store:
        _fill(store, 5)
    with Store(data) as store:
        _fill(store, 3, "bob")
        report = store.audit.verify()
    assert report.ok, report.problems
    assert (report.entries, report.verified, report.keyed_from) == (8, 8, 1)
    assert (report.checkpoints, report.last_anchored) == (8, 8)
    assert report.first_bad is None and report.notes == []
    assert report.anchor_path == str(data / "audit" / "anchors.jsonl")
    lines = (data / "audit" / "anchors.jsonl").read_text().splitlines()
    assert [json.loads(x)["count"] for x in lines] == list(range(1, 9))
    assert "mac" in json.loads(lines[0]) and report.key_id in lines[0]


def test_the_audit_key_is_not_in_the_database(tmp_path: Path) -> None:
    cipher = DataCipher(os.urandom(32), source="test key")
    with Store(tmp_path / "data", cipher=cipher) as store:
        _fill(store, 2)
        key = store.audit.key
        assert key.source == "test key"
        with store.engine.connect() as c:
            dump = "".join(
                str(row)
                for table in ("audit_log", "store_meta")
                for row in c.execute(text(f"SELECT * FROM {table}"))
            )
    assert key._key.hex() not in dump and cipher._key.hex() not in dump


def test_another_data_key_is_reported_as_such(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with Store(data, cipher=DataCipher(os.urandom(32))) as store:
        _fill(store, 3)
    with Store(data, cipher=DataCipher(os.urandom(32))) as store:
        report = store.audit.verify()
    assert not report.ok
    assert any("another audit key" in p for p in report.problems), report.problems


def test_checkpoints_cannot_be_forged_or_edited(sqlite_store: Store) -> None:
    _fill(sqlite_store, 4)
    path = sqlite_store.audit_anchor_path
    lines = path.read_text().splitlines()
    forged = json.loads(lines[-1]) | {"count": 3}
    path.write_text("\n".join([*lines[:-1], json.dumps(forged)]) + "\n")
    report = sqlite_store.audit.verify()
    assert not report.ok and any("bad signature" in p for p in report.problems)


def test_a_torn_last_checkpoint_line_is_only_a_note(sqlite_store: Store) -> None:
    _fill(sqlite_store, 3)
    with open(sqlite_store.audit_anchor_path, "a") as fh:
        fh.write('{"count":4,"he')
    report = sqlite_store.audit.verify()
    assert report.ok, report.problems
    assert any("incomplete" in n for n in report.notes)


def test_a_missing_anchor_file_fails_and_another_copy_can_be_given(
    sqlite_store: Store, tmp_path: Path
) -> None:
    _fill(sqlite_store, 3)
    copy = tmp_path / "from-syslog.jsonl"
    sqlite_store.audit_anchor_path.rename(copy)
    report = sqlite_store.audit.verify()
    assert not report.ok and any("no anchor file" in p for p in report.problems)
    report = sqlite_store.audit.verify(anchor_path=copy)
    assert report.ok and report.checkpoints == 3 and report.anchor_path == str(copy)


def test_the_switch_record_cannot_be_moved(sqlite_store: Store) -> None:
    _fill(sqlite_store, 4)
    with sqlite_store.engine.begin() as c:
        value = json.loads(
            c.execute(select(StoreMetaRow.value).where(StoreMetaRow.key == SWITCH_KEY)).scalar_one()
        )
        value["keyed_from"] = 5  # pass entries 1..4 off as unkeyed
        c.execute(
            update(StoreMetaRow)
            .where(StoreMetaRow.key == SWITCH_KEY)
            .values(value=json.dumps(value))
        )
    report = sqlite_store.audit.verify()
    assert not report.ok and any("altered" in p for p in report.problems)


def _legacy_site(data: Path, n: int) -> None:
    """A database as an unkeyed cctrace left it: sha256 chain, no record, no anchors."""
    with Store(data) as store:
        prev = GENESIS_HASH
        with store.engine.begin() as c:
            for i in range(1, n + 1):
                now = utcnow()
                content = audit_entry(i, now, "old", "search", None, {"i": i}, {})
                digest = audit_hash(prev, content)
                c.execute(
                    AuditRow.__table__.insert().values(
                        id=i,
                        timestamp=now,
                        actor="old",
                        action="search",
                        case_id=None,
                        query={"i": i},
                        result={},
                        prev_hash=prev,
                        hash=digest,
                    )
                )
                prev = digest


def test_an_old_unkeyed_database_opens_verifies_and_upgrades(tmp_path: Path) -> None:
    data = tmp_path / "data"
    _legacy_site(data, 4)
    with Store(data) as store:
        before = store.audit.verify()
        assert before.ok, before.problems
        assert before.keyed_from is None and before.legacy_entries == 4
        assert any("before the chain was keyed" in n for n in before.notes)
        _fill(store, 3)
        after = store.audit.verify()
    assert after.ok, after.problems
    assert (after.keyed_from, after.legacy_entries, after.entries) == (5, 4, 7)
    assert after.checkpoints == 3
    assert any("entries 1..4 were written before" in n for n in after.notes)
    assert any("keyed from entry 5, 4 earlier unkeyed" in x for x in after.checked_against())


def test_old_entries_cannot_be_rewritten_after_the_upgrade(tmp_path: Path) -> None:
    data = tmp_path / "data"
    _legacy_site(data, 4)
    with Store(data) as store:
        _fill(store, 2)
        # the old entries use the public hash: recompute them, but entry 5 links to them
        entries = store.audit.entries()[:4]
        prev = GENESIS_HASH
        with store.engine.begin() as c:
            for e in entries:
                actor = "mallory" if e.id == 2 else e.actor
                digest = audit_hash(prev, _content(e, actor=actor))
                c.execute(
                    update(AuditRow)
                    .where(AuditRow.id == e.id)
                    .values(actor=actor, hash=digest, prev_hash=f"tmp-{e.id}")
                )
                prev = digest
            prev = GENESIS_HASH
            for e in entries:
                c.execute(update(AuditRow).where(AuditRow.id == e.id).values(prev_hash=prev))
                prev = c.execute(select(AuditRow.hash).where(AuditRow.id == e.id)).scalar_one()
        report = store.audit.verify()
    assert not report.ok and report.first_bad == 5, report.problems


def test_deleting_the_switch_record_and_rewriting_is_caught_by_the_checkpoints(
    sqlite_store: Store,
) -> None:
    _fill(sqlite_store, 4)
    _sql(sqlite_store, delete(StoreMetaRow).where(StoreMetaRow.key == SWITCH_KEY))
    _rewrite_from(sqlite_store, 1, audit_hash, actor="mallory")
    _fill(sqlite_store, 1)  # the next append must not re-create the record at entry 5
    report = sqlite_store.audit.verify()
    assert not report.ok and report.first_bad == 1, report.problems


def test_concurrent_appends_verify(sqlite_store: Store) -> None:
    threads = [threading.Thread(target=_fill, args=(sqlite_store, 5, f"t{i}")) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    report = sqlite_store.audit.verify()
    assert report.ok, report.problems
    assert report.entries == 20 and report.last_anchored == 20 and report.checkpoints == 20


def test_the_quick_tail_check_sees_a_deleted_tail(sqlite_store: Store) -> None:
    _fill(sqlite_store, 4)
    assert sqlite_store.audit.check_anchor_tail() == (None, None)
    _sql(sqlite_store, delete(AuditRow).where(AuditRow.id == 4))
    bad, problem = sqlite_store.audit.check_anchor_tail()
    assert bad == 4 and problem is not None and "entry 4 is missing" in problem


SITE = """\
name: audit-test
cameras:
  - id: cam1
    location: {x_m: 0, y_m: 0}
    footage: [clip.mp4]
    start_time: 2026-03-15T08:00:00Z
storage:
  data_dir: data
audit:
  anchor_path: elsewhere/anchors.jsonl
"""


def test_cli_verify_says_what_it_checked_and_fails_on_tampering(tmp_path: Path) -> None:
    site_file = tmp_path / "site.yaml"
    site_file.write_text(SITE)
    site = load_site(site_file, check_files=False)
    assert site.audit.anchor_path == tmp_path / "elsewhere" / "anchors.jsonl"
    with Store.for_site(site) as store:
        _fill(store, 3)
    assert (tmp_path / "elsewhere" / "anchors.jsonl").is_file()
    assert not (tmp_path / "data" / "audit").exists()
    res = runner.invoke(app, ["audit", "verify", "--site", str(site_file)])
    assert res.exit_code == 0, res.output
    assert "audit log intact: 3 entries verified" in res.output
    assert "3 checkpoints, last anchored count 3" in res.output
    assert "derived from the data key" in res.output
    with Store.for_site(site) as store:
        _sql(store, delete(AuditRow).where(AuditRow.id == 3))
    res = runner.invoke(app, ["audit", "verify", "--site", str(site_file)])
    assert res.exit_code == 1
    assert "first bad entry 3" in res.output and "entry 3 is missing" in res.output
