"""Retention purge in the database: tracklets past the retention period and the
evidence of cases whose evidence period is over.

The files, the vector index, report folders and the audit entry are handled by
:mod:`cctrace.retention`, which calls :meth:`RetentionRepository.purge_expired`.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.orm import Session

from cctrace.errors import NotFoundError

from ._base import Repository, chunks, require_aware
from .records import CaseStatus, FootageStatus, InvalidInputError
from .schema import (
    ApprovalRow,
    BodyEmbeddingRow,
    CaseRow,
    CaseSightingRow,
    ContactStatusRow,
    EncounterRow,
    FaceEmbeddingRow,
    FootageRow,
    LooseFaceRow,
    TraceJobRow,
    TrackletRow,
    TrackPointRow,
    utcnow,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PurgeOutcome:
    """What a database purge removed (or, in a dry run, would remove)."""

    tracklets: int
    track_points: int
    embedding_ids: tuple[int, ...]
    """Face embeddings removed: drop these from the vector index."""
    encounters: int
    sightings: int
    approvals: int
    files: tuple[str, ...]
    """Crop and snapshot files of the removed rows, relative to the data directory."""
    expired_cases: tuple[str, ...]
    """Every closed case whose evidence period is over (purged now or before)."""
    purged_cases: tuple[str, ...]
    """The expired cases that had sightings or approvals left, removed now."""
    kept_as_evidence: int
    """Tracklets past retention kept because a case still holds them as evidence."""
    loose_faces: int = 0
    """Faces no tracked person held (``loose_faces``) seen before the cut-off."""


@dataclass
class _Derived:
    """Rows and files that hang off a set of tracklets (see ``RetentionRepository._derived``)."""

    embedding_ids: list[int] = field(default_factory=list)
    files: list[str] = field(default_factory=list)
    points: int = 0
    encounter_ids: set[int] = field(default_factory=set)


class RetentionRepository(Repository):
    """Deleting derived data (``store.retention``): the retention purge, and resetting one
    footage file for a fresh ingest."""

    def purge_expired(
        self, before: datetime, evidence_before: datetime, *, dry_run: bool = False
    ) -> PurgeOutcome:
        """Delete what retention no longer allows, in one transaction.

        * Closed cases closed before ``evidence_before`` are expired: their sightings
          approvals, trace jobs and contact statuses are deleted (the case row and the audit
          log stay).
        * Tracklets that ended before ``before`` are deleted with their track points,
          face embeddings, encounters and sightings, except the evidence of every other
          case (open, or closed since ``evidence_before``): its sightings and the
          tracklets they have encounters with.
        * Loose faces (faces no tracked person held) seen before ``before`` are deleted;
          no case holds them as evidence (a trace only lists them for review).

        A closed case with no closing time (closed before schema 2) has its evidence
        period started now. With ``dry_run`` nothing changes. Files are not touched:
        the outcome lists them.
        """
        require_aware(before, "before")
        require_aware(evidence_before, "evidence_before")
        session = self._read() if dry_run else self._write()
        with session as s:
            if not dry_run:
                s.execute(
                    update(CaseRow)
                    .where(CaseRow.status == CaseStatus.CLOSED.value, CaseRow.closed_at.is_(None))
                    .values(closed_at=utcnow())
                )
            expired = sorted(
                s.scalars(
                    select(CaseRow.id).where(
                        CaseRow.status == CaseStatus.CLOSED.value,
                        CaseRow.closed_at < evidence_before,
                    )
                )
            )
            protected = self._evidence(s, evidence_before)
            old = list(
                s.execute(
                    select(TrackletRow.id, TrackletRow.snapshot_path).where(
                        TrackletRow.end_time < before
                    )
                )
            )
            doomed = sorted(int(tid) for tid, _ in old if tid not in protected)
            files = [str(p) for tid, p in old if p and tid not in protected]
            kept = len(old) - len(doomed)
            sightings: set[tuple[str, int]] = set()
            encounters: set[int] = set()
            embedding_ids: list[int] = []
            points = 0
            approvals = 0
            purged_cases: set[str] = set()
            for case_part in chunks(expired):
                sightings.update(
                    (str(c), int(t))
                    for c, t in s.execute(
                        select(CaseSightingRow.case_id, CaseSightingRow.tracklet_id).where(
                            CaseSightingRow.case_id.in_(case_part)
                        )
                    )
                )
                for case_id in s.scalars(
                    select(ApprovalRow.case_id).where(ApprovalRow.case_id.in_(case_part))
                ):
                    approvals += 1
                    purged_cases.add(str(case_id))
            purged_cases.update(case_id for case_id, _ in sightings)
            derived = self._derived(s, doomed)
            embedding_ids.extend(derived.embedding_ids)
            files.extend(derived.files)
            points += derived.points
            encounters.update(derived.encounter_ids)
            for part in chunks(doomed):
                sightings.update(
                    (str(c), int(t))
                    for c, t in s.execute(
                        select(CaseSightingRow.case_id, CaseSightingRow.tracklet_id).where(
                            CaseSightingRow.tracklet_id.in_(part)
                        )
                    )
                )
            loose = int(
                s.execute(
                    select(func.count())
                    .select_from(LooseFaceRow)
                    .where(LooseFaceRow.timestamp < before)
                ).scalar_one()
            )
            if not dry_run:
                self._delete(s, expired, doomed)
                s.execute(delete(LooseFaceRow).where(LooseFaceRow.timestamp < before))
        outcome = PurgeOutcome(
            tracklets=len(doomed),
            track_points=points,
            embedding_ids=tuple(sorted(embedding_ids)),
            encounters=len(encounters),
            sightings=len(sightings),
            approvals=approvals,
            files=tuple(files),
            expired_cases=tuple(expired),
            purged_cases=tuple(sorted(purged_cases)),
            kept_as_evidence=kept,
            loose_faces=loose,
        )
        log.info(
            "%s %d tracklets ended before %s (%d kept as case evidence), %d expired cases",
            "would purge" if dry_run else "purged",
            outcome.tracklets,
            before.isoformat(),
            kept,
            len(expired),
        )
        return outcome

    def reset_footage(
        self, footage_id: int, evidence_before: datetime, *, dry_run: bool = False
    ) -> PurgeOutcome:
        """Delete everything analysed from one footage file (its tracklets with their
        points, faces, body embeddings and encounters, and its loose faces) and set the
        file back to ``pending`` with no checkpoint, in one transaction: the next ingest
        analyses it from the start. For a file whose checkpoint this cctrace cannot read
        (written by another version), or one analysed with settings since changed.

        Refused (:class:`InvalidInputError`, nothing changed) while a case in its
        evidence period (open, or closed since ``evidence_before``) holds a sighting of
        the file or an encounter with one. The caller checks that no process is
        ingesting the file. Files and index vectors are listed, not touched.
        """
        require_aware(evidence_before, "evidence_before")
        session = self._read() if dry_run else self._write()
        with session as s:
            row = s.get(FootageRow, int(footage_id), with_for_update=not dry_run)
            if row is None:
                raise NotFoundError(f"expected a stored footage file {footage_id}, found none")
            tracklets = list(
                s.execute(
                    select(TrackletRow.id, TrackletRow.snapshot_path).where(
                        TrackletRow.footage_id == row.id
                    )
                )
            )
            ids = sorted(int(tid) for tid, _ in tracklets)
            held = sorted(set(ids) & self._evidence(s, evidence_before))
            if held:
                cases = sorted(
                    set(
                        s.scalars(
                            select(CaseSightingRow.case_id).where(
                                CaseSightingRow.tracklet_id.in_(held[:1000])
                            )
                        )
                    )
                )
                raise InvalidInputError(
                    f"footage {row.path}: {len(held)} of its tracklets are case evidence"
                    + (f" (sightings of case {', '.join(cases)})" if cases else "")
                    + "; it cannot be analysed again until those cases are closed and "
                    "their evidence period is over"
                )
            derived = self._derived(s, ids)
            files = [str(p) for _, p in tracklets if p] + derived.files
            embedding_ids = derived.embedding_ids
            points, encounters = derived.points, len(derived.encounter_ids)
            loose = int(
                s.scalar(
                    select(func.count())
                    .select_from(LooseFaceRow)
                    .where(LooseFaceRow.footage_id == row.id)
                )
                or 0
            )
            if not dry_run:
                self._delete(s, [], ids)
                s.execute(delete(LooseFaceRow).where(LooseFaceRow.footage_id == row.id))
                row.status = FootageStatus.PENDING.value
                row.error = None
                row.progress_offset_s = 0.0
                row.checkpoint_state = None
                row.frames_decoded = row.frames_failed = 0
                row.run_owner = None
                row.heartbeat_at = None
                row.updated_at = utcnow()
        log.info(
            "%s footage %s: %d tracklets, %d faces, %d encounters, %d loose faces",
            "would reset" if dry_run else "reset",
            footage_id,
            len(ids),
            len(embedding_ids),
            encounters,
            loose,
        )
        return PurgeOutcome(
            tracklets=len(ids),
            track_points=points,
            embedding_ids=tuple(sorted(embedding_ids)),
            encounters=encounters,
            sightings=0,
            approvals=0,
            files=tuple(files),
            expired_cases=(),
            purged_cases=(),
            kept_as_evidence=0,
            loose_faces=loose,
        )

    @staticmethod
    def _derived(s: Session, tracklet_ids: list[int]) -> _Derived:
        """What hangs off these tracklets: face embeddings (ids, crop files), track
        points, encounters (on either side)."""
        out = _Derived()
        for part in chunks(tracklet_ids):
            for eid, crop in s.execute(
                select(FaceEmbeddingRow.id, FaceEmbeddingRow.crop_path).where(
                    FaceEmbeddingRow.tracklet_id.in_(part)
                )
            ):
                out.embedding_ids.append(int(eid))
                if crop:
                    out.files.append(str(crop))
            out.points += int(
                s.scalar(
                    select(func.count())
                    .select_from(TrackPointRow)
                    .where(TrackPointRow.tracklet_id.in_(part))
                )
                or 0
            )
            out.encounter_ids.update(
                int(e)
                for e in s.scalars(
                    select(EncounterRow.id).where(
                        or_(
                            EncounterRow.tracklet_a_id.in_(part),
                            EncounterRow.tracklet_b_id.in_(part),
                        )
                    )
                )
            )
        return out

    @staticmethod
    def _evidence(s: Session, evidence_before: datetime) -> set[int]:
        """Tracklets held as evidence by cases still in their evidence period: their
        sightings and everyone those sightings have encounters with."""
        live = or_(
            CaseRow.status == CaseStatus.OPEN.value,
            CaseRow.closed_at.is_(None),
            CaseRow.closed_at >= evidence_before,
        )
        sighted = sorted(
            set(
                s.scalars(
                    select(CaseSightingRow.tracklet_id)
                    .join(CaseRow, CaseRow.id == CaseSightingRow.case_id)
                    .where(live)
                )
            )
        )
        held = set(sighted)
        for part in chunks(sighted):
            for a, b in s.execute(
                select(EncounterRow.tracklet_a_id, EncounterRow.tracklet_b_id).where(
                    or_(EncounterRow.tracklet_a_id.in_(part), EncounterRow.tracklet_b_id.in_(part))
                )
            ):
                held.update((int(a), int(b)))
        return held

    @staticmethod
    def _delete(s: Session, expired: Iterable[str], doomed: list[int]) -> None:
        """Delete the rows (children first: no reliance on ON DELETE CASCADE)."""
        for case_part in chunks(list(expired)):
            s.execute(delete(CaseSightingRow).where(CaseSightingRow.case_id.in_(case_part)))
            s.execute(delete(ApprovalRow).where(ApprovalRow.case_id.in_(case_part)))
            s.execute(delete(TraceJobRow).where(TraceJobRow.case_id.in_(case_part)))
            s.execute(delete(ContactStatusRow).where(ContactStatusRow.case_id.in_(case_part)))
        for part in chunks(doomed):
            s.execute(
                delete(EncounterRow).where(
                    or_(EncounterRow.tracklet_a_id.in_(part), EncounterRow.tracklet_b_id.in_(part))
                )
            )
            s.execute(delete(FaceEmbeddingRow).where(FaceEmbeddingRow.tracklet_id.in_(part)))
            s.execute(delete(BodyEmbeddingRow).where(BodyEmbeddingRow.tracklet_id.in_(part)))
            s.execute(delete(TrackPointRow).where(TrackPointRow.tracklet_id.in_(part)))
            s.execute(delete(CaseSightingRow).where(CaseSightingRow.tracklet_id.in_(part)))
            s.execute(delete(TrackletRow).where(TrackletRow.id.in_(part)))
