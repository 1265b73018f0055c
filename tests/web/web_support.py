"""Web test support: a site, a store with synthetic tracklets, users of every role."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from fastapi.testclient import TestClient

from cctrace.config import SiteConfig, load_site
from cctrace.store import Store

sys.path.insert(0, str(Path(__file__).parents[1] / "store"))
from store_factories import encounter, save, setup_footage, tracklet

PASSWORD = "correct horse battery staple"
USERS = {
    "ivy": ("investigator", "north"),
    "ian": ("investigator", "north"),
    "sue": ("supervisor", "north"),
    "sam": ("supervisor", "south"),
    "aud": ("auditor", "north"),
    "adm": ("admin", "north"),
}


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


def seed_store(store: Store) -> list[int]:
    """Three people in cam1: 1 and 2 meet; 3 is elsewhere. 1 and 3 share a face."""
    footage = setup_footage(store, "cam1")
    people = [tracklet(1, seed=7), tracklet(2, seed=8), tracklet(3, seed=7, n_points=3)]
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
