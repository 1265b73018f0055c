"""Retention: delete derived data past the retention period, vectors and files included.

:func:`purge` removes tracklets that ended more than ``retention.days`` ago with their
track points, face embeddings, encounters, crop and snapshot files and their vectors
in the face index, and the faces no tracked person held (``loose_faces``) seen that
long ago; the evidence of a case (its sightings and the people they met) is
kept while the case is open and for ``retention.case_evidence_days`` after it closes.
Then the case loses its sightings, approvals and report folder; the case row and the
audit log stay. Every purge (dry runs too) appends one audit entry.
:class:`PurgeScheduler` runs it every ``retention.purge_interval_hours`` in a thread.
"""

from __future__ import annotations

import logging
import shutil
import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from cctrace.config import RetentionConfig, SiteConfig
from cctrace.errors import CctraceError, StoreError
from cctrace.store import FaceIndex, FootageRecord, InvalidInputError, PurgeOutcome, Store
from cctrace.store.face_indexes import IVF_DIR as IVF_INDEX_DIR
from cctrace.store.face_indexes import open_sharded_index
from cctrace.store.sharded_index import MANIFEST

log = logging.getLogger(__name__)

INDEX_DIR = "index"
REPORTS_DIR = "reports"
DEFAULT_ACTOR = "cctrace-retention"


@dataclass(frozen=True)
class PurgeReport:
    """What one purge removed (or, with ``dry_run``, would remove)."""

    now: datetime
    before: datetime
    """Tracklets that ended before this instant are past retention."""
    evidence_before: datetime
    """Closed cases closed before this instant lose their evidence."""
    dry_run: bool
    tracklets: int
    track_points: int
    embeddings: int
    encounters: int
    sightings: int
    approvals: int
    files: int
    index_vectors: int
    report_folders: int
    expired_cases: tuple[str, ...]
    """Cases that lost their evidence in this purge (sightings, approvals, reports)."""
    kept_as_evidence: int
    errors: tuple[str, ...] = field(default=())
    loose_faces: int = 0
    """Faces no tracked person held, seen before ``before``."""

    def counts(self) -> dict[str, int]:
        """The counts by name, in a stable order (for tables and the audit log)."""
        return {
            "tracklets": self.tracklets,
            "track_points": self.track_points,
            "face_embeddings": self.embeddings,
            "encounters": self.encounters,
            "case_sightings": self.sightings,
            "approvals": self.approvals,
            "files": self.files,
            "index_vectors": self.index_vectors,
            "report_folders": self.report_folders,
            "expired_cases": len(self.expired_cases),
            "kept_as_evidence": self.kept_as_evidence,
            "loose_faces": self.loose_faces,
        }


def purge(
    site: SiteConfig,
    now: datetime | None = None,
    dry_run: bool = False,
    actor: str = DEFAULT_ACTOR,
) -> PurgeReport:
    """Run the retention purge on a site's store (see :func:`purge_store`)."""
    with Store.for_site(site) as store:
        return purge_store(store, site.retention, now=now, dry_run=dry_run, actor=actor)


def purge_store(
    store: Store,
    retention: RetentionConfig,
    now: datetime | None = None,
    dry_run: bool = False,
    actor: str = DEFAULT_ACTOR,
) -> PurgeReport:
    """Purge an open store and its data directory (files, face index, reports).

    The database goes first, in one transaction; then the files, the index and the
    report folders. A failure in those later steps is logged, recorded in the report's
    ``errors`` and in the audit entry, and the remaining steps still run.
    """
    if now is None:
        now = datetime.now(UTC)
    elif now.tzinfo is None or now.utcoffset() is None:
        raise InvalidInputError(f"now: expected a timezone-aware datetime, got {now!r}")
    now = now.astimezone(UTC)
    before = now - timedelta(days=retention.days)
    evidence_before = now - timedelta(days=retention.case_evidence_days)
    outcome = store.retention.purge_expired(before, evidence_before, dry_run=dry_run)
    errors: list[str] = []
    files = index_vectors = 0
    with_reports = _with_reports(store, outcome.expired_cases)
    if dry_run:
        files = sum((store.data_dir / rel).exists() for rel in outcome.files)
        index_vectors = len(outcome.embedding_ids)
    else:
        files = _step(errors, "files", lambda: _remove_files(store.data_dir, outcome.files))
        index_vectors = _step(errors, "face index", lambda: _purge_index(store, outcome))
        if _step(errors, "reports", lambda: _remove_reports(store, with_reports)) == 0:
            with_reports = []
    cases = tuple(sorted({*outcome.purged_cases, *with_reports}))
    report = PurgeReport(
        now=now,
        before=before,
        evidence_before=evidence_before,
        dry_run=dry_run,
        tracklets=outcome.tracklets,
        track_points=outcome.track_points,
        embeddings=len(outcome.embedding_ids),
        encounters=outcome.encounters,
        sightings=outcome.sightings,
        approvals=outcome.approvals,
        files=files,
        index_vectors=index_vectors,
        report_folders=len(with_reports),
        expired_cases=cases,
        kept_as_evidence=outcome.kept_as_evidence,
        loose_faces=outcome.loose_faces,
        errors=tuple(errors),
    )
    result: dict[str, Any] = {**report.counts(), "expired_case_ids": list(cases)}
    if errors:
        result["errors"] = list(errors)
    store.audit.append(
        actor,
        "purge",
        None,
        {
            "now": now.isoformat(),
            "before": before.isoformat(),
            "evidence_before": evidence_before.isoformat(),
            "days": retention.days,
            "case_evidence_days": retention.case_evidence_days,
            "dry_run": dry_run,
        },
        result,
    )
    return report


def _step(errors: list[str], name: str, fn: Callable[[], int]) -> int:
    try:
        return int(fn())
    except (OSError, CctraceError) as exc:
        log.error("retention purge: %s step failed: %s", name, exc)
        errors.append(f"{name}: {exc}")
        return 0


def _remove_files(data_dir: Path, relpaths: tuple[str, ...]) -> int:
    """Delete the files (and folders left empty, up to the data directory)."""
    removed = 0
    for rel in relpaths:
        path = (data_dir / rel).resolve()
        if not path.is_relative_to(data_dir):
            log.warning("retention purge: skipped a path outside the data dir: %s", rel)
            continue
        if path.is_file():
            path.unlink()
            removed += 1
        parent = path.parent
        while parent != data_dir and parent.is_relative_to(data_dir):
            try:
                parent.rmdir()  # only succeeds when empty
            except OSError:
                break
            parent = parent.parent
    return removed


def _purge_index(store: Store, outcome: PurgeOutcome) -> int:
    """Drop the purged vectors from the saved face indexes (exact and day-sharded) and
    save them again; see :func:`_purge_exact_index` and :func:`_purge_sharded_index`."""
    return max(_purge_exact_index(store, outcome), _purge_sharded_index(store, outcome))


def _purge_sharded_index(store: Store, outcome: PurgeOutcome) -> int:
    """The day-sharded index drops the purged faces; a shard left empty (a day past
    retention with no case evidence in it) is dropped whole and its file deleted. An
    index that cannot be read, or whose engine is not installed, is deleted."""
    directory = store.data_dir / IVF_INDEX_DIR
    if not (directory / MANIFEST).exists():
        return 0
    try:
        index = open_sharded_index(directory, store.cipher)
        if index.cipher is None:
            index.cipher = store.cipher
        if index.saved_generation() != index.generation:
            index.load()
    except StoreError as exc:
        log.warning("retention purge: deleting the unusable sharded face index (%s)", exc)
        _delete_sharded_index(directory)
        return len(outcome.embedding_ids)
    removed = index.remove(outcome.embedding_ids)
    index.save()
    return removed


def _delete_sharded_index(directory: Path) -> None:
    (directory / MANIFEST).unlink(missing_ok=True)
    for shard in directory.glob("shard-*.bin"):
        shard.unlink(missing_ok=True)


def _purge_exact_index(store: Store, outcome: PurgeOutcome) -> int:
    """Drop the purged vectors from the saved exact face index and save it again.

    An index that cannot be read (other key, corrupt) is deleted instead: it is a
    cache, rebuilt from the database at the next trace, and may hold purged vectors.
    """
    directory = store.data_dir / INDEX_DIR
    if not (directory / "CURRENT").exists():
        return 0
    index = FaceIndex(directory, cipher=store.cipher)
    try:
        index.load()
    except StoreError as exc:
        log.warning("retention purge: deleting the unreadable face index (%s)", exc)
        _delete_index(directory)
        return len(outcome.embedding_ids)
    removed = index.remove(outcome.embedding_ids)
    index.sync(store, save=False)  # rebuilds if it was out of step with the database
    index.save()
    return removed


def _delete_index(directory: Path) -> None:
    (directory / "CURRENT").unlink(missing_ok=True)
    for gen in directory.glob("gen-*"):
        shutil.rmtree(gen, ignore_errors=True)


def _report_dir(store: Store, case_id: str) -> Path:
    root = store.data_dir / REPORTS_DIR
    path = (root / case_id).resolve()
    if path == root.resolve() or not path.is_relative_to(root.resolve()):
        raise StoreError(f"case id {case_id!r} does not name a folder under {root}")
    return path


def _with_reports(store: Store, case_ids: tuple[str, ...]) -> list[str]:
    """The cases among ``case_ids`` that have a report folder."""
    return [c for c in case_ids if _report_dir(store, c).is_dir()]


def _remove_reports(store: Store, case_ids: list[str]) -> int:
    for case_id in case_ids:
        shutil.rmtree(_report_dir(store, case_id))
    return len(case_ids)


class PurgeScheduler:
    """Runs :func:`purge` every ``site.retention.purge_interval_hours`` in a daemon
    thread, the first time at :meth:`start`. Errors are logged; the thread carries on."""

    def __init__(self, site: SiteConfig, actor: str = DEFAULT_ACTOR) -> None:
        self.site = site
        self.actor = actor
        self.interval_s = site.retention.purge_interval_hours * 3600.0
        self.last_report: PurgeReport | None = None
        """The latest successful purge (None before the first)."""
        self.runs = 0
        """How many purges were attempted."""
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def running(self) -> bool:
        """Whether the thread is alive."""
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        """Start the thread (no-op when already running)."""
        if self.running:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="cctrace-retention", daemon=True)
        self._thread.start()
        log.info("retention purge scheduled every %.1f h", self.interval_s / 3600)

    def stop(self, timeout: float = 30.0) -> None:
        """Ask the thread to stop and wait for it (up to ``timeout`` seconds)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def run_once(self) -> PurgeReport | None:
        """One purge now; None (and the error logged) if it failed."""
        self.runs += 1
        try:
            report = purge(self.site, actor=self.actor)
        except Exception:
            log.exception("scheduled retention purge failed; retrying at the next interval")
            return None
        self.last_report = report
        log.info("retention purge: %s", report.counts())
        return report

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.run_once()
            if self._stop.wait(self.interval_s):
                break


@dataclass(frozen=True)
class ResetReport:
    """What resetting one footage file removed (see :func:`reset_footage`)."""

    footage_id: int
    path: str
    tracklets: int
    embeddings: int
    encounters: int
    loose_faces: int
    files: int
    index_vectors: int
    dry_run: bool
    errors: tuple[str, ...] = ()


def reset_footage(
    store: Store,
    footage: FootageRecord,
    retention: RetentionConfig,
    *,
    actor: str = DEFAULT_ACTOR,
    dry_run: bool = False,
    now: datetime | None = None,
) -> ResetReport:
    """Forget what was analysed from ``footage`` so the next ingest starts it over:
    database rows in one transaction (``store.retention.reset_footage``, refused while a case
    holds any of it as evidence), then its crop and snapshot files and its vectors in the
    face index. Audited (``footage_reset``)."""
    now = now or datetime.now(UTC)
    evidence_before = now - timedelta(days=retention.case_evidence_days)
    outcome = store.retention.reset_footage(footage.id, evidence_before, dry_run=dry_run)
    errors: list[str] = []
    if dry_run:
        files = sum((store.data_dir / rel).exists() for rel in outcome.files)
        index_vectors = len(outcome.embedding_ids)
    else:
        files = _step(errors, "files", lambda: _remove_files(store.data_dir, outcome.files))
        index_vectors = _step(errors, "face index", lambda: _purge_index(store, outcome))
    report = ResetReport(
        footage_id=footage.id,
        path=footage.path,
        tracklets=outcome.tracklets,
        embeddings=len(outcome.embedding_ids),
        encounters=outcome.encounters,
        loose_faces=outcome.loose_faces,
        files=files,
        index_vectors=index_vectors,
        dry_run=dry_run,
        errors=tuple(errors),
    )
    counts = {
        k: v
        for k, v in asdict(report).items()
        if k not in ("footage_id", "path", "dry_run", "errors")
    }
    store.audit.append(
        actor,
        "footage_reset",
        None,
        {"footage_id": footage.id, "camera_id": footage.camera_id, "dry_run": dry_run},
        {**counts, **({"errors": list(errors)} if errors else {})},
    )
    return report
