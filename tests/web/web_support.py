"""Web test support: a site, a store with synthetic tracklets, users of every role."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import timedelta
from pathlib import Path

import numpy as np
from fastapi.testclient import TestClient

from cctrace.config import SiteConfig, load_site
from cctrace.store import Store
from cctrace.types import Tracklet
from tests.store.store_factories import T0, encounter, save, setup_footage, tracklet

PASSWORD = "correct horse battery staple"
USERS = {
    "ivy": ("investigator", "north"),
    "ian": ("investigator", "north"),
    "sue": ("supervisor", "north"),
    "sam": ("supervisor", "south"),
    "aud": ("auditor", "north"),
    "adm": ("admin", "north"),
}


PLAN_POINTS = {
    "kind": "site",
    "p1_u": "50", "p1_v": "250", "p1_a": "-20", "p1_b": "-20",
    "p2_u": "350", "p2_v": "250", "p2_a": "40", "p2_b": "-20",
    "p3_u": "50", "p3_v": "50", "p3_a": "-20", "p3_b": "20",
}  # fmt: skip
"""Three site-plan control points (pixels -> site metres) as the admin form sends them."""


@dataclass
class WebEnv:
    """A running app over a store with data, and a way to sign in."""

    site: SiteConfig
    store: Store
    app: object
    tracklet_ids: list[int]
    client_for: Callable[[str], TestClient]


def write_site(folder: Path) -> SiteConfig:
    """A one-camera site whose data lives in ``folder/data``."""
    (folder / "site.yaml").write_text(
        "name: web test\n"
        "cameras:\n"
        "  - id: cam1\n"
        "    name: Camera cam1\n"
        "    location: {x_m: 1.0, y_m: 2.0}\n"
        "    footage: [cam1.mp4]\n"
        "trace:\n  distance_m: 2.0\n  minutes: 0.01\n"
        "storage:\n  data_dir: data\n"
    )
    return load_site(folder / "site.yaml", check_files=False)


def with_face(person: Tracklet, vector: np.ndarray) -> Tracklet:
    """``person`` with every face embedding replaced by ``vector`` (normalised)."""
    unit = (vector / np.linalg.norm(vector)).astype(np.float32)
    return replace(person, faces=tuple(replace(f, embedding=unit) for f in person.faces))


def seed_store(store: Store) -> list[int]:
    """Five people in cam1. 1 is the case; 2 meets 1 for 30 s; 3 has 1's face; 4 looks
    like 1 only enough for review (cosine 0.43); 5 looks like 4 (0.90) but not like 1
    (0.10), so only a confirmed 4 finds 5 (query expansion)."""
    footage = setup_footage(store, "cam1")
    basis = np.linalg.qr(np.random.default_rng(3).standard_normal((128, 3)))[0].T
    e1, e2, e3 = basis
    v1 = e1
    v4 = 0.43 * e1 + np.sqrt(1 - 0.43**2) * e2
    v5 = 0.1 * e1 + 0.95 * e2 + np.sqrt(1 - 0.1**2 - 0.95**2) * e3
    later = T0 + timedelta(seconds=120)
    people = [
        with_face(tracklet(1), v1),
        tracklet(2, seed=8),
        with_face(tracklet(3, n_points=3), v1),
        with_face(tracklet(4, start=later, first_frame=600), v4),
        with_face(tracklet(5, start=later + timedelta(seconds=60), first_frame=900), v5),
    ]
    return save(store, footage.id, people, [encounter(1, 2, seconds=30.0)])


def wait_job(client: TestClient, job_id: str, timeout_s: float = 60.0) -> dict[str, object]:
    """Poll a trace job until it is done or failed."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        job = client.get(f"/api/jobs/{job_id}").json()
        if job["status"] in ("done", "failed"):
            return dict(job)
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} still running after {timeout_s} s")


def open_and_trace(client: TestClient, case_id: str, tracklet_id: int) -> dict[str, object]:
    """Open a case and trace it from a tracklet; returns the finished job."""
    resp = client.post("/api/cases", json={"case_id": case_id, "legal_basis": "Public Health Act"})
    assert resp.status_code == 201, resp.text
    resp = client.post(f"/api/cases/{case_id}/traces", data={"tracklet_id": str(tracklet_id)})
    assert resp.status_code == 202, resp.text
    job = wait_job(client, resp.json()["job_id"])
    assert job["status"] == "done", job
    return job
