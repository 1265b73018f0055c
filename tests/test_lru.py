"""``cctrace.lru.LruCache``: eviction order, None values, failures, threads."""

from __future__ import annotations

import threading

import pytest

from cctrace.lru import LruCache


def test_the_least_recently_used_entry_goes_first() -> None:
    cache: LruCache[str, int] = LruCache(2)
    cache.put("a", 1)
    cache.put("b", 2)
    assert cache.get("a") == 1  # "a" is now the most recent
    cache.put("c", 3)
    assert "b" not in cache and "a" in cache and "c" in cache and len(cache) == 2
    assert cache.get_or_compute("a", lambda: 99) == 1
    cache.put("d", 4)  # "c" was the least recent
    assert "c" not in cache and cache.get("d") == 4 and cache.get("c") is None


def test_putting_a_key_again_replaces_it_and_makes_it_recent() -> None:
    cache: LruCache[str, int] = LruCache(2)
    cache.put("a", 1)
    cache.put("b", 2)
    cache.put("a", 10)
    cache.put("c", 3)
    assert cache.get("a") == 10 and "b" not in cache


def test_compute_runs_once_per_key_and_none_is_cached() -> None:
    calls: list[str] = []

    def compute(key: str) -> int | None:
        calls.append(key)
        return None if key == "dead" else len(key)

    cache: LruCache[str, int | None] = LruCache(8)
    for _ in range(3):
        assert cache.get_or_compute("dead", lambda: compute("dead")) is None
        assert cache.get_or_compute("abc", lambda: compute("abc")) == 3
    assert calls == ["dead", "abc"]


def test_a_failed_computation_is_not_cached() -> None:
    cache: LruCache[str, int] = LruCache(4)

    def fail() -> int:
        raise FileNotFoundError("gone")

    with pytest.raises(FileNotFoundError):
        cache.get_or_compute("k", fail)
    assert "k" not in cache
    assert cache.get_or_compute("k", lambda: 7) == 7


def test_clear_and_a_bad_capacity() -> None:
    cache: LruCache[int, int] = LruCache(3)
    cache.put(1, 1)
    cache.clear()
    assert len(cache) == 0 and 1 not in cache
    with pytest.raises(ValueError, match="capacity"):
        LruCache(0)


def test_threads_share_it_without_losing_the_bound() -> None:
    cache: LruCache[int, int] = LruCache(50)
    errors: list[BaseException] = []
    start = threading.Barrier(8)

    def work(seed: int) -> None:
        try:
            start.wait()
            for i in range(2000):
                key = (i * 7 + seed) % 120
                assert cache.get_or_compute(key, lambda k=key: k * k) == key * key
                if i % 5 == 0:
                    cache.put(key, key * key)
                assert len(cache) <= 50
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(s,)) for s in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and len(cache) == 50
