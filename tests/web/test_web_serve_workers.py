"""``cctrace serve --workers 2`` on a real PostgreSQL server: the workers share sessions,
the sign-in limiter and the trace queue, and a trace outlives the worker or the whole
server that was running it (it resumes from the database and finishes exactly once).

The trace is held in a real place mid-run: the test locks ``audit_log`` against writes,
so the worker's trace computes its result and then waits on the database to record its
audit entry (the last step before it saves the result). Killed there, nothing of that
run is committed; the job must then be re-run by another worker and finish once.
"""

from __future__ import annotations

import os
import re
import secrets
import signal
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from cctrace.store import Store
from cctrace.web.security import hash_password
from tests.web.serve_support import Server, serve, sign_in
from tests.web.web_support import PASSWORD, USERS, seed_store

pytestmark = pytest.mark.slow


def _site(tmp_path: Path, url: str) -> Path:
    path = tmp_path / "site.yaml"
    path.write_text(
        "name: workers test\n"
        "cameras:\n"
        "  - id: cam1\n"
        "    name: Camera cam1\n"
        "    location: {x_m: 1.0, y_m: 2.0}\n"
        "    footage: [cam1.mp4]\n"
        "trace:\n  distance_m: 2.0\n  minutes: 0.01\n"
        f"storage:\n  data_dir: data\n  database_url: '{url}'\n"
    )
    return path


@pytest.fixture
def deployment(tmp_path: Path, pg_server: Any) -> Iterator[tuple[Path, Store, str]]:
    """A seeded PostgreSQL store, its site file and its database URL."""
    url = pg_server.new_database()
    site = _site(tmp_path, url)
    store = Store(tmp_path / "data", url=url)
    seed_store(store)
    digest = hash_password(PASSWORD)
    for name, (role, team) in USERS.items():
        store.users.create(name, digest, role, team)
    yield site, store, url
    store.close()


def _login(url: str, password: str) -> int:
    """One sign-in on a new connection (so any worker may take it); its status."""
    body = {"username": "ian", "password": password}
    return httpx.post(url + "api/auth/login", json=body, timeout=30).status_code


@contextmanager
def only(server: Server, pid: int) -> Iterator[None]:
    """Stop every other worker, so only ``pid`` accepts connections, until the end."""
    others = [p for p in server.workers() if p != pid]
    for other in others:
        os.kill(other, signal.SIGSTOP)
    try:
        yield
    finally:
        for other in others:
            os.kill(other, signal.SIGCONT)


def test_sessions_and_csrf_cookies_work_across_workers(
    deployment: tuple[Path, Store, str],
) -> None:
    site, _, _ = deployment
    with serve(site, secrets.token_urlsafe(32)) as server:
        first, second = server.workers()
        with only(server, first):
            form = httpx.get(server.url + "login", timeout=30)
            token = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
            assert form.status_code == 200 and token is not None
            api = sign_in(server.url)
        with only(server, second):
            # The form's signed cookie came from the other process: same key here.
            signed_in = httpx.post(
                server.url + "login",
                data={"username": "ian", "password": PASSWORD, "csrf_token": token.group(1)},
                cookies=form.cookies,
                timeout=30,
            )
            assert signed_in.status_code == 303, signed_in.text
            # The API session (and its CSRF token) was opened by the other process.
            api.close()
            again = httpx.Client(base_url=server.url, timeout=30, headers=api.headers)
            again.cookies = api.cookies
            body = {"case_id": "W-1", "legal_basis": "Public Health Act"}
            assert again.post("/api/cases", json=body).status_code == 201
            del again.headers["X-CSRF-Token"]
            assert again.post("/api/cases", json={**body, "case_id": "W-2"}).status_code == 403
            again.close()


def test_the_sign_in_limiter_is_shared_by_the_workers(
    deployment: tuple[Path, Store, str],
) -> None:
    site, _, _ = deployment
    with serve(site, secrets.token_urlsafe(32)) as server:
        first, second = server.workers()
        with only(server, first):
            assert [_login(server.url, "wrong password") for _ in range(5)] == [401] * 5
        with only(server, second):
            # Right password, but five failures were counted (by the other process).
            assert _login(server.url, PASSWORD) == 429


def _pg(url: str) -> Any:
    import psycopg

    return psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://"))


@contextmanager
def audit_writes_held(url: str) -> Iterator[Any]:
    """Hold ``audit_log`` against writes (reads go on) until the block ends."""
    conn = _pg(url)
    try:
        conn.execute("LOCK TABLE audit_log IN SHARE ROW EXCLUSIVE MODE")
        yield conn
    finally:
        conn.rollback()
        conn.close()


def _waiting_on_audit(conn: Any) -> int:
    """Sessions waiting to append to the audit log: on the held table lock, or on the
    appenders' advisory lock (held by an earlier appender that waits on the table)."""
    row = conn.execute(
        "SELECT count(*) FROM pg_locks l LEFT JOIN pg_class c ON c.oid = l.relation "
        "WHERE NOT l.granted AND (c.relname = 'audit_log' OR l.locktype = 'advisory')"
    ).fetchone()
    return int(row[0])


def _wait(what: str, check: Any, timeout_s: float = 60.0) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def _held_run(store: Store, held: Any, job_id: str, attempt: int) -> int:
    """Wait until claim ``attempt`` of the job is running and stuck on the held lock;
    the pid of the worker running it."""

    def stuck() -> bool:
        job = store.trace_jobs.get(job_id)
        return (
            job is not None
            and job.status == "running"
            and job.attempts == attempt
            and _waiting_on_audit(held) >= attempt
        )

    _wait(f"claim {attempt} of job {job_id} to wait on audit_log", stuck)
    job = store.trace_jobs.get(job_id)
    assert job is not None and job.claimed_by is not None
    return int(job.claimed_by.rsplit(":", 2)[1])


def _trace_entries(store: Store, case_id: str) -> int:
    return sum(1 for e in store.audit.entries() if e.action == "trace" and e.case_id == case_id)


def _queue(client: httpx.Client, case_id: str) -> str:
    """Start a trace of ``case_id`` (opening a case writes to the audit log: done before)."""
    resp = client.post(f"/api/cases/{case_id}/traces", data={"tracklet_id": "1"})
    assert resp.status_code == 202, resp.text
    return str(resp.json()["job_id"])


def _finished(store: Store, job_id: str) -> Any:
    job = store.trace_jobs.get(job_id)
    return job if job is not None and job.status in ("done", "failed") else None


def test_a_trace_survives_a_killed_worker_and_a_server_restart_and_runs_once(
    deployment: tuple[Path, Store, str],
) -> None:
    site, store, url = deployment
    key = secrets.token_urlsafe(32)
    with serve(site, key) as server:
        ivy = sign_in(server.url)
        for case_id in ("C-1", "C-2"):
            body = {"case_id": case_id, "legal_basis": "Public Health Act"}
            assert ivy.post("/api/cases", json=body).status_code == 201
        # 1. One worker dies mid-trace: another worker re-runs the job.
        with audit_writes_held(url) as held:
            job_id = _queue(ivy, "C-1")
            victim = _held_run(store, held, job_id, attempt=1)
            assert victim in server.workers()
            os.kill(victim, signal.SIGKILL)
            # the other worker sees the owner gone and claims the job again
            runner = _held_run(store, held, job_id, attempt=2)
            assert runner != victim
        job = _wait("job 1 to finish", lambda: _finished(store, job_id))
        assert (job.status, job.attempts) == ("done", 2), job
        assert _trace_entries(store, "C-1") == 1  # the killed run recorded nothing
        assert ivy.get("/api/cases/C-1/result").json()["timeline"]

        # 2. The whole server dies mid-trace: the next start resumes the job.
        with audit_writes_held(url) as held:
            second_id = _queue(ivy, "C-2")
            _held_run(store, held, second_id, attempt=1)
            server.kill()  # supervisor and workers at once, the trace still held
        ivy.close()
    assert store.trace_jobs.get(second_id).status == "running"  # type: ignore[union-attr]
    with serve(site, key) as again:
        job = _wait("job 2 to finish", lambda: _finished(store, second_id))
        assert (job.status, job.attempts) == ("done", 2), job
        assert _trace_entries(store, "C-2") == 1
        # The session signed in before the restart still works (it is in the store).
        ivy2 = httpx.Client(base_url=again.url, timeout=30, headers=ivy.headers)
        ivy2.cookies = ivy.cookies
        assert ivy2.get("/api/cases/C-2/result").json()["timeline"]
        assert ivy2.get(f"/api/jobs/{second_id}").json()["status"] == "done"
        ivy2.close()
    assert _trace_entries(store, "C-1") == 1 and _trace_entries(store, "C-2") == 1
