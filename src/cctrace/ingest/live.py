"""Continuous ingest of live cameras: stream in, segments committed as they finish.

``cctrace ingest SITE --live`` runs every camera whose ``footage`` is a stream URL
(:mod:`cctrace.footage.urls`) until it is stopped (SIGINT or SIGTERM), each in its own
supervised worker process (:mod:`cctrace.ingest.supervisor`), with the same per-camera
analysis as files (:class:`~cctrace.ingest.camera.CameraProcessor`).

**Segments.** The stream is cut into segments of ``ingest.live_segment_s`` seconds of
stream time. When one ends, it becomes a footage row (path ``<masked URL>#<start>``,
``start_source`` ``stream``, its own start time and duration) and the tracklets,
encounters and loose faces that finished during it are stored with it in one
transaction (``Store.tracklets.save_batch``), so a trace sees them a segment later. A person
still in view at a segment's end goes on being tracked; their tracklet is stored
with the segment in which it ends (``max_tracklet_s`` bounds how long that takes).
No tracker state is checkpointed: a stopped or crashed worker ends its open tracks (a
clean stop stores them), and the stream it reconnects to is new footage anyway.

**Gaps.** When the stream is lost (server gone, network, timeout, end of stream) or
its timestamps jump, every open track ends at the last frame before the hole, the
open segment is committed as ``partial`` with the reason (``cctrace status`` shows
it), and tracking starts afresh after it; the hole itself is the time between that
segment's end and the next one's start. The reader reconnects by itself with capped,
jittered exponential backoff (:mod:`cctrace.footage.live`).

**Status.** Each worker writes its connection state (connected, connecting or
reconnecting since when, the last error, the last segment committed) to
``<data_dir>/live/<camera>.json``; :func:`live_status` reads it for ``cctrace status``.
URLs and errors there are masked.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import signal
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import FrameType
from typing import Any

from cctrace.config import CameraConfig, SiteConfig
from cctrace.errors import CctraceError
from cctrace.footage.live import Backoff, StreamGap, StreamState, live_frames
from cctrace.footage.urls import StreamUrl, mask_credentials
from cctrace.ingest.camera import CameraOutput, CameraProcessor
from cctrace.ingest.models import ModelSet
from cctrace.ingest.runner import FileSummary, IngestSummary, _register_camera
from cctrace.store.records import FootageStatus
from cctrace.types import Frame

log = logging.getLogger(__name__)

STATUS_DIR = "live"
"""Folder under the site's data_dir with one JSON state file per live camera."""
STALE_AFTER_S = 60.0
"""A state file not refreshed for this long, by a process that is gone, reads
``stopped``."""
MAX_EARLIER_TRACKLETS = 2000
"""Stored tracklets of earlier segments remembered for encounters across segments."""


StopFlag = Callable[[], bool]


def live_cameras(site: SiteConfig, camera_ids: list[str] | None = None) -> list[CameraConfig]:
    """The site's cameras with a live stream (only ``camera_ids`` when given)."""
    chosen = [site.camera(c) for c in camera_ids] if camera_ids else list(site.cameras)
    return [c for c in chosen if c.is_live]


def segment_path(url: StreamUrl, start: datetime) -> str:
    """The footage path recorded for a live segment (masked URL and start time)."""
    return f"{url.masked}#{start.astimezone(UTC).isoformat(timespec='milliseconds')}"


def segment_key(camera_id: str, url: StreamUrl, start: datetime) -> str:
    """The footage fingerprint of a live segment: sha256 of camera, masked URL and start
    (a segment has no file to hash; this keeps one row per segment)."""
    text = f"live\n{camera_id}\n{url.masked}\n{start.astimezone(UTC).isoformat()}"
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass
class _Segment:
    start: datetime
    last: datetime
    frames: int = 0
    pending: CameraOutput = field(default_factory=CameraOutput)


@dataclass
class LiveCounts:
    """What a live camera stored in this run."""

    segments: int = 0
    gaps: int = 0
    tracklets: int = 0
    encounters: int = 0
    last_segment_end: datetime | None = None


class LiveSegments:
    """Frames and gaps of one live camera in, committed segments out (see module doc)."""

    def __init__(
        self,
        store: Any,
        site: SiteConfig,
        camera: CameraConfig,
        url: StreamUrl,
        models: ModelSet,
        on_commit: Callable[[LiveCounts], None] | None = None,
    ) -> None:
        self.store = store
        self.site = site
        self.camera = camera
        self.url = url
        self.models = models
        self.segment_s = site.ingest.live_segment_s
        self.counts = LiveCounts()
        self._on_commit = on_commit
        self._processor: CameraProcessor | None = None
        self._segment: _Segment | None = None
        self._frame_s = 1.0 / site.ingest.analysis_fps
        self._stored: dict[int, int] = {}
        """Track id -> stored tracklet id, of this tracker run (encounters across segments)."""

    def frame(self, frame: Frame) -> None:
        """Analyse one frame; commit the open segment first when it is full."""
        seg = self._segment
        if seg is not None and (frame.timestamp - seg.start).total_seconds() >= self.segment_s:
            self._commit(FootageStatus.DONE, None)
            seg = None
        if seg is None:
            seg = self._segment = _Segment(frame.timestamp, frame.timestamp)
        if self._processor is None:
            self._processor = CameraProcessor(
                self.camera,
                self.site.ingest,
                tracker_high_confidence=self.models.tracker_high_confidence,
            )
            self._stored = {}
        offset = (frame.timestamp - seg.start).total_seconds()
        local = Frame(frame.camera_id, frame.frame_index, frame.timestamp, offset, frame.image)
        seg.pending.extend(self._processor.process(local, self.models))
        seg.last = frame.timestamp
        seg.frames += 1

    def gap(self, gap: StreamGap) -> None:
        """A hole in the stream: end every track, commit the segment as partial."""
        self.counts.gaps += 1
        note = f"stream {'lost' if gap.kind == 'lost' else 'jumped'}: {gap.reason}"
        if gap.last_frame_at is not None:
            note += f" (last frame {gap.last_frame_at:%Y-%m-%d %H:%M:%S} UTC)"
        self._end_tracks()
        if self._segment is not None:
            self._commit(FootageStatus.PARTIAL, mask_credentials(note)[:500])
        self._processor = None

    def close(self) -> None:
        """Stopping: end every track and commit what is open."""
        self._end_tracks()
        if self._segment is not None:
            self._commit(FootageStatus.DONE, None)
        self._processor = None

    def _end_tracks(self) -> None:
        if self._processor is None:
            return
        finished = self._processor.finish()
        if self._segment is not None:
            self._segment.pending.extend(finished)
        elif finished.tracklets or finished.encounters:  # nothing open to store them in
            log.warning("camera %s: tracks ended outside a segment were dropped", self.camera.id)

    def _commit(self, status: FootageStatus, note: str | None) -> None:
        seg = self._segment
        assert seg is not None
        self._segment = None
        duration = (seg.last - seg.start).total_seconds() + self._frame_s
        record = self.store.footage.get_or_create(
            self.camera.id,
            segment_path(self.url, seg.start),
            segment_key(self.camera.id, self.url, seg.start),
            0,
            seg.start,
            duration,
            self.site.ingest.analysis_fps,
            start_source="stream",
        )
        out = seg.pending
        ids = self.store.tracklets.save_batch(
            record.id,
            out.tracklets,
            out.encounters,
            progress_offset_s=duration,
            checkpoint_state=None,
            status=status,
            frames_decoded=seg.frames,
            frames_failed=0,
            error=note,
            loose_faces=out.loose_faces,
            earlier_tracklets=self._stored or None,
        )
        self._stored.update({t.track_id: i for t, i in zip(out.tracklets, ids, strict=True)})
        if len(self._stored) > MAX_EARLIER_TRACKLETS:
            keep = sorted(self._stored)[-MAX_EARLIER_TRACKLETS:]
            self._stored = {k: self._stored[k] for k in keep}
        self.counts.segments += 1
        self.counts.tracklets += len(out.tracklets)
        self.counts.encounters += len(out.encounters)
        self.counts.last_segment_end = seg.start + timedelta(seconds=duration)
        log.info(
            "camera %s: segment %s committed (%.1f s, %d frames, %d tracklets%s)",
            self.camera.id,
            seg.start.isoformat(timespec="seconds"),
            duration,
            seg.frames,
            len(out.tracklets),
            f"; {note}" if note else "",
        )
        if self._on_commit is not None:
            self._on_commit(self.counts)


class StatusFile:
    """A live camera's connection state, as JSON in ``<data_dir>/live/<camera>.json``."""

    def __init__(self, data_dir: Path, camera_id: str) -> None:
        self.path = Path(data_dir) / STATUS_DIR / f"{camera_id}.json"
        self.data: dict[str, Any] = {"camera": camera_id, "pid": os.getpid()}

    def update(self, **values: Any) -> None:
        """Merge ``values`` and write the file atomically."""
        self.data.update(values)
        self.data["updated_at"] = datetime.now(UTC).isoformat()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(self.data, default=str), encoding="utf-8")
        tmp.replace(self.path)

    def on_state(self, state: StreamState) -> None:
        """Record a reader state change (all text in it is masked already)."""
        self.update(
            state=state.state,
            since=state.since.isoformat(),
            url=state.url,
            detail=state.detail,
            clock=state.clock or self.data.get("clock", ""),
        )

    def on_commit(self, counts: LiveCounts) -> None:
        """Record the last committed segment and the run's counts."""
        end = counts.last_segment_end
        self.update(
            last_segment_end=end.isoformat() if end else None,
            segments=counts.segments,
            gaps=counts.gaps,
            tracklets=counts.tracklets,
        )


def live_status(site: SiteConfig) -> list[dict[str, Any]]:
    """Each live camera's last known state (from its status file), by camera id.

    A camera whose worker is gone reads ``stopped``; one never run reads ``never run``.
    """
    rows: list[dict[str, Any]] = []
    for cam in live_cameras(site):
        path = Path(site.storage.data_dir) / STATUS_DIR / f"{cam.id}.json"
        row: dict[str, Any] = {"camera": cam.id, "url": cam.streams[0].masked}
        try:
            row.update(json.loads(path.read_text(encoding="utf-8")))
        except (OSError, ValueError):
            row["state"] = "never run"
            rows.append(row)
            continue
        if row.get("state") != "stopped" and not _alive(row):
            row["state"] = "stopped"
            row["detail"] = "the ingest process is gone"
        rows.append(row)
    return rows


def _alive(row: dict[str, Any]) -> bool:
    pid = row.get("pid")
    try:
        updated = datetime.fromisoformat(str(row.get("updated_at")))
    except ValueError:
        return False
    if isinstance(pid, int):
        try:
            os.kill(pid, 0)
            return True
        except PermissionError:
            return True
        except OSError:
            return False
    return (datetime.now(UTC) - updated).total_seconds() < STALE_AFTER_S


def run_live_camera(
    site: SiteConfig,
    camera_id: str,
    events: Any | None = None,
    threads: int = 1,
    models: ModelSet | None = None,
    stop: StopFlag | None = None,
) -> list[FileSummary]:
    """Ingest one live camera until ``stop()`` (default: SIGINT/SIGTERM received).

    Returns one summary row for the run (segments, gaps, tracklets, encounters).
    """
    import cv2

    from cctrace.store.repository import Store
    from cctrace.vision.runtime import use_device

    cv2.setNumThreads(max(1, threads))
    use_device(site.runtime.device, site.runtime.device_id)
    camera = site.camera(camera_id)
    if not camera.streams:
        raise CctraceError(f"camera {camera_id} has no stream URL in its footage")
    url = camera.streams[0]
    stop = stop or stop_on_signals()
    cfg = site.ingest
    status = StatusFile(site.storage.data_dir, camera_id)
    status.update(state="starting", url=url.masked, since=datetime.now(UTC).isoformat())
    with Store.for_site(site) as store:
        _register_camera(store, camera)
        models = models or ModelSet(site.models, threads=threads)
        segments = LiveSegments(store, site, camera, url, models, on_commit=status.on_commit)
        reader = live_frames(
            url,
            camera_id,
            cfg.analysis_fps,
            timeout_s=cfg.live_timeout_s,
            backoff=Backoff(cfg.live_backoff_max_s),
            stop=stop,
            listen=camera.rtsp_listen,
            on_state=status.on_state,
        )
        try:
            for item in reader:
                if isinstance(item, StreamGap):
                    segments.gap(item)
                    status.on_commit(segments.counts)
                else:
                    segments.frame(item)
                    if events is not None:
                        events.put(("at", camera_id, item.offset_s))
        finally:
            segments.close()
            status.on_commit(segments.counts)
            status.update(state="stopped", since=datetime.now(UTC).isoformat())
    c = segments.counts
    note = f"{c.segments} segment(s), {c.gaps} gap(s)"
    return [FileSummary(camera_id, url.masked, "stopped", c.tracklets, c.encounters, note)]


def stop_on_signals() -> StopFlag:
    """A stop flag set by SIGINT or SIGTERM (installed in this process's main thread)."""
    flag = threading.Event()

    def handler(signum: int, _frame: FrameType | None) -> None:
        log.info("live ingest: %s received; committing and stopping", signal.Signals(signum).name)
        flag.set()

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, handler)
        signal.signal(signal.SIGTERM, handler)
    return flag.is_set


def _live_job(site: SiteConfig, camera_id: str, events: Any, threads: int = 1) -> list[Any]:
    """Worker entry (picklable): one live camera until signalled; errors become a row."""
    try:
        return run_live_camera(site, camera_id, events, threads)
    except CctraceError as exc:
        return [FileSummary(camera_id, "", "failed", note=mask_credentials(str(exc)))]
    except Exception as exc:
        log.exception("live camera %s failed", camera_id)
        note = mask_credentials(f"{type(exc).__name__}: {exc}")
        return [FileSummary(camera_id, "", "failed", note=note)]


def ingest_live(
    site: SiteConfig,
    camera_ids: list[str] | None = None,
    models: ModelSet | None = None,
    stop: StopFlag | None = None,
) -> IngestSummary:
    """Run every live camera (or those of ``camera_ids``) until SIGINT/SIGTERM.

    Each camera runs in its own supervised worker process; on a signal the parent asks
    every worker to stop (SIGTERM), and each commits its open segment before it exits.
    ``models`` (tests) runs the cameras one after another in this process instead,
    until ``stop()``.
    """
    from functools import partial

    from cctrace.ingest.supervisor import supervise
    from cctrace.store.repository import Store

    cameras = live_cameras(site, camera_ids)
    summary = IngestSummary()
    if not cameras:
        raise CctraceError("no live camera: give a camera's footage as an rtsp:// or http(s) URL")
    with Store.for_site(site):
        pass  # create the schema once, before workers race to do it
    if models is not None or (len(cameras) == 1 and stop is not None):
        for cam in cameras:
            summary.files.extend(run_live_camera(site, cam.id, models=models, stop=stop))
        return summary
    threads = max(1, (os.cpu_count() or 1) // len(cameras))
    with _forward_stop_signals():
        results = supervise(
            [c.id for c in cameras],
            partial(_live_job, site, threads=threads),
            len(cameras),
            _lost_live_camera,
            max_attempts=5,
        )
    for cam in cameras:
        summary.files.extend(results.get(cam.id, []))
    return summary


def _lost_live_camera(camera_id: str, reason: str) -> list[FileSummary]:
    return [FileSummary(camera_id, "", FootageStatus.FAILED.value, note=reason)]


class _forward_stop_signals:
    """In the parent: the first SIGINT/SIGTERM asks the workers to stop (SIGTERM) and
    waits for them to commit; a second one stops at once (KeyboardInterrupt)."""

    def __enter__(self) -> _forward_stop_signals:
        self._asked = False
        self._old = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
        for sig in self._old:
            signal.signal(sig, self._handle)
        return self

    def _handle(self, signum: int, _frame: FrameType | None) -> None:
        import multiprocessing

        if self._asked:
            raise KeyboardInterrupt
        self._asked = True
        log.info("live ingest: stopping the cameras (they commit their open segments)")
        for child in multiprocessing.active_children():
            if child.pid is not None:
                with contextlib.suppress(OSError):
                    os.kill(child.pid, signal.SIGTERM)

    def __exit__(self, *exc: object) -> None:
        for sig, old in self._old.items():
            signal.signal(sig, old)


def iter_live_rows(site: SiteConfig) -> Iterator[tuple[str, ...]]:
    """Rows for ``cctrace status``: camera, stream, state since, last segment, note."""
    for row in live_status(site):
        since = _short(row.get("since"))
        state = str(row.get("state", "?"))
        shown = f"{state} since {since}" if since and state != "never run" else state
        last = _short(row.get("last_segment_end")) or "-"
        detail = str(row.get("detail") or "")
        counts = ""
        if "segments" in row:
            counts = f"{row.get('segments', 0)} segment(s), {row.get('gaps', 0)} gap(s)"
        note = "; ".join(p for p in (detail, counts) if p)
        yield (str(row["camera"]), str(row.get("url", "")), shown, last, mask_credentials(note))


def _short(value: Any) -> str:
    if not value:
        return ""
    try:
        return f"{datetime.fromisoformat(str(value)).astimezone(UTC):%Y-%m-%d %H:%M:%S}"
    except ValueError:
        return str(value)
