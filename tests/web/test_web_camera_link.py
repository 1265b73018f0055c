"""A person followed to the next camera without a face: the evidence an investigator
reviews (clothing, walking time, height, walking direction), in English and Korean, and
confirming the link puts the candidate on the route."""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient

from cctrace.config import SiteConfig, load_site
from cctrace.store import Store
from cctrace.types import BodyAppearance, Tracklet, TrackPoint
from cctrace.web import WebSettings, create_app
from cctrace.web.language import LANG_COOKIE
from tests.store.store_factories import T0, save, setup_footage, tracklet
from tests.web.conftest import _password_hash
from tests.web.web_support import PASSWORD, USERS

CENTRE = (640.0, 360.0)


def _camera() -> np.ndarray:
    """A pinhole camera 6 m up at (5, -10), looking north (+y) and down by 30 degrees."""
    t = math.radians(30.0)
    x_axis = np.array([1.0, 0.0, 0.0])
    z_axis = np.array([0.0, math.cos(t), -math.sin(t)])
    rotation = np.vstack([x_axis, np.cross(z_axis, x_axis), z_axis])
    k = np.array([[1000.0, 0.0, CENTRE[0]], [0.0, 1000.0, CENTRE[1]], [0.0, 0.0, 1.0]])
    return k @ np.hstack([rotation, (-rotation @ np.array([5.0, -10.0, 6.0])).reshape(3, 1)])


def _pixel(p: np.ndarray, x: float, y: float, z: float = 0.0) -> tuple[float, float]:
    u, v, w = p @ np.array([x, y, z, 1.0])
    return float(u / w), float(v / w)


def _site(folder: Path) -> SiteConfig:
    """gate and hall: the same camera geometry, hall's ground 30 m east on the plan."""
    p = _camera()
    rows = [
        f"[{u:.3f}, {v:.3f}, {x}, {y}]"
        for x, y in [(0, 0), (10, 0), (10, 10), (0, 10), (5, 5)]
        for u, v in [_pixel(p, x, y)]
    ]
    calibration = (
        "    calibration:\n"
        f"      principal_point_px: [{CENTRE[0]}, {CENTRE[1]}]\n"
        "      points: [" + ", ".join(rows) + "]\n"
    )
    (folder / "site.yaml").write_text(
        "name: link test\n"
        "cameras:\n"
        "  - id: gate\n    name: Gate\n    location: {x_m: 5, y_m: -10}\n"
        "    footage: [gate.mp4]\n    links: [{to: hall, walk_s: [5, 60]}]\n"
        + calibration
        + "  - id: hall\n    name: Hall\n    location: {x_m: 35, y_m: -10}\n"
        "    footage: [hall.mp4]\n" + calibration + "      placement: {x_m: 30}\n"
        "trace:\n  distance_m: 2.0\n  minutes: 0.01\n"
        "storage:\n  data_dir: data\n"
    )
    return load_site(folder / "site.yaml", check_files=False)


def _walker(
    track: int,
    camera: str,
    start_s: float,
    path: list[tuple[float, float]],
    height_m: float,
    body: np.ndarray,
    shift_x: float = 0.0,
) -> Tracklet:
    """A person of ``height_m`` walking ``path`` (site metres; the camera's own ground is
    the site's shifted by ``shift_x``), boxes as the camera would see them."""
    p = _camera()
    base = tracklet(track, camera, start=T0 + timedelta(seconds=start_s), n_faces=0)
    points = []
    for i, (x, y) in enumerate(path):
        fu, fv = _pixel(p, x - shift_x, y)
        _, hv = _pixel(p, x - shift_x, y, height_m)
        half = 0.2 * (fv - hv)
        points.append(
            TrackPoint(
                frame_index=int(start_s * 2) + i,
                timestamp=T0 + timedelta(seconds=start_s + 0.5 * i),
                xyxy=(fu - half, hv, fu + half, fv),
                ground_xy=(x, y),
                confidence=0.9,
            )
        )
    return replace(base, points=tuple(points), faces=(), body=BodyAppearance("part-colour", body))


@pytest.fixture
def env(tmp_path: Path) -> Iterator[tuple[TestClient, Store, dict[str, int]]]:
    site = _site(tmp_path)
    store = Store.for_site(site)
    rng = np.random.default_rng(5)
    case = rng.standard_normal(32)
    case /= np.linalg.norm(case)
    other = rng.standard_normal(32)
    other -= (other @ case) * case
    other /= np.linalg.norm(other)
    alike = 0.9 * case + math.sqrt(1 - 0.81) * other
    east = [(2.0 + 0.5 * i, 5.0) for i in range(16)]  # leaves the gate heading east
    gate = setup_footage(store, "gate")
    (case_id,) = save(store, gate.id, [_walker(1, "gate", 0, east, 1.72, case)])
    in_from_gate = [(30.5 + 0.5 * i, 5.0) for i in range(10)]
    (hall_id,) = save(
        store,
        setup_footage(store, "hall", sha="b" * 64).id,
        [_walker(1, "hall", 20, in_from_gate, 1.70, alike.astype(np.float32), shift_x=30.0)],
    )
    for name, (role, team) in USERS.items():
        store.users.create(name, _password_hash(), role, team)
    app = create_app(site, WebSettings.for_demo(), store=store)
    client = TestClient(app)
    resp = client.post("/api/auth/login", json={"username": "ivy", "password": PASSWORD})
    assert resp.status_code == 200, resp.text
    client.headers["X-CSRF-Token"] = resp.json()["csrf_token"]
    yield client, store, {"case": case_id, "hall": hall_id}
    client.close()
    app.state.cctrace.jobs.shutdown()
    store.close()


def test_the_investigator_sees_height_and_direction_and_confirms_the_link(
    env: tuple[TestClient, Store, dict[str, int]],
) -> None:
    from tests.web.web_support import open_and_trace, wait_job

    client, _, ids = env
    open_and_trace(client, "LINK-1", ids["case"])
    result = client.get("/api/cases/LINK-1/result").json()
    (candidate,) = [s for s in result["timeline"] if s["tracklet_id"] == ids["hall"]]
    assert candidate["status"] == "needs_review"
    link = candidate["link"]
    assert link["case_height_m"] == pytest.approx(1.72, abs=0.01)
    assert link["candidate_height_m"] == pytest.approx(1.70, abs=0.01)
    assert link["exit_cos"] == pytest.approx(1.0) and link["entry_cos"] == pytest.approx(1.0)
    assert link["score"] > 0
    client.cookies.set(LANG_COOKIE, "en")
    page = client.get("/cases/LINK-1", headers={"Accept": "text/html"}).text
    assert "Estimated height 1.72 m (case), 1.70 m (candidate)." in page
    assert "The case left heading towards Camera hall." in page
    assert "The candidate walked in from the side of Camera gate." in page
    client.cookies.set(LANG_COOKIE, "ko")
    korean = client.get("/cases/LINK-1", headers={"Accept": "text/html"}).text
    assert "추정 키: 확진자 1.72 m, 후보 1.70 m." in korean
    assert "확진자는 Camera hall 카메라 쪽으로 걸어 나갔습니다." in korean
    assert "후보는 Camera gate 카메라 쪽에서 걸어 들어왔습니다." in korean
    # Confirming it puts the hall on the route.
    resp = client.post(f"/api/cases/LINK-1/sightings/{ids['hall']}", json={"decision": "accept"})
    assert resp.status_code in (200, 202), resp.text
    if resp.status_code == 202:
        assert wait_job(client, resp.json()["job_id"])["status"] == "done"
    result = client.get("/api/cases/LINK-1/result").json()
    (confirmed,) = [s for s in result["timeline"] if s["tracklet_id"] == ids["hall"]]
    assert confirmed["status"] == "accepted"
