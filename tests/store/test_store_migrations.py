"""Alembic migrations: a fresh database migrates to exactly the models' schema, and
databases that older cctrace created (schema 1, 2 and 3 in ``store_meta``) are stamped
and upgraded in place on open, with their data, on SQLite and PostgreSQL."""

from __future__ import annotations

import multiprocessing
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine, create_engine, inspect, text

from cctrace.errors import StoreError
from cctrace.store import Store
from cctrace.store.migrations import head_revision
from cctrace.store.schema import Base

LEGACY_DIR = Path(__file__).parent / "legacy_schemas"
T0 = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database on each backend."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'data' / 'cctrace.db'}"
    return str(request.getfixturevalue("pg_server").new_database())


@pytest.fixture
def engine(db_url: str, tmp_path: Path) -> Iterator[Engine]:
    (tmp_path / "data").mkdir(exist_ok=True)
    eng = create_engine(db_url)
    yield eng
    eng.dispose()


def _when(engine: Engine) -> Any:
    # Old cctrace stored naive UTC text on SQLite (UTCDateTime), aware values on PostgreSQL.
    return "2026-01-01 00:00:00.000000" if engine.dialect.name == "sqlite" else T0


def _create_legacy(engine: Engine, version: str) -> None:
    """Create the tables exactly as cctrace with schema ``version`` did, with some data."""
    sql = (LEGACY_DIR / f"schema_{version}.{engine.dialect.name}.sql").read_text()
    body = "\n".join(line for line in sql.splitlines() if not line.startswith("--"))
    when = _when(engine)
    with engine.begin() as conn:
        for statement in body.split(";"):
            if statement.strip():
                conn.exec_driver_sql(statement)
        conn.execute(
            text(
                "INSERT INTO store_meta (key, value) VALUES ('schema_version', :v), "
                "('instance_id', 'legacy-instance')"
            ),
            {"v": version},
        )
        conn.execute(
            text(
                "INSERT INTO cameras (id, name, config, created_at, updated_at) "
                "VALUES ('cam', 'Cam', '{}', :t, :t)"
            ),
            {"t": when},
        )
        conn.execute(
            text(
                "INSERT INTO footage_files (camera_id, path, sha256, size, start_time, "
                "duration_s, fps, status, progress_offset_s, frames_decoded, frames_failed, "
                "created_at, updated_at) VALUES ('cam', '/f.mp4', :sha, 1, :t, 2.0, 10.0, "
                "'done', 2.0, 20, 0, :t, :t)"
            ),
            {"sha": "b" * 64, "t": when},
        )
        team = ("", "") if version == "1" else (", team", ", 'default'")
        conn.execute(
            text(
                f"INSERT INTO cases (id, created_at, created_by, legal_basis, notes, status"
                f"{team[0]}) VALUES ('C-1', :t, 'ana', 'public health act', '', 'open'"
                f"{team[1]})"
            ),
            {"t": when},
        )


def _drift(engine: Engine) -> list[Any]:
    with engine.connect() as conn:
        return list(compare_metadata(MigrationContext.configure(conn), Base.metadata))


def _revision(engine: Engine) -> str:
    with engine.connect() as conn:
        return str(conn.execute(text("SELECT version_num FROM alembic_version")).scalar_one())


def _meta(engine: Engine) -> dict[str, str]:
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT key, value FROM store_meta")).all()
        return {str(key): str(value) for key, value in rows}


def test_a_fresh_database_migrates_to_exactly_the_models(
    engine: Engine, db_url: str, tmp_path: Path
) -> None:
    with Store(tmp_path / "data", url=db_url) as store:
        instance = store.instance_id
    assert _revision(engine) == head_revision()
    assert _drift(engine) == []
    assert set(_meta(engine)) == {"instance_id", "longest_tracklet_s"}
    with Store(tmp_path / "data", url=db_url) as store:  # at head: nothing to do
        assert store.instance_id == instance


@pytest.mark.parametrize("version", ["1", "2"])
def test_a_legacy_database_is_stamped_and_upgraded_with_its_data(
    engine: Engine, db_url: str, tmp_path: Path, version: str
) -> None:
    _create_legacy(engine, version)
    with Store(tmp_path / "data", url=db_url) as store:
        assert store.instance_id == "legacy-instance"
        (footage,) = store.footage.files()
        assert footage.path == "/f.mp4" and footage.start_time == T0
        assert footage.start_source is None and footage.run_owner is None
        store.footage.claim(footage.id, "host:1:2")
        assert store.footage.get(footage.id).run_owner == "host:1:2"
        store.footage.record_failure("cam", "/g.mp4", "unreadable")
        assert [f.path for f in store.footage.failures()] == ["/g.mp4"]
        case = store.cases.get("C-1")
        assert case.team == "default" and case.window_from is None
        approval = store.approvals.request("C-1", "export", "ana", "why", None, "d" * 64)
        assert store.approvals.get(approval.id).result_digest == "d" * 64
    assert _revision(engine) == head_revision()
    # the longest tracklet is measured from the table on first open (none here)
    assert _meta(engine) == {"instance_id": "legacy-instance", "longest_tracklet_s": "0.0"}
    # Nothing is missing; only the type spelling of the hand-added SQLite columns may differ.
    assert [d for d in _drift(engine) if d[0] in ("add_table", "add_column", "add_index")] == []


def test_a_schema_3_database_without_result_digests_gains_them(
    engine: Engine, db_url: str, tmp_path: Path
) -> None:
    # Schema 2 databases created before exports were bound to a result never got these
    # columns, and the old upgrade to 3 did not add them either.
    Base.metadata.create_all(engine)
    with engine.begin() as conn:
        for table in ("case_sightings", "approvals"):
            conn.exec_driver_sql(f"ALTER TABLE {table} DROP COLUMN result_digest")
        conn.exec_driver_sql("DROP TABLE loose_faces")
        conn.exec_driver_sql("DROP TABLE trace_jobs")  # revision 0005, after schema 3
        conn.exec_driver_sql("DROP TABLE signin_attempts")  # revision 0007_signin_attempts
        conn.exec_driver_sql("DROP TABLE contact_statuses")  # revision 0006_contact_status
        conn.exec_driver_sql("INSERT INTO store_meta (key, value) VALUES ('schema_version', '3')")
    with Store(tmp_path / "data", url=db_url):
        pass
    assert _revision(engine) == head_revision()
    assert _drift(engine) == []
    assert "schema_version" not in _meta(engine)


def test_unknown_versions_and_unversioned_tables_are_refused(
    engine: Engine, db_url: str, tmp_path: Path
) -> None:
    Base.metadata.create_all(engine)
    with pytest.raises(StoreError, match="no schema version"):
        Store(tmp_path / "data", url=db_url)
    with engine.begin() as conn:
        conn.exec_driver_sql("INSERT INTO store_meta (key, value) VALUES ('schema_version', '9')")
    with pytest.raises(StoreError, match="found schema version '9'"):
        Store(tmp_path / "data", url=db_url)
    with engine.begin() as conn:
        conn.exec_driver_sql("DELETE FROM store_meta")
        conn.exec_driver_sql("CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL)")
        conn.exec_driver_sql("INSERT INTO alembic_version VALUES ('9999')")
    with pytest.raises(StoreError, match="revision 9999, which this cctrace does not know"):
        Store(tmp_path / "data", url=db_url)


def _open(data_dir: str) -> str:
    with Store(data_dir) as store:
        return store.instance_id


def test_processes_opening_a_new_database_together_migrate_it_once(tmp_path: Path) -> None:
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(4) as pool:
        instances = pool.map(_open, [str(tmp_path / "data")] * 4)
    assert len(set(instances)) == 1
    engine = create_engine(f"sqlite:///{tmp_path / 'data' / 'cctrace.db'}")
    assert _revision(engine) == head_revision()
    assert inspect(engine).has_table("loose_faces")
    engine.dispose()


def test_db_commands_show_and_upgrade_the_schema(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from cctrace.cli import app

    site = tmp_path / "site.yaml"
    site.write_text(
        "name: t\ncameras:\n  - id: cam1\n    location: {x_m: 0, y_m: 0}\n"
        "    footage: [clip.mp4]\n    start_time: 2026-03-15T08:00:00Z\n"
        "storage:\n  data_dir: data\n"
    )
    runner = CliRunner()
    head = head_revision()
    out = runner.invoke(app, ["db", "current", str(site)])
    assert out.exit_code == 0 and "empty" in out.output and "will upgrade" in out.output
    assert not (tmp_path / "data" / "cctrace.db").exists()  # read only
    out = runner.invoke(app, ["db", "upgrade", "--site", str(site)])
    assert out.exit_code == 0 and f"upgraded from empty to revision {head}" in out.output
    out = runner.invoke(app, ["db", "current", str(site)])
    assert out.exit_code == 0 and f"revision {head}; newest: revision {head} (up to date)" in (
        " ".join(out.output.split())
    )
