"""A tracer's work through the API: trace, review with query expansion, second degree,
exports, un-blurring, and the audit entries each step leaves."""

from __future__ import annotations

import csv
import io

from tests.web.web_support import WebEnv, open_and_trace, wait_job


def _statuses(client, case_id: str) -> dict[int, str]:  # type: ignore[no-untyped-def]
    result = client.get(f"/api/cases/{case_id}/result").json()
    return {s["tracklet_id"]: s["status"] for s in result["timeline"]}


def test_trace_gives_timeline_route_and_contacts_without_embeddings(web: WebEnv) -> None:
    ivy = web.client_for("ivy")
    open_and_trace(ivy, "C-1", 1)
    result = ivy.get("/api/cases/C-1/result").json()
    assert {s["tracklet_id"] for s in result["route"]} == {1, 3}
    assert [s["tracklet_id"] for s in result["needs_review"]] == [4]
    assert 5 not in {s["tracklet_id"] for s in result["timeline"]}
    (contact,) = result["contacts"]
    assert contact["contact_tracklet_ids"] == [2]
    enc = contact["encounters"][0]
    assert enc["min_distance_m"] == 0.7 and enc["case_mask"] == "worn"
    text = str(result).lower()
    assert "embedding" not in text and "vector" not in text and "crop" not in text


def test_confirming_a_sighting_searches_with_it_and_finds_more(web: WebEnv) -> None:
    ivy = web.client_for("ivy")
    open_and_trace(ivy, "C-1", 1)
    resp = ivy.post("/api/cases/C-1/sightings/4", json={"decision": "accept"})
    assert resp.status_code == 202
    assert wait_job(ivy, resp.json()["job_id"])["status"] == "done"
    statuses = _statuses(ivy, "C-1")
    assert statuses[4] == "accepted"
    assert statuses.get(5) == "accepted", "a confirmed sighting's face should find person 5"


def test_a_rejected_sighting_never_comes_back(web: WebEnv) -> None:
    ivy = web.client_for("ivy")
    open_and_trace(ivy, "C-1", 1)
    resp = ivy.post("/api/cases/C-1/sightings/4", json={"decision": "reject", "note": "not her"})
    assert wait_job(ivy, resp.json()["job_id"])["status"] == "done"
    assert 4 not in _statuses(ivy, "C-1")
    again = ivy.post("/api/cases/C-1/traces", data={"tracklet_id": "1"})
    assert wait_job(ivy, again.json()["job_id"])["status"] == "done"
    assert 4 not in _statuses(ivy, "C-1")


def test_second_degree_trace_opens_a_linked_case(web: WebEnv) -> None:
    ivy = web.client_for("ivy")
    open_and_trace(ivy, "C-1", 1)
    resp = ivy.post("/api/cases/C-1/contacts/2/trace")
    assert resp.status_code == 202, resp.text
    body = resp.json()
    child = body["case"]["case_id"]
    assert body["case"]["parent_case_id"] == "C-1" and child == "C-1-C2"
    assert wait_job(ivy, body["job"]["job_id"])["status"] == "done"
    result = ivy.get(f"/api/cases/{child}/result").json()
    assert [s["tracklet_id"] for s in result["route"]] == [2]
    assert [c["contact_tracklet_ids"] for c in result["contacts"]] == [[1]]
    assert ivy.post("/api/cases/C-1/contacts/3/trace").status_code == 404  # not a contact


def test_export_needs_a_supervisor_and_blurs_every_bystander(web: WebEnv) -> None:
    ivy, sue = web.client_for("ivy"), web.client_for("sue")
    open_and_trace(ivy, "C-1", 1)
    asked = ivy.post("/api/cases/C-1/exports", json={"reason": "hand over to district office"})
    assert asked.status_code == 201 and asked.json()["status"] == "pending"
    export_id = asked.json()["approval_id"]
    early = ivy.get(f"/api/cases/C-1/exports/{export_id}/report.pdf")
    assert early.status_code == 403 and early.json()["error"]["code"] == "approval_required"
    assert [a["approval_id"] for a in sue.get("/api/approvals").json()] == [export_id]
    assert sue.post(f"/api/approvals/{export_id}", json={"approve": True}).status_code == 200
    pdf = ivy.get(f"/api/cases/C-1/exports/{export_id}/report.pdf")
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    rows = list(
        csv.DictReader(
            io.StringIO(ivy.get(f"/api/cases/C-1/exports/{export_id}/contacts.csv").text)
        )
    )
    assert rows and all("2" in "".join(r.values()) for r in rows)
    again = sue.post(f"/api/approvals/{export_id}", json={"approve": False})
    assert again.status_code == 400  # already decided


def test_unblurring_needs_approval_and_every_view_is_audited(web: WebEnv) -> None:
    ivy, sue = web.client_for("ivy"), web.client_for("sue")
    open_and_trace(ivy, "C-1", 1)
    snap = ivy.get("/api/cases/C-1/snapshots/2.jpg")
    assert snap.status_code == 200 and snap.content[:2] == b"\xff\xd8"
    denied = ivy.get("/api/cases/C-1/snapshots/2.jpg?view=unblurred")
    assert denied.status_code == 403
    asked = ivy.post("/api/cases/C-1/unblur", json={"reason": "identify", "tracklet_id": 2})
    sue.post(f"/api/approvals/{asked.json()['approval_id']}", json={"approve": True})
    # The synthetic store's footage file does not exist: a clear error, no picture.
    missing = ivy.get("/api/cases/C-1/snapshots/2.jpg?view=unblurred")
    assert missing.status_code == 404, missing.text
    assert "footage" in missing.json()["error"]["message"]
    assert ivy.get("/api/cases/C-1/snapshots/5.jpg").status_code == 404  # not in the case
    actions = [(e.actor, e.action) for e in web.store.audit.entries(case_id="C-1")]
    assert ("ivy", "view_snapshot") in actions
    assert ("ivy", "unblur_request") in actions and ("sue", "approval") in actions


def test_audit_records_sign_in_search_review_export(web: WebEnv) -> None:
    ivy, sue, aud = web.client_for("ivy"), web.client_for("sue"), web.client_for("aud")
    open_and_trace(ivy, "C-1", 1)
    job = ivy.post("/api/cases/C-1/sightings/4", json={"decision": "accept"}).json()
    wait_job(ivy, job["job_id"])
    export = sue.post("/api/cases/C-1/exports", json={"reason": "hand over"}).json()
    sue.get(f"/api/cases/C-1/exports/{export['approval_id']}/sightings.csv")
    entries = aud.get("/api/audit", params={"limit": 1000}).json()
    seen = {(e["actor"], e["action"]) for e in entries}
    for expected in [
        ("ivy", "sign_in"),
        ("ivy", "case_open"),
        ("ivy", "trace"),
        ("ivy", "sighting_decision"),
        ("sue", "export_request"),
        ("sue", "export"),
    ]:
        assert expected in seen, expected
    trace = next(e for e in entries if e["action"] == "trace")
    assert trace["case_id"] == "C-1" and trace["query"]["legal_basis"] == "Public Health Act"
    decision = next(e for e in entries if e["action"] == "sighting_decision")
    assert decision["query"] == {"tracklet_id": 4, "decision": "accept", "note": ""}
    assert aud.get("/api/audit/verify").json()["ok"] is True
    with web.store.engine.begin() as conn:
        conn.exec_driver_sql("UPDATE audit_log SET actor = 'mallory' WHERE action = 'trace'")
    verdict = aud.get("/api/audit/verify").json()
    assert verdict["ok"] is False and verdict["broken_at"] is not None


def test_a_closed_case_cannot_be_searched(web: WebEnv) -> None:
    ivy = web.client_for("ivy")
    open_and_trace(ivy, "C-1", 1)
    assert ivy.post("/api/cases/C-1/close").json()["status"] == "closed"
    resp = ivy.post("/api/cases/C-1/traces", data={"tracklet_id": "1"})
    assert resp.status_code == 400 and "closed" in resp.json()["error"]["message"]
    assert ivy.get("/api/cases/C-1/result").status_code == 200  # evidence still readable


def test_case_window_is_the_default_search_window(web: WebEnv) -> None:
    ivy = web.client_for("ivy")
    resp = ivy.post(
        "/api/cases",
        json={
            "case_id": "W-1",
            "legal_basis": "basis",
            "window_from": "2024-03-01T09:01:00Z",
            "window_to": "2024-03-01T09:10:00Z",
        },
    )
    assert resp.status_code == 201
    job = ivy.post("/api/cases/W-1/traces", data={"tracklet_id": "1"}).json()
    wait_job(ivy, job["job_id"])
    result = ivy.get("/api/cases/W-1/result").json()
    assert result["window_from"].startswith("2024-03-01T09:01")
    assert 1 not in {s["tracklet_id"] for s in result["route"]}  # before the window
    bad = ivy.post(
        "/api/cases",
        json={
            "case_id": "W-2",
            "legal_basis": "basis",
            "window_from": "2024-03-02T00:00:00Z",
            "window_to": "2024-03-01T00:00:00Z",
        },
    )
    assert bad.status_code == 400 and "window" in bad.json()["error"]["message"]


def test_pages_render_for_each_role(web: WebEnv) -> None:
    ivy = web.client_for("ivy")
    open_and_trace(ivy, "C-1", 1)
    html = {"Accept": "text/html"}
    page = ivy.get("/cases/C-1", headers=html)
    assert page.status_code == 200
    for text in (
        "Needs review",
        "Timeline",
        "Contacts",
        "Route on the site plan",
        "<svg",
        "Request export",
        'name="csrf-token"',
    ):
        assert text in page.text, text
    assert web.client_for("sue").get("/approvals", headers=html).status_code == 200
    assert "hash chain verified" in web.client_for("aud").get("/audit", headers=html).text
    assert "Retention" in web.client_for("adm").get("/admin", headers=html).text
    missing = ivy.get("/cases/NOPE", headers=html)
    assert missing.status_code == 404 and "no case" in missing.text


def test_pick_a_person_in_a_camera_frame(web: WebEnv) -> None:
    ivy = web.client_for("ivy")
    ivy.post("/api/cases", json={"case_id": "P-1", "legal_basis": "basis"})
    (cam,) = ivy.get("/api/cases/P-1/cameras").json()
    assert cam["camera_id"] == "cam1" and cam["footage_from"].startswith("2024-03-01T09:00")
    picked = ivy.get("/api/cases/P-1/cameras/cam1/people", params={"at": "2024-03-01T09:00:00.4Z"})
    assert picked.status_code == 200, picked.text
    body = picked.json()
    assert {p["tracklet_id"] for p in body["people"]} == {1, 2, 3}
    assert all(len(p["box"]) == 4 for p in body["people"])
    for p in body["people"]:  # each number's tag is centred inside its own person's box
        x1, y1, x2, y2 = p["box"]
        tx1, ty1, tx2, ty2 = p["label_box"]
        assert x1 <= (tx1 + tx2) / 2 <= x2 and y1 <= (ty1 + ty2) / 2 <= y2
    nobody = ivy.get("/api/cases/P-1/cameras/cam1/people", params={"at": "2024-03-01T09:00:50Z"})
    assert nobody.status_code == 404 and "nobody was tracked" in nobody.json()["error"]["message"]
    unknown = ivy.get("/api/cases/P-1/cameras/nope/people", params={"at": "2024-03-01T09:00:00Z"})
    assert unknown.status_code == 404
    # The synthetic footage file does not exist: the frame is a clear 404, not a crash.
    frame = ivy.get(body["frame_url"])
    assert frame.status_code == 404 and "footage" in frame.json()["error"]["message"]


def test_a_trace_run_on_the_command_line_can_be_rerun_from_the_page(web: WebEnv) -> None:
    from cctrace.casework import save_latest_result
    from cctrace.ingest.models import ModelSet
    from cctrace.tracing.service import TraceRequest, audited_trace

    web.store.cases.create("CLI-1", "ivy", "basis", team="north")
    request = TraceRequest(case_id="CLI-1", actor="ivy", tracklet_id=1, minutes=0.25)
    save_latest_result(
        web.site, audited_trace(web.site, web.store, request, ModelSet(web.site.models))
    )
    ivy = web.client_for("ivy")
    page = ivy.get("/cases/CLI-1", headers={"Accept": "text/html"}).text
    assert 'name="tracklet_id" type="number" min="1" inputmode="numeric" value="1"' in page
    assert 'name="minutes" type="number" step="any" min="0.01" value="0.25"' in page
    job = ivy.post("/api/cases/CLI-1/sightings/4", json={"decision": "accept"}).json()
    assert wait_job(ivy, job["job_id"])["status"] == "done"
    assert _statuses(ivy, "CLI-1")[5] == "accepted"  # re-run from tracklet 1 with 4 confirmed


def test_audit_page_checks_new_entries_and_pages_in_sql(web: WebEnv) -> None:
    aud = web.client_for("aud")
    html = {"Accept": "text/html"}
    assert "hash chain verified" in aud.get("/audit", headers=html).text
    newest = aud.get("/api/audit", params={"limit": 2}).json()
    assert len(newest) == 2 and newest[0]["id"] > newest[1]["id"]
    older = aud.get("/api/audit", params={"limit": 1, "before_id": newest[0]["id"]}).json()
    assert [e["id"] for e in older] == [newest[1]["id"]]
    web.client_for("ivy").post("/api/cases", json={"case_id": "A-1", "legal_basis": "basis"})
    with web.store.engine.begin() as conn:
        conn.exec_driver_sql("UPDATE audit_log SET actor = 'mallory' WHERE action = 'case_open'")
    assert "chain broken at entry" in aud.get("/audit", headers=html).text


def test_audit_page_and_api_see_a_deleted_tail_through_the_checkpoints(web: WebEnv) -> None:
    aud = web.client_for("aud")
    html = {"Accept": "text/html"}
    assert "hash chain verified" in aud.get("/audit", headers=html).text
    verdict = aud.get("/api/audit/verify").json()
    assert verdict["ok"] is True and verdict["checkpoints"] == verdict["last_anchored"] > 0
    assert verdict["anchor_path"] == str(web.store.audit_anchor_path)
    for _ in range(4):
        aud.get("/api/audit")  # each read is audited
    head_id, _ = web.store.audit.head()
    with web.store.engine.begin() as conn:  # a database writer drops the newest entries
        conn.exec_driver_sql(f"DELETE FROM audit_log WHERE id > {head_id - 3}")
    page = aud.get("/audit", headers=html).text  # appends one entry on the shorter chain
    assert f"chain broken at entry {head_id - 1}" in page and "missing (deleted)" in page
    verdict = aud.get("/api/audit/verify").json()
    assert verdict["ok"] is False and verdict["broken_at"] == head_id - 2
    assert any("missing (deleted)" in p for p in verdict["problems"])
