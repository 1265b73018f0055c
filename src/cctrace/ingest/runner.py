"""Ingest a whole site: cameras in parallel worker processes, with progress bars.

Cameras are independent, so each is one job in its own supervised worker process
(:mod:`cctrace.ingest.supervisor`): a failing camera or file is reported and does not
stop the others, a worker that dies is started again (its camera resumes from its
checkpoints), and workers die with the parent. The same ``run_camera`` function is what
the Ray executor (``cctrace.cluster``) runs on a cluster.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

from cctrace.config import CameraConfig, SiteConfig
from cctrace.errors import CctraceError, FootageError
from cctrace.ingest.checkpoint import CheckpointError
from cctrace.ingest.models import ModelSet
from cctrace.ingest.owner import Heartbeat, is_interrupted, process_owner
from cctrace.ingest.supervisor import supervise
from cctrace.store.records import FootageRecord, FootageStatus

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FileSummary:
    """One footage file's outcome, for the ingest table."""

    camera_id: str
    path: str
    status: str
    tracklets: int = 0
    encounters: int = 0
    note: str = ""


@dataclass
class IngestSummary:
    """Every file's outcome."""

    files: list[FileSummary] = field(default_factory=list)

    @property
    def failed(self) -> bool:
        """True when any file or camera failed outright."""
        return any(f.status == FootageStatus.FAILED.value for f in self.files)


class _Reporter:
    """Sends progress events to the parent (a queue) or nowhere."""

    def __init__(self, camera_id: str, events: Any | None) -> None:
        self.camera_id = camera_id
        self.events = events
        self._done_before = 0.0

    def total(self, seconds: float) -> None:
        if self.events is not None:
            self.events.put(("total", self.camera_id, seconds))

    def file_done(self, seconds: float) -> None:
        self._done_before += seconds
        self.at(0.0)

    def at(self, offset_s: float) -> None:
        if self.events is not None:
            self.events.put(("at", self.camera_id, self._done_before + offset_s))


def run_camera(
    site: SiteConfig,
    camera_id: str,
    events: Any | None = None,
    threads: int = 1,
    models: ModelSet | None = None,
    *,
    allow_expired: bool = False,
) -> list[FileSummary]:
    """Ingest every file of one camera; the unit of parallel work.

    A file that cannot be registered (unreadable, no start time, frames too small to
    analyse, or starting before the retention cut-off unless ``allow_expired``) gets a
    row in the store's footage failures and a ``failed`` summary; the camera's other
    files go on. A file another live process is ingesting is left to it.
    """
    import cv2

    from cctrace.store.repository import Store
    from cctrace.vision.runtime import use_device

    cv2.setNumThreads(max(1, threads))
    use_device(site.runtime.device, site.runtime.device_id)
    camera = site.camera(camera_id)
    reporter = _Reporter(camera_id, events)
    summaries: list[FileSummary] = []
    with Store.for_site(site) as store:
        records, failed = register_camera_files(store, site, camera, allow_expired=allow_expired)
        summaries.extend(failed)
        reporter.total(sum(r.duration_s for r in records))
        models = models or ModelSet(site.models, threads=threads)
        owner = process_owner()
        for record in records:
            summaries.append(_ingest_one(store, site, camera, record, models, reporter, owner))
            reporter.file_done(record.duration_s)
    return summaries


def register_camera_files(
    store: Any, site: SiteConfig, camera: CameraConfig, *, allow_expired: bool = False
) -> tuple[list[FootageRecord], list[FileSummary]]:
    """Register one camera and its footage files, in their time order.

    Returns the files' records (new ones ``pending``; one already ingested keeps its
    state) and a ``failed`` summary for each file that could not be registered. This is
    the only step of a camera's ingest whose files depend on each other (a file's start
    time may be the end of the one before it); analysing a registered file needs only
    its own record, so the Ray engine (``cctrace.cluster``) runs this once per camera and
    then one task per file.
    """
    from cctrace.footage.sources import expand_footage

    camera_id = camera.id
    _register_camera(store, camera)
    for stale in store.footage.failures(camera_id):
        store.footage.clear_failure(camera_id, stale.path)  # each run records its own
    try:
        paths = expand_footage(camera.footage)
    except FootageError as exc:
        spec = str(camera.footage[0])
        store.footage.record_failure(camera_id, spec, str(exc))
        return [], [FileSummary(camera_id, spec, "failed", note=str(exc))]
    expiry = None if allow_expired else site.retention.days
    return _register_files(store, camera, paths, expiry)


def _register_files(
    store: Any, camera: CameraConfig, paths: list[Path], retention_days: int | None = None
) -> tuple[list[FootageRecord], list[FileSummary]]:
    """Footage records for ``paths`` in order, and summaries of those that failed.

    With ``retention_days``, a new file starting before the retention cut-off is refused
    (``--allow-expired`` passes None); so is one whose frames are too small to analyse.

    Each file's start time comes from its own source (config for the first file, its
    name, its container) or else the end of the file before it. That end is known only
    when the file before could be read; after an unreadable file the next file needs a
    time of its own, and is refused with a message naming the unreadable file.
    """
    from cctrace.footage.reader import probe
    from cctrace.footage.timing import past_retention, resolve_start, sha256_file

    camera_id = camera.id
    records: list[FootageRecord] = []
    failed: list[FileSummary] = []
    finished = {
        (f.path, f.size): f
        for f in store.footage.files(camera_id=camera_id)
        if f.status in (FootageStatus.DONE, FootageStatus.PARTIAL)
    }
    previous_end: datetime | None = None
    unreadable: tuple[Path, str] | None = None  # the file before, when its end is unknown
    for index, path in enumerate(paths):
        stat = path.stat() if path.exists() else None
        known = finished.get((str(path), stat.st_size)) if stat else None
        if known is not None and stat is not None and stat.st_mtime <= known.updated_at.timestamp():
            # Ingested already and untouched since: no need to read it to hash it.
            records.append(known)
            previous_end = known.start_time + timedelta(seconds=known.duration_s)
            unreadable = None
            continue
        try:
            try:
                info = probe(path, camera.video_stream)
            except FootageError:
                previous_end = None  # its length is unknown: the chain of times breaks here
                raise
            try:
                start = resolve_start(
                    path,
                    explicit=camera.start_time if index == 0 else None,
                    local_tz=camera.timezone,
                    container_time=info.creation_time,
                    previous_end=previous_end,
                )
            except FootageError as exc:
                if unreadable is None:
                    raise
                before, why = unreadable
                raise FootageError(
                    f"{path}: cannot tell when this footage starts: it has no time of its "
                    f"own (file name, container) and the file before it, {before}, failed "
                    f"({why}), so its end is unknown and this file cannot continue it. Give "
                    "this file a start time in its name (e.g. cam1_20260315_081500.mp4) or "
                    f"repair {before.name}."
                ) from exc
            container_fps = info.fps or camera.source_fps
            if container_fps is None or not info.duration_s:
                previous_end = None
                raise FootageError(
                    f"{path}: the container gives no frame rate or duration; "
                    "set source_fps for this camera"
                )
            fps = camera.source_fps or container_fps
            # With a corrected rate the same frames span a different time.
            duration = info.duration_s * container_fps / fps
            previous_end = start.value + timedelta(seconds=duration)
            unreadable = None
            # Refused below, the file's time still carries on to the next file.
            check_frame_size(path, info.width, info.height)
            if retention_days is not None:
                expired = past_retention(path, start, retention_days)
                if expired:
                    raise FootageError(
                        f"{path}: refused: {expired}; check the time (set start_time for "
                        "this camera, or put the time in the file name) or ingest it anyway "
                        "with --allow-expired"
                    )
            if start.source == "previous":
                log.info(
                    "camera %s: %s starts where the file before it ends (%s)",
                    camera_id,
                    path,
                    start.value.isoformat(),
                )
            record = store.footage.get_or_create(
                camera_id,
                str(path),
                sha256_file(path),
                path.stat().st_size,
                start.value,
                duration,
                fps,
                start_source=start.source,
            )
            records.append(record)
        except FootageError as exc:
            if previous_end is None:
                unreadable = (path, _first_line(str(exc).removeprefix(f"{path}: ")))
            size = stat.st_size if stat is not None else None
            store.footage.record_failure(camera_id, str(path), str(exc), size)
            failed.append(FileSummary(camera_id, str(path), "failed", note=str(exc)))
    return records, failed


MIN_FRAME_SIDE = 32
"""Frames smaller than this (pixels, either side) cannot show a person the detector can
find: upscaled to the network's input they are a few flat blocks, where the only
"person" it could report is a phantom (a 2x2 solid-colour clip once gave one)."""


def check_frame_size(path: Path, width: int | None, height: int | None) -> None:
    """``FootageError`` when the frames of ``path`` are too small to analyse."""
    if width is None or height is None:
        return
    if min(width, height) < MIN_FRAME_SIDE:
        raise FootageError(
            f"{path}: frames are {width}x{height} px, too small for the person detector "
            f"(at least {MIN_FRAME_SIDE} px on each side); nothing in them can be analysed"
        )


def _first_line(text: str, limit: int = 160) -> str:
    line = text.splitlines()[0] if text else text
    return line if len(line) <= limit else line[: limit - 3] + "..."


def _ingest_one(
    store: Any,
    site: SiteConfig,
    camera: CameraConfig,
    record: FootageRecord,
    models: ModelSet,
    reporter: _Reporter,
    owner: str,
) -> FileSummary:
    """Claim one registered file, ingest it with a heartbeat, and summarise the outcome."""
    from cctrace.ingest.file_job import ingest_file

    camera_id = camera.id
    if (
        record.status is FootageStatus.RUNNING
        and record.run_owner not in (None, owner)
        and not is_interrupted(record)
    ):
        note = f"being ingested by another process ({record.run_owner}); left to it"
        return FileSummary(camera_id, record.path, FootageStatus.RUNNING.value, note=note)
    if record.status is FootageStatus.RUNNING:
        log.info("camera %s: %s was interrupted; resuming it", camera_id, record.path)
    if record.status not in (FootageStatus.DONE, FootageStatus.PARTIAL):
        record = store.footage.claim(record.id, owner)
    try:
        with Heartbeat(store, record.id, owner):
            result = ingest_file(store, site, camera, record, models, reporter.at)
        note = result.note
        if record.start_source == "previous" and note != "already ingested":
            found = "start time continues the file before it (no time of its own)"
            note = f"{note}; {found}" if note else found
        return FileSummary(
            camera_id,
            record.path,
            result.status.value,
            result.tracklets,
            result.encounters,
            note,
        )
    except Exception as exc:  # one bad file must not hide the camera's other files
        if isinstance(exc, CheckpointError):
            note = (
                f"{exc}; `cctrace footage reset --file {record.path}` forgets what was "
                "analysed from it, and the next ingest starts it over"
            )
            store.footage.mark(record.id, FootageStatus.FAILED, error=note)
            return FileSummary(camera_id, record.path, "failed", note=note)
        if not isinstance(exc, FootageError):
            log.exception("camera %s: %s failed", camera_id, record.path)
        note = str(exc) if isinstance(exc, FootageError) else f"{type(exc).__name__}: {exc}"
        store.footage.mark(record.id, FootageStatus.FAILED, error=note)
        return FileSummary(camera_id, record.path, "failed", note=note)


def ingest_registered_file(
    store: Any,
    site: SiteConfig,
    camera: CameraConfig,
    record: FootageRecord,
    models: ModelSet,
    owner: str,
) -> FileSummary:
    """Ingest one file :func:`register_camera_files` registered, exactly as ``run_camera``
    does for each of its files (claim it as ``owner``, heartbeat, resume from its last
    checkpoint, a file another live process holds is left to it). The Ray engine's
    per-file task (``cctrace.cluster.ray_ingest``) is this call."""
    return _ingest_one(store, site, camera, record, models, _Reporter(camera.id, None), owner)


def _register_camera(store: Any, camera: CameraConfig) -> None:
    homography = None
    if camera.calibration is not None:
        homography = camera.calibration.homography().matrix.tolist()
    store.cameras.upsert(
        camera.id,
        name=camera.name or camera.id,
        lat=camera.location.lat,
        lon=camera.location.lon,
        x_m=camera.location.x_m,
        y_m=camera.location.y_m,
        homography=homography,
        config=camera.model_dump(mode="json"),
    )


def ingest_site(
    site: SiteConfig,
    camera_ids: list[str] | None = None,
    workers: int | None = None,
    progress: bool = True,
    models: ModelSet | None = None,
    *,
    allow_expired: bool = False,
    ray_address: str | None = None,
) -> IngestSummary:
    """Ingest the chosen cameras (all by default) in parallel; return every file's outcome.

    With ``ray_address`` (or ``ingest.engine: ray`` in the site file) the files run as
    Ray tasks on a cluster instead (:mod:`cctrace.cluster.ray_ingest`; ``workers`` and
    ``models`` do not apply there).

    ``models`` (for benchmarks and tests) runs every camera in this process with them.
    A new file that starts before the retention cut-off (``retention.days`` ago) is
    refused (a ``failed`` row naming its start, where that came from, and the cut-off)
    unless ``allow_expired``: the next purge would delete everything found in it.
    """
    if ray_address is not None or site.ingest.engine == "ray":
        from cctrace.cluster.ray_ingest import ingest_site_ray

        return ingest_site_ray(site, ray_address, camera_ids, progress, allow_expired=allow_expired)
    cameras = [site.camera(c) for c in camera_ids] if camera_ids else list(site.cameras)
    live_only = [c.id for c in cameras if not c.footage]
    if live_only:  # streams run with `cctrace ingest --live` (cctrace.ingest.live)
        log.info("live camera(s) %s: run them with --live", ", ".join(live_only))
        cameras = [c for c in cameras if c.footage]
    summary = IngestSummary()
    if not cameras:
        return summary
    n_workers = workers if workers is not None else site.ingest.workers
    if n_workers <= 0:
        n_workers = os.cpu_count() or 1
    n_workers = max(1, min(n_workers, len(cameras)))
    threads = max(1, (os.cpu_count() or 1) // n_workers)
    from cctrace.store.repository import Store

    with Store.for_site(site) as store:  # the schema, once, before workers race to make it
        store.audit.check_data_key()
    if n_workers == 1 or models is not None:
        with _ProgressView(progress, [c.id for c in cameras]) as view:
            for cam in cameras:
                summary.files.extend(_guarded(site, cam.id, view, threads, models, allow_expired))
        return summary
    job = partial(_guarded, site, threads=threads, allow_expired=allow_expired)
    with _ProgressView(progress, [c.id for c in cameras]) as view:
        results = supervise([c.id for c in cameras], job, n_workers, _lost_camera, view.put)
    for cam in cameras:
        summary.files.extend(results.get(cam.id, []))
    return summary


def _lost_camera(camera_id: str, reason: str) -> list[FileSummary]:
    return [FileSummary(camera_id, "", FootageStatus.FAILED.value, note=reason)]


def _guarded(
    site: SiteConfig,
    camera_id: str,
    events: Any,
    threads: int = 1,
    models: ModelSet | None = None,
    allow_expired: bool = False,
) -> list[FileSummary]:
    """``run_camera`` that turns any error into a failed summary instead of raising."""
    try:
        return run_camera(site, camera_id, events, threads, models, allow_expired=allow_expired)
    except CctraceError as exc:
        return [FileSummary(camera_id, "", "failed", note=str(exc))]
    except Exception as exc:
        log.exception("camera %s failed", camera_id)
        return [FileSummary(camera_id, "", "failed", note=f"{type(exc).__name__}: {exc}")]


class _ProgressView:
    """Rich progress bars, one per camera: footage seconds done, rate and ETA."""

    def __init__(self, enabled: bool, camera_ids: list[str]) -> None:
        self.enabled = enabled
        self.camera_ids = camera_ids
        self._progress: Any = None
        self._tasks: dict[str, Any] = {}

    def __enter__(self) -> _ProgressView:
        if self.enabled:
            from rich.progress import (
                BarColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )

            self._progress = Progress(
                TextColumn("[bold]{task.description}"),
                BarColumn(),
                TextColumn("{task.completed:>7.1f}/{task.fields[total_s]} s footage"),
                TextColumn("{task.fields[rate]}"),
                TimeElapsedColumn(),
                TimeRemainingColumn(),
            )
            self._progress.start()
            for cam in self.camera_ids:
                self._tasks[cam] = self._progress.add_task(cam, total=None, rate="", total_s="?")
        return self

    def __exit__(self, *exc: object) -> None:
        if self._progress is not None:
            self._progress.stop()

    def put(self, event: tuple[str, str, float]) -> None:
        """Take one progress event (from a worker, or directly in-process)."""
        self._update(*event)

    def _update(self, kind: str, cam: str, value: float) -> None:
        if self._progress is None or cam not in self._tasks:
            return
        task = self._tasks[cam]
        if kind == "total":
            self._progress.update(task, total=value, total_s=f"{value:.1f}")
        else:
            self._progress.update(task, completed=value)
            t = self._progress.tasks[task]
            if t.elapsed:
                self._progress.update(task, rate=f"{value / t.elapsed:.1f}x real time")
