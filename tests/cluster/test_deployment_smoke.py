"""The production layout of docs/deploy.md, started whole on this machine, with one trace
through it: a PostgreSQL server, a Ray head and a second Ray node, ``cctrace ingest
--ray`` of two short PETS cameras into PostgreSQL, ``cctrace serve --workers 2`` on the
same database, a tracer who signs in over HTTP, picks a person in a camera frame and
traces them; then the audit log is verified. Every part runs as its own process, with the
data key in a file outside the data folder and the audit anchors on their own path, as
on real hosts. Everything is torn down at the end, even on failure.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import secrets
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from cctrace.config import load_site
from cctrace.store.repository import Store
from tests.cluster.ray_nodes import Cluster, processes, two_node_cluster
from tests.cluster.ray_sites import child_env, cut_clips, write_site
from tests.store.conftest import PgServer, pg_server  # noqa: F401  (a real PostgreSQL server)
from tests.web.serve_support import serve, sign_in

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc"),
]

REPO = Path(__file__).resolve().parents[2]
PASSWORD = "smoke test password 4711"
CASE = "SMOKE-1"
TRACER_ADDRESS = "203.0.113.7"
COMMAND_TIMEOUT_S = 300
TRACE_TIMEOUT_S = 180


@dataclass(frozen=True)
class Layout:
    """The files one deployment needs: a site on PostgreSQL, its key and anchor file."""

    site: Path
    env: dict[str, str]
    """The environment every part is started with (data key file, this checkout)."""
    key_file: Path
    anchors: Path
    database_url: str


@pytest.fixture
def layout(
    pets_dir: Path,
    pg_server: PgServer,  # noqa: F811
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[Layout]:
    """Two PETS cameras (10 s each) on a fresh PostgreSQL database; the data key in
    ``secrets/`` and the audit anchors in ``anchors/``, both outside the data folder.
    This process reads the store with the same key as every part."""
    pytest.importorskip("ray", reason="cctrace[cluster] (ray) is not installed")
    view = pets_dir / "view001.mp4"
    cameras = {
        "cam1": cut_clips(view, tmp_path / "footage" / "cam1", [(0, 70)]),
        "cam2": cut_clips(view, tmp_path / "footage" / "cam2", [(300, 70)]),
    }
    secret_dir = tmp_path / "secrets"
    secret_dir.mkdir(mode=0o700)
    key_file = secret_dir / "data.key"
    key_file.write_text(base64.urlsafe_b64encode(os.urandom(32)).decode() + "\n")
    key_file.chmod(0o600)
    anchors = tmp_path / "anchors" / "anchors.jsonl"
    url = pg_server.new_database()
    extra = (
        f"storage:\n  data_dir: {tmp_path / 'data'}\n  database_url: '{url}'\n"
        f"audit:\n  anchor_path: {anchors}\n"
    )
    site = write_site(tmp_path / "site", cameras, pets_dir, "  checkpoint_seconds: 2\n", extra)
    env = child_env(REPO, key_file)
    env.pop("CCTRACE_DATA_KEY", None)  # the key file is the one key of every part
    monkeypatch.delenv("CCTRACE_DATA_KEY", raising=False)
    monkeypatch.setenv("CCTRACE_DATA_KEY_FILE", str(key_file))
    yield Layout(site, env, key_file, anchors, url)


def cctrace(layout: Layout, *args: str, extra_env: dict[str, str] | None = None) -> Any:
    """Run ``cctrace ARGS`` as its own process with the layout's environment."""
    return subprocess.run(
        [sys.executable, "-m", "cctrace.cli", *args],
        env={**layout.env, **(extra_env or {})},
        capture_output=True,
        text=True,
        timeout=COMMAND_TIMEOUT_S,
        check=False,
    )


def _nodes_that_ran(owners: list[str], cluster: Cluster) -> set[str | None]:
    """Which Ray nodes' processes ingested the files (owners are ``host:pid:start``)."""
    return {cluster.node_of(int(owner.rsplit(":", 2)[1])) for owner in owners}


def _started_by(cluster: Cluster) -> list[int]:
    """The processes left that name one of the cluster's temp dirs."""
    dirs = (cluster.head_dir, cluster.worker_dir)
    return [p for p, (_, cmd) in processes().items() if any(d in cmd for d in dirs)]


def _process_group(pgid: int) -> list[int]:
    """The processes left in process group ``pgid``."""
    left = []
    for pid in processes():
        with contextlib.suppress(ProcessLookupError):
            if os.getpgid(pid) == pgid:
                left.append(pid)
    return left


def _gone(what: str, left: Callable[[], list[int]], timeout_s: float = 15.0) -> None:
    """Wait until ``left()`` is empty; AssertionError naming ``what`` otherwise."""
    deadline = time.monotonic() + timeout_s
    while left():
        assert time.monotonic() < deadline, f"{what} outlived the test: {left()}"
        time.sleep(0.2)


def _job_finished(client: httpx.Client, job_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + TRACE_TIMEOUT_S
    while time.monotonic() < deadline:
        job = client.get(f"/api/jobs/{job_id}").json()
        if job["status"] in ("done", "failed"):
            return dict(job)
        time.sleep(0.5)
    raise AssertionError(f"trace job {job_id} did not finish in {TRACE_TIMEOUT_S} s")


def test_the_production_layout_ingests_on_ray_into_postgresql_and_traces_over_http(
    layout: Layout,
) -> None:
    site = str(layout.site)
    upgraded = cctrace(layout, "db", "upgrade", site)
    assert upgraded.returncode == 0, upgraded.stderr
    assert "upgraded from empty to revision" in upgraded.stdout

    with two_node_cluster(layout.env) as cluster:
        # 1. Ingest on the two Ray nodes, straight into PostgreSQL.
        ingest = cctrace(
            layout,
            *("ingest", site, "--ray", cluster.address, "--allow-expired", "--json"),
            extra_env=cluster.env,  # with the cluster's auth token
        )
        assert ingest.returncode == 0, ingest.stderr[-3000:]
        files = json.loads(ingest.stdout)["files"]
        assert [(f["camera_id"], f["status"]) for f in files] == [
            ("cam1", "done"),
            ("cam2", "done"),
        ], files
        assert all(f["tracklets"] > 0 for f in files), files
        with Store.for_site(load_site(layout.site, check_files=False)) as store:
            assert store.url.startswith("postgresql")
            stored = store.tracklets.in_window(None, None)
            encounters = store.tracklets.encounters_for([t.id for t in stored])
            owners = [f.run_owner or "" for f in store.footage.files()]
        assert _nodes_that_ran(owners, cluster) == {"head", "worker"}, owners
        assert {t.camera_id for t in stored} == {"cam1", "cam2"}
        assert sum(f["tracklets"] for f in files) == len(stored)
        with_contacts = {e.tracklet_id for e in encounters} | {
            e.other_tracklet_id for e in encounters
        }
        assert with_contacts, "nobody met anybody: the trace below would prove little"

        # 2. Two web workers on the same database; a tracer signs in over HTTP.
        added = cctrace(
            layout,
            "users",
            "add",
            "ivy",
            "--role",
            "investigator",
            "--site",
            site,
            extra_env={"CCTRACE_NEW_PASSWORD": PASSWORD},
        )
        assert added.returncode == 0, added.stderr
        # The test plays the reverse proxy on 127.0.0.1, trusted to name the client.
        web_env = {**layout.env, "CCTRACE_TRUSTED_PROXIES": "127.0.0.1"}
        with serve(layout.site, secrets.token_urlsafe(32), workers=2, env=web_env) as server:
            assert len(server.workers()) == 2
            client = sign_in(server.url, "ivy", PASSWORD, {"X-Forwarded-For": TRACER_ADDRESS})
            try:
                _trace_a_picked_person(client, with_contacts)
            finally:
                client.close()
        assert server.proc.poll() is not None
        _gone("the web server's processes", lambda: _process_group(server.proc.pid))
    # Torn down: nothing the two Ray nodes started is left running.
    _gone("the Ray nodes' processes", lambda: _started_by(cluster))

    # 3. The audit log holds what happened and verifies against key and anchors.
    with Store.for_site(load_site(layout.site, check_files=False)) as store:
        entries = store.audit.entries()
    actions = [(e.actor, e.action, e.case_id) for e in entries]
    (signed_in,) = [e for e in entries if e.action == "sign_in"]
    assert signed_in.query["client"] == TRACER_ADDRESS  # X-Forwarded-For from the proxy
    for entry in [
        ("cli", "user_create", None),
        ("ivy", "case_open", CASE),
        ("ivy", "view_frame_people", CASE),
        ("ivy", "trace", CASE),
        ("ivy", "view_case", CASE),
    ]:
        assert entry in actions, (entry, actions)
    verified = cctrace(layout, "audit", "verify", site, "--json")
    assert verified.returncode == 0, verified.stdout + verified.stderr
    report = json.loads(verified.stdout)
    assert report["ok"] and report["entries"] == len(actions) == report["verified"]
    anchored = layout.anchors.read_text().splitlines()
    assert json.loads(anchored[-1])["count"] == len(actions)  # the anchor file kept up


def _trace_a_picked_person(client: httpx.Client, with_contacts: set[int]) -> None:
    """Open a case, pick a person in cam1's frame who met someone, trace them, and check
    the result: their sightings, a route and their contacts."""
    body = {
        "case_id": CASE,
        "legal_basis": "Infectious Disease Control and Prevention Act, Art. 76-2",
        "window_from": "2009-01-01T12:00:00Z",
        "window_to": "2009-01-01T13:00:00Z",
    }
    created = client.post("/api/cases", json=body)
    assert created.status_code == 201, created.text
    cameras = {c["camera_id"]: c for c in client.get(f"/api/cases/{CASE}/cameras").json()}
    assert set(cameras) == {"cam1", "cam2"}
    start = httpx.QueryParams({"at": cameras["cam1"]["footage_from"]})
    picked = client.get(f"/api/cases/{CASE}/cameras/cam1/people?{start}")
    assert picked.status_code == 200, picked.text
    people = [p["tracklet_id"] for p in picked.json()["people"]]
    candidates = [t for t in people if t in with_contacts]
    assert candidates, (people, with_contacts)
    tracklet = candidates[0]

    queued = client.post(
        f"/api/cases/{CASE}/traces", data={"tracklet_id": str(tracklet), "minutes": "0.05"}
    )
    assert queued.status_code == 202, queued.text
    job = _job_finished(client, queued.json()["job_id"])
    assert job["status"] == "done", job
    result = client.get(f"/api/cases/{CASE}/result")
    assert result.status_code == 200, result.text
    trace = result.json()
    sightings = [s["tracklet_id"] for s in trace["timeline"]]
    assert tracklet in sightings, trace["timeline"]
    assert trace["route"], "an accepted sighting makes a route"
    assert trace["contacts"], "the picked person met someone: the trace must say so"
    assert all(c["total_seconds_within"] > 0 for c in trace["contacts"]), trace["contacts"]
