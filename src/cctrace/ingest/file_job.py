"""Ingest one footage file of one camera, checkpointing so a crash loses nothing.

Every ``checkpoint_seconds`` of footage, the tracklets and encounters finished so
far, the offset reached and the ``CameraProcessor`` (a versioned, authenticated checkpoint:
:mod:`cctrace.ingest.checkpoint`) are written in one
database transaction. A run killed at any point restarts from the last
checkpoint with the same tracker state, so nothing is stored twice or lost.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from cctrace.config import CameraConfig, SiteConfig
from cctrace.footage.reader import DecodeReport, iter_frames
from cctrace.ingest.camera import CameraOutput, CameraProcessor
from cctrace.ingest.checkpoint import KEY_LABEL, decode_checkpoint, encode_checkpoint
from cctrace.ingest.models import ModelSet
from cctrace.store.records import FootageRecord, FootageStatus
from cctrace.store.repository import Store

log = logging.getLogger(__name__)

ProgressCallback = Callable[[float], None]
"""Called with the footage offset (seconds) reached."""


@dataclass(frozen=True)
class FileResult:
    """How one file's ingest ended."""

    footage_id: int
    status: FootageStatus
    tracklets: int
    encounters: int
    frames_decoded: int
    frames_failed: int
    note: str
    cuts: int = 0
    """Shot cuts found in the file (every track ends at one)."""
    gaps: int = 0
    """Recording gaps found in the file (every track ends at one)."""


def ingest_file(
    store: Store,
    site: SiteConfig,
    camera: CameraConfig,
    footage: FootageRecord,
    models: ModelSet,
    on_progress: ProgressCallback | None = None,
) -> FileResult:
    """Analyse one file from its last checkpoint to the end and store the results."""
    if footage.status in (FootageStatus.DONE, FootageStatus.PARTIAL):
        return FileResult(
            footage.id,
            footage.status,
            0,
            0,
            footage.frames_decoded,
            footage.frames_failed,
            "already ingested",
        )
    cfg = site.ingest
    key = store.cipher.derive_key(KEY_LABEL)
    if footage.checkpoint_state:
        processor = decode_checkpoint(footage.checkpoint_state, footage, key)
        log.info(
            "camera %s: resuming %s at %.1f s", camera.id, footage.path, footage.progress_offset_s
        )
    else:
        processor = CameraProcessor(
            camera,
            cfg,
            source_fps=footage.fps,
            tracker_high_confidence=models.tracker_high_confidence,
        )
    report = DecodeReport()
    pending = CameraOutput()
    counts = [0, 0]
    decoded_before = footage.frames_decoded
    failed_before = footage.frames_failed
    last_checkpoint = footage.progress_offset_s
    fps = footage.fps

    def save(offset: float, state: bytes | None, status: FootageStatus) -> None:
        nonlocal pending
        store.tracklets.save_batch(
            footage.id,
            pending.tracklets,
            pending.encounters,
            progress_offset_s=offset,
            checkpoint_state=state,
            status=status,
            frames_decoded=decoded_before + report.frames_decoded,
            frames_failed=failed_before + report.frames_failed,
            loose_faces=pending.loose_faces,
        )
        counts[0] += len(pending.tracklets)
        counts[1] += len(pending.encounters)
        pending = CameraOutput()

    frames = iter_frames(
        footage.path,
        camera.id,
        start_time=footage.start_time,
        analysis_fps=cfg.analysis_fps,
        source_fps=camera.source_fps,
        start_offset_s=footage.progress_offset_s,
        errors=report,
        keyframes_only=camera.decode == "keyframes",
        stream=camera.video_stream,
    )
    for frame in frames:
        pending.extend(processor.process(frame, models))
        if on_progress is not None:
            on_progress(frame.offset_s)
        if frame.offset_s - last_checkpoint >= cfg.checkpoint_seconds:
            next_offset = (frame.frame_index + 1) / fps
            save(next_offset, encode_checkpoint(processor, footage, key), FootageStatus.RUNNING)
            last_checkpoint = frame.offset_s
    pending.extend(processor.finish())
    # Faces no person surely holds are stored apart (loose_faces), never given to anyone.
    log.info("footage %s faces by fate: %s", footage.path, processor.face_counts)
    # Frames lost before a resume count too: the file is partial either way.
    damaged = failed_before + report.frames_failed > 0 or report.truncated
    status = FootageStatus.PARTIAL if damaged else FootageStatus.DONE
    save(footage.duration_s, None, status)
    note = report.summary() if damaged else ""
    if damaged:
        log.warning("camera %s: %s: %s", camera.id, footage.path, note)
    cuts, gaps = _breaks(processor)
    if cuts or gaps:
        found = f"{cuts} shot cut(s), {gaps} recording gap(s): tracks end at each"
        log.info("camera %s: %s: %s", camera.id, footage.path, found)
        note = f"{note}; {found}" if note else found
    return FileResult(
        footage.id,
        status,
        counts[0],
        counts[1],
        decoded_before + report.frames_decoded,
        failed_before + report.frames_failed,
        note,
        cuts,
        gaps,
    )


def _breaks(processor: CameraProcessor) -> tuple[int, int]:
    """(shot cuts, recording gaps) the processor found (0, 0 before cut detection)."""
    found = processor.cuts
    return (found.cuts, found.gaps) if found is not None else (0, 0)
