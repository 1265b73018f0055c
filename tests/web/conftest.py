"""Web app fixtures: a real store with synthetic tracklets, one user per role, clients."""

from __future__ import annotations

import functools
import importlib.util
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

sys.path.insert(0, str(Path(__file__).parent))

from web_support import PASSWORD, USERS, WebEnv, seed_store, write_site

from cctrace.store import Store
from cctrace.web import WebSettings, create_app
from cctrace.web.security import hash_password


def _store_fixtures() -> object:
    """tests/store/conftest.py (its ``pg_server`` starts a real PostgreSQL)."""
    path = Path(__file__).parents[1] / "store" / "conftest.py"
    spec = importlib.util.spec_from_file_location("cctrace_store_fixtures", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


pg_server = _store_fixtures().pg_server  # type: ignore[attr-defined]
"""A real PostgreSQL server for the session (skips with the reason when unavailable)."""


@functools.cache
def _password_hash() -> str:
    """One real argon2id hash of the test password, computed once (each costs ~60 ms)."""
    return hash_password(PASSWORD)


@pytest.fixture
def web(tmp_path: Path) -> Iterator[WebEnv]:
    site = write_site(tmp_path)
    store = Store.for_site(site)
    ids = seed_store(store)
    for name, (role, team) in USERS.items():
        store.create_user(name, _password_hash(), role, team)
    app = create_app(site, WebSettings.for_demo(), store=store)
    clients: list[TestClient] = []

    def client_for(username: str) -> TestClient:
        client = TestClient(app)
        clients.append(client)
        if username:
            resp = client.post("/api/auth/login", json={"username": username, "password": PASSWORD})
            assert resp.status_code == 200, resp.text
            client.headers["X-CSRF-Token"] = resp.json()["csrf_token"]
        return client

    yield WebEnv(site, store, app, ids, client_for)
    for c in clients:
        c.close()
    app.state.cctrace.jobs.shutdown()
    store.close()
