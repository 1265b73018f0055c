"""Retention purge: nothing past the retention period can be found afterwards (rows,
files, index vectors, traces), except the evidence of open and recently closed cases."""

from __future__ import annotations

import base64
import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import func, or_, select, update
from typer.testing import CliRunner

from cctrace import retention
from cctrace.cli import app
from cctrace.config import (
    CameraConfig,
    RetentionConfig,
    SiteConfig,
    SitePosition,
    StorageConfig,
)
from cctrace.errors import NotFoundError
from cctrace.ingest.models import ModelSet
from cctrace.privacy.crypto import KEY_ENV
from cctrace.retention import PurgeScheduler, purge, purge_store
from cctrace.store import FaceIndex, InvalidInputError, Store
from cctrace.store.schema import (
    ApprovalRow,
    AuditRow,
    CaseRow,
    CaseSightingRow,
    EncounterRow,
    FaceEmbeddingRow,
    TrackletRow,
    TrackPointRow,
)
from cctrace.tracing.service import TraceRequest, trace_in_store
from cctrace.types import SightingStatus
from tests.store.store_factories import T0, encounter, save, setup_footage, tracklet

NOW = T0 + timedelta(days=60)
OLD, NEW = T0, T0 + timedelta(days=50)
RETENTION = RetentionConfig(days=28, case_evidence_days=365)


@dataclass
class World:
    """A site whose store holds old and new tracklets and three cases."""

    site: SiteConfig
    store: Store
    ids: dict[str, int]
    vectors: dict[str, np.ndarray]

    def tid(self, *names: str) -> set[int]:
        return {self.ids[n] for n in names}


def make_site(data_dir: Path, retention: RetentionConfig = RETENTION) -> SiteConfig:
    camera = CameraConfig(
        id="cam1", location=SitePosition(x_m=0.0, y_m=0.0), footage=[Path("cam1.mp4")]
    )
    return SiteConfig(
        cameras=[camera], storage=StorageConfig(data_dir=data_dir), retention=retention
    )


@pytest.fixture
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    """Old (T0) and new (T0 + 50 days) tracklets, purged as of T0 + 60 days.

    * ``lone``: old, nobody's evidence (its face is the same person as ``new_a``'s);
    * ``open_case`` / ``open_contact``: old, a sighting of an open case and who they met;
    * ``old_case`` / ``old_contact``: old, evidence of a case closed 400 days ago;
    * ``recent_case``: old, a sighting of a case closed 100 days ago;
    * ``new_a`` / ``new_b``: inside retention, with an encounter.
    """
    monkeypatch.setenv(KEY_ENV, base64.urlsafe_b64encode(os.urandom(32)).decode())
    site = make_site(tmp_path / "data")
    store = Store.for_site(site)
    f = setup_footage(store)
    names = ["lone", "open_case", "open_contact", "old_case", "old_contact", "recent_case"]
    tracks = [
        tracklet(i + 1, start=OLD, seed=100 if n == "lone" else None) for i, n in enumerate(names)
    ]
    tracks += [tracklet(20, start=NEW, seed=100), tracklet(21, start=NEW)]
    names += ["new_a", "new_b"]
    meet = [encounter(2, 3), encounter(4, 5), encounter(1, 3), encounter(20, 21, start=NEW)]
    ids = dict(zip(names, save(store, f.id, tracks, meet), strict=True))
    vectors = {
        n: np.asarray(t.faces[0].embedding, np.float32) for n, t in zip(names, tracks, strict=True)
    }
    for case, tid in (("OPEN-1", "open_case"), ("OLD-1", "old_case"), ("RECENT-1", "recent_case")):
        store.cases.create(case, "alice", "IDCPA Art. 76-2")
        store.sightings.record(case, [(ids[tid], 0.9, SightingStatus.ACCEPTED)])
        store.approvals.request(case, "export", "alice", "send to the health office", ids[tid])
        (site.storage.data_dir / "reports" / case / "20240301T090000Z").mkdir(parents=True)
        (site.storage.data_dir / "reports" / case / "latest-trace.json").write_bytes(b"x")
    for case, days in (("OLD-1", 400), ("RECENT-1", 100)):
        store.cases.set_status(case, "closed")
        with store.engine.begin() as c:
            c.execute(
                update(CaseRow)
                .where(CaseRow.id == case)
                .values(closed_at=NOW - timedelta(days=days))
            )
    FaceIndex(site.storage.data_dir / "index").sync(store)  # saved, with every vector
    yield World(site, store, ids, vectors)
    store.close()


def rows_of(store: Store, tracklet_ids: set[int]) -> dict[str, int]:
    """Rows in every table that mention any of the tracklets."""
    t = list(tracklet_ids)
    queries = {
        "tracklets": select(func.count()).select_from(TrackletRow).where(TrackletRow.id.in_(t)),
        "track_points": select(func.count())
        .select_from(TrackPointRow)
        .where(TrackPointRow.tracklet_id.in_(t)),
        "face_embeddings": select(func.count())
        .select_from(FaceEmbeddingRow)
        .where(FaceEmbeddingRow.tracklet_id.in_(t)),
        "encounters": select(func.count())
        .select_from(EncounterRow)
        .where(or_(EncounterRow.tracklet_a_id.in_(t), EncounterRow.tracklet_b_id.in_(t))),
        "case_sightings": select(func.count())
        .select_from(CaseSightingRow)
        .where(CaseSightingRow.tracklet_id.in_(t)),
    }
    with store.engine.connect() as c:
        return {name: int(c.execute(q).scalar_one()) for name, q in queries.items()}


def files_of(store: Store, tracklet_ids: set[int]) -> set[Path]:
    """Crop and snapshot files of the tracklets (read before they are purged)."""
    paths = {Path(e.crop_path) for e in store.faces.embeddings_of(tracklet_ids) if e.crop_path}
    paths |= {
        Path(t.snapshot_path) for t in store.tracklets.get_many(tracklet_ids) if t.snapshot_path
    }
    return paths


def snapshot_of_db(store: Store) -> dict[str, int]:
    with store.engine.connect() as c:
        return {
            row.__tablename__: int(c.execute(select(func.count()).select_from(row)).scalar_one())
            for row in (
                TrackletRow,
                TrackPointRow,
                FaceEmbeddingRow,
                EncounterRow,
                CaseSightingRow,
                ApprovalRow,
            )
        }


def every_file(root: Path) -> set[Path]:
    return {p for p in root.rglob("*") if p.is_file()}


# ---- the purge -------------------------------------------------------------------------


def test_nothing_past_retention_can_be_found(world: World) -> None:
    store, site = world.store, world.site
    gone = world.tid("lone", "old_case", "old_contact")
    kept = world.tid("open_case", "open_contact", "recent_case", "new_a", "new_b")
    gone_files, kept_files = files_of(store, gone), files_of(store, kept)
    assert len(gone_files) == 9 and len(kept_files) == 15
    index_before = FaceIndex(site.storage.data_dir / "index", cipher=store.cipher)
    assert index_before.load() and len(index_before) == 16

    report = purge_store(store, RETENTION, now=NOW, actor="dpo")

    assert (report.tracklets, report.track_points, report.embeddings) == (3, 15, 6)
    # (2,3) stays; (1,3) and (4,5) go; the expired case's sighting and its approval go
    assert (report.encounters, report.sightings, report.approvals) == (2, 1, 1)
    assert (report.files, report.index_vectors, report.report_folders) == (9, 6, 1)
    assert report.expired_cases == ("OLD-1",) and report.kept_as_evidence == 3
    assert report.errors == ()
    # no row of the purged tracklets anywhere
    assert rows_of(store, gone) == dict.fromkeys(rows_of(store, gone), 0)
    assert rows_of(store, kept)["tracklets"] == 5
    with pytest.raises(NotFoundError):
        store.tracklets.get(world.ids["lone"])
    assert store.faces.embeddings_of(gone) == []
    assert store.tracklets.encounters_for(gone) == []
    # their files are gone, everyone else's are there
    assert not any(p.exists() for p in gone_files)
    assert all(p.exists() for p in kept_files)
    # the saved index holds none of their vectors: search with the purged faces
    index = FaceIndex(site.storage.data_dir / "index", cipher=store.cipher)
    assert index.load() and len(index) == 10
    queries = np.stack([world.vectors[n] for n in ("lone", "old_case", "old_contact")])
    for hits in index.search(queries, k=100):
        assert not {h.tracklet_id for h in hits} & gone
    assert index.sync(store) == 0 and len(index) == 10  # in step with the database
    # the expired case keeps its row and audit trail but loses its evidence
    assert store.cases.get("OLD-1").status.value == "closed"
    assert store.sightings.of_case("OLD-1") == []
    assert not store.approvals.is_approved("OLD-1", "export")
    assert not (site.storage.data_dir / "reports" / "OLD-1").exists()
    assert (site.storage.data_dir / "reports" / "RECENT-1").is_dir()
    with store.engine.connect() as c:
        assert int(c.execute(select(func.count()).select_from(ApprovalRow)).scalar_one()) == 2
    # one audit entry, with the counts; the chain is intact
    (entry,) = [e for e in store.audit.entries() if e.action == "purge"]
    assert entry.actor == "dpo" and entry.result["tracklets"] == 3
    assert entry.result["expired_case_ids"] == ["OLD-1"] and entry.query["dry_run"] is False
    assert store.audit.verify_chain() is None


def test_trace_does_not_find_purged_people(world: World) -> None:
    store, site = world.store, world.site
    index = FaceIndex(site.storage.data_dir / "index")
    index.sync(store)
    (hits,) = index.search(world.vectors["new_a"], k=10, min_score=0.99)
    assert world.ids["lone"] in {h.tracklet_id for h in hits}  # same face, six weeks earlier
    # (a trace before the purge would make "lone" a sighting, i.e. evidence, of its case)
    store.cases.create("NEW-1", "alice", "IDCPA Art. 76-2")
    request = TraceRequest(case_id="NEW-1", actor="alice", tracklet_id=world.ids["new_a"])

    purge(site, now=NOW)

    after = trace_in_store(site, store, request, ModelSet(site.models))
    found = {s.tracklet_id for s in after.sightings}
    found |= {t for c in after.contacts for t in c.contact_tracklet_ids}
    assert world.ids["new_a"] in found
    assert not found & world.tid("lone", "old_case", "old_contact")
    with pytest.raises(NotFoundError):
        trace_in_store(
            site,
            store,
            TraceRequest(case_id="NEW-1", actor="alice", tracklet_id=world.ids["lone"]),
            ModelSet(site.models),
        )


def test_open_and_recent_cases_keep_their_evidence(world: World) -> None:
    store = world.store
    evidence = world.tid("open_case", "open_contact", "recent_case")
    before = rows_of(store, evidence)
    purge_store(store, RETENTION, now=NOW)
    after = rows_of(store, evidence)
    # (1,3) went with "lone"; everything else of the evidence stays
    assert after == {**before, "encounters": before["encounters"] - 1}
    assert [s.tracklet_id for s in store.sightings.of_case("OPEN-1")] == [world.ids["open_case"]]
    assert (
        store.tracklets.encounters_for([world.ids["open_case"]])[0].other_tracklet_id
        == (world.ids["open_contact"])
    )
    # once the open case closes and its evidence period ends, its evidence goes too
    store.cases.set_status("OPEN-1", "closed")
    later = datetime.now(tz=NOW.tzinfo) + timedelta(days=366)
    report = purge_store(store, RETENTION, now=later)
    assert set(report.expired_cases) == {"OPEN-1", "RECENT-1"}
    assert rows_of(store, evidence)["tracklets"] == 0
    assert rows_of(store, world.tid("new_a", "new_b"))["tracklets"] == 0  # past 28 days too
    assert store.sightings.of_case("OPEN-1") == [] and store.cases.get("OPEN-1")


def test_closed_case_without_closing_time_starts_its_evidence_clock(world: World) -> None:
    store = world.store
    with store.engine.begin() as c:  # closed before schema 2 recorded closing times
        c.execute(update(CaseRow).where(CaseRow.id == "OLD-1").values(closed_at=None))
    report = purge_store(store, RETENTION, now=NOW)
    assert report.expired_cases == ()
    assert store.cases.get("OLD-1").closed_at is not None
    assert rows_of(store, world.tid("old_case", "old_contact"))["tracklets"] == 2


def test_dry_run_changes_nothing(world: World) -> None:
    store, data_dir = world.store, world.site.storage.data_dir
    db, files = snapshot_of_db(store), every_file(data_dir)
    index_files = {p: p.read_bytes() for p in (data_dir / "index").rglob("*") if p.is_file()}
    dry = purge_store(store, RETENTION, now=NOW, dry_run=True)
    assert snapshot_of_db(store) == db
    # only the audit trail grows: the dry run's entry and its checkpoint
    assert every_file(data_dir) - {store.audit_anchor_path} == files
    assert {p: p.read_bytes() for p in (data_dir / "index").rglob("*") if p.is_file()} == (
        index_files
    )
    real = purge_store(store, RETENTION, now=NOW)
    assert dry.counts() == real.counts()
    actions = [(e.action, e.query["dry_run"]) for e in store.audit.entries()]
    assert actions == [("purge", True), ("purge", False)]


def test_purge_twice_removes_nothing_more(world: World) -> None:
    purge_store(world.store, RETENTION, now=NOW)
    again = purge_store(world.store, RETENTION, now=NOW)
    assert again.tracklets == again.files == again.index_vectors == 0
    assert again.expired_cases == ()


def test_unreadable_index_is_deleted(world: World) -> None:
    index_dir = world.site.storage.data_dir / "index"
    for f in index_dir.rglob("vectors.enc"):
        f.write_bytes(b"CCE1" + os.urandom(64))
    report = purge_store(world.store, RETENTION, now=NOW)
    assert report.errors == ()
    assert not (index_dir / "CURRENT").exists() and not list(index_dir.glob("gen-*"))


def test_now_must_be_aware(world: World) -> None:
    with pytest.raises(InvalidInputError):
        purge_store(world.store, RETENTION, now=datetime(2024, 5, 1))


def test_audit_rows_are_never_purged(world: World) -> None:
    world.store.audit.append("alice", "trace", "OLD-1", {"q": 1}, {"n": 1})
    purge_store(world.store, RETENTION, now=NOW)
    with world.store.engine.connect() as c:
        assert int(c.execute(select(func.count()).select_from(AuditRow)).scalar_one()) == 2


# ---- the scheduler ---------------------------------------------------------------------


def test_scheduler_runs_at_start_and_survives_errors(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[int] = []
    done = threading.Event()
    real = retention.purge

    def flaky(site: SiteConfig, **kwargs: object) -> retention.PurgeReport:
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("database went away")
        report = real(site, now=NOW)
        done.set()
        return report

    monkeypatch.setattr(retention, "purge", flaky)
    site = world.site.model_copy(
        update={"retention": RetentionConfig(purge_interval_hours=0.05 / 3600)}
    )
    scheduler = PurgeScheduler(site)
    scheduler.start()
    try:
        assert done.wait(10), "the scheduler stopped after an error"
        assert scheduler.running
    finally:
        scheduler.stop()
    assert not scheduler.running
    assert scheduler.last_report is not None and scheduler.last_report.tracklets == 3
    n = len(calls)
    time.sleep(0.2)
    assert len(calls) == n  # stopped


def test_scheduler_first_run_is_at_start(world: World) -> None:
    scheduler = PurgeScheduler(world.site, actor="cron")
    scheduler.start()
    deadline = time.monotonic() + 10
    while scheduler.last_report is None and time.monotonic() < deadline:
        time.sleep(0.05)
    scheduler.stop()
    assert scheduler.runs == 1 and scheduler.last_report is not None
    assert [e.actor for e in world.store.audit.entries() if e.action == "purge"] == ["cron"]


# ---- the command -----------------------------------------------------------------------


def _site_file(world: World, tmp_path: Path) -> Path:
    path = tmp_path / "site.yaml"
    path.write_text(
        "name: test\n"
        "cameras:\n"
        "  - id: cam1\n"
        "    location: {x_m: 0, y_m: 0}\n"
        "    footage: [cam1.mp4]\n"
        "storage:\n"
        f"  data_dir: {world.site.storage.data_dir}\n"
        "retention:\n"
        "  days: 28\n"
        "  case_evidence_days: 365\n"
    )
    return path


def test_cli_purge(world: World, tmp_path: Path) -> None:
    site_file = _site_file(world, tmp_path)
    runner = CliRunner()
    now = NOW.isoformat()
    dry = runner.invoke(app, ["purge", "--site", str(site_file), "--dry-run", "--now", now])
    assert dry.exit_code == 0, dry.output
    assert "would remove" in dry.output and "dry run" in dry.output
    assert rows_of(world.store, world.tid("lone"))["tracklets"] == 1
    result = runner.invoke(app, ["purge", "--site", str(site_file), "--now", now, "--actor", "dpo"])
    assert result.exit_code == 0, result.output
    lines = {" ".join(line.replace("│", " ").split()) for line in result.output.splitlines()}
    assert "tracklets 3" in lines and "face embeddings 6" in lines and "files 9" in lines
    assert "OLD-1" in result.output
    assert rows_of(world.store, world.tid("lone"))["tracklets"] == 0
    audit = [(e.actor, e.query["dry_run"]) for e in world.store.audit.entries()]
    assert audit[-1] == ("dpo", False) and len(audit) == 2


def test_cli_purge_rejects_a_bad_time(world: World, tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app, ["purge", "--site", str(_site_file(world, tmp_path)), "--now", "yesterday"]
    )
    assert result.exit_code != 0 and "ISO" in result.output
