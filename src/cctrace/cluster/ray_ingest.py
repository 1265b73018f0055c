"""Ingest a site on a Ray cluster: one task per (camera, footage file).

How the work is cut, and why:

1. **One registration task per camera** runs
   :func:`cctrace.ingest.runner.register_camera_files`: it lists the camera's files, hashes
   and probes them *in their time order* and stores a footage row per file. This is the
   only step where a camera's files depend on each other (a file with no time of its own
   starts where the file before it ends), so it keeps the local path's semantics exactly.
2. **One ingest task per registered file** runs
   :func:`cctrace.ingest.runner.ingest_registered_file`, the call the local path makes
   for each file. Analysing a file needs only its own row: the local path also starts a
   fresh tracker per file (a track ends at a file's end), so files of one camera may run
   on different nodes at the same time and give the same tracklets.

Guarantees (the store is the single source of truth, shared by every node):

- **Idempotent by file hash.** A footage row is keyed by (camera, sha256); a file already
  ``done`` or ``partial`` is skipped ("already ingested"), so running the ingest again, or
  Ray running a task again, adds nothing.
- **Resumable.** Results are written straight to the store with the file's checkpoint in
  one transaction every ``ingest.checkpoint_seconds`` of footage
  (:mod:`cctrace.ingest.file_job`). A task whose worker or node dies (``kill -9``) is run
  again by Ray (``ingest.ray_max_retries``); the new attempt finds the file ``running``
  under a dead owner, takes it over and resumes from the last checkpoint: tracklets
  before it are kept, those after it were never committed, so nothing is lost or stored
  twice. On another host an owner is known dead only when its heartbeat stops
  (:data:`cctrace.ingest.owner.STALE_AFTER_S`), so a retry may wait that long first.
- **One data key.** Every node must read the same data key (``$CCTRACE_DATA_KEY_FILE``
  or ``$CCTRACE_DATA_KEY`` in the environment of ``ray start``); a task on a node with
  another key refuses to write (its embeddings could not be read back).

The store must be reachable from every node: SQLite on a shared disk works for a
one-machine cluster only; a real cluster uses PostgreSQL (``storage.database_url``).
Footage paths must be the same on every node (a shared mount).
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from cctrace.config import CameraConfig, SiteConfig
from cctrace.errors import CctraceError
from cctrace.ingest.models import ModelSet
from cctrace.ingest.owner import HEARTBEAT_S, STALE_AFTER_S, is_interrupted, process_owner
from cctrace.ingest.runner import FileSummary, IngestSummary
from cctrace.store.records import FootageRecord, FootageStatus

log = logging.getLogger(__name__)

INSTALL_HINT = (
    "Ray is not installed: install cctrace[cluster] (pip install 'cctrace[cluster]') "
    "here and on every node of the Ray cluster, or ingest without --ray"
)
TAKEOVER_WAIT_S = STALE_AFTER_S + 2 * HEARTBEAT_S
"""Longest a task waits for a file's previous owner to be known gone before it leaves
the file to that owner (a retried task on another host waits for the heartbeat to go
stale)."""
_POLL_S = 1.0

_models: dict[str, ModelSet] = {}
"""Models loaded in this Ray worker process, by models config: loaded once per worker,
then reused by every task the worker runs."""


class ClusterError(CctraceError):
    """The Ray path cannot run: Ray missing, no cluster, or a node set up differently."""


def import_ray() -> ModuleType:
    """The ``ray`` module; :class:`ClusterError` saying to install the extra if absent."""
    try:
        import ray
    except ImportError as exc:
        raise ClusterError(INSTALL_HINT) from exc
    return ray


@dataclass(frozen=True)
class RegisteredFile:
    """A footage file a registration task stored, to be analysed by its own task."""

    camera_id: str
    footage_id: int
    path: str
    duration_s: float


def register_job(
    site: SiteConfig, camera_id: str, allow_expired: bool, key_id: str | None = None
) -> tuple[list[RegisteredFile], list[FileSummary]]:
    """Ray task body: register one camera's files in time order (see module docs).

    ``key_id`` is the driver's data-key id; a node with another key refuses the camera.
    """
    from cctrace.ingest.runner import register_camera_files
    from cctrace.store.repository import Store

    _check_node_has_a_key(site)
    camera = site.camera(camera_id)
    with Store.for_site(site) as store:
        if key_id is not None:
            _check_same_key(store.cipher.key_id, key_id)
        records, failed = register_camera_files(store, site, camera, allow_expired=allow_expired)
    seen: set[int] = set()
    files = []
    for record in records:
        if record.id in seen:  # the same content twice (another path): one task
            continue
        seen.add(record.id)
        files.append(RegisteredFile(camera_id, record.id, record.path, record.duration_s))
    return files, failed


def file_job(
    site: SiteConfig,
    camera_id: str,
    footage_id: int,
    key_id: str,
    takeover_wait_s: float = TAKEOVER_WAIT_S,
) -> FileSummary:
    """Ray task body: ingest one registered file with the local path's code.

    ``key_id`` is the driver's data-key id; a node with another key refuses the file.
    """
    import cv2

    from cctrace.ingest.runner import ingest_registered_file
    from cctrace.store.repository import Store
    from cctrace.vision.runtime import use_device

    cv2.setNumThreads(1)
    _check_node_has_a_key(site)
    use_device(site.runtime.device, site.runtime.device_id)
    camera = site.camera(camera_id)
    owner = process_owner()
    with Store.for_site(site) as store:
        _check_same_key(store.cipher.key_id, key_id)
        record = _await_previous_owner(store, store.footage.get(footage_id), owner, takeover_wait_s)
        return ingest_registered_file(store, site, camera, record, _worker_models(site), owner)


def _check_node_has_a_key(site: SiteConfig) -> None:
    """:class:`ClusterError` when this node has no data key at all: neither variable in
    the environment of its ``ray start`` and no key file in the data folder. Opening the
    store would otherwise make a new key file in the (shared) data folder."""
    from cctrace.privacy.crypto import KEY_ENV, KEY_FILE, KEY_FILE_ENV

    if os.environ.get(KEY_ENV) or os.environ.get(KEY_FILE_ENV):
        return
    if (site.storage.data_dir / KEY_FILE).exists():
        return  # the default key beside the data, which the driver uses too
    raise ClusterError(
        f"node {socket.gethostname()}: no data key: set CCTRACE_DATA_KEY_FILE (or "
        "CCTRACE_DATA_KEY) to the ingest's key in the environment of `ray start` on "
        "every node; nothing was written"
    )


def _check_same_key(node_key_id: str, driver_key_id: str) -> None:
    if node_key_id != driver_key_id:
        raise ClusterError(
            f"node {socket.gethostname()}: its data key differs from the one the ingest "
            "was started with; set CCTRACE_DATA_KEY_FILE (or CCTRACE_DATA_KEY) to the "
            "same key in the environment of `ray start` on every node"
        )


def _await_previous_owner(
    store: Any, record: FootageRecord, owner: str, wait_s: float
) -> FootageRecord:
    """The file's record once no other live process holds it, or after ``wait_s``.

    A task Ray runs again after its worker died finds the file ``running`` under the dead
    worker; on the same host that is seen at once, on another when its heartbeat stops.
    """
    deadline = time.monotonic() + wait_s
    while (
        record.status is FootageStatus.RUNNING
        and record.run_owner not in (None, owner)
        and not is_interrupted(record)
        and time.monotonic() < deadline
    ):
        time.sleep(_POLL_S)
        record = store.footage.get(record.id)
    return record


def _worker_models(site: SiteConfig) -> ModelSet:
    key = site.models.model_dump_json()
    if key not in _models:
        _models[key] = ModelSet(site.models, threads=1)
    return _models[key]


def ingest_site_ray(
    site: SiteConfig,
    address: str | None = None,
    camera_ids: list[str] | None = None,
    progress: bool = True,
    *,
    allow_expired: bool = False,
    max_retries: int | None = None,
) -> IngestSummary:
    """Ingest the chosen cameras (all by default) on a Ray cluster; every file's outcome.

    ``address`` (default ``ingest.ray_address``, else ``auto``): ``auto`` joins the
    cluster started on this machine with ``ray start``, ``local`` starts a private
    one-machine Ray for this run, else the head's ``host:port`` or ``ray://host:port``.
    When Ray is already initialised in this process (tests, notebooks) that cluster is
    used as it is. Raises :class:`ClusterError` when Ray is missing or unreachable.
    """
    ray = import_ray()
    from cctrace.store.repository import Store

    cameras = [site.camera(c) for c in camera_ids] if camera_ids else list(site.cameras)
    live_only = [c.id for c in cameras if not c.footage]
    if live_only:
        log.info("live camera(s) %s: run them with --live", ", ".join(live_only))
        cameras = [c for c in cameras if c.footage]
    summary = IngestSummary()
    if not cameras:
        return summary
    with Store.for_site(site) as store:  # the schema, made once before the tasks start
        store.audit.check_data_key()
        key_id = store.cipher.key_id
    retries = site.ingest.ray_max_retries if max_retries is None else max_retries
    # Ray prints cluster events (a node that died) on stdout from a thread of its own;
    # they go to stderr so stdout holds only this command's table or --json output.
    with contextlib.redirect_stdout(sys.stderr):
        _run_on_ray(ray, site, cameras, summary, address, key_id, retries, progress, allow_expired)
    order = {c.id: i for i, c in enumerate(cameras)}
    summary.files.sort(key=lambda f: order.get(f.camera_id, len(order)))
    return summary


def _run_on_ray(
    ray: ModuleType,
    site: SiteConfig,
    cameras: list[CameraConfig],
    summary: IngestSummary,
    address: str | None,
    key_id: str,
    retries: int,
    progress: bool,
    allow_expired: bool,
) -> None:
    """Register every camera's files, then ingest each file as its own task."""
    started = _connect(ray, address or site.ingest.ray_address or "auto")
    try:
        register = ray.remote(num_cpus=1, max_retries=retries)(register_job)
        ingest = ray.remote(num_cpus=1, max_retries=retries, retry_exceptions=False)(file_job)
        shared_site = ray.put(site)  # one copy in the object store, not one per task
        registered = {
            register.remote(shared_site, cam.id, allow_expired, key_id): cam.id for cam in cameras
        }
        pending: dict[Any, tuple[str, str]] = {}
        with _RayProgress(progress) as view:
            for ref, result in _as_completed(ray, registered):
                camera_id = registered[ref]
                if isinstance(result, BaseException):
                    summary.files.append(_lost(camera_id, "", result, "registering its files"))
                    continue
                files, failed = result
                summary.files.extend(failed)
                for f in files:
                    task = ingest.options(scheduling_strategy="SPREAD").remote(
                        shared_site, f.camera_id, f.footage_id, key_id
                    )
                    pending[task] = (f.camera_id, f.path)
                    view.add(f.duration_s)
            for ref, result in _as_completed(ray, pending, view.done_one):
                camera_id, path = pending[ref]
                if isinstance(result, BaseException):
                    summary.files.append(_lost(camera_id, path, result, "ingesting it"))
                else:
                    summary.files.append(result)
    finally:
        if started:
            ray.shutdown()


def _connect(ray: ModuleType, address: str) -> bool:
    """Join (or, for ``local``, start) a Ray cluster; True when this call started Ray."""
    if ray.is_initialized():
        return False
    if address not in ("auto", "local"):
        _check_reachable(address)
    try:
        # Worker logs stay in the cluster's session logs (/tmp/ray/session_latest/logs):
        # forwarded, they would mix into this command's table or --json output.
        if address == "local":
            ray.init(include_dashboard=False, configure_logging=False, log_to_driver=False)
        else:
            ray.init(address=address, configure_logging=False, log_to_driver=False)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        raise ClusterError(
            f"cannot join the Ray cluster at {address!r}: {exc}; start it with "
            "`ray start --head` (then --ray auto on that machine), or give the head's "
            "host:port"
        ) from exc
    return True


def _check_reachable(address: str, timeout_s: float = 5.0) -> None:
    """:class:`ClusterError` unless the head at ``host:port`` accepts a connection (Ray
    itself would retry for minutes)."""
    host, _, port = address.removeprefix("ray://").rpartition(":")
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=timeout_s):
            pass
    except (OSError, ValueError) as exc:
        raise ClusterError(
            f"cannot reach the Ray head at {address}: {exc}; is `ray start --head` running "
            "there, and is the port open from this machine?"
        ) from exc


def _as_completed(
    ray: ModuleType, refs: dict[Any, Any], on_done: Callable[[], None] | None = None
) -> Iterator[tuple[Any, Any]]:
    """(ref, result or the exception it raised) as each task finishes."""
    left = list(refs)
    while left:
        done, left = ray.wait(left, num_returns=1)
        for ref in done:
            try:
                result = ray.get(ref)
            except Exception as exc:  # the task raised, or died more than max_retries times
                result = exc
            if on_done is not None:
                on_done()
            yield ref, result


def _lost(camera_id: str, path: str, exc: BaseException, doing: str) -> FileSummary:
    """The failed row of a task that raised, or whose workers all died."""
    ray = import_ray()
    cause = getattr(exc, "cause", None)
    if isinstance(cause, CctraceError):  # a clear error of ours, raised inside the task
        note = str(cause)
    elif isinstance(exc, ray.exceptions.RayTaskError):
        note = f"{type(cause or exc).__name__} while {doing}: {cause or exc}"
    else:  # the worker or its node died on every attempt
        note = (
            f"the Ray task {doing} was lost ({type(exc).__name__}) on every attempt; the file "
            "resumes from its last checkpoint on the next ingest"
        )
    log.error("camera %s: %s", camera_id, note)
    return FileSummary(camera_id, path, FootageStatus.FAILED.value, note=note)


class _RayProgress:
    """One rich progress bar: footage seconds in the files handed to Ray, done or not."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self._progress: Any = None
        self._task: Any = None
        self._total = 0.0
        self._files = 0

    def __enter__(self) -> _RayProgress:
        if self.enabled:
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
            )

            self._progress = Progress(
                TextColumn("[bold]ray: files"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[footage]}"),
                TimeElapsedColumn(),
            )
            self._progress.start()
            self._task = self._progress.add_task("files", total=0, footage="")
        return self

    def __exit__(self, *exc: object) -> None:
        if self._progress is not None:
            self._progress.stop()

    def add(self, duration_s: float) -> None:
        """A file handed to Ray."""
        self._total += duration_s
        self._files += 1
        if self._progress is not None:
            self._progress.update(
                self._task, total=self._files, footage=f"{self._total:.0f} s footage"
            )

    def done_one(self) -> None:
        """A file's task finished."""
        if self._progress is not None:
            self._progress.advance(self._task)
