"""Trace jobs live in the database: a restart loses none, and several app instances on
one store (uvicorn workers, hosts) share the queue without running a job twice."""

from __future__ import annotations

import socket
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from cctrace.config import SiteConfig
from cctrace.store import Store, TraceJobRecord
from cctrace.web import WebSettings, create_app
from cctrace.web import app as app_module
from cctrace.web.jobs import ProgressFn, TraceJobs
from cctrace.web.security import hash_password
from tests.web.web_support import PASSWORD, USERS, seed_store, wait_job, write_site

AppFactory = Callable[[int], FastAPI]


@pytest.fixture(params=["sqlite"])
def site_store(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[tuple[SiteConfig, Store]]:
    """A seeded store (SQLite; PostgreSQL where a test asks for both backends)."""
    site = write_site(tmp_path)
    if request.param == "sqlite":
        store = Store.for_site(site)
    else:
        url = request.getfixturevalue("pg_server").new_database()
        store = Store(site.storage.data_dir, url=url)
    seed_store(store)
    digest = hash_password(PASSWORD)
    for name, (role, team) in USERS.items():
        store.users.create(name, digest, role, team)
    yield site, store
    store.close()


@pytest.fixture
def make_app(site_store: tuple[SiteConfig, Store]) -> Iterator[AppFactory]:
    """Apps on the one store, ``workers`` trace workers each; all shut down at the end."""
    site, store = site_store
    apps: list[FastAPI] = []

    def make(workers: int) -> FastAPI:
        settings = WebSettings.for_demo().model_copy(update={"trace_workers": workers})
        app = create_app(site, settings, store=store)
        apps.append(app)
        return app

    yield make
    for app in apps:
        app.state.cctrace.jobs.shutdown()


def signed_in(app: FastAPI, username: str = "ivy") -> TestClient:
    client = TestClient(app)
    resp = client.post("/api/auth/login", json={"username": username, "password": PASSWORD})
    assert resp.status_code == 200, resp.text
    client.headers["X-CSRF-Token"] = resp.json()["csrf_token"]
    return client


def queue_trace(client: TestClient, case_id: str, tracklet_id: int = 1) -> str:
    resp = client.post("/api/cases", json={"case_id": case_id, "legal_basis": "Public Health Act"})
    assert resp.status_code == 201, resp.text
    resp = client.post(f"/api/cases/{case_id}/traces", data={"tracklet_id": str(tracklet_id)})
    assert resp.status_code == 202, resp.text
    return str(resp.json()["job_id"])


def test_a_job_queued_before_a_restart_runs_after_it(
    make_app: AppFactory, site_store: tuple[SiteConfig, Store]
) -> None:
    _, store = site_store
    before = make_app(0)  # this process only queues: the job cannot start here
    with signed_in(before) as ivy:
        job_id = queue_trace(ivy, "C-1")
        assert ivy.get(f"/api/jobs/{job_id}").json()["status"] == "queued"
    before.state.cctrace.jobs.shutdown()  # the app goes away with the job still queued
    after = make_app(1)
    with signed_in(after) as ivy:
        job = wait_job(ivy, job_id, timeout_s=30)
        assert job["status"] == "done", job
        result = ivy.get("/api/cases/C-1/result").json()
        assert result["case_id"] == "C-1" and result["timeline"], result
    assert store.trace_jobs.get(job_id).claimed_by == after.state.cctrace.jobs.owner  # type: ignore[union-attr]


def test_a_job_left_running_by_a_dead_process_is_run_again_on_start(
    make_app: AppFactory, site_store: tuple[SiteConfig, Store]
) -> None:
    _, store = site_store
    first = make_app(0)
    with signed_in(first) as ivy:
        job_id = queue_trace(ivy, "C-1")
    first.state.cctrace.jobs.shutdown()
    # A process on this host claimed it, then was killed (no such pid any more).
    gone = f"deadbeef@{socket.gethostname()}:4194303:1"
    claimed = store.trace_jobs.claim(gone)
    assert claimed is not None and claimed.id == job_id
    after = make_app(1)  # start-up puts the dead owner's job back in the queue
    with signed_in(after) as ivy:
        job = wait_job(ivy, job_id, timeout_s=30)
    assert job["status"] == "done", job
    record = store.trace_jobs.get(job_id)
    assert record is not None and record.attempts == 2


@pytest.mark.parametrize("site_store", ["sqlite", "postgresql"], indirect=True)
def test_two_apps_on_one_store_share_the_queue_and_never_run_a_job_twice(
    make_app: AppFactory,
    site_store: tuple[SiteConfig, Store],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _, store = site_store
    runs: list[tuple[str, str]] = []
    lock = threading.Lock()

    def run(state: object, job: TraceJobRecord, progress: ProgressFn) -> None:
        progress("searching", 0.5)
        time.sleep(0.02)
        with lock:
            runs.append((job.id, threading.current_thread().name + job.claimed_by))  # type: ignore[operator]

    monkeypatch.setattr(app_module, "run_trace_job", run)
    apps = [make_app(2), make_app(2)]
    ids = {store.trace_jobs.enqueue(f"C-{i}", "ivy", {}).id for i in range(40)}
    for app in apps:
        app.state.cctrace.jobs._wake.set()
    assert apps[0].state.cctrace.jobs.wait_idle(60)
    counts = Counter(job_id for job_id, _ in runs)
    assert set(counts) == ids and max(counts.values()) == 1
    owners = {store.trace_jobs.get(i).claimed_by for i in ids}  # type: ignore[union-attr]
    assert owners == {app.state.cctrace.jobs.owner for app in apps}  # both took a share
    with signed_in(apps[1]) as ivy:
        some = next(iter(ids))
        # Any app answers for any job (here: no case C-n exists, so it is not disclosed).
        assert ivy.get(f"/api/jobs/{some}").status_code == 404
        assert ivy.get("/api/jobs/" + "f" * 32).status_code == 404


def test_heartbeats_keep_a_long_job_with_its_worker(tmp_path: Path) -> None:
    runs: list[str] = []

    def slow(job: TraceJobRecord, progress: ProgressFn) -> None:
        runs.append(job.id)
        time.sleep(1.5)  # far longer than stale_after_s: only heartbeats keep it

    with Store(tmp_path) as store:
        fast = {"stale_after_s": 0.5, "heartbeat_s": 0.1, "poll_s": 0.05}
        one = TraceJobs(store, slow, 1, **fast).start()  # type: ignore[arg-type]
        two = TraceJobs(store, slow, 1, **fast).start()  # type: ignore[arg-type]
        try:
            job = one.submit("A", "ivy", {})
            assert one.wait_idle(10)
            assert runs == [job.job_id]
            record = store.trace_jobs.get(job.job_id)
            assert record is not None and record.status == "done" and record.attempts == 1
        finally:
            one.shutdown()
            two.shutdown()
