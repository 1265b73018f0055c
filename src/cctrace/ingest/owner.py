"""Which process is ingesting a footage file, and whether it is still alive.

A file being ingested is ``running`` in the database with a ``run_owner``
(``host:pid:start``, where ``start`` is the process's start time in clock ticks on
Linux, so a reused pid is not taken for the old process) and a heartbeat refreshed
every :data:`HEARTBEAT_S` seconds. A process killed with ``kill -9`` cannot say it
stopped, so readers decide: a ``running`` file whose owner is gone (same host: no such
process; another host: no heartbeat for :data:`STALE_AFTER_S`) is *interrupted* and
resumes from its last checkpoint on the next ingest.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Protocol

from cctrace.store.records import FootageRecord, FootageStatus

log = logging.getLogger(__name__)

HEARTBEAT_S = 15.0
"""Seconds between heartbeats of a file being ingested."""
STALE_AFTER_S = 120.0
"""A running file with no heartbeat for this long is taken as interrupted (other hosts)."""
INTERRUPTED = "interrupted"
"""The state shown for a ``running`` file whose ingest process is gone."""


def _start_ticks(pid: int) -> str:
    """The process's start time in clock ticks since boot (Linux), else ``"0"``."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return "0"
    # Field 2 (the command) may hold spaces and parentheses: split after its last ")".
    fields = stat[stat.rfind(")") + 2 :].split()
    return fields[19] if len(fields) > 19 else "0"


def process_owner(pid: int | None = None) -> str:
    """``host:pid:start`` naming this process (or ``pid`` on this host)."""
    pid = os.getpid() if pid is None else pid
    return f"{socket.gethostname()}:{pid}:{_start_ticks(pid)}"


def owner_alive(owner: str) -> bool | None:
    """Whether the process ``owner`` still runs; None when it is on another host."""
    parts = owner.rsplit(":", 2)
    if len(parts) != 3 or not parts[1].isdigit():
        return None
    host, pid_text, start = parts
    if host != socket.gethostname():
        return None
    pid = int(pid_text)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # it exists, under another user
    if start != "0" and _start_ticks(pid) != start:
        return False  # the pid was reused by another process
    return not _zombie(pid)


def _zombie(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rfind(")") + 2 :].startswith("Z")


def is_interrupted(record: FootageRecord, now: datetime | None = None) -> bool:
    """True for a ``running`` file whose ingest process is gone (resumable)."""
    if record.status is not FootageStatus.RUNNING:
        return False
    if record.run_owner is not None:
        alive = owner_alive(record.run_owner)
        if alive is not None:
            return not alive
    seen = record.heartbeat_at or record.updated_at
    now = now or datetime.now(UTC)
    return now - seen > timedelta(seconds=STALE_AFTER_S)


def run_state(record: FootageRecord, now: datetime | None = None) -> str:
    """The status to show: the stored one, or ``interrupted`` for an orphaned run."""
    return INTERRUPTED if is_interrupted(record, now) else record.status.value


class _FootageHeartbeat(Protocol):
    def heartbeat(self, footage_id: int, owner: str) -> bool: ...


class _HeartbeatStore(Protocol):
    @property
    def footage(self) -> _FootageHeartbeat: ...


class Heartbeat:
    """A daemon thread that refreshes a file's heartbeat while the ``with`` block runs."""

    def __init__(
        self, store: _HeartbeatStore, footage_id: int, owner: str, every_s: float = HEARTBEAT_S
    ) -> None:
        self._store = store
        self._footage_id = footage_id
        self._owner = owner
        self._every_s = every_s
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._run, name=f"heartbeat-{footage_id}", daemon=True
        )

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=self._every_s + 5)

    def _run(self) -> None:
        while not self._stop.wait(self._every_s):
            try:
                self._store.footage.heartbeat(self._footage_id, self._owner)
            except Exception as exc:  # a busy database must not stop the ingest
                log.warning("footage %s: heartbeat failed: %s", self._footage_id, exc)
