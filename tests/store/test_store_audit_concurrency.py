"""Audit appends from several processes' stores at once (web workers on one database):
every append succeeds and the chain stays whole, on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from pathlib import Path

from cctrace.store import Store


def test_parallel_appends_from_several_stores_all_land_in_one_chain(
    store: Store, tmp_path: Path
) -> None:
    others = [Store(store.data_dir, url=store.url) for _ in range(3)]
    errors: list[BaseException] = []

    def append(s: Store, n: int) -> None:
        try:
            for i in range(15):
                s.audit.append("ivy", "view_case", None, {"writer": n, "i": i}, {})
        except BaseException as exc:  # collected, asserted below
            errors.append(exc)

    threads = [
        threading.Thread(target=append, args=(s, n))
        for n, s in enumerate([store, *others] * 2)  # 8 writers on 4 stores (pools)
    ]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        for s in others:
            s.close()
    assert errors == []
    entries = store.audit.entries()
    assert len(entries) == 8 * 15
    assert [e.id for e in entries] == list(range(1, 8 * 15 + 1))
    assert store.audit.verify().ok
