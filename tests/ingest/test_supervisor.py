"""Supervised camera workers: a lost worker retries only its camera; workers die with
their parent."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from functools import partial
from pathlib import Path

import pytest

from cctrace.ingest.supervisor import supervise
from tests.ingest import supervisor_jobs


def _lost(camera_id: str, reason: str) -> list[object]:
    return [("failed", camera_id, reason)]


def test_a_killed_worker_is_started_again_and_the_others_are_untouched(tmp_path: Path) -> None:
    events: list[tuple[str, str, float]] = []
    job = partial(supervisor_jobs.killed_first_time, str(tmp_path), "b")
    results = supervise(["a", "b", "c"], job, 2, _lost, events.append)
    assert {cam: rows[0][0] for cam, rows in results.items()} == {
        "a": "done",
        "b": "done",
        "c": "done",
    }
    assert (tmp_path / "b.tried").exists()
    assert ("total", "a", 1.0) in events and ("at", "b", 1.0) in events


def test_a_camera_whose_worker_dies_twice_fails_alone_with_the_reason() -> None:
    job = partial(supervisor_jobs.always_killed, "b")
    results = supervise(["a", "b", "c"], job, 2, _lost)
    assert results["a"][0][0] == "done" and results["c"][0][0] == "done"
    status, camera, reason = results["b"][0]
    assert (status, camera) == ("failed", "b")
    assert "camera b died 2 times" in str(reason) and "SIGKILL" in str(reason)
    assert "resume from their last checkpoint" in str(reason)


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rfind(")") + 2 :][0] != "Z"  # a zombie has stopped


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
@pytest.mark.parametrize("pdeathsig", [True, False], ids=["pdeathsig", "watchdog"])
def test_workers_die_with_a_killed_parent(tmp_path: Path, pdeathsig: bool) -> None:
    """kill -9 of the parent: no worker goes on (kernel signal, or the watchdog thread)."""
    script = textwrap.dedent(
        f"""
        import sys
        from functools import partial
        from tests.ingest import supervisor_jobs
        from cctrace.ingest.supervisor import supervise
        if __name__ == "__main__":
            job = partial(supervisor_jobs.run_forever, {str(tmp_path)!r})
            supervise(["a", "b"], job, 2, lambda c, r: [], pdeathsig={pdeathsig})
        """
    )
    root = str(Path(__file__).resolve().parents[2])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([root, os.environ.get("PYTHONPATH", "")])}
    parent = subprocess.Popen([sys.executable, "-c", script], env=env)
    try:
        deadline = time.monotonic() + 120
        while len(list(tmp_path.glob("*.pid"))) < 2:
            assert parent.poll() is None, "the supervisor ended early"
            assert time.monotonic() < deadline, "the workers did not start"
            time.sleep(0.1)
        workers = [int(p.read_text()) for p in tmp_path.glob("*.pid")]
        assert all(_alive(pid) for pid in workers)
        parent.send_signal(signal.SIGKILL)
        parent.wait(timeout=10)
        deadline = time.monotonic() + 10
        while any(_alive(pid) for pid in workers) and time.monotonic() < deadline:
            time.sleep(0.1)
        orphans = [pid for pid in workers if _alive(pid)]
        for pid in orphans:
            os.kill(pid, signal.SIGKILL)
        assert not orphans, f"workers outlived their parent: {orphans}"
    finally:
        if parent.poll() is None:
            parent.kill()


def test_a_worker_watches_its_parent_before_importing_the_job() -> None:
    """A job's modules (models, video, the store) take seconds to import on a loaded
    machine; a parent killed meanwhile must not leave the worker running, so the worker
    sets up "die with my parent" first and only then unpickles (imports) its job."""
    from tests.ingest import supervisor_late_job

    results = supervise(["cam1"], supervisor_late_job.report_import_order, 1, _lost)
    assert results == {"cam1": [("cam1", True)]}
