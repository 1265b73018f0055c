"""Run one job per camera in its own worker process, supervised by the parent.

Each camera gets a fresh ``spawn`` process and a private pipe (progress events and the
result come back on it), so a worker that dies (``kill -9``, the out-of-memory killer)
breaks only its own pipe: its camera is started again (it resumes from its
checkpoints) and, if it dies :data:`MAX_ATTEMPTS` times, only that camera is reported
failed. The other cameras are not touched.

Workers die with their parent: on Linux the kernel kills them when the parent dies
(``PR_SET_PDEATHSIG``), and a watchdog thread in every worker exits when its parent pid
changes (a portable fallback). A parent that stops with an exception kills its workers
before it re-raises.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import multiprocessing as mp
import multiprocessing.connection as mp_conn
import os
import pickle  # the job crosses the spawn pipe pickled anyway: only later, see _worker_main
import signal
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from multiprocessing.process import BaseProcess
from typing import Any, Protocol

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 2
"""Worker processes a camera may lose before it is reported failed."""
WATCHDOG_S = 0.5
"""How often a worker checks that its parent is still there."""
_PR_SET_PDEATHSIG = 1

Event = tuple[str, str, float]
"""A progress event: (kind, camera id, seconds)."""


class EventSink(Protocol):
    """Where a job sends its progress events."""

    def put(self, event: Event) -> None:
        """Send one event."""


JobTarget = Callable[[str, EventSink | None], list[Any]]
"""A camera job: (camera id, event sink) -> result rows. Must be picklable (top level)."""
LostHandler = Callable[[str, str], list[Any]]
"""Builds the result rows of a camera whose workers all died: (camera id, reason)."""


@dataclass
class _Worker:
    camera_id: str
    attempt: int
    process: BaseProcess
    conn: mp_conn.Connection
    result: list[Any] | None = None


class _PipeSink:
    """An :class:`EventSink` writing to this worker's own pipe."""

    def __init__(self, conn: mp_conn.Connection) -> None:
        self._conn = conn

    def put(self, event: Event) -> None:
        self._conn.send(("event", event))


def _set_pdeathsig() -> bool:
    """Ask Linux to SIGKILL this process when its parent dies; False where unsupported."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        return int(libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)) == 0
    except (OSError, AttributeError):
        return False


def _watch_parent(parent_pid: int, every_s: float) -> None:
    while True:
        if os.getppid() != parent_pid:
            os._exit(70)  # the parent is gone: stop at once (the checkpoint is safe)
        time.sleep(every_s)


def die_with_parent(parent_pid: int, pdeathsig: bool = True) -> None:
    """Make this process exit when ``parent_pid`` (its parent) dies."""
    if pdeathsig:
        _set_pdeathsig()
    if os.getppid() != parent_pid:  # the parent died before the line above took effect
        os._exit(70)
    threading.Thread(
        target=_watch_parent, args=(parent_pid, WATCHDOG_S), name="parent-watchdog", daemon=True
    ).start()


def _worker_main(
    pickled_target: bytes,
    camera_id: str,
    conn: mp_conn.Connection,
    parent_pid: int,
    pdeathsig: bool,
) -> None:
    """Entry point of a worker process: run the job, send its result on the pipe.

    The job arrives pickled and is unpickled only after :func:`die_with_parent`: its
    modules (models, video, the store) take seconds to import on a loaded machine, and
    a parent killed in that time must not leave the worker running.
    """
    die_with_parent(parent_pid, pdeathsig)
    target: JobTarget = pickle.loads(pickled_target)
    result = target(camera_id, _PipeSink(conn))
    conn.send(("result", result))
    conn.close()


def _death_reason(camera_id: str, exitcode: int | None, attempts: int) -> str:
    if exitcode is not None and exitcode < 0:
        try:
            how = f"killed by {signal.Signals(-exitcode).name}"
        except ValueError:
            how = f"killed by signal {-exitcode}"
        if exitcode == -signal.SIGKILL:
            how += " (out of memory, or kill -9)"
    else:
        how = f"exited with code {exitcode} before reporting"
    times = "once" if attempts == 1 else f"{attempts} times"
    return (
        f"the worker process of camera {camera_id} died {times}, last {how}; its files "
        "resume from their last checkpoint on the next ingest"
    )


def supervise(
    camera_ids: Sequence[str],
    target: JobTarget,
    n_workers: int,
    on_lost: LostHandler,
    on_event: Callable[[Event], None] | None = None,
    *,
    max_attempts: int = MAX_ATTEMPTS,
    pdeathsig: bool = True,
) -> dict[str, list[Any]]:
    """Run ``target`` for every camera, ``n_workers`` processes at a time.

    Returns each camera's result rows. A camera whose worker died ``max_attempts``
    times gets ``on_lost(camera_id, reason)`` instead. ``pdeathsig=False`` leaves
    only the watchdog thread to stop orphaned workers (for tests).
    """
    ctx = mp.get_context("spawn")
    todo: deque[tuple[str, int]] = deque((c, 1) for c in camera_ids)
    running: list[_Worker] = []
    results: dict[str, list[Any]] = {}
    parent_pid = os.getpid()
    pickled_target = pickle.dumps(target)

    def start(camera_id: str, attempt: int) -> None:
        receive, send = ctx.Pipe(duplex=False)
        process = ctx.Process(
            target=_worker_main,
            args=(pickled_target, camera_id, send, parent_pid, pdeathsig),
            name=f"cctrace-ingest-{camera_id}",
        )
        process.start()
        send.close()  # the parent keeps only the reading end: EOF when the worker is gone
        running.append(_Worker(camera_id, attempt, process, receive))
        log.debug("camera %s: worker pid %s (attempt %d)", camera_id, process.pid, attempt)

    def drain(worker: _Worker) -> None:
        try:
            while worker.conn.poll():
                kind, payload = worker.conn.recv()
                if kind == "event":
                    if on_event is not None:
                        on_event(payload)
                else:
                    worker.result = payload
        except (EOFError, OSError):
            pass  # the worker is gone; its sentinel says how

    try:
        while todo or running:
            while todo and len(running) < max(1, n_workers):
                start(*todo.popleft())
            waitables: list[Any] = [w.conn for w in running] + [w.process.sentinel for w in running]
            mp_conn.wait(waitables, timeout=0.5)
            for worker in list(running):
                drain(worker)
                if worker.process.is_alive():
                    continue
                worker.process.join()
                drain(worker)
                worker.conn.close()
                running.remove(worker)
                if worker.result is not None:
                    results[worker.camera_id] = worker.result
                    continue
                reason = _death_reason(worker.camera_id, worker.process.exitcode, worker.attempt)
                if worker.attempt < max_attempts:
                    log.warning("%s; starting it again", reason)
                    todo.appendleft((worker.camera_id, worker.attempt + 1))
                else:
                    log.error("%s; giving up on it for this run", reason)
                    results[worker.camera_id] = on_lost(worker.camera_id, reason)
    finally:
        for worker in running:  # an exception (Ctrl-C) here: no worker may outlive us
            if worker.process.is_alive():
                worker.process.kill()
            worker.process.join(timeout=10)
            worker.conn.close()
    return results
