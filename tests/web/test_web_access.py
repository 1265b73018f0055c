"""Every route, every role: deny by default, tested route by route on the server."""

from __future__ import annotations

import io
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from PIL import Image

from cctrace.store.records import Role
from cctrace.web.app import api_routes
from cctrace.web.deps import route_permission
from cctrace.web.roles import Permission, allowed
from tests.web.web_support import PASSWORD, USERS, WebEnv, open_and_trace

# (method, path, request kwargs). Every API and page route of the app must be listed
# (test_every_route_is_listed); sign-out goes last, it ends the session.


def _plan_png() -> bytes:
    """A 64 x 64 grey PNG (a site plan upload)."""
    out = io.BytesIO()
    Image.new("RGB", (64, 64), (128, 128, 128)).save(out, format="PNG")
    return out.getvalue()


PLAN_PNG = _plan_png()
ROUTES: list[tuple[str, str, dict[str, Any]]] = [
    ("GET", "/api/auth/me", {}),
    ("GET", "/api/cases", {}),
    ("POST", "/api/cases", {"json": {"case_id": "NEW-{role}", "legal_basis": "basis"}}),
    ("GET", "/api/cases/C-1", {}),
    ("PATCH", "/api/cases/C-1", {"json": {"notes": "more"}}),
    ("POST", "/api/cases/C-1/traces", {"data": {"tracklet_id": "1"}}),
    ("GET", "/api/jobs/{job_id}", {}),
    ("GET", "/api/cases/C-1/result", {}),
    ("POST", "/api/cases/C-1/sightings/3", {"json": {"decision": "accept"}}),
    ("POST", "/api/cases/C-1/contacts/2/trace", {}),
    ("GET", "/api/cases/C-1/snapshots/2.jpg", {}),
    ("GET", "/api/cases/C-1/cameras", {}),
    ("GET", "/api/cases/C-1/cameras/cam1/people", {"params": {"at": "2024-03-01T09:00:00.5Z"}}),
    ("GET", "/api/cases/C-1/cameras/cam1/frame.jpg", {"params": {"at": "2024-03-01T09:00:00Z"}}),
    ("POST", "/api/cases/C-1/unblur", {"json": {"reason": "identify", "tracklet_id": 2}}),
    ("POST", "/api/cases/C-1/exports", {"json": {"reason": "hand over"}}),
    ("GET", "/api/cases/C-1/approvals", {}),
    ("GET", "/api/cases/C-1/exports/{export_id}/contacts.csv", {}),
    ("GET", "/api/cases/C-1/contacts", {}),
    ("PUT", "/api/cases/C-1/contacts/2/status", {"json": {"status": "called"}}),
    ("POST", "/cases/C-1/contacts/2/status", {"data": {"status": "called", "csrf_token": "x"}}),
    ("GET", "/api/contacts/open", {}),
    ("GET", "/api/cases/C-1/call-list.csv", {}),
    ("GET", "/contacts", {}),
    ("GET", "/api/approvals", {}),
    ("POST", "/api/approvals/{pending_id}", {"json": {"approve": False}}),
    ("GET", "/api/audit", {}),
    ("GET", "/api/audit/verify", {}),
    ("GET", "/api/admin/users", {}),
    (
        "POST",
        "/api/admin/users",
        {"json": {"username": "u-{role}", "password": PASSWORD, "role": "auditor"}},
    ),
    ("PATCH", "/api/admin/users/ian", {"json": {"team": "north"}}),
    ("GET", "/api/admin/cameras", {}),
    ("GET", "/api/admin/retention", {}),
    ("POST", "/api/admin/purge", {}),
    ("GET", "/api/admin/site-plan", {}),
    ("POST", "/api/admin/site-plan/image", {"files": {"image": ("plan.png", PLAN_PNG)}}),
    ("POST", "/api/admin/site-plan/points", {"json": {"p1_u": 1, "p1_v": 1}}),
    ("GET", "/api/admin/site-plan/image", {}),
    ("DELETE", "/api/admin/site-plan", {}),
    ("POST", "/api/cases/C-1/close", {}),
    ("GET", "/", {}),
    ("GET", "/cases", {}),
    ("GET", "/cases/C-1", {}),
    ("GET", "/approvals", {}),
    ("GET", "/audit", {}),
    ("GET", "/admin", {}),
    ("GET", "/docs", {}),
    ("GET", "/openapi.json", {}),
    ("GET", "/login", {}),
    ("GET", "/healthz", {}),
    ("GET", "/fonts/NanumGothic.ttf", {}),
    ("GET", "/language/ko", {"params": {"next": "/login"}}),
    ("POST", "/login", {"data": {"username": "x", "password": "y"}}),
    ("POST", "/api/auth/login", {"json": {"username": "nobody", "password": "wrong"}}),
    ("POST", "/logout", {"data": {"csrf_token": "wrong"}}),  # refused by its own CSRF check
    ("POST", "/api/auth/logout", {}),
]


def _route_table(app: FastAPI) -> dict[tuple[str, str], APIRoute]:
    out = {}
    for route in api_routes(app.routes):
        for method in route.methods:
            out[(method, route.path)] = route
    return out


def _route_for(app: FastAPI, method: str, path: str) -> APIRoute:
    """The route that serves ``method path`` (placeholders like {job_id} count as values)."""
    concrete = path.replace("{", "x").replace("}", "")
    for route in api_routes(app.routes):
        if method in route.methods and route.path_regex.match(concrete):
            return route
    raise AssertionError(f"no route serves {method} {path}")


def test_every_route_is_listed_and_declares_a_permission(web: WebEnv) -> None:
    table = _route_table(web.app)  # type: ignore[arg-type]
    listed = {(m, _route_for(web.app, m, p).path) for m, p, _ in ROUTES}  # type: ignore[arg-type]
    assert set(table) == listed, f"unlisted: {set(table) - listed}; stale: {listed - set(table)}"
    for key, route in table.items():
        assert route_permission(route.endpoint) is not None, f"{key} declares no permission"


def test_a_route_without_a_permission_is_denied_to_everyone(web: WebEnv) -> None:
    app: FastAPI = web.app  # type: ignore[assignment]

    @app.get("/api/undeclared")
    def undeclared() -> dict[str, str]:
        return {"secret": "data"}

    for name in ("", "ivy", "sue", "adm"):
        resp = web.client_for(name).get("/api/undeclared")
        assert resp.status_code == 403, (name, resp.text)
        assert "secret" not in resp.text


@pytest.fixture
def prepared(web: WebEnv) -> dict[str, str]:
    """Case C-1 of investigator ivy (team north) traced, one approved export, one pending
    un-blur request."""
    ivy = web.client_for("ivy")
    job = open_and_trace(ivy, "C-1", web.tracklet_ids[0])
    pending = ivy.post("/api/cases/C-1/unblur", json={"reason": "identify", "tracklet_id": 2})
    assert pending.status_code == 201, pending.text
    export = web.client_for("sue").post("/api/cases/C-1/exports", json={"reason": "hand over"})
    assert export.status_code == 201 and export.json()["status"] == "approved", export.text
    return {
        "job_id": str(job["job_id"]),
        "export_id": str(export.json()["approval_id"]),
        "pending_id": str(pending.json()["approval_id"]),
    }


def _error_code(resp: Any) -> str | None:
    if not resp.headers.get("content-type", "").startswith("application/json"):
        return None
    body = resp.json()
    error = body.get("error") if isinstance(body, dict) else None
    return error.get("code") if isinstance(error, dict) else None


def _call(
    client: TestClient,
    method: str,
    path: str,
    kwargs: dict[str, Any],
    ids: dict[str, str],
    role: str,
) -> Any:
    url = path.format(**ids)
    body = {
        k: ({kk: (vv.format(role=role) if isinstance(vv, str) else vv) for kk, vv in v.items()})
        for k, v in kwargs.items()
    }
    return client.request(method, url, headers={"Accept": "application/json"}, **body)


@pytest.mark.parametrize("username", ["ivy", "sue", "aud", "adm"])
def test_each_role_route_by_route(web: WebEnv, prepared: dict[str, str], username: str) -> None:
    role = Role(USERS[username][0])
    client = web.client_for(username)
    for method, path, kwargs in ROUTES:
        permission = route_permission(_route_for(web.app, method, path).endpoint)  # type: ignore[arg-type]
        assert permission is not None
        resp = _call(client, method, path, kwargs, prepared, role.value)
        code = _error_code(resp)
        if allowed(role, permission):
            # plain form posts refuse the fixture's made-up token by their own CSRF check
            own_check = path in ("/logout", "/cases/C-1/contacts/2/status")
            refused = ("sign_in_required", "forbidden") + (() if own_check else ("csrf",))
            assert code not in refused, (
                username,
                method,
                path,
                resp.status_code,
                resp.text[:300],
            )
        else:
            assert resp.status_code == 403 and code == "forbidden", (
                username,
                method,
                path,
                resp.status_code,
                resp.text[:300],
            )


def test_signed_out_gets_401_everywhere_but_public_routes(
    web: WebEnv, prepared: dict[str, str]
) -> None:
    client = web.client_for("")
    for method, path, kwargs in ROUTES:
        permission = route_permission(_route_for(web.app, method, path).endpoint)  # type: ignore[arg-type]
        resp = _call(client, method, path, kwargs, prepared, "anon")
        if permission == Permission.PUBLIC:
            assert _error_code(resp) != "sign_in_required", (method, path)
        else:
            assert resp.status_code == 401, (method, path, resp.status_code)
            assert _error_code(resp) == "sign_in_required", (method, path)


def test_pages_redirect_a_browser_to_sign_in(web: WebEnv) -> None:
    resp = web.client_for("").get(
        "/cases/C-1", headers={"Accept": "text/html"}, follow_redirects=False
    )
    assert resp.status_code == 303 and resp.headers["location"].startswith("/login")


CASE_ROUTES = [
    ("GET", "/api/cases/C-1", {}),
    ("PATCH", "/api/cases/C-1", {"json": {"notes": "x"}}),
    ("POST", "/api/cases/C-1/traces", {"data": {"tracklet_id": "1"}}),
    ("GET", "/api/cases/C-1/result", {}),
    ("POST", "/api/cases/C-1/sightings/3", {"json": {"decision": "reject"}}),
    ("POST", "/api/cases/C-1/contacts/2/trace", {}),
    ("GET", "/api/cases/C-1/snapshots/1.jpg", {}),
    ("GET", "/api/cases/C-1/cameras", {}),
    ("GET", "/api/cases/C-1/cameras/cam1/people", {"params": {"at": "2024-03-01T09:00:00.5Z"}}),
    ("POST", "/api/cases/C-1/unblur", {"json": {"reason": "why", "tracklet_id": 2}}),
    ("POST", "/api/cases/C-1/exports", {"json": {"reason": "why"}}),
    ("GET", "/api/cases/C-1/approvals", {}),
    ("GET", "/api/cases/C-1/exports/{export_id}/report.pdf", {}),
    ("GET", "/api/cases/C-1/contacts", {}),
    ("PUT", "/api/cases/C-1/contacts/2/status", {"json": {"status": "called"}}),
    ("GET", "/api/cases/C-1/call-list.csv", {}),
    ("GET", "/api/jobs/{job_id}", {}),
    ("POST", "/api/approvals/{pending_id}", {"json": {"approve": True}}),
    ("POST", "/api/cases/C-1/close", {}),
    ("GET", "/cases/C-1", {}),
]


@pytest.mark.parametrize("username", ["ian", "sam"])
def test_another_investigator_or_team_cannot_see_the_case(
    web: WebEnv, prepared: dict[str, str], username: str
) -> None:
    client = web.client_for(username)
    role = Role(USERS[username][0])
    for method, path, kwargs in CASE_ROUTES:
        resp = _call(client, method, path, kwargs, prepared, username)
        permission = route_permission(_route_for(web.app, method, path).endpoint)  # type: ignore[arg-type]
        assert permission is not None
        expected = 404 if allowed(role, permission) else 403
        assert resp.status_code == expected, (username, method, path, resp.status_code, resp.text)
        assert "Public Health Act" not in resp.text
    assert client.get("/api/cases").json() == []
    assert web.store.cases.get("C-1").status.value == "open"


def test_a_supervisor_of_the_team_sees_the_case(web: WebEnv, prepared: dict[str, str]) -> None:
    sue = web.client_for("sue")
    assert [c["case_id"] for c in sue.get("/api/cases").json()] == ["C-1"]
    assert sue.get("/api/cases/C-1/result").status_code == 200
