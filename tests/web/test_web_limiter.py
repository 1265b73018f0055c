"""The sign-in limiter lives in the database: every app (worker process) on one store
counts against the same limits, and old attempts are pruned (SQLite and PostgreSQL)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from cctrace.store import Store
from cctrace.store import _signin as signin_module
from cctrace.web.security import LoginLimiter


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """An empty store on each backend (PostgreSQL: a real server the session starts)."""
    if request.param == "sqlite":
        s = Store(tmp_path / "data")
    else:
        s = Store(tmp_path / "data", url=request.getfixturevalue("pg_server").new_database())
    with s:
        yield s


def test_two_limiters_on_one_store_share_the_counts_and_forget_after_the_window(
    store: Store,
) -> None:
    one, two = LoginLimiter(store, 2, 0.5), LoginLimiter(store, 2, 0.5)
    keys = one.keys_for("Ivy", "10.0.0.1")
    assert one.attempt(keys) == 0 and two.attempt(keys) == 0
    wait = one.attempt(keys)  # the third, from either process, before any password check
    assert 0 < wait <= 0.5 and two.attempt(keys) > 0
    assert two.attempt(two.keys_for("ivy", "10.0.0.2")) == 0  # another address: its own pair
    time.sleep(0.6)
    assert two.attempt(keys) == 0
    assert store.signin_attempts.count() == 3  # the expired ones were pruned on the way


def test_address_and_user_limits_span_pairs(store: Store) -> None:
    limiter = LoginLimiter(store, 1, 60)
    for n in range(4):  # one address: 4x the pair limit over all user names
        assert limiter.attempt(limiter.keys_for(f"user{n}", "10.0.0.9")) == 0
    assert limiter.attempt(limiter.keys_for("user9", "10.0.0.9")) > 0
    for n in range(10):  # one user: 10x over all addresses
        assert limiter.attempt(limiter.keys_for("ivy", f"10.1.0.{n}")) == 0
    assert limiter.attempt(limiter.keys_for("ivy", "10.1.0.99")) > 0


def test_a_success_clears_the_pair_and_takes_the_attempt_back(store: Store) -> None:
    limiter = LoginLimiter(store, 2, 60)
    keys = limiter.keys_for("ivy", "10.0.0.1")
    assert limiter.attempt(keys) == 0 and limiter.attempt(keys) == 0
    limiter.succeeded(keys)  # the second attempt was the right password
    assert limiter.attempt(keys) == 0 and limiter.attempt(keys) == 0
    assert limiter.attempt(keys) > 0
    # the pair holds the 2 since the success; address and user 3 each (one taken back)
    assert store.signin_attempts.count() == 2 + 3 + 3


def test_a_block_is_noted_once_per_window(store: Store) -> None:
    one, two = LoginLimiter(store, 1, 60), LoginLimiter(store, 1, 60)
    assert one.first_block("pair:ivy|1") is True
    assert one.first_block("pair:ivy|1") is False and two.first_block("pair:ivy|1") is False
    assert two.first_block("pair:ian|1") is True


def test_parallel_guesses_get_exactly_the_limit(store: Store) -> None:
    limiters = [LoginLimiter(store, 5, 60) for _ in range(4)]
    keys = limiters[0].keys_for("ivy", "10.0.0.1")
    results: list[float] = []
    lock = threading.Lock()

    def guess(limiter: LoginLimiter) -> None:
        for _ in range(5):
            wait = limiter.attempt(keys)
            with lock:
                results.append(wait)

    threads = [threading.Thread(target=guess, args=(lim,)) for lim in limiters]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 20 and results.count(0.0) == 5


def test_the_table_stays_bounded(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(signin_module, "MAX_SIGNIN_ROWS", 30)
    limiter = LoginLimiter(store, 1000, 3600)
    for n in range(40):  # 3 rows each, all inside the window
        assert limiter.attempt(limiter.keys_for(f"user{n}", f"10.0.{n}.1")) == 0
    assert store.signin_attempts.count() <= 30
