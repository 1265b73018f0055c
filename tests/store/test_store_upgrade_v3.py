"""A schema-2 database gains the footage columns of version 3 when opened."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path

from cctrace.store import Store
from cctrace.store.schema import FOOTAGE_COLUMNS_V3, SCHEMA_VERSION


def test_a_version_2_database_is_upgraded_in_place(tmp_path: Path) -> None:
    with Store(tmp_path) as store:
        store.upsert_camera("cam")
        store.get_or_create_footage(
            "cam", "/f.mp4", "b" * 64, 1, datetime(2026, 1, 1, tzinfo=UTC), 2.0, 10.0
        )
    (db,) = tmp_path.glob("*.db")
    con = sqlite3.connect(db)
    for column in FOOTAGE_COLUMNS_V3:
        con.execute(f"ALTER TABLE footage_files DROP COLUMN {column}")
    con.execute("DROP TABLE footage_failures")
    con.execute("UPDATE store_meta SET value = '2' WHERE key = 'schema_version'")
    con.commit()
    con.close()
    with Store(tmp_path) as store:
        (footage,) = store.list_footage()
        assert footage.start_source is None and footage.run_owner is None
        store.claim_footage(footage.id, "host:1:2")
        assert store.get_footage(footage.id).run_owner == "host:1:2"
        store.record_footage_failure("cam", "/g.mp4", "unreadable")
        assert [f.path for f in store.list_footage_failures()] == ["/g.mp4"]
    con = sqlite3.connect(db)
    (version,) = con.execute("SELECT value FROM store_meta WHERE key = 'schema_version'").fetchone()
    assert version == SCHEMA_VERSION == "3"
