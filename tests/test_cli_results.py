"""The command line's results: ``tracklets list``, ``--json`` on every command that prints
results, ``--distance`` checked up front, ingest refusing expired and too-small footage,
and ``site validate`` exiting 2 on every error."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from cctrace.config import load_site
from cctrace.footage.writer import write_video
from cctrace.store import Store
from tests.store.store_factories import T0, encounter, save, setup_footage, tracklet

SITE = """\
name: results
cameras:
  - id: cam1
    location: {{x_m: 0, y_m: 0}}
    footage: [{footage}]
    start_time: {start}
storage:
  data_dir: data
"""


def cctrace(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """``cctrace ARGS`` in a subprocess, output piped."""
    env = {k: v for k, v in os.environ.items() if k != "CCTRACE_SITE"}
    env["CCTRACE_NO_PROGRESS"] = "1"
    return subprocess.run(
        [sys.executable, "-m", "cctrace.cli", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def parsed(done: subprocess.CompletedProcess[str]) -> Any:
    """stdout as JSON: it must be one document and nothing else."""
    assert "Traceback" not in done.stderr, done.stderr
    return json.loads(done.stdout)


@pytest.fixture
def seeded(tmp_path: Path) -> Path:
    """A site whose store holds two tracklets of cam1 (with faces and snapshots) that met."""
    (tmp_path / "cam1.mp4").write_bytes(b"never read: the store is seeded")
    (tmp_path / "site.yaml").write_text(
        SITE.format(footage="cam1.mp4", start="2026-12-01T08:00:00Z")
    )
    with Store.for_site(load_site(tmp_path / "site.yaml", check_files=False)) as store:
        footage = setup_footage(store, "cam1")
        save(store, footage.id, [tracklet(1), tracklet(2, seed=8)], [encounter(1, 2, seconds=30)])
        store.users.create("ana", "$argon2id$not-a-real-hash", "investigator", "north")
    return tmp_path


def test_tracklets_list_shows_ids_times_faces_and_snapshot_files(seeded: Path) -> None:
    done = cctrace(
        "tracklets", "list", "--camera", "cam1", "--site", "site.yaml", "--json", cwd=seeded
    )
    assert done.returncode == 0, done.stderr
    rows = parsed(done)["tracklets"]
    assert [r["track_number"] for r in rows] == [1, 2]
    for r in rows:
        assert r["camera_id"] == "cam1" and r["points"] == 5 and r["faces"] == 2
        assert r["duration_s"] == pytest.approx(0.8)
        assert r["start"].startswith("2024-03-01T09:00:00")
        # The snapshot is named by the track number in its file, not the tracklet id:
        # the listing gives its path.
        assert Path(r["snapshot"]).is_file()
        assert Path(r["snapshot"]).name == f"t{r['track_number']}.jpg"
    table = cctrace("tracklets", "list", "site.yaml", "--camera", "cam1", cwd=seeded)
    assert table.returncode == 0, table.stderr
    assert rows[0]["snapshot"] in table.stdout and "2024-03-01 09:00:00" in table.stdout


def test_tracklets_list_at_a_time_and_unknown_camera(seeded: Path) -> None:
    inside = (T0 + timedelta(seconds=0.5)).isoformat()
    later = (T0 + timedelta(hours=1)).isoformat()
    args = ("tracklets", "list", "site.yaml", "--camera", "cam1", "--json", "--at")
    assert len(parsed(cctrace(*args, inside, cwd=seeded))["tracklets"]) == 2
    assert parsed(cctrace(*args, later, cwd=seeded))["tracklets"] == []
    unknown = cctrace("tracklets", "list", "site.yaml", "--camera", "nope", cwd=seeded)
    assert unknown.returncode == 2 and "unknown camera 'nope'" in unknown.stderr
    audit = parsed(cctrace("audit", "list", "site.yaml", "--json", cwd=seeded))["entries"]
    assert [e["action"] for e in audit].count("list_tracklets") == 2  # both listings


@pytest.mark.parametrize(
    ("args", "key"),
    [
        (("site", "validate", "site.yaml"), "cameras"),
        (("status", "site.yaml"), "footage"),
        (("audit", "list", "site.yaml"), "entries"),
        (("audit", "verify", "site.yaml"), "ok"),
        (("purge", "site.yaml", "--dry-run"), "counts"),
        (("users", "list", "--site", "site.yaml"), "users"),
    ],
)
def test_json_is_the_only_thing_on_stdout(seeded: Path, args: tuple[str, ...], key: str) -> None:
    done = cctrace(*args, "--json", cwd=seeded)
    assert done.returncode == 0, done.stderr
    assert key in parsed(done)


def test_trace_json_and_csv_export_json(seeded: Path) -> None:
    done = cctrace("trace", "site.yaml", "--case", "C-1", "--tracklet", "1", "--json", cwd=seeded)
    assert done.returncode == 0, done.stderr
    out = parsed(done)
    assert out["trace"]["case_id"] == "C-1" and out["trace"]["schema"] == "cctrace.trace/1"
    assert Path(out["report"]["html"]).is_file()
    export = cctrace("export", "contacts", "site.yaml", "--case", "C-1", "--json", cwd=seeded)
    assert export.returncode == 0, export.stderr
    assert parsed(export)["what"] == "contacts"


def test_distance_beyond_the_widest_band_is_refused_before_anything_runs(seeded: Path) -> None:
    done = cctrace(
        "trace", "site.yaml", "--case", "C-2", "--tracklet", "1", "--distance", "5", cwd=seeded
    )
    assert done.returncode == 2
    assert "at most 3 m" in done.stderr and "ingest.distance_bands_m" in done.stderr
    assert "re-ingest" in done.stderr
    audit = parsed(cctrace("audit", "list", "site.yaml", "--json", cwd=seeded))["entries"]
    assert not [e for e in audit if e["case_id"] == "C-2"]  # no case, no trace attempted


def test_eval_json(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from cctrace import cli
    from cctrace.evaluation import runner
    from cctrace.evaluation.metrics import Metric

    report = runner.EvalReport(
        metrics=[Metric("mot", "MOTA", 0.5, target=0.4, higher_is_better=True)],
        commit="abc",
        started="2026-12-01T00:00:00Z",
        quick=True,
        machine="test",
    )
    monkeypatch.setattr(runner, "run_eval", lambda *a, **k: report)
    monkeypatch.setattr(runner, "write_outputs", lambda r, out: {"json": out / "a.json"})
    done = CliRunner().invoke(
        cli.app, ["eval", "--json", "--data", str(tmp_path), "--out", str(tmp_path / "e")]
    )
    assert done.exit_code == 0, done.output
    out = json.loads(done.stdout)
    assert out["report"]["metrics"][0]["name"] == "MOTA"


def _clip(path: Path, side: int, frames: int = 10) -> Path:
    """A real solid-grey H.264 clip of ``side`` x ``side`` px."""
    return write_video(path, [np.full((side, side, 3), 90, np.uint8)] * frames, 7)


@pytest.mark.parametrize("side", [2, 16])
def test_clip_too_small_to_analyse_is_refused_with_a_note(tmp_path: Path, side: int) -> None:
    _clip(tmp_path / "tiny.mp4", side)
    (tmp_path / "site.yaml").write_text(
        SITE.format(footage="tiny.mp4", start="2026-12-01T08:00:00Z")
    )
    done = cctrace("ingest", "site.yaml", "--json", "--workers", "1", cwd=tmp_path)
    assert done.returncode == 1, done.stderr
    [row] = parsed(done)["files"]
    assert row["status"] == "failed" and row["tracklets"] == 0
    assert f"{side}x{side} px, too small" in row["note"]
    status = parsed(cctrace("status", "site.yaml", "--json", cwd=tmp_path))
    assert status["footage"] == [] and "too small" in status["failures"][0]["error"]


def test_ingest_refuses_footage_past_retention_unless_allowed(tmp_path: Path) -> None:
    _clip(tmp_path / "old.mp4", 96)
    (tmp_path / "site.yaml").write_text(
        SITE.format(footage="old.mp4", start="2020-01-01T00:00:00Z")
    )
    refused = cctrace("ingest", "site.yaml", "--json", "--workers", "1", cwd=tmp_path)
    assert refused.returncode == 1, refused.stderr
    note = parsed(refused)["files"][0]["note"]
    assert "old.mp4 starts 2020-01-01T00:00:00+00:00" in note
    assert "the site file's start_time" in note and "retention cut-off" in note
    assert "--allow-expired" in note
    validate = cctrace("site", "validate", "site.yaml", cwd=tmp_path)
    assert validate.returncode == 0 and "--allow-expired" in validate.stderr
    allowed = cctrace(
        "ingest", "site.yaml", "--json", "--workers", "1", "--allow-expired", cwd=tmp_path
    )
    assert allowed.returncode == 0, allowed.stderr
    assert parsed(allowed)["files"][0]["status"] == "done"


@pytest.mark.parametrize(
    ("footage", "start", "extra", "expected"),
    [
        ("missing.mp4", "2026-12-01T08:00:00Z", "", "missing.mp4"),
        ("garbage.mp4", "null", "", "garbage.mp4"),  # no start time: the container is read
        ("clip.mp4", "2026-12-01T08:00:00Z", "models:\n  person_detector: {type: nope}\n", "nope"),
        ("clip.mp4", "2026-12-01T08:00:00Z", "ingest:\n  distance_bands_m: [.nan]\n", "band"),
        ("clip.mp4", "2026-12-01T08:00:00Z", "cameras: 3\n", "cameras"),
    ],
)
def test_site_validate_errors_exit_2(
    tmp_path: Path, footage: str, start: str, extra: str, expected: str
) -> None:
    (tmp_path / "garbage.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42" + os.urandom(2000))
    (tmp_path / "clip.mp4").write_bytes(b"not read: start_time is set")
    text = SITE.format(footage=footage, start=start) + extra
    (tmp_path / "site.yaml").write_text(text)
    done = cctrace("site", "validate", "site.yaml", "--json", cwd=tmp_path)
    assert done.returncode == 2, (done.returncode, done.stderr)
    assert expected in done.stderr and "Traceback" not in done.stderr
    assert done.stdout == ""


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("trace", "site.yaml", "--case", "C-3", "--tracklet", str(2**63)), "--tracklet"),
        (
            ("export", "tracks", "site.yaml", "--camera", "cam1", "--footage", str(2**63)),
            "--footage",
        ),
        (("trace", "site.yaml", "--case", "C-3", "--tracklet", "1", "--minutes", "nan"), "minutes"),
        (("ingest", "site.yaml", "--workers", "-3"), "--workers"),
    ],
)
def test_out_of_range_arguments_are_one_clear_line(
    seeded: Path, args: tuple[str, ...], expected: str
) -> None:
    done = cctrace(*args, cwd=seeded)
    assert done.returncode == 2, done.stderr
    assert expected in done.stderr and "Traceback" not in done.stderr
