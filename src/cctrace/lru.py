"""A small thread-safe least-recently-used cache (site-plan tiles, warped plans, contacts).

The value is computed outside the lock, so a slow computation (a tile download, a plan
warp) never blocks readers of other keys; two threads asking for the same missing key at
once may both compute it, and the later one is kept (the values are equal).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

_MISSING = object()


class LruCache(Generic[K, V]):
    """At most ``capacity`` entries; reading or writing a key makes it the most recent,
    and adding one past ``capacity`` drops the least recent. Safe to share between threads.
    ``None`` is a value like any other (a tile that failed to download is cached too)."""

    def __init__(self, capacity: int) -> None:
        if capacity < 1:
            raise ValueError(f"capacity must be >= 1, got {capacity}")
        self.capacity = capacity
        self._items: OrderedDict[K, V] = OrderedDict()
        self._lock = threading.Lock()

    def get_or_compute(self, key: K, compute: Callable[[], V]) -> V:
        """The value cached for ``key``, else ``compute()`` (run without the lock), cached.
        An exception from ``compute`` propagates and nothing is cached."""
        with self._lock:
            hit = self._items.get(key, _MISSING)
            if hit is not _MISSING:
                self._items.move_to_end(key)
                return hit  # type: ignore[return-value]
        value = compute()
        self.put(key, value)
        return value

    def get(self, key: K) -> V | None:
        """The value cached for ``key`` (now the most recent), or None when absent."""
        with self._lock:
            if key not in self._items:
                return None
            self._items.move_to_end(key)
            return self._items[key]

    def put(self, key: K, value: V) -> None:
        """Cache ``value`` for ``key`` as the most recent, dropping the least recent
        entries beyond ``capacity``."""
        with self._lock:
            self._items[key] = value
            self._items.move_to_end(key)
            while len(self._items) > self.capacity:
                self._items.popitem(last=False)

    def clear(self) -> None:
        """Drop every entry."""
        with self._lock:
            self._items.clear()

    def __contains__(self, key: object) -> bool:
        """Whether ``key`` is cached (without making it the most recent)."""
        with self._lock:
            return key in self._items

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)
