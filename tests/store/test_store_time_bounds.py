"""A time-window query bounds both ends of its index range by the longest stored
tracklet: right answers at every edge, and on PostgreSQL a plan that reads one day."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import delete, event, text

from cctrace.config import PoolConfig
from cctrace.errors import StoreError
from cctrace.store import Store
from cctrace.store.schema import StoreMetaRow
from cctrace.store.time_bounds import LONGEST_KEY, longest_tracklet_s
from tests.store.store_factories import T0, save, setup_footage, tracklet


def _longest(store: Store) -> float:
    with store.engine.connect() as c:
        return float(
            c.execute(
                text("SELECT value FROM store_meta WHERE key = :k"), {"k": LONGEST_KEY}
            ).scalar_one()
        )


def test_windows_find_every_overlapping_tracklet(store: Store) -> None:
    f = setup_footage(store)
    # a 400 s tracklet that starts long before the window and a short one
    long_one = tracklet(1, start=T0, n_points=401, fps=1.0, n_faces=1)
    short = tracklet(2, start=T0 + timedelta(seconds=390), n_points=5, fps=1.0, n_faces=1)
    save(store, f.id, [long_one, short])
    assert _longest(store) == 400.0
    # the window starts 399.5 s after the long one began: it still overlaps it
    found = store.tracklets.in_window(T0 + timedelta(seconds=399.5), T0 + timedelta(seconds=999))
    assert [t.track_id for t in found] == [1]
    found = store.tracklets.in_window(T0 + timedelta(seconds=392), None)
    assert [t.track_id for t in found] == [1, 2]
    assert store.tracklets.in_window(T0 + timedelta(seconds=401), None) == []


def test_the_longest_duration_only_grows_and_is_measured_for_old_databases(store: Store) -> None:
    f = setup_footage(store)
    save(store, f.id, [tracklet(1, n_points=11, fps=1.0)])  # 10 s
    save(store, f.id, [tracklet(2, n_points=3, fps=1.0)], offset=20.0)  # 2 s: no change
    assert _longest(store) == 10.0
    # a database from before the key: measured from the table when the store opens
    with store.engine.begin() as c:
        c.execute(delete(StoreMetaRow).where(StoreMetaRow.key == LONGEST_KEY))
    reopened = Store(store.data_dir, url=store.url)
    try:
        assert abs(_longest(reopened) - 10.0) < 1e-3
        found = reopened.tracklets.in_window(T0 + timedelta(seconds=9), None)
        assert [t.track_id for t in found] == [1]
        with reopened._read() as s:
            assert abs(longest_tracklet_s(s) - 10.0) < 1e-3
    finally:
        reopened.close()


def test_a_day_query_reads_only_its_day_on_postgresql(store: Store) -> None:
    """28 days of tracklets; the plan for one day's window scans an index range bounded
    on both sides: that day (plus the longest tracklet), not the 27 days before it."""
    if store.dialect != "postgresql":
        return
    f = setup_footage(store)
    per_day = 40
    for day in range(28):
        batch = [
            tracklet(
                day * per_day + i,
                start=T0 + timedelta(days=day, minutes=30 * i),
                n_points=3,
                n_faces=0,
                snapshot=False,
            )
            for i in range(per_day)
        ]
        save(store, f.id, batch, offset=float(day + 1))
    day27 = T0 + timedelta(days=27)
    statements: list[tuple[str, Any]] = []

    def capture(conn: Any, cursor: Any, statement: str, params: Any, *args: Any) -> None:
        if "FROM tracklets" in statement:
            statements.append((statement, params))

    event.listen(store.engine, "before_cursor_execute", capture)
    try:
        found = store.tracklets.in_window(day27, day27 + timedelta(days=1))
    finally:
        event.remove(store.engine, "before_cursor_execute", capture)
    assert len(found) == per_day
    (statement, params), *_ = statements
    raw = store.engine.raw_connection()
    try:
        cur = raw.cursor()
        cur.execute("ANALYZE tracklets")
        cur.execute("SET enable_seqscan = off")  # the test table is small enough to read whole
        cur.execute("EXPLAIN (ANALYZE, FORMAT JSON) " + statement, params)
        plan = json.dumps(cur.fetchone()[0])
    finally:
        raw.close()
    # The index range is bounded on both ends of start_time (that day plus the longest
    # tracklet), so the 27 days before it are not read.
    conds = re.findall(r'"Index Cond": "([^"]*)"', plan)
    assert any("start_time >=" in c and "start_time <=" in c for c in conds), plan


def test_the_pool_is_sized_from_the_site(store: Store, tmp_path: Path) -> None:
    """storage.pool reaches the engine: with 1 connection and no overflow, a second
    concurrent transaction waits timeout_s and fails with a clear store error."""
    if store.dialect != "postgresql":
        return
    small = Store(
        tmp_path / "pool", url=store.url, pool=PoolConfig(size=1, max_overflow=0, timeout_s=0.5)
    )
    try:
        with small.engine.connect(), pytest.raises(StoreError, match="database"):
            small.cases.find()
        assert small.cases.find() == []
    finally:
        small.close()
