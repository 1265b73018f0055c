"""``cctrace serve`` start-up checks: which stores N workers may share, the address."""

from __future__ import annotations

from pathlib import Path

import pytest

from cctrace.errors import ConfigError
from cctrace.web.serving import (
    address_of,
    check_shared_store,
    listen,
    settings_from_env,
    settings_to_env,
)
from cctrace.web.settings import WebSettings
from tests.web.web_support import write_site


def test_one_worker_needs_no_note_and_sqlite_workers_get_one(tmp_path: Path) -> None:
    site = write_site(tmp_path)
    assert check_shared_store(site, 1) is None
    note = check_shared_store(site, 4)
    assert note is not None and "WAL" in note and "PostgreSQL" in note
    assert str(site.storage.data_dir) in note
    with pytest.raises(ConfigError, match=r"1\.\.64"):
        check_shared_store(site, 0)


def test_a_sqlite_file_without_wal_is_refused_for_several_workers(tmp_path: Path) -> None:
    site = write_site(tmp_path)
    check_shared_store(site, 1)  # creates the database
    # A database the store cannot put in WAL mode (here: read-only memory database URL).
    memory = site.model_copy(
        update={"storage": site.storage.model_copy(update={"database_url": "sqlite://"})}
    )
    with pytest.raises(ConfigError, match="WAL mode"):
        check_shared_store(memory, 2)


def test_the_address_is_the_bound_one_and_a_taken_port_is_a_clear_error() -> None:
    sock = listen("127.0.0.1", 0)
    port = sock.getsockname()[1]
    try:
        assert port > 0 and address_of(sock) == f"http://127.0.0.1:{port}/"
        sock.listen()
        with pytest.raises(ConfigError, match=f"cannot listen on 127.0.0.1 port {port}"):
            listen("127.0.0.1", port)
    finally:
        sock.close()


def test_workers_get_the_parents_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = WebSettings(secret_key="k" * 40, trusted_proxies=("10.0.0.1",), trace_workers=2)
    monkeypatch.setenv("CCTRACE_WORKER_SETTINGS", settings_to_env(settings))
    assert settings_from_env() == settings
