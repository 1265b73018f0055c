"""Ingest a whole site: cameras in parallel worker processes, with progress bars.

Cameras are independent, so each is one job; a failing camera or file is
reported and does not stop the others. The same ``run_camera`` function is what
the Ray executor (``cctrace.cluster``) runs on a cluster.
"""

from __future__ import annotations

import logging
import multiprocessing as mp
import os
import queue as queue_mod
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from cctrace.config import CameraConfig, SiteConfig
from cctrace.errors import CctraceError, FootageError
from cctrace.ingest.models import ModelSet
from cctrace.store.records import FootageStatus

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
) -> list[FileSummary]:
    """Ingest every file of one camera; the unit of parallel work."""
    import cv2

    from cctrace.footage.reader import probe
    from cctrace.footage.sources import expand_footage
    from cctrace.footage.timing import resolve_start_time, sha256_file
    from cctrace.ingest.file_job import ingest_file
    from cctrace.store.repository import Store

    cv2.setNumThreads(max(1, threads))
    camera = site.camera(camera_id)
    reporter = _Reporter(camera_id, events)
    summaries: list[FileSummary] = []
    try:
        paths = expand_footage(camera.footage)
    except FootageError as exc:
        return [FileSummary(camera_id, str(camera.footage[0]), "failed", note=str(exc))]
    models = models or ModelSet(site.models, threads=threads)
    with Store.for_site(site) as store:
        _register_camera(store, camera)
        records = []
        previous_end = None
        finished = {
            (f.path, f.size): f
            for f in store.list_footage(camera_id=camera_id)
            if f.status in (FootageStatus.DONE, FootageStatus.PARTIAL)
        }
        for index, path in enumerate(paths):
            stat = path.stat() if path.exists() else None
            known = finished.get((str(path), stat.st_size)) if stat else None
            unchanged = (
                known is not None
                and stat is not None
                and stat.st_mtime <= known.updated_at.timestamp()
            )
            if known is not None and unchanged:
                # Ingested already and untouched since: no need to read it to hash it.
                records.append(known)
                previous_end = known.start_time + timedelta(seconds=known.duration_s)
                continue
            try:
                info = probe(path)
                start = resolve_start_time(
                    path,
                    explicit=camera.start_time if index == 0 else None,
                    local_tz=camera.timezone,
                    container_time=info.creation_time,
                    previous_end=previous_end,
                )
                container_fps = info.fps or camera.source_fps
                if container_fps is None or not info.duration_s:
                    raise FootageError(
                        f"{path}: the container gives no frame rate or duration; "
                        "set source_fps for this camera"
                    )
                fps = camera.source_fps or container_fps
                # With a corrected rate the same frames span a different time.
                duration = info.duration_s * container_fps / fps
                previous_end = start + timedelta(seconds=duration)
                record = store.get_or_create_footage(
                    camera_id,
                    str(path),
                    sha256_file(path),
                    path.stat().st_size,
                    start,
                    duration,
                    fps,
                )
                records.append(record)
            except FootageError as exc:
                summaries.append(FileSummary(camera_id, str(path), "failed", note=str(exc)))
        reporter.total(sum(r.duration_s for r in records))
        for record in records:
            try:
                result = ingest_file(store, site, camera, record, models, reporter.at)
                summaries.append(
                    FileSummary(
                        camera_id,
                        record.path,
                        result.status.value,
                        result.tracklets,
                        result.encounters,
                        result.note,
                    )
                )
            except Exception as exc:  # one bad file must not hide the camera's other files
                if not isinstance(exc, FootageError):
                    log.exception("camera %s: %s failed", camera_id, record.path)
                note = str(exc) if isinstance(exc, FootageError) else f"{type(exc).__name__}: {exc}"
                store.mark_footage(record.id, FootageStatus.FAILED, error=note)
                summaries.append(FileSummary(camera_id, record.path, "failed", note=note))
            reporter.file_done(record.duration_s)
    return summaries


def _register_camera(store: Any, camera: CameraConfig) -> None:
    homography = None
    if camera.calibration is not None:
        homography = camera.calibration.homography().matrix.tolist()
    store.upsert_camera(
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
) -> IngestSummary:
    """Ingest the chosen cameras (all by default) in parallel; return every file's outcome.

    ``models`` (for benchmarks and tests) runs every camera in this process with them.
    """
    cameras = [site.camera(c) for c in camera_ids] if camera_ids else list(site.cameras)
    n_workers = workers if workers is not None else site.ingest.workers
    if n_workers <= 0:
        n_workers = os.cpu_count() or 1
    n_workers = max(1, min(n_workers, len(cameras)))
    threads = max(1, (os.cpu_count() or 1) // n_workers)
    summary = IngestSummary()
    from cctrace.store.repository import Store

    with Store.for_site(site):
        pass  # create the schema once, before workers race to do it
    if n_workers == 1 or models is not None:
        with _ProgressView(progress, [c.id for c in cameras]) as view:
            for cam in cameras:
                summary.files.extend(_guarded(site, cam.id, view, threads, models))
        return summary
    ctx = mp.get_context("spawn")
    with ctx.Manager() as manager, _ProgressView(progress, [c.id for c in cameras]) as view:
        events = manager.Queue()
        view.attach(events)
        with ProcessPoolExecutor(max_workers=n_workers, mp_context=ctx) as pool:
            futures: dict[Future[list[FileSummary]], str] = {
                pool.submit(_guarded, site, cam.id, events, threads): cam.id for cam in cameras
            }
            pending = set(futures)
            while pending:
                view.drain(timeout=0.2)
                for fut in [f for f in pending if f.done()]:
                    pending.discard(fut)
                    try:
                        summary.files.extend(fut.result())
                    except Exception as exc:  # a worker that died (e.g. killed)
                        summary.files.append(
                            FileSummary(futures[fut], "", "failed", note=f"worker failed: {exc}")
                        )
            view.drain()
    return summary


def _guarded(
    site: SiteConfig,
    camera_id: str,
    events: Any,
    threads: int,
    models: ModelSet | None = None,
) -> list[FileSummary]:
    """``run_camera`` that turns any error into a failed summary instead of raising."""
    try:
        return run_camera(site, camera_id, events, threads, models)
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
        self._events: Any = None
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

    def attach(self, events: Any) -> None:
        self._events = events

    def put(self, event: tuple[str, str, float]) -> None:
        """Take one event directly (in-process ingest)."""
        self._update(*event)

    def drain(self, timeout: float = 0.0) -> None:
        if self._events is None:
            return
        first = True
        while True:
            try:
                kind, cam, value = (
                    self._events.get(timeout=timeout)
                    if first and timeout
                    else self._events.get_nowait()
                )
            except (queue_mod.Empty, EOFError, OSError):
                return
            first = False
            self._update(kind, cam, value)

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
