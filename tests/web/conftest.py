"""Web app fixtures: a real store with synthetic tracklets, one user per role, clients."""

from __future__ import annotations

import functools
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from cctrace.store import Store
from cctrace.web import WebSettings, create_app
from cctrace.web.security import hash_password
from tests.store.conftest import pg_server  # noqa: F401  (a real PostgreSQL server)
from tests.web.web_support import PASSWORD, USERS, WebEnv, seed_store, write_site


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
        store.users.create(name, _password_hash(), role, team)
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
