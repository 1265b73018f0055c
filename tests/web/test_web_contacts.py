"""Acting on a case (issue 13, item 5) through the API and the plain HTML form: contact
statuses with notes, role rules, clear 4xx for bad input, the audit entries, open work
on the case list, and the call list CSV."""

from __future__ import annotations

import csv
import io
from typing import Any

import pytest
from fastapi.testclient import TestClient

from cctrace.web.language import LANG_COOKIE
from tests.web.web_support import WebEnv, wait_job

HTML = {"Accept": "text/html"}
CONTACT = 2  # tracklet 2 meets the case (tracklet 1) for 30 s at 0.7 m: a close contact


TRACE = {"tracklet_id": "1", "minutes": "0.01"}  # 0.8 s within 2 m is a close contact


@pytest.fixture
def traced(web: WebEnv) -> WebEnv:
    """Case C-1 of investigator ivy (team north), traced from tracklet 1."""
    ivy = web.client_for("ivy")
    assert ivy.post("/api/cases", json={"case_id": "C-1", "legal_basis": "Act"}).status_code == 201
    job = ivy.post("/api/cases/C-1/traces", data=TRACE).json()
    assert wait_job(ivy, job["job_id"])["status"] == "done"
    return web


def _put(client: TestClient, body: dict[str, Any], tracklet: int = CONTACT) -> Any:
    return client.put(f"/api/cases/C-1/contacts/{tracklet}/status", json=body)


def _status_audits(web: WebEnv) -> list[Any]:
    return [a for a in web.store.audit.entries("C-1") if a.action == "contact_status"]


def _error(resp: Any, status: int, code: str) -> str:
    assert resp.status_code == status, resp.text
    body = resp.json()
    assert set(body) == {"error"} and body["error"]["status"] == status, body
    assert body["error"]["code"] == code, body
    return str(body["error"]["message"])


def test_set_a_status_with_a_note_and_read_it_back(traced: WebEnv) -> None:
    ivy = traced.client_for("ivy")
    (contact,) = ivy.get("/api/cases/C-1/contacts").json()
    assert contact["tracklet_ids"] == [CONTACT] and contact["status"] == "to_call"
    assert contact["is_close_contact"] and contact["name"].startswith("Person 1 (Camera cam1, ")
    resp = _put(ivy, {"status": "called", "note": "left a message; 다시 전화"})
    assert resp.status_code == 200, resp.text
    out = resp.json()
    assert out["changed"] and out["previous_status"] == "to_call"
    assert out["contact"]["status"] == "called" and out["contact"]["updated_by"] == "ivy"
    assert out["contact"]["note"] == "left a message; 다시 전화"
    (entry,) = _status_audits(traced)
    assert entry.actor == "ivy" and entry.case_id == "C-1"
    assert entry.query["from"] == "to_call" and entry.query["to"] == "called"
    assert entry.query["tracklet_ids"] == [CONTACT] and entry.query["contact_no"] == 1
    # the same again changes (and audits) nothing
    again = _put(ivy, {"status": "called", "note": "left a message; 다시 전화"})
    assert again.status_code == 200 and again.json()["changed"] is False
    assert len(_status_audits(traced)) == 1
    # a supervisor of the team may set it too
    sue = traced.client_for("sue")
    assert _put(sue, {"status": "tested"}).json()["previous_status"] == "called"
    assert _status_audits(traced)[-1].actor == "sue"
    assert ivy.get("/api/cases/C-1/contacts").json()[0]["status"] == "tested"


def test_the_status_survives_a_re_trace(traced: WebEnv) -> None:
    ivy = traced.client_for("ivy")
    assert _put(ivy, {"status": "isolated", "note": "home"}).status_code == 200
    again = ivy.post("/api/cases/C-1/traces", data=TRACE)
    assert wait_job(ivy, again.json()["job_id"])["status"] == "done"
    (contact,) = ivy.get("/api/cases/C-1/contacts").json()
    assert contact["status"] == "isolated" and contact["note"] == "home"


@pytest.mark.parametrize(
    ("user", "status", "code"),
    [("aud", 403, "forbidden"), ("adm", 403, "forbidden"), ("ian", 404, "not_found"),
     ("sam", 404, "not_found")],
)  # fmt: skip
def test_who_may_not_set_or_read(traced: WebEnv, user: str, status: int, code: str) -> None:
    """Auditors and admins cannot open cases (they read the changes in the audit log);
    another investigator or another team's supervisor cannot see the case at all."""
    client = traced.client_for(user)
    _error(_put(client, {"status": "called"}), status, code)
    _error(client.get("/api/cases/C-1/contacts"), status, code)
    _error(client.get("/api/cases/C-1/call-list.csv"), status, code)
    assert _status_audits(traced) == []


@pytest.mark.parametrize(
    ("body", "tracklet", "status", "code", "words"),
    [
        ({"status": "done"}, CONTACT, 422, "invalid", "status"),
        ({"status": "called", "note": "x" * 501}, CONTACT, 422, "invalid", "note"),
        ({"status": "called", "note": "ring\x07"}, CONTACT, 400, "bad_request", "control"),
        ({"status": "called", "extra": 1}, CONTACT, 422, "invalid", "extra"),
        ({}, CONTACT, 422, "invalid", "status"),
        ({"status": "called"}, 5, 404, "not_found", "not a contact"),
        ({"status": "called"}, 0, 422, "invalid", "tracklet_id"),
    ],
)
def test_bad_input_gets_a_clear_4xx_and_changes_nothing(
    traced: WebEnv, body: dict[str, Any], tracklet: int, status: int, code: str, words: str
) -> None:
    message = _error(_put(traced.client_for("ivy"), body, tracklet), status, code)
    assert words in message
    assert _status_audits(traced) == [] and traced.store.contacts.statuses("C-1") == {}


def test_changes_need_the_csrf_header_and_an_open_case(traced: WebEnv) -> None:
    ivy = traced.client_for("ivy")
    token = ivy.headers.pop("X-CSRF-Token")
    _error(_put(ivy, {"status": "called"}), 403, "csrf")
    ivy.headers["X-CSRF-Token"] = token
    assert ivy.post("/api/cases/C-1/close").status_code == 200
    assert "closed" in _error(_put(ivy, {"status": "called"}), 400, "bad_request")
    assert ivy.get("/api/cases/C-1/contacts").json()[0]["status"] == "to_call"  # still readable
    assert _status_audits(traced) == []
    assert ivy.get("/api/contacts/open").json() == []  # a closed case has no open work
    assert "close contact to call" not in ivy.get("/cases", headers=HTML).text


def test_the_html_form_works_without_javascript(traced: WebEnv) -> None:
    ivy = traced.client_for("ivy")
    page = ivy.get("/cases/C-1", headers=HTML).text
    assert f'action="/cases/C-1/contacts/{CONTACT}/status"' in page
    csrf = traced.store.web_sessions.get(ivy.cookies["cctrace_session"]).csrf_token  # type: ignore[union-attr]
    form = {"status": "not_reachable", "note": "no answer twice", "csrf_token": "wrong"}
    resp = ivy.post(f"/cases/C-1/contacts/{CONTACT}/status", data=form, headers=HTML)
    assert resp.status_code == 403 and _status_audits(traced) == []
    resp = ivy.post(
        f"/cases/C-1/contacts/{CONTACT}/status",
        data=form | {"csrf_token": csrf},
        headers=HTML,
        follow_redirects=False,
    )
    assert resp.status_code == 303, resp.text
    assert resp.headers["location"] == f"/cases/C-1?saved={CONTACT}#contact-{CONTACT}"
    page = ivy.get(resp.headers["location"], headers=HTML).text
    assert 'data-status="not_reachable"' in page and "no answer twice" in page
    assert 'role="status">Saved: Person 1' in page
    assert _status_audits(traced)[-1].query["to"] == "not_reachable"
    bad = ivy.post(
        f"/cases/C-1/contacts/{CONTACT}/status",
        data={"status": "gone", "csrf_token": csrf},
        headers=HTML,
    )
    assert bad.status_code == 400 and "expected one of to_call, called" in bad.text
    assert bad.headers["content-type"].startswith("text/html")  # an error page, not JSON


def test_open_work_on_the_case_list_and_the_open_contacts_page(traced: WebEnv) -> None:
    ivy, sue = traced.client_for("ivy"), traced.client_for("sue")
    for client in (ivy, sue):  # the investigator's and the team supervisor's view
        cases = client.get("/cases", headers=HTML).text
        assert 'aria-label="1 close contact to call"' in cases
        assert "1 open contact to call across your cases" in cases
        assert "#contact-2" in client.get("/contacts", headers=HTML).text
        (item,) = client.get("/api/contacts/open").json()
        assert item["case_id"] == "C-1" and item["tracklet_ids"] == [CONTACT]
    assert traced.client_for("sam").get("/api/contacts/open").json() == []  # other team
    assert _put(ivy, {"status": "called"}).status_code == 200
    cases = ivy.get("/cases", headers=HTML).text
    assert 'aria-label="0 close contacts to call"' in cases
    assert "#contact-2" not in ivy.get("/contacts", headers=HTML).text
    assert ivy.get("/api/contacts/open").json() == []
    views = [a for a in traced.store.audit.entries() if a.action == "view_open_contacts"]
    assert {a.actor for a in views} == {"ivy", "sue", "sam"}


def _csv(resp: Any) -> list[list[str]]:
    assert resp.status_code == 200, resp.text
    assert resp.headers["content-type"] == "text/csv; charset=utf-8"
    assert resp.content.startswith(b"\xef\xbb\xbf")  # BOM: Excel reads it as UTF-8
    assert b"\r\n" in resp.content
    return list(csv.reader(io.StringIO(resp.content.decode("utf-8-sig"))))


def test_the_call_list_csv(traced: WebEnv) -> None:
    ivy = traced.client_for("ivy")
    _put(ivy, {"status": "called", "note": '=HYPERLINK("x")\nsecond line'})
    resp = ivy.get("/api/cases/C-1/call-list.csv")
    assert 'filename="C-1-call-list.csv"' in resp.headers["content-disposition"]
    header, *rows = _csv(resp)
    assert header[:4] == ["Case", "Contact", "Cameras", "First seen"]
    assert header[5] == "Time within 2 m (min)" and header[-2:] == ["Snapshot", "Tracklets"]
    (row,) = rows
    cells = dict(zip(header, row, strict=True))
    assert cells["Case"] == "C-1" and cells["Contact"].startswith("Person 1 (Camera cam1, ")
    assert cells["Cameras"] == "Camera cam1" and cells["First seen"].endswith(" UTC")
    assert cells["Time within 2 m (min)"] == "0.01" and cells["Closest distance (m)"] == "0.70"
    assert cells["Mask"] == "Mask worn" and cells["Close contact"] == "yes"
    assert cells["Status"] == "called" and cells["Status set by"] == "ivy"
    assert cells["Note"] == '\'=HYPERLINK("x")\nsecond line'  # defused formula
    assert cells["Snapshot"].endswith(f"/api/cases/C-1/snapshots/{CONTACT}.jpg")
    assert cells["Tracklets"] == str(CONTACT)
    (entry,) = [a for a in traced.store.audit.entries("C-1") if a.action == "export_call_list"]
    assert entry.actor == "ivy" and entry.result == {"rows": 1}


def test_the_call_list_in_korean_and_local_time(traced: WebEnv) -> None:
    state = traced.app.state.cctrace  # type: ignore[attr-defined]
    state.site = state.site.model_copy(update={"timezone": "Asia/Seoul"})
    ivy = traced.client_for("ivy")
    ivy.cookies.set(LANG_COOKIE, "ko")
    _put(ivy, {"status": "not_reachable"})
    header, row = _csv(ivy.get("/api/cases/C-1/call-list.csv"))
    cells = dict(zip(header, row, strict=True))
    assert header[0] == "사례" and "상태" in header
    assert cells["상태"] == "연락 안 됨" and cells["접촉자"].startswith("1번 사람 (")
    assert cells["처음 포착"].endswith(" +09:00") and cells["마지막 포착"].endswith(" +09:00")


def test_no_call_list_before_a_trace(web: WebEnv) -> None:
    ivy = web.client_for("ivy")
    assert ivy.post("/api/cases", json={"case_id": "C-2", "legal_basis": "Act"}).status_code == 201
    _error(ivy.get("/api/cases/C-2/call-list.csv"), 404, "not_found")
    assert ivy.get("/api/cases/C-2/contacts").json() == []
    assert "—" in ivy.get("/cases", headers=HTML).text


def test_the_new_pages_have_no_english_left_in_korean(traced: WebEnv) -> None:
    """The open contacts table, the case list's counts and the case page's status form
    and saved message, rendered with a close contact to call, then after a change."""
    from tests.i18n_words import untranslated, visible_text

    ivy = traced.client_for("ivy")
    ivy.cookies.set(LANG_COOKIE, "ko")
    data = ("Camera cam1", "Act", "north", "—")
    for path in ("/contacts", "/cases", "/cases/C-1"):
        page = ivy.get(path, headers=HTML).text
        assert "연락 예정" in page, path
        assert not untranslated(visible_text(page), data), path
    _put(ivy, {"status": "tested", "note": "negative"})
    page = ivy.get(f"/cases/C-1?saved={CONTACT}", headers=HTML).text
    assert "저장했습니다." in page and "검사함" in page
    assert not untranslated(visible_text(page), (*data, "negative"))
    assert "남은 접촉자가 없습니다" in ivy.get("/contacts", headers=HTML).text


def test_the_api_schema_documents_the_routes_and_the_error_body(traced: WebEnv) -> None:
    schema = traced.client_for("ivy").get("/openapi.json").json()
    put = schema["paths"]["/api/cases/{case_id}/contacts/{tracklet_id}/status"]["put"]
    assert put["responses"]["404"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/ErrorOut"
    }
    assert set(put["responses"]) >= {"200", "400", "403", "404", "422"}
    statuses = schema["components"]["schemas"]["ContactStatus"]["enum"]
    assert statuses == ["to_call", "called", "tested", "isolated", "not_reachable"]
    for path in ("/api/cases/{case_id}/contacts", "/api/contacts/open"):
        assert "get" in schema["paths"][path]
    assert "/cases/{case_id}/contacts/{tracklet_id}/status" not in schema["paths"]  # the form
