"""Ingest on a real clip: idempotent re-ingest, kill -9 and resume, damaged files."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import av
import pytest

from cctrace.config import load_site
from cctrace.footage.writer import write_video, x264_options
from cctrace.ingest.runner import ingest_site
from cctrace.store.repository import Store
from tests.e2e.pets import write_pets_site

pytestmark = pytest.mark.slow

CLIP_FRAMES = 120


@pytest.fixture(scope="module")
def short_clip(pets_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The first 120 frames of PETS View_001 as an MKV (so a truncated copy still opens)."""
    out = tmp_path_factory.mktemp("clip") / "view001-short.mkv"
    with av.open(str(pets_dir / "view001.mp4")) as inp:
        frames = (
            frame.to_ndarray(format="bgr24")
            for _, frame in zip(range(CLIP_FRAMES), inp.decode(video=0), strict=False)
        )
        write_video(out, frames, 10, options=x264_options(gop=10))
    return out


def _site(pets_dir: Path, workdir: Path, clip: Path, extra: str = "") -> Path:
    workdir.mkdir(parents=True, exist_ok=True)
    return write_pets_site(
        pets_dir, workdir, footage=clip, extra_cameras=extra, ingest="  checkpoint_seconds: 2\n"
    )


def _snapshot(site_path: Path) -> tuple[list[tuple[object, ...]], list[tuple[object, ...]]]:
    """Everything ingest stored, in a comparable form (no database ids)."""
    site = load_site(site_path, check_files=False)
    with Store.for_site(site) as store:
        assert len(store.footage.files()) == 1
        records = store.tracklets.in_window(None, None)
        by_id = {r.id: r.track_id for r in records}
        tracklets = sorted(
            (r.camera_id, r.track_id, r.start, r.end, r.n_points, r.mask_status) for r in records
        )
        encounters = sorted(
            {
                (
                    min(by_id[e.tracklet_id], by_id[e.other_tracklet_id]),
                    max(by_id[e.tracklet_id], by_id[e.other_tracklet_id]),
                    e.start,
                    round(e.seconds_within[2.0], 6),
                    round(e.min_distance_m, 6),
                )
                for e in store.tracklets.encounters_for(list(by_id))
            }
        )
    return tracklets, encounters


@pytest.fixture(scope="module")
def reference(pets_dir: Path, short_clip: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    site_path = _site(pets_dir, tmp_path_factory.mktemp("ref"), short_clip)
    summary = ingest_site(load_site(site_path), workers=1, progress=False, allow_expired=True)
    assert [f.status for f in summary.files] == ["done"], summary.files
    return site_path


def test_reingest_adds_nothing(reference: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    before = _snapshot(reference)
    assert before[0], "the clip should give tracklets"

    def no_hashing(path: object) -> str:
        raise AssertionError(f"{path} was hashed again although it is unchanged")

    monkeypatch.setattr("cctrace.footage.timing.sha256_file", no_hashing)
    summary = ingest_site(load_site(reference), workers=1, progress=False, allow_expired=True)
    assert [f.note for f in summary.files] == ["already ingested"]
    assert _snapshot(reference) == before


def _progress(db: Path) -> tuple[str, float] | None:
    if not db.exists():
        return None
    try:
        con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1)
        row = con.execute("select status, progress_offset_s from footage_files").fetchone()
        con.close()
    except sqlite3.Error:
        return None
    return (str(row[0]), float(row[1])) if row else None


def test_kill_9_then_resume_matches_uninterrupted_run(
    pets_dir: Path, short_clip: Path, reference: Path, tmp_path: Path
) -> None:
    site_path = _site(pets_dir, tmp_path / "killed", short_clip)
    db = site_path.parent / "data" / "cctrace.db"
    proc = subprocess.Popen(
        [
            *(sys.executable, "-m", "cctrace.cli", "ingest", str(site_path)),
            *("--workers", "1", "--allow-expired"),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "CCTRACE_NO_PROGRESS": "1"},
    )
    try:
        deadline = time.monotonic() + 240
        state = None
        while time.monotonic() < deadline:
            state = _progress(db)
            if state and state[0] == "running" and state[1] >= 4.0:
                break
            if proc.poll() is not None:
                pytest.fail(f"ingest ended before it could be killed (rc {proc.returncode})")
            time.sleep(0.05)
        else:
            pytest.fail(f"no checkpoint within the deadline: {state}")
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    status, offset = _progress(db) or ("", 0.0)
    assert status == "running" and offset < CLIP_FRAMES / 7
    summary = ingest_site(load_site(site_path), workers=1, progress=False, allow_expired=True)
    assert [f.status for f in summary.files] == ["done"]
    assert _snapshot(site_path) == _snapshot(reference)


def test_truncated_and_garbage_files(pets_dir: Path, short_clip: Path, tmp_path: Path) -> None:
    work = tmp_path / "damaged"
    work.mkdir()
    truncated = work / "truncated.mkv"
    data = short_clip.read_bytes()
    truncated.write_bytes(data[: int(len(data) * 0.6)])
    garbage = work / "garbage.mp4"
    garbage.write_bytes(b"this is not a video\n" * 500)
    extra = (
        "  - id: broken\n"
        "    location: {x_m: 5, y_m: 5}\n"
        f"    footage: [{garbage}]\n"
        "    start_time: 2009-01-01T12:34:00Z\n"
    )
    site_path = _site(pets_dir, work, truncated, extra)
    summary = ingest_site(load_site(site_path), workers=2, progress=False, allow_expired=True)
    by_camera = {f.camera_id: f for f in summary.files}
    assert by_camera["view001"].status == "partial", by_camera["view001"]
    assert by_camera["view001"].tracklets > 0
    assert "truncat" in by_camera["view001"].note.lower() or by_camera["view001"].note
    assert by_camera["broken"].status == "failed"
    assert "garbage.mp4" in by_camera["broken"].note
    site = load_site(site_path)
    with Store.for_site(site) as store:
        footage = {f.camera_id: f for f in store.footage.files()}
        assert footage["view001"].status.value == "partial"
        assert footage["view001"].frames_decoded > 0
        assert store.tracklets.count(footage["view001"].id) == by_camera["view001"].tracklets


def test_a_camera_with_missing_footage_does_not_stop_the_others(
    pets_dir: Path, short_clip: Path, tmp_path: Path
) -> None:
    """`cctrace ingest` ingests every camera it can and reports the one it cannot."""
    loop = tmp_path / "loop"
    loop.mkdir()
    (loop / "self").symlink_to(loop)
    extra = (
        "  - id: gone\n"
        "    location: {x_m: 5, y_m: 5}\n"
        f"    footage: [{tmp_path / 'never-recorded'}]\n"
        "    start_time: 2026-03-15T08:00:00Z\n"
        "  - id: looped\n"
        "    location: {x_m: 9, y_m: 9}\n"
        f"    footage: [{loop}]\n"
        "    start_time: 2026-03-15T08:00:00Z\n"
    )
    site = _site(pets_dir, tmp_path / "w", short_clip, extra)
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "cctrace.cli",
            "ingest",
            str(site),
            "--no-progress",
            "--allow-expired",
            "--workers",
            "1",
        ],
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert done.returncode == 1, done.stderr  # something failed, and it says what
    assert "Traceback" not in done.stderr
    assert "never-recorded" in done.stderr and "gone" in done.stderr
    rows = {
        cam: next((line for line in done.stdout.splitlines() if f" {cam} " in line), "")
        for cam in ("view001", "gone", "looped")
    }
    assert "done" in rows["view001"], done.stdout
    assert "failed" in rows["gone"] and "failed" in rows["looped"], done.stdout
    with Store.for_site(load_site(site, check_files=False)) as store:
        assert store.tracklets.in_window(None, None, camera_ids=["view001"])


def test_a_checkpoint_it_cannot_read_fails_then_reset_starts_the_file_over(
    pets_dir: Path, short_clip: Path, tmp_path: Path
) -> None:
    """A file interrupted under another checkpoint format fails with a message naming
    `cctrace footage reset`; the reset forgets what was stored from it (rows, files,
    vectors; audited) and the next ingest analyses it again to the same result."""
    from typer.testing import CliRunner

    from cctrace.cli import app
    from cctrace.store.records import FootageStatus

    site_path = _site(pets_dir, tmp_path / "site", short_clip)
    summary = ingest_site(load_site(site_path), workers=1, progress=False, allow_expired=True)
    assert [f.status for f in summary.files] == ["done"]
    reference = _snapshot(site_path)
    site = load_site(site_path, check_files=False)
    with Store.for_site(site) as store:
        (footage,) = store.footage.files()
        # as a cctrace with the older, bare-pickle checkpoints left it: running, resumable
        store.footage.mark(footage.id, FootageStatus.RUNNING, checkpoint_state=b"\x80\x04old")
        stored_files = [
            p for p in store.data_dir.rglob("*") if p.is_file() and p.suffix in (".jpg", ".enc")
        ]
        assert stored_files  # snapshots (and face crops, where faces were big enough)
    summary = ingest_site(site, workers=1, progress=False, allow_expired=True)
    (failed,) = summary.files
    assert failed.status == "failed" and "cctrace footage reset" in (failed.note or "")

    runner = CliRunner()
    refused = runner.invoke(app, ["footage", "reset", str(site_path), "--file", "nope.mp4"])
    assert refused.exit_code == 2 and "no ingested footage file" in refused.output
    done = runner.invoke(
        app, ["footage", "reset", str(site_path), "--file", footage.path, "--yes", "--json"]
    )
    assert done.exit_code == 0, done.output
    assert f'"tracklets": {len(reference[0])}' in done.output
    with Store.for_site(site) as store:
        assert store.tracklets.in_window(None, None) == []
        assert store.footage.get(footage.id).status is FootageStatus.PENDING
        assert not any(p.exists() for p in stored_files)
        assert [e.action for e in store.audit.entries()][-1] == "footage_reset"
    summary = ingest_site(site, workers=1, progress=False, allow_expired=True)
    assert [f.status for f in summary.files] == ["done"]
    assert _snapshot(site_path) == reference


def test_reset_refuses_a_file_a_case_holds_as_evidence(reference: Path, tmp_path: Path) -> None:
    from cctrace.errors import CctraceError
    from cctrace.retention import reset_footage
    from cctrace.types import SightingStatus

    site = load_site(reference, check_files=False)
    with Store.for_site(site) as store:
        (footage,) = store.footage.files()
        first = store.tracklets.in_window(None, None)[0]
        store.cases.create("C-EVID", "ana", "Public Health Act")
        store.sightings.decide("C-EVID", first.id, SightingStatus.ACCEPTED, "ana")
        before = len(store.tracklets.in_window(None, None))
        with pytest.raises(CctraceError, match=r"case evidence.*C-EVID"):
            reset_footage(store, footage, site.retention, actor="ana")
        assert len(store.tracklets.in_window(None, None)) == before
