"""The command line end to end: demo site from real footage, trace, exports, audit."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from cctrace.cli import app

pytestmark = pytest.mark.slow
runner = CliRunner()


@pytest.fixture(scope="module")
def demo(
    built_demo: Any, copy_demo: Callable[[Path], Path], tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """A copy of the session's ``cctrace demo`` run (on the shared PETS clip, no
    download), which must have printed the report path."""
    assert "demo report:" in built_demo.output
    return copy_demo(tmp_path_factory.mktemp("demo") / "site")


def test_demo_report_exists_and_names_the_case(demo: Path) -> None:
    (report,) = list((demo / "data" / "reports" / "DEMO-0001").glob("*/DEMO-0001.html"))
    html = report.read_text()
    assert "DEMO-0001" in html and "<svg" in html
    data = json.loads(next(report.parent.glob("*.json")).read_text())
    assert data["schema"] == "cctrace.trace/1"
    assert data["route"], "the demo trace should have a route"
    assert data["contacts"], "the demo trace should find contacts"


def test_demo_route_crosses_both_cameras_and_is_one_person(demo: Path, shared_data: Path) -> None:
    """The demo's scripted review confirms the case's own track in the other camera; the
    route it shows then crosses both cameras, and the PETS ground truth says every route
    sighting is the same person."""
    from cctrace.config import load_site
    from cctrace.demo import CROPS
    from cctrace.evaluation.pets import crop_gt_boxes, load_gt_boxes, map_tracklets_to_gt
    from cctrace.store.repository import Store

    (report,) = list((demo / "data" / "reports" / "DEMO-0001").glob("*/DEMO-0001.json"))
    data = json.loads(report.read_text())
    route = [r["tracklet_id"] for r in data["route"]]
    assert len({r["camera_id"] for r in data["route"]}) == 2, data["route"]
    boxes = load_gt_boxes(shared_data / "pets2009-s2l1")
    site = load_site(demo / "site.yaml", check_files=False)
    with Store.for_site(site) as store:
        person_of: dict[int, int] = {}
        for camera, (_, x0, x1, _) in CROPS.items():
            person_of.update(map_tracklets_to_gt(store, crop_gt_boxes(boxes, x0, x1), camera))
    assert len({person_of.get(t) for t in route}) == 1, [person_of.get(t) for t in route]
    assert data["contacts"] and any(c["is_close_contact"] for c in data["contacts"])


def test_site_validate(demo: Path) -> None:
    result = runner.invoke(app, ["site", "validate", str(demo / "site.yaml")])
    assert result.exit_code == 0, result.output
    assert "plaza-west" in result.output and "2 camera(s) OK" in result.output


def test_site_validate_reports_line(tmp_path: Path) -> None:
    bad = tmp_path / "site.yaml"
    bad.write_text("cameras:\n  - id: a\n    location: {x_m: 0, y_m: 0}\n    footage: []\n")
    from cctrace.config import load_site
    from cctrace.errors import ConfigError

    with pytest.raises(ConfigError, match=r"site.yaml:4: cameras.0.footage"):
        load_site(bad)


def test_trace_from_tracklet_exports_and_audit(demo: Path, tmp_path: Path) -> None:
    site = str(demo / "site.yaml")
    db = sqlite3.connect(demo / "data" / "cctrace.db")
    (tracklet,) = db.execute("select id from tracklets order by n_points desc limit 1").fetchone()
    db.close()
    out = tmp_path / "report"
    result = runner.invoke(
        app,
        [
            "trace",
            "--site",
            site,
            "--case",
            "C-42",
            "--tracklet",
            str(tracklet),
            "--distance",
            "3",
            "--minutes",
            "0.1",
            "--actor",
            "tester",
            "--out",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    assert (out / "C-42.html").is_file()
    for what in ("sightings", "contacts"):
        target = tmp_path / f"{what}.csv"
        res = runner.invoke(
            app, ["export", what, "--site", site, "--case", "C-42", "--out", str(target)]
        )
        assert res.exit_code == 0, res.output
        assert target.read_text().count("\n") >= 2
    mot = tmp_path / "west.txt"
    res = runner.invoke(
        app, ["export", "tracks", "--site", site, "--camera", "plaza-west", "--out", str(mot)]
    )
    assert res.exit_code == 0, res.output
    first = mot.read_text().splitlines()[0].split(",")
    assert len(first) == 10 and int(first[0]) >= 1
    res = runner.invoke(app, ["audit", "list", "--site", site, "--case", "C-42"])
    assert res.exit_code == 0 and "tester" in res.output and "trace" in res.output
    res = runner.invoke(app, ["audit", "verify", "--site", site])
    assert res.exit_code == 0 and "intact" in res.output


def test_audit_verify_detects_tampering(demo: Path) -> None:
    site = str(demo / "site.yaml")
    db = sqlite3.connect(demo / "data" / "cctrace.db")
    table = next(
        name
        for (name,) in db.execute("select name from sqlite_master where type='table'")
        if "audit" in name
    )
    db.execute(f"update {table} set actor = 'mallory' where id = (select min(id) from {table})")
    db.commit()
    db.close()
    res = runner.invoke(app, ["audit", "verify", "--site", site])
    assert res.exit_code == 1


def test_unknown_camera_and_tracklet_are_clear_errors(demo: Path) -> None:
    site = str(demo / "site.yaml")
    from cctrace.errors import ConfigError, NotFoundError

    res = runner.invoke(app, ["export", "tracks", "--site", site, "--camera", "nope"])
    assert isinstance(res.exception, ConfigError) and "unknown camera" in str(res.exception)
    res = runner.invoke(app, ["trace", "--site", site, "--case", "C-9", "--tracklet", "999999"])
    assert isinstance(res.exception, NotFoundError)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--case", "../etc"], "case id"),
        (
            ["--case", "C-1", "--from", "2009-01-02T00:00:00Z", "--to", "2009-01-01T00:00:00Z"],
            "window starts",
        ),
        (["--case", "C-1", "--distance", "5"], "the widest distance band"),
        (["--case", "C-1", "--accept", "0.3", "--review", "0.4"], "thresholds"),
    ],
)
def test_bad_trace_requests_are_clear_errors(demo: Path, args: list[str], message: str) -> None:
    from cctrace.errors import QueryError

    res = runner.invoke(app, ["trace", "--site", str(demo / "site.yaml"), "--tracklet", "1", *args])
    assert isinstance(res.exception, QueryError), res.output
    assert message in str(res.exception)


def test_a_contact_seen_by_both_cameras_is_one_person(demo: Path, tmp_path: Path) -> None:
    """Issue 10 item 4 on real footage: a contact's fragments in the two overlapping
    cameras (same ground path at the same time) are joined into one contact, and never
    two boxes of one picture."""
    import shutil

    from cctrace.config import load_site
    from cctrace.ingest.models import ModelSet
    from cctrace.store.repository import Store
    from cctrace.tracing.contacts import BY_SHARED_PATH
    from cctrace.tracing.service import TraceRequest, trace_in_store
    from cctrace.types import SightingStatus

    work = tmp_path / "demo"
    shutil.copytree(demo, work, symlinks=True)
    (site_file,) = [work / "site.yaml"]
    site_text = site_file.read_text().replace(str(demo), str(work))
    site_file.write_text(site_text)
    site = load_site(site_file, check_files=False)
    models = ModelSet(site.models)
    joined = []
    with Store.for_site(site) as store:
        records = sorted(store.tracklets.in_window(None, None), key=lambda r: r.start - r.end)
        for n, seed in enumerate(records[:20]):
            case = f"JOIN-{n}"
            store.cases.create(case, legal_basis="test", created_by="tester")
            request = TraceRequest(case_id=case, actor="tester", tracklet_id=seed.id, distance_m=3)
            result = trace_in_store(site, store, request, models)
            # The tracer confirms the case's own continuation in the other camera.
            for s in result.sightings:
                if s.status == SightingStatus.NEEDS_REVIEW and s.link is None:
                    store.sightings.decide(case, s.tracklet_id, SightingStatus.ACCEPTED, "tester")
            result = trace_in_store(site, store, request, models)
            joined += [c for c in result.contacts if BY_SHARED_PATH in c.linked_by]
            if joined:
                break
        assert joined, "no contact of the 20 longest tracklets was joined across cameras"
        contact = joined[0]
        parts = store.tracklets.get_many(list(contact.contact_tracklet_ids))
    assert len({p.camera_id for p in parts}) == 2
    for a in parts:
        for b in parts:
            if a.id < b.id and a.camera_id == b.camera_id:
                assert a.end <= b.start or b.end <= a.start
