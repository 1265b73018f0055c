"""The trace job queue (``trace_jobs``) on SQLite and PostgreSQL: one queued job per
case, a cap per user, claims that never hand one job to two workers (two stores on one
database, many threads), and jobs of gone workers back in the queue."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import update

from cctrace.errors import QueryError
from cctrace.store import Store
from cctrace.store.schema import TraceJobRow, utcnow


@pytest.fixture
def twin(store: Store) -> Iterator[Store]:
    """A second store on the same database (another web process)."""
    with Store(store.data_dir, url=store.url) as other:
        yield other


def test_one_queued_job_per_case_and_a_cap_per_user(store: Store) -> None:
    first = store.trace_jobs.enqueue("A", "ivy", {"distance_m": 2.0}, max_active_per_user=3)
    assert first.status == "queued" and first.params == {"distance_m": 2.0}
    assert store.trace_jobs.enqueue("A", "ivy", {}, max_active_per_user=3).id == first.id
    store.trace_jobs.enqueue("B", "ivy", {}, max_active_per_user=3)
    store.trace_jobs.enqueue("C", "ivy", {}, max_active_per_user=3)
    with pytest.raises(QueryError, match="already have 3"):
        store.trace_jobs.enqueue("D", "ivy", {}, max_active_per_user=3)
    store.trace_jobs.enqueue("D", "sue", {}, max_active_per_user=3)
    claimed = store.trace_jobs.claim("w1")
    assert claimed is not None and claimed.id == first.id  # oldest first
    assert claimed.status == "running" and claimed.claimed_by == "w1" and claimed.attempts == 1
    # A running job does not take a new request for its case: that one queues.
    again = store.trace_jobs.enqueue("A", "sue", {})
    assert again.id != first.id and again.status == "queued"
    assert store.trace_jobs.latest("A") == store.trace_jobs.get(again.id)


def test_progress_and_the_end_are_recorded_only_by_the_owner(store: Store) -> None:
    job = store.trace_jobs.enqueue("A", "ivy", {})
    assert store.trace_jobs.claim("w1") is not None
    assert not store.trace_jobs.update(job.id, "w2", "searching", 0.5)
    assert store.trace_jobs.update(job.id, "w1", "searching", 0.5)
    got = store.trace_jobs.get(job.id)
    assert got is not None and (got.stage, got.progress) == ("searching", 0.5)
    assert not store.trace_jobs.finish(job.id, "w2")
    assert store.trace_jobs.finish(job.id, "w1", "no such tracklet")
    got = store.trace_jobs.get(job.id)
    assert got is not None and got.status == "failed" and got.error == "no such tracklet"
    assert got.finished_at is not None
    assert store.trace_jobs.claim("w1") is None
    assert store.trace_jobs.count_active() == 0


def test_two_stores_and_many_threads_never_claim_a_job_twice(store: Store, twin: Store) -> None:
    ids = {store.trace_jobs.enqueue(f"C-{i}", f"u{i}", {}).id for i in range(60)}
    claims: list[tuple[str, str]] = []
    lock = threading.Lock()
    start = threading.Barrier(8)

    def worker(s: Store, owner: str) -> None:
        start.wait()
        while (job := s.trace_jobs.claim(owner)) is not None:
            with lock:
                claims.append((job.id, owner))
            assert s.trace_jobs.finish(job.id, owner)

    threads = [
        threading.Thread(target=worker, args=(store if i % 2 else twin, f"w{i}")) for i in range(8)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    counts = Counter(job_id for job_id, _ in claims)
    assert set(counts) == ids and max(counts.values()) == 1
    assert len({owner for _, owner in claims}) > 1  # the work was shared
    assert store.trace_jobs.count_active() == 0


def test_jobs_of_gone_workers_go_back_to_the_queue(store: Store, twin: Store) -> None:
    stale = store.trace_jobs.enqueue("A", "ivy", {})
    dead = store.trace_jobs.enqueue("B", "ivy", {})
    alive = store.trace_jobs.enqueue("C", "ivy", {})
    assert store.trace_jobs.claim("old") is not None
    assert store.trace_jobs.claim("dead") is not None
    assert store.trace_jobs.claim("alive") is not None
    with store.engine.begin() as conn:
        conn.execute(
            update(TraceJobRow)
            .where(TraceJobRow.id == stale.id)
            .values(heartbeat_at=utcnow() - timedelta(seconds=120))
        )
    changed = twin.trace_jobs.requeue(60, dead=lambda owner: owner == "dead")
    assert sorted(changed) == sorted([stale.id, dead.id])
    for job_id in (stale.id, dead.id):
        got = store.trace_jobs.get(job_id)
        assert got is not None and got.status == "queued" and got.claimed_by is None
    got = store.trace_jobs.get(alive.id)
    assert got is not None and got.status == "running" and got.claimed_by == "alive"
    # The old owner cannot finish a job taken from it; the new one can.
    assert not store.trace_jobs.finish(stale.id, "old")
    again = twin.trace_jobs.claim("new")
    assert again is not None and again.id == stale.id and again.attempts == 2
    assert twin.trace_jobs.finish(stale.id, "new")


def test_a_job_that_keeps_killing_its_workers_fails(store: Store) -> None:
    job = store.trace_jobs.enqueue("A", "ivy", {})
    for _ in range(3):
        assert store.trace_jobs.claim("doomed") is not None
        store.trace_jobs.requeue(60, dead=lambda owner: True)
    got = store.trace_jobs.get(job.id)
    assert got is not None and got.status == "failed" and "stopped 3 times" in (got.error or "")


def test_the_retention_purge_deletes_an_expired_cases_jobs(store: Store) -> None:
    store.cases.create("OLD", "ivy", "public health act")
    store.cases.create("OPEN", "ivy", "public health act")
    old = store.trace_jobs.enqueue("OLD", "ivy", {"photos": ["/cases/OLD/p.jpg"]})
    kept = store.trace_jobs.enqueue("OPEN", "ivy", {})
    store.cases.set_status("OLD", "closed")
    later = utcnow() + timedelta(days=1)
    store.retention.purge_expired(later - timedelta(days=400), later)
    assert store.trace_jobs.get(old.id) is None
    assert store.trace_jobs.get(kept.id) is not None
