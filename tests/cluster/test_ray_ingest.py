"""Ingest on Ray: the same tracklets as the local path, idempotent, and a worker node
killed with ``kill -9`` mid-file loses and duplicates nothing (real footage, real Ray)."""

from __future__ import annotations

import base64
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cctrace.cli import app
from cctrace.cluster.ray_ingest import ClusterError, _await_previous_owner, file_job
from cctrace.config import SiteConfig, load_site
from cctrace.errors import ConfigError
from cctrace.ingest.owner import process_owner
from cctrace.ingest.runner import ingest_site
from cctrace.store.repository import Store
from tests.cluster.ray_nodes import Cluster, descends, processes, two_node_cluster
from tests.cluster.ray_sites import (
    Snapshot,
    child_env,
    cut_clips,
    footage_rows,
    free_port,
    snapshot,
    write_site,
)

REPO = Path(__file__).resolve().parents[2]


# ---- config and the missing extra (fast) --------------------------------------------


def _site_text(ingest: str) -> str:
    return (
        "name: r\ncameras:\n  - id: cam1\n    location: {x_m: 0, y_m: 0}\n"
        "    footage: [clip.mp4]\n"
        f"ingest:\n  analysis_fps: 7\n{ingest}"
    )


def test_the_ray_keys_are_read_and_checked_with_their_line(tmp_path: Path) -> None:
    site = tmp_path / "site.yaml"
    site.write_text(_site_text("  engine: ray\n  ray_address: 10.0.0.5:6379\n"))
    ingest = load_site(site, check_files=False).ingest
    assert (ingest.engine, ingest.ray_address, ingest.ray_max_retries) == (
        "ray",
        "10.0.0.5:6379",
        3,
    )
    for text, line, message in [
        ("  engine: spark\n", 8, "'local' or 'ray'"),
        ("  engine: ray\n  ray_address: 'head; rm -rf'\n", 9, "host:port"),
        ("  ray_address: auto\n", 8, "engine is not 'ray'"),
        ("  engine: ray\n  ray_max_retries: -1\n", 9, "greater than or equal to 0"),
    ]:
        site.write_text(_site_text(text))
        with pytest.raises(ConfigError) as info:
            load_site(site, check_files=False)
        assert f"{site}:{line}:" in str(info.value) and message in str(info.value)


def test_ray_without_the_extra_says_to_install_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    site = tmp_path / "site.yaml"
    site.write_text(_site_text(""))
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` raises ImportError
    result = CliRunner().invoke(app, ["ingest", str(site), "--ray", "auto"])
    assert result.exit_code != 0
    assert "install cctrace[cluster]" in str(result.exception)
    site.write_text(_site_text("  engine: ray\n"))  # the site file's engine: the same
    result = CliRunner().invoke(app, ["ingest", str(site)])
    assert "install cctrace[cluster]" in str(result.exception)
    assert not (tmp_path / "cctrace-data").exists()  # refused before touching the store


def test_an_unreachable_head_is_a_clear_error(tmp_path: Path) -> None:
    pytest.importorskip("ray", reason="cctrace[cluster] (ray) is not installed")
    site = tmp_path / "site.yaml"
    site.write_text(_site_text(""))
    address = f"127.0.0.1:{free_port()}"  # nobody listens there
    result = CliRunner().invoke(app, ["ingest", str(site), "--ray", address])
    assert isinstance(result.exception, ClusterError)
    assert f"cannot reach the Ray head at {address}" in str(result.exception)


def test_ray_options_that_cannot_apply_are_refused(tmp_path: Path) -> None:
    site = tmp_path / "site.yaml"
    site.write_text(_site_text(""))
    for args, message in [
        (["--ray", "auto", "--workers", "2"], "--workers has no effect with Ray"),
        (["--ray", "nowhere"], "host:port"),
        (["--ray", "auto", "--live"], "leave out --ray"),
    ]:
        result = CliRunner().invoke(app, ["ingest", str(site), *args])
        assert result.exit_code == 2, result.output
        assert message in result.output


def _registered(tmp_path: Path, owner_pid: int) -> tuple[SiteConfig, int]:
    """A site and one footage row, ``running`` under process ``owner_pid``."""
    site_path = tmp_path / "site.yaml"
    site_path.write_text(_site_text(""))
    site = load_site(site_path, check_files=False)
    with Store.for_site(site) as store:
        store.cameras.upsert("cam1")
        start = datetime(2026, 3, 15, 8, tzinfo=UTC)
        record = store.footage.get_or_create(
            "cam1", str(tmp_path / "clip.mp4"), "b" * 64, 1, start, 2.0, 7.0
        )
        store.footage.claim(record.id, process_owner(owner_pid))
    return site, record.id


def test_a_retried_task_takes_over_from_a_dead_owner_at_once(tmp_path: Path) -> None:
    gone = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        text=True,
        capture_output=True,
        check=True,
    )
    site, footage_id = _registered(tmp_path, int(gone.stdout))
    with Store.for_site(site) as store:
        record = store.footage.get(footage_id)
        t0 = time.monotonic()
        got = _await_previous_owner(store, record, process_owner(), wait_s=30)
    assert time.monotonic() - t0 < 5 and got.run_owner == record.run_owner


def test_a_file_a_live_process_holds_is_waited_for_then_left_to_it(tmp_path: Path) -> None:
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        site, footage_id = _registered(tmp_path, other.pid)
        with Store.for_site(site) as store:
            record = store.footage.get(footage_id)
            t0 = time.monotonic()
            got = _await_previous_owner(store, record, process_owner(), wait_s=2)
            waited = time.monotonic() - t0
    finally:
        other.kill()
        other.wait()
    assert waited >= 2 and got.status.value == "running"  # still its: not taken over


def test_a_node_with_another_data_key_refuses_to_write(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CCTRACE_DATA_KEY", base64.urlsafe_b64encode(os.urandom(32)).decode())
    site, footage_id = _registered(tmp_path, os.getpid())
    with pytest.raises(ClusterError, match="data key differs"):
        file_job(site, "cam1", footage_id, key_id="0" * 16)
    with Store.for_site(site) as store:
        assert store.footage.get(footage_id).frames_decoded == 0  # nothing was written


# ---- real footage on real Ray (slow) -------------------------------------------------


@dataclass(frozen=True)
class Clips:
    """Three short PETS clips: cam1 has two files (the second has no time of its own and
    continues the first), cam2 one; and the local path's result over them."""

    cameras: dict[str, list[Path]]
    reference: Snapshot
    reference_rows: dict[tuple[str, str], tuple[object, ...]]


INGEST = "  checkpoint_seconds: 1\n"


@pytest.fixture(scope="module")
def clips(pets_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Clips:
    pytest.importorskip("ray", reason="cctrace[cluster] (ray) is not installed")
    base = tmp_path_factory.mktemp("ray-clips")
    view = pets_dir / "view001.mp4"
    cameras = {
        "cam1": cut_clips(view, base / "a", [(0, 50), (50, 50)]),
        "cam2": cut_clips(view, base / "b", [(300, 70)]),
    }
    site = write_site(base / "local", cameras, pets_dir, INGEST)
    summary = ingest_site(load_site(site), workers=1, progress=False, allow_expired=True)
    assert not summary.failed and len(summary.files) == 3
    reference = snapshot(site)
    assert sum(reference[0].values()) >= 6  # people were found: the comparison means something
    return Clips(cameras, reference, footage_rows(site))


@pytest.fixture
def data_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """One data key for this process and every Ray node it starts."""
    key = tmp_path / "data.key"
    key.write_text(base64.urlsafe_b64encode(os.urandom(32)).decode() + "\n")
    key.chmod(0o600)
    monkeypatch.setenv("CCTRACE_DATA_KEY_FILE", str(key))
    return key


@pytest.mark.slow
def test_local_ray_gives_the_local_paths_tracklets_and_is_idempotent(
    clips: Clips, pets_dir: Path, tmp_path: Path, data_key: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import ray

    from cctrace.web.routers.admin import list_cameras

    site_path = write_site(tmp_path / "ray", clips.cameras, pets_dir, INGEST + "  engine: ray\n")
    site = load_site(site_path)
    ray_tmp = tempfile.mkdtemp(prefix="cctr-ray-", dir="/tmp")
    ray.init(num_cpus=2, include_dashboard=False, _temp_dir=ray_tmp, configure_logging=False)
    try:
        first = ingest_site(site, progress=False, allow_expired=True)  # engine: ray
        again = ingest_site(site, progress=False, allow_expired=True)
    finally:
        ray.shutdown()
        shutil.rmtree(ray_tmp, ignore_errors=True)
    assert not first.failed
    assert [(f.camera_id, Path(f.path).name, f.status) for f in first.files] == [
        ("cam1", "part1.mkv", "done"),
        ("cam1", "part2.mkv", "done"),
        ("cam2", "part1.mkv", "done"),
    ]
    assert "continues the file before it" in first.files[1].note
    got = snapshot(site_path)
    assert got == clips.reference  # tracklets and encounters, each exactly once
    assert footage_rows(site_path) == clips.reference_rows  # same start times and sources
    assert {f.note for f in again.files} == {"already ingested"}
    assert sum(f.tracklets for f in again.files) == 0
    assert snapshot(site_path) == got  # the second run added nothing

    monkeypatch.setenv("COLUMNS", "300")
    shown = CliRunner().invoke(app, ["status", str(site_path), "--json"])
    assert shown.exit_code == 0, shown.output
    rows = json.loads(shown.output)["footage"]
    assert [r["status"] for r in rows] == ["done"] * 3
    assert sum(r["tracklets"] for r in rows) == sum(got[0].values())
    with Store.for_site(site) as store:
        cameras = {c.camera_id: c for c in list_cameras(store)}
    assert (cameras["cam1"].footage_files, cameras["cam1"].footage_done) == (2, 2)
    assert (cameras["cam2"].footage_files, cameras["cam2"].footage_done) == (1, 1)


# ---- a two-node cluster on this machine, a node killed mid-file ----------------------


@pytest.fixture
def two_nodes(data_key: Path) -> Iterator[Cluster]:
    """A Ray head and a second node on this machine, one CPU each, own temp dirs/ports."""
    pytest.importorskip("ray", reason="cctrace[cluster] (ray) is not installed")
    with two_node_cluster(child_env(REPO, data_key)) as cluster:
        yield cluster


def _status_shows_running(site_path: Path, footage_id: int) -> bool:
    """``cctrace status --json`` lists the file running, with its progress and owner."""
    shown = CliRunner().invoke(app, ["status", str(site_path), "--json"])
    assert shown.exit_code == 0, shown.output
    (row,) = [r for r in json.loads(shown.output)["footage"] if r["footage_id"] == footage_id]
    return bool(row["status"] == "running" and row["progress_offset_s"] > 0 and row["run_owner"])


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_a_worker_node_killed_mid_file_loses_and_duplicates_nothing(
    clips: Clips, pets_dir: Path, tmp_path: Path, two_nodes: Cluster
) -> None:
    site_path = write_site(tmp_path / "kill", clips.cameras, pets_dir, INGEST)
    site = load_site(site_path)
    (raylet,) = [
        p
        for p, (_, cmd) in processes().items()
        if "/raylet/raylet " in cmd and two_nodes.worker_dir in cmd
    ]
    cmd = [sys.executable, "-m", "cctrace.cli", "ingest", str(site_path), "--json"]
    with (tmp_path / "driver.err").open("w") as err:  # Ray reports the dead node here
        driver = subprocess.Popen(
            [*cmd, "--ray", two_nodes.address, "--allow-expired"],
            env=two_nodes.env,
            stdout=subprocess.PIPE,
            stderr=err,
            text=True,
        )
    killed = None
    shown_running = False
    kept: set[int] = set()
    try:
        while driver.poll() is None and killed is None:
            time.sleep(0.1)
            if not (site.storage.data_dir / "cctrace.db").exists():
                continue
            with Store.for_site(site) as store:
                procs = processes()
                for f in store.footage.files():
                    if f.status.value != "running" or not f.run_owner:
                        continue
                    owner_pid = int(f.run_owner.rsplit(":", 2)[1])
                    if f.progress_offset_s > 0 and descends(owner_pid, raylet, procs):
                        if not shown_running:  # first: `cctrace status` shows the Ray task
                            shown_running = _status_shows_running(site_path, f.id)
                            break
                        os.kill(raylet, signal.SIGKILL)  # the worker node dies mid-file
                        killed = f
                        kept = {t.id for t in store.tracklets.in_window(None, None)}
                        break
        out, _ = driver.communicate(timeout=600)
    finally:
        if driver.poll() is None:
            driver.kill()
    assert shown_running, "cctrace status never showed a Ray task's file running"
    assert killed is not None, "no file was seen mid-way on the worker node: nothing was killed"
    assert driver.returncode == 0, out
    result = json.loads(out)
    assert [f["status"] for f in result["files"]] == ["done"] * 3
    assert snapshot(site_path) == clips.reference  # nothing lost, nothing twice
    with Store.for_site(site) as store:
        ids = {t.id for t in store.tracklets.in_window(None, None)}
    assert kept <= ids  # what was committed before the kill was kept (resumed, not redone)
