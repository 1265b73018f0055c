"""One data key for every process on a shared database: a process started with another
key (a host whose service lacks ``CCTRACE_DATA_KEY_FILE`` makes a new key beside the data)
is refused before it writes an audit entry, ingests, or serves, so it can neither break
the audit chain nor store faces nobody else can read."""

from __future__ import annotations

import base64
import os
from pathlib import Path

import pytest

from cctrace.config import load_site
from cctrace.errors import ConfigError, StoreError
from cctrace.ingest.runner import ingest_site
from cctrace.privacy.crypto import DataCipher
from cctrace.store import Store
from cctrace.web.serving import check_shared_store
from tests.store.conftest import PgServer

REFUSED = "is not the key this database was started with"


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str | None:
    """None (SQLite in the data folder) or a fresh PostgreSQL database."""
    if request.param == "sqlite":
        return None
    server: PgServer = request.getfixturevalue("pg_server")
    return server.new_database()


def test_an_audit_append_under_another_key_is_refused_and_writes_nothing(
    tmp_path: Path, database_url: str | None
) -> None:
    data = tmp_path / "data"
    first = DataCipher(os.urandom(32), source="the deployment's key")
    with Store(data, url=database_url, cipher=first) as store:
        store.audit.check_data_key()  # a new database: any key may start it
        store.audit.append("ana", "sign_in", None, {}, {})
        store.audit.append("ana", "case_open", "C-1", {}, {})
    with Store(data, url=database_url, cipher=DataCipher(os.urandom(32), "a stray key")) as other:
        with pytest.raises(StoreError, match=REFUSED) as info:
            other.audit.append("bob", "trace", "C-1", {}, {})
        assert "a stray key" in str(info.value) and "CCTRACE_DATA_KEY_FILE" in str(info.value)
        with pytest.raises(StoreError, match=REFUSED):
            other.audit.check_data_key()
        assert len(other.audit.entries()) == 2  # nothing was written
    with Store(data, url=database_url, cipher=first) as store:
        store.audit.check_data_key()
        store.audit.append("ana", "trace", "C-1", {}, {})  # the right key goes on
        report = store.audit.verify()
    assert report.ok and report.entries == 3, report.problems


def _site(tmp_path: Path) -> Path:
    site = tmp_path / "site.yaml"
    site.write_text(
        "name: key guard\ncameras:\n  - id: cam1\n    location: {x_m: 0, y_m: 0}\n"
        "    footage: [clip.mp4]\nstorage:\n  data_dir: data\n"
    )
    return site


def test_ingest_and_serve_refuse_a_process_with_another_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    site = load_site(_site(tmp_path), check_files=False)
    key_file = tmp_path / "data.key"
    key_file.write_text(base64.urlsafe_b64encode(os.urandom(32)).decode())
    key_file.chmod(0o600)
    monkeypatch.delenv("CCTRACE_DATA_KEY", raising=False)
    monkeypatch.setenv("CCTRACE_DATA_KEY_FILE", str(key_file))
    with Store.for_site(site) as store:
        store.audit.append("cli", "user_create", None, {"username": "ana"}, {})
    # Another host's service started without the key file: a new key beside the data.
    monkeypatch.delenv("CCTRACE_DATA_KEY_FILE")
    with pytest.raises(StoreError, match=REFUSED):
        ingest_site(site, workers=1, progress=False)
    with pytest.raises(ConfigError, match=REFUSED):
        check_shared_store(site, workers=2)
    with Store.for_site(site) as store:
        assert store.footage.files() == [] and len(store.audit.entries()) == 1
