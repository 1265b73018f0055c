"""Registering a camera's files: start times that never shift silently, failed files
recorded (status, admin page), interrupted runs shown and resumed.

``ingest_file`` is replaced by a stub: these tests are about what happens around it.
"""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from typer.testing import CliRunner

from cctrace.config import SiteConfig, load_site
from cctrace.footage.writer import write_video
from cctrace.ingest.file_job import FileResult
from cctrace.ingest.owner import INTERRUPTED, process_owner, run_state
from cctrace.ingest.runner import FileSummary, run_camera
from cctrace.store.records import FootageStatus
from cctrace.store.repository import Store

T0 = datetime(2026, 3, 15, 8, 0, tzinfo=UTC)
FPS = 10
N_FRAMES = 20  # 2 s a clip


def _clip(path: Path, metadata: dict[str, str] | None = None) -> Path:
    rng = np.random.default_rng(len(path.name))
    frames = [rng.integers(0, 255, (48, 64, 3), dtype=np.uint8) for _ in range(N_FRAMES)]
    return write_video(path, frames, FPS, metadata=metadata)


def _garbage(path: Path) -> Path:
    path.write_bytes(b"not a video at all\n" * 400)
    return path


def _truncated(path: Path) -> Path:
    """A clip cut at 60%: its header still declares the whole length."""
    full = _clip(path.with_name("full-" + path.name))
    data = full.read_bytes()
    full.unlink()
    path.write_bytes(data[: int(len(data) * 0.6)])
    return path


def _site(tmp_path: Path) -> SiteConfig:
    footage = tmp_path / "footage"
    footage.mkdir(exist_ok=True)
    site = tmp_path / "site.yaml"
    site.write_text(
        "name: files\n"
        "cameras:\n"
        "  - id: cam\n"
        "    location: {x_m: 0, y_m: 0}\n"
        f"    footage: [{footage}]\n"
        f"    start_time: {T0.isoformat()}\n"
    )
    return load_site(site, check_files=False)


@pytest.fixture
def ingested(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Stub ``ingest_file``: marks the file done; returns the paths it was given."""
    seen: list[str] = []

    def fake(store: Store, site: Any, camera: Any, record: Any, *_: Any) -> FileResult:
        seen.append(record.path)
        store.footage.mark(record.id, FootageStatus.DONE)
        return FileResult(record.id, FootageStatus.DONE, 0, 0, N_FRAMES, 0, "")

    monkeypatch.setattr("cctrace.ingest.file_job.ingest_file", fake)
    return seen


def _run(site: SiteConfig) -> dict[str, FileSummary]:
    models: Any = object()  # ingest_file is stubbed: the models are never used
    summaries = run_camera(site, "cam", models=models, allow_expired=True)  # T0 is in March
    return {Path(s.path).name: s for s in summaries}


def _footage(site: SiteConfig) -> dict[str, Any]:
    with Store.for_site(site) as store:
        return {Path(f.path).name: f for f in store.footage.files()}


def _failures(site: SiteConfig) -> dict[str, str]:
    with Store.for_site(site) as store:
        return {Path(f.path).name: f.error for f in store.footage.failures()}


def test_an_unreadable_middle_file_does_not_shift_the_next_one(
    tmp_path: Path, ingested: list[str]
) -> None:
    site = _site(tmp_path)
    folder = tmp_path / "footage"
    _clip(folder / "1.mkv")
    _garbage(folder / "2.mkv")
    _clip(folder / "3.mkv")
    out = _run(site)
    assert out["1.mkv"].status == "done"
    assert out["2.mkv"].status == "failed"
    # The third file has no time of its own; the end of the first is not its start.
    assert out["3.mkv"].status == "failed"
    assert "2.mkv" in out["3.mkv"].note and "cannot tell when" in out["3.mkv"].note
    assert set(_footage(site)) == {"1.mkv"}
    assert set(_failures(site)) == {"2.mkv", "3.mkv"}


def test_a_damaged_middle_file_with_a_declared_length_carries_the_time_on(
    tmp_path: Path, ingested: list[str]
) -> None:
    site = _site(tmp_path)
    folder = tmp_path / "footage"
    _clip(folder / "1.mkv")
    _truncated(folder / "2.mkv")
    _clip(folder / "3.mkv")
    _run(site)
    files = _footage(site)
    assert [files[n].start_source for n in ("1.mkv", "2.mkv", "3.mkv")] == [
        "config",
        "previous",
        "previous",
    ]
    assert files["2.mkv"].start_time == T0 + timedelta(seconds=files["1.mkv"].duration_s)
    assert files["2.mkv"].duration_s == pytest.approx(N_FRAMES / FPS, abs=0.2)  # as declared
    assert files["3.mkv"].start_time == files["2.mkv"].start_time + timedelta(
        seconds=files["2.mkv"].duration_s
    )


def test_a_broken_first_file_leaves_later_files_their_own_times(
    tmp_path: Path, ingested: list[str]
) -> None:
    site = _site(tmp_path)
    folder = tmp_path / "footage"
    _garbage(folder / "1.mkv")
    _clip(folder / "2_cam_20260315_081000.mkv")
    _clip(folder / "3.mkv", metadata={"creation_time": "2026-03-15T08:20:00Z"})
    _clip(folder / "4.mkv")
    out = _run(site)
    assert out["1.mkv"].status == "failed"
    assert [out[n].status for n in ("2_cam_20260315_081000.mkv", "3.mkv", "4.mkv")] == ["done"] * 3
    files = _footage(site)
    assert files["2_cam_20260315_081000.mkv"].start_source == "filename"
    assert files["2_cam_20260315_081000.mkv"].start_time == datetime(2026, 3, 15, 8, 10, tzinfo=UTC)
    assert files["3.mkv"].start_source == "container"
    assert files["4.mkv"].start_source == "previous"
    assert files["4.mkv"].start_time == datetime(2026, 3, 15, 8, 20, 2, tzinfo=UTC)


def test_a_file_that_could_only_continue_a_broken_first_file_is_refused_clearly(
    tmp_path: Path, ingested: list[str]
) -> None:
    site = _site(tmp_path)
    folder = tmp_path / "footage"
    _garbage(folder / "1.mkv")
    _clip(folder / "2.mkv")
    out = _run(site)
    note = out["2.mkv"].note
    assert out["2.mkv"].status == "failed"
    assert "file before it" in note and "1.mkv" in note and "its end is unknown" in note
    assert ingested == []


def test_failed_files_are_listed_by_status_and_the_admin_page(
    tmp_path: Path, ingested: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from cctrace.cli import app
    from cctrace.web.routers.admin import list_cameras

    site = _site(tmp_path)
    folder = tmp_path / "footage"
    _clip(folder / "1.mkv")
    _garbage(folder / "2.mkv")
    _run(site)
    monkeypatch.setenv("COLUMNS", "300")
    done = CliRunner().invoke(app, ["status", str(tmp_path / "site.yaml")])
    assert done.exit_code == 0, done.output
    row = next(line for line in done.output.splitlines() if "2.mkv" in line)
    assert "failed" in row and "2.mkv" in row
    assert "config" in next(line for line in done.output.splitlines() if "1.mkv" in line)
    with Store.for_site(site) as store:
        (camera,) = list_cameras(store)
    assert (camera.footage_files, camera.footage_done, camera.footage_failed) == (2, 1, 1)
    assert [p.file for p in camera.problems] == ["2.mkv"] and camera.problems[0].reason

    (folder / "2.mkv").unlink()  # gone, or repaired: the failure goes with it
    _clip(folder / "2.mkv")
    _run(site)
    assert _failures(site) == {}


def _dead_pid() -> int:
    done = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        check=True,
        capture_output=True,
        text=True,
    )
    return int(done.stdout)


def test_a_killed_run_shows_interrupted_and_resumes(
    tmp_path: Path, ingested: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from cctrace.cli import app

    site = _site(tmp_path)
    _clip(tmp_path / "footage" / "1.mkv")
    with Store.for_site(site) as store:
        store.cameras.upsert("cam")
        record = store.footage.get_or_create(
            "cam", str(tmp_path / "footage" / "1.mkv"), "a" * 64, 1, T0, 2.0, 10.0
        )
        claimed = store.footage.claim(record.id, process_owner())
        assert run_state(claimed) == "running"  # this process is alive
        killed = store.footage.claim(record.id, process_owner(_dead_pid()))
        assert run_state(killed) == INTERRUPTED
    monkeypatch.setenv("COLUMNS", "300")
    done = CliRunner().invoke(app, ["status", str(tmp_path / "site.yaml")])
    assert INTERRUPTED in done.output, done.output


def test_a_file_another_live_process_ingests_is_left_to_it(
    tmp_path: Path, ingested: list[str]
) -> None:
    site = _site(tmp_path)
    clip = _clip(tmp_path / "footage" / "1.mkv")
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        out = _run(site)  # registers the file (and ingests it with the stub)
        with Store.for_site(site) as store:
            (record,) = store.footage.files()
            store.footage.mark(record.id, FootageStatus.PENDING)
            store.footage.claim(record.id, process_owner(other.pid))
        ingested.clear()
        os.utime(clip)
        out = _run(site)
        assert out["1.mkv"].status == "running" and "another process" in out["1.mkv"].note
        assert ingested == []
        other.kill()
        other.wait()
        out = _run(site)  # its owner is gone: interrupted, so resumed here
        assert out["1.mkv"].status == "done" and ingested == [str(clip)]
    finally:
        other.kill()
