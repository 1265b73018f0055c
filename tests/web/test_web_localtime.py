"""The web app on a +09:00 site (Asia/Seoul) and across Berlin's DST changes: pages show
local time with its offset, typed times are local, JSON stays UTC, contacts and
sightings have names a tracer can use."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from cctrace.config import load_site
from cctrace.store import Store
from cctrace.web import WebSettings, create_app
from tests.web.conftest import _password_hash
from tests.web.web_support import PASSWORD, USERS, open_and_trace, seed_store, wait_job

HTML = {"Accept": "text/html"}
UTC_TIME = re.compile(r"\d\d:\d\d(:\d\d)? UTC")


def _client(tmp_path: Path, zone: str) -> Iterator[TestClient]:
    (tmp_path / "site.yaml").write_text(
        f"name: local time test\ntimezone: {zone}\n"
        "cameras:\n"
        "  - id: cam1\n"
        "    name: Camera cam1\n"
        "    location: {x_m: 1.0, y_m: 2.0}\n"
        "    footage: [cam1.mp4]\n"
        "trace:\n  distance_m: 2.0\n  minutes: 0.01\n"
        "storage:\n  data_dir: data\n"
    )
    site = load_site(tmp_path / "site.yaml", check_files=False)
    store = Store.for_site(site)
    seed_store(store)
    for name, (role, team) in USERS.items():
        store.users.create(name, _password_hash(), role, team)
    app = create_app(site, WebSettings.for_demo(), store=store)
    client = TestClient(app)
    resp = client.post("/api/auth/login", json={"username": "ivy", "password": PASSWORD})
    client.headers["X-CSRF-Token"] = resp.json()["csrf_token"]
    yield client
    client.close()
    app.state.cctrace.jobs.shutdown()
    store.close()


@pytest.fixture
def seoul(tmp_path: Path) -> Iterator[TestClient]:
    yield from _client(tmp_path, "Asia/Seoul")


@pytest.fixture
def berlin(tmp_path: Path) -> Iterator[TestClient]:
    yield from _client(tmp_path, "Europe/Berlin")


def test_case_page_of_a_seoul_site(seoul: TestClient) -> None:
    """The synthetic footage starts 2024-03-01 09:00:00 UTC = 18:00:00 in Seoul."""
    resp = seoul.post(
        "/api/cases",
        json={
            "case_id": "S-1",
            "legal_basis": "IDCPA Art. 76-2",
            "window_from": "2024-03-01T17:00:00",  # typed local time, no offset
            "window_to": "2024-03-01T10:00:00Z",  # an explicit offset is honoured
        },
    )
    assert resp.status_code == 201, resp.text
    case = resp.json()
    assert case["window_from"].startswith("2024-03-01T08:00:00")  # JSON stays UTC
    assert case["window_to"].startswith("2024-03-01T10:00:00")
    resp = seoul.post("/api/cases/S-1/traces", data={"tracklet_id": "1"})
    assert wait_job(seoul, resp.json()["job_id"])["status"] == "done"
    result = seoul.get("/api/cases/S-1/result").json()
    assert result["timeline"][0]["start"].startswith("2024-03-01T09:00:00")
    assert result["timeline"][0]["number"] == 1 and result["contacts"][0]["number"] == 1

    page = seoul.get("/cases/S-1", headers=HTML).text
    assert "2024-03-01 17:00:00 +09:00 – 2024-03-01 19:00:00 +09:00" in page  # window
    assert "local time, Asia/Seoul, UTC+09:00" in page
    assert "Time (Asia/Seoul, UTC+09:00)" in page
    assert "2024-03-01 18:00:00" in page
    assert not UTC_TIME.search(page), UTC_TIME.search(page)
    # Names a tracer can use, the ids still there in a muted line and the aria-labels.
    assert "Person 1 (Camera cam1, 18:00)" in page
    assert re.search(r"Sighting 1 · Camera cam1, 18:00:00", page)
    assert '<div class="muted tracklet">tracklet 1</div>' in page
    assert 'aria-label="Second-degree trace of Person 1 (Camera cam1, 18:00) (tracklet 2)"' in page
    review = re.search(
        r'aria-label="Confirm (Sighting \d+ · Camera cam1, [0-9:]+) \(tracklet 4\)"', page
    )
    assert review, "the review band names the sighting and keeps its tracklet id"
    assert 'data-tz="Asia/Seoul"' in page  # the frame picker shows local times


def test_cases_page_and_frame_picker_take_local_time(seoul: TestClient) -> None:
    seoul.post("/api/cases", json={"case_id": "P-1", "legal_basis": "basis"})
    page = seoul.get("/cases", headers=HTML).text
    assert "Infectious window from (local time)" in page and "Asia/Seoul, UTC+09:00" in page
    # 18:00:00.4 in Seoul is 09:00:00.4 UTC, when people 1-3 are in the frame.
    picked = seoul.get("/api/cases/P-1/cameras/cam1/people", params={"at": "2024-03-01T18:00:00.4"})
    assert picked.status_code == 200, picked.text
    assert {p["tracklet_id"] for p in picked.json()["people"]} == {1, 2, 3}
    assert picked.json()["timestamp"].startswith("2024-03-01T09:00:00")
    same = seoul.get("/api/cases/P-1/cameras/cam1/people", params={"at": "2024-03-01T09:00:00.4Z"})
    assert same.json()["timestamp"] == picked.json()["timestamp"]
    # Outside the case's window: the message reads in local time.
    seoul.post(
        "/api/cases",
        json={"case_id": "P-2", "legal_basis": "basis", "window_from": "2024-03-01T18:30:00"},
    )
    early = seoul.get("/api/cases/P-2/cameras/cam1/people", params={"at": "2024-03-01T18:00:00"})
    assert early.status_code == 400
    assert early.json()["error"]["message"].startswith(
        "2024-03-01 18:00:00 +09:00 is before case P-2's infectious window "
        "(2024-03-01 18:30:00 +09:00)"
    )
    # Naive 09:00 is 09:00 in Seoul = midnight UTC: no footage then.
    assert (
        seoul.get("/api/cases/P-1/cameras/cam1/people", params={"at": "2024-03-01T09:00:00"})
    ).status_code == 404


def test_berlin_windows_typed_in_the_skipped_and_the_repeated_hour(berlin: TestClient) -> None:
    """A window typed in the hour skipped on 2026-03-29 is read with the offset before
    the change (02:30 -> 01:30 UTC, shown 03:30 +02:00); one typed in the hour repeated
    on 2026-10-25 is the first of the two (02:30 +02:00 = 00:30 UTC)."""
    resp = berlin.post(
        "/api/cases",
        json={
            "case_id": "B-1",
            "legal_basis": "IfSG s.25",
            "window_from": "2026-03-29T02:30:00",
            "window_to": "2026-10-25T02:30:00",
        },
    )
    assert resp.status_code == 201, resp.text
    assert resp.json()["window_from"].startswith("2026-03-29T01:30:00")
    assert resp.json()["window_to"].startswith("2026-10-25T00:30:00")
    page = berlin.get("/cases/B-1", headers=HTML).text
    assert "2026-03-29 03:30:00 +02:00 – 2026-10-25 02:30:00 +02:00" in page
    patched = berlin.patch("/api/cases/B-1", json={"window_to": "2026-10-25T02:30:00+01:00"})
    assert patched.json()["window_to"].startswith("2026-10-25T01:30:00")  # the second 02:30
    page = berlin.get("/cases/B-1", headers=HTML).text
    assert "2026-10-25 02:30:00 +01:00" in page


def test_a_utc_site_still_reads_utc(seoul: TestClient, tmp_path: Path) -> None:
    """A UTC site keeps the old UTC pages."""
    (tmp_path / "utc").mkdir()
    clients = _client(tmp_path / "utc", "UTC")
    client = next(clients)
    try:
        open_and_trace(client, "U-1", 1)
        page = client.get("/cases/U-1", headers=HTML).text
        assert "Person 1 (Camera cam1, 09:00)" in page
        assert "Time (UTC)" in page and "+00:00" not in page
    finally:
        next(clients, None)
