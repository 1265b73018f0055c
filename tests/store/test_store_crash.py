"""A real kill -9 in the middle of save_batch, and concurrent writers from several
processes (SQLite locking, audit chain head races)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import text

from cctrace.store import FootageStatus, Store
from tests.store.store_factories import encounter, save, setup_footage, tracklet

REPO_ROOT = Path(__file__).resolve().parents[2]


def _run_child(code: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO_ROOT), env.get("PYTHONPATH", "")])
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def test_kill_9_mid_batch_leaves_nothing(store: Store) -> None:
    f = setup_footage(store)
    save(store, f.id, [tracklet(1)], offset=5.0)
    child = _run_child(f"""
        import os, signal
        from cctrace.store import Store
        from cctrace.store._ingest import TrackletBatchWriter
        from tests.store.store_factories import encounter, save, tracklet

        def die(*args, **kwargs):
            os.kill(os.getpid(), signal.SIGKILL)  # tracklets, points, faces already flushed

        TrackletBatchWriter._insert_encounters = die
        store = Store({str(store.data_dir)!r}, url={store.url!r})
        save(store, {f.id}, [tracklet(2), tracklet(3)], [encounter(1, 2)], offset=9.0)
    """)
    assert child.returncode == -9, child.stderr
    assert [t.track_id for t in store.tracklets.in_window(*_all_time())] == [1]
    footage = store.footage.get(f.id)
    assert footage.progress_offset_s == 5.0 and footage.status is FootageStatus.RUNNING
    if store.dialect == "sqlite":
        with store.engine.connect() as c:
            assert c.execute(text("PRAGMA integrity_check")).scalar_one() == "ok"
    # the retried batch goes in whole (its files are overwritten, not duplicated)
    ids = save(store, f.id, [tracklet(2), tracklet(3)], [encounter(1, 2)], offset=9.0)
    assert len(ids) == 2 and len(store.tracklets.encounters_for(ids)) == 1
    crops = list((store.data_dir / "crops").rglob("t2_*.jpg.enc"))
    assert len(crops) == 2


def _all_time() -> tuple[datetime, datetime]:
    return datetime(2000, 1, 1, tzinfo=UTC), datetime(2100, 1, 1, tzinfo=UTC)


@pytest.mark.timeout(300)
def test_concurrent_writers(store: Store) -> None:
    n_procs, n_each = 3, 15
    feet = [setup_footage(store, camera_id=f"cam{i}", sha=f"{i:02d}" * 32) for i in range(n_procs)]
    code = f"""
        import sys
        from cctrace.store import Store
        from tests.store.store_factories import encounter, save, tracklet
        data_dir, url, footage_id, cam = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
        with Store(data_dir, url=url) as store:
            for i in range({n_each}):
                store.audit.append(cam, "search", None, {{"i": i}}, {{"hits": i}})
                save(store, footage_id, [tracklet(2 * i, camera_id=cam),
                                         tracklet(2 * i + 1, camera_id=cam)],
                     [encounter(2 * i, 2 * i + 1, camera_id=cam)], offset=float(i))
    """
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO_ROOT), env.get("PYTHONPATH", "")])
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-c",
                textwrap.dedent(code),
                str(store.data_dir),
                store.url,
                str(f.id),
                f.camera_id,
            ],
            env=env,
            stderr=subprocess.PIPE,
            text=True,
        )
        for f in feet
    ]
    for p in procs:
        _, err = p.communicate(timeout=240)
        assert p.returncode == 0, err
    assert store.audit.verify_chain() is None
    assert len(store.audit.entries()) == n_procs * n_each
    assert len(store.tracklets.in_window(*_all_time())) == n_procs * n_each * 2
    for f in feet:
        assert store.footage.get(f.id).progress_offset_s == n_each - 1
