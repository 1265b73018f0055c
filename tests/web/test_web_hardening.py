"""Fixes from the security review: each one tested against the real app."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from cctrace.errors import QueryError, StoreError
from cctrace.store import Store, TraceJobRecord
from cctrace.tracing.service import check_case_id
from cctrace.web.jobs import MAX_JOBS_PER_USER, ProgressFn, TraceJobs
from cctrace.web.routers.auth import safe_next
from tests.web.web_support import PASSWORD, WebEnv, open_and_trace, wait_job


def test_an_export_is_of_the_result_that_was_approved(web: WebEnv) -> None:
    ivy, sue = web.client_for("ivy"), web.client_for("sue")
    open_and_trace(ivy, "C-1", 1)
    asked = ivy.post("/api/cases/C-1/exports", json={"reason": "hand over"}).json()
    job = ivy.post("/api/cases/C-1/traces", data={"tracklet_id": "2"}).json()
    wait_job(ivy, job["job_id"])
    refused = sue.post(f"/api/approvals/{asked['approval_id']}", json={"approve": True})
    assert refused.status_code == 400 and "traced again" in refused.json()["error"]["message"]
    assert web.store.approvals.get(asked["approval_id"]).status == "pending"
    again = sue.post("/api/cases/C-1/exports", json={"reason": "hand over"}).json()
    assert again["status"] == "approved"
    folder = web.site.storage.data_dir / "reports" / "C-1" / "exports" / str(again["approval_id"])
    assert sorted(p.name for p in folder.iterdir()) == [
        "contacts.csv",
        "report.pdf",
        "sightings.csv",
    ]  # written when approved, from the approved result


def test_second_degree_never_searches_a_closed_or_unrelated_case(web: WebEnv) -> None:
    ivy = web.client_for("ivy")
    open_and_trace(ivy, "P1", 1)
    first = ivy.post("/api/cases/P1/contacts/2/trace").json()
    wait_job(ivy, first["job"]["job_id"])
    assert ivy.post("/api/cases/P1-C2/close").status_code == 200
    closed = ivy.post("/api/cases/P1/contacts/2/trace")
    assert closed.status_code == 400 and "closed" in closed.json()["error"]["message"]
    ivy.post("/api/cases", json={"case_id": "Q1-C2", "legal_basis": "unrelated"})
    open_and_trace(ivy, "Q1", 1)
    unrelated = ivy.post("/api/cases/Q1/contacts/2/trace")
    assert unrelated.status_code == 400, unrelated.text


def test_a_password_reset_signs_the_user_out(web: WebEnv) -> None:
    ivy, adm = web.client_for("ivy"), web.client_for("adm")
    assert ivy.get("/api/auth/me").status_code == 200
    new = "another long passphrase 42"
    assert adm.patch("/api/admin/users/ivy", json={"password": new}).status_code == 200
    assert ivy.get("/api/auth/me").status_code == 401
    fresh = web.client_for("")
    assert (
        fresh.post("/api/auth/login", json={"username": "ivy", "password": new}).status_code == 200
    )
    assert (
        fresh.post("/api/auth/login", json={"username": "ivy", "password": PASSWORD}).status_code
        == 401
    )


def test_searches_stay_inside_the_case_window(web: WebEnv) -> None:
    ivy = web.client_for("ivy")
    ivy.post(
        "/api/cases",
        json={
            "case_id": "W-1",
            "legal_basis": "basis",
            "window_from": "2024-03-01T09:00:00Z",
            "window_to": "2024-03-01T09:30:00Z",
        },
    )
    wide = ivy.post(
        "/api/cases/W-1/traces",
        data={"tracklet_id": "1", "window_from": "2024-02-01T00:00:00Z"},
    )
    assert wide.status_code == 400 and "infectious window" in wide.json()["error"]["message"]
    outside = ivy.get("/api/cases/W-1/cameras/cam1/people", params={"at": "2024-03-02T09:00:00Z"})
    assert outside.status_code == 400
    inside = ivy.get("/api/cases/W-1/cameras/cam1/people", params={"at": "2024-03-01T09:00:00.4Z"})
    assert inside.status_code == 200
    actions = [e.action for e in web.store.audit.entries(case_id="W-1")]
    assert "view_frame_people" in actions


def test_viewing_a_case_is_audited(web: WebEnv) -> None:
    ivy = web.client_for("ivy")
    open_and_trace(ivy, "C-1", 1)
    ivy.get("/api/cases/C-1/result")
    ivy.get("/cases/C-1", headers={"Accept": "text/html"})
    views = [
        e.query["via"] for e in web.store.audit.entries(case_id="C-1") if e.action == "view_case"
    ]
    assert views == ["api", "page"]


def test_server_errors_do_not_leak_details(web: WebEnv, monkeypatch: pytest.MonkeyPatch) -> None:
    ivy = web.client_for("ivy")

    def broken(*_args: object, **_kw: object) -> None:
        raise StoreError("database unavailable (postgresql://cctrace:hunter2@db/cctrace)")

    monkeypatch.setattr(web.store.cases, "find", broken)
    resp = ivy.get("/api/cases")
    assert resp.status_code == 503
    assert "hunter2" not in resp.text and "postgresql" not in resp.text
    assert "log ref" in resp.json()["error"]["message"]


def test_case_ids_and_redirects_are_strict() -> None:
    with pytest.raises(QueryError):
        check_case_id("C1\n")
    assert safe_next("/cases/C-1") == "/cases/C-1"
    for bad in ("//evil.example", "https://evil.example/", "/\\evil.example", "/a\tb", "cases"):
        assert safe_next(bad) == "/"


def test_one_waiting_trace_per_case_and_a_cap_per_user(tmp_path: Path) -> None:
    gate = threading.Event()

    def runner(job: TraceJobRecord, progress: ProgressFn) -> None:
        if job.case_id == "A":
            gate.wait(5)

    with Store(tmp_path) as store:
        jobs = TraceJobs(store, runner, workers=1).start()
        try:
            running = jobs.submit("A", "ivy", {})
            deadline = time.monotonic() + 5
            while store.trace_jobs.get(running.job_id).status != "running":  # type: ignore[union-attr]
                assert time.monotonic() < deadline
                time.sleep(0.02)
            waiting = jobs.submit("B", "ivy", {})
            assert jobs.submit("B", "ivy", {}).job_id == waiting.job_id
            jobs.submit("C", "ivy", {})
            assert MAX_JOBS_PER_USER == 3
            with pytest.raises(QueryError, match="already have 3"):
                jobs.submit("D", "ivy", {})
            jobs.submit("D", "sue", {})  # others are not held up
            assert jobs.get(running.job_id) is not None
        finally:
            gate.set()
            assert jobs.wait_idle(10)
            jobs.shutdown()


def test_serve_demo_says_when_the_demo_case_cannot_be_opened(web: WebEnv, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from cctrace.demo import DEMO_CASE, DEMO_INVESTIGATOR
    from cctrace.web.cli import ensure_demo_users, stale_demo_message

    data = web.site.storage.data_dir
    assert "has no case" in (stale_demo_message(data, tmp_path) or "")
    web.store.cases.create(DEMO_CASE, "root", "demo")
    assert "belongs to 'root'" in (stale_demo_message(data, tmp_path) or "")
    web.store.cases.create("OTHER", DEMO_INVESTIGATOR, "demo")
    accounts = ensure_demo_users(data, tmp_path)
    assert set(accounts) == {"investigator", "supervisor", "auditor", "admin"}
    assert ensure_demo_users(data, tmp_path) == accounts  # same passwords on a restart
    assert oct((tmp_path / "demo-users.txt").stat().st_mode & 0o777) == "0o600"


HUGE = str(2**63)


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", f"/api/cases/C-1/snapshots/{HUGE}.jpg"),
        ("post", f"/api/cases/C-1/contacts/{HUGE}/trace"),
        ("get", f"/api/cases/C-1/exports/{HUGE}/report.pdf"),
        ("post", f"/api/approvals/{HUGE}"),
    ],
)
def test_ids_beyond_64_bits_are_refused_not_crashed(web: WebEnv, method: str, path: str) -> None:
    ivy = web.client_for("sue")
    open_and_trace(web.client_for("ivy"), "C-1", 1)
    resp = getattr(ivy, method)(path, **({"json": {"approve": True}} if method == "post" else {}))
    assert resp.status_code in (404, 422), resp.text
    assert "error" in resp.json()


def test_a_huge_tracklet_id_in_a_form_is_a_clear_error(web: WebEnv) -> None:
    ivy = web.client_for("ivy")
    ivy.post("/api/cases", json={"case_id": "C-9", "legal_basis": "test"})
    resp = ivy.post("/api/cases/C-9/traces", data={"tracklet_id": HUGE})
    assert resp.status_code == 422 and "tracklet_id" in resp.json()["error"]["message"]


def test_an_unexpected_error_answers_in_the_error_envelope_with_headers(web: WebEnv) -> None:
    from fastapi.testclient import TestClient

    def broken() -> None:
        raise RuntimeError("secret detail /var/lib/db")

    web.store.cameras.all = broken  # type: ignore[method-assign]
    client = TestClient(web.app, raise_server_exceptions=False)  # type: ignore[arg-type]
    client.cookies = web.client_for("adm").cookies
    resp = client.get("/api/admin/cameras")
    assert resp.status_code == 500
    body = resp.json()
    assert "log ref" in body["error"]["message"] and "secret" not in resp.text
    assert resp.headers["X-Content-Type-Options"] == "nosniff"
    assert "Content-Security-Policy" in resp.headers
