"""Sightings: tracklets found for a case, machine-scored or decided by a person."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select

from cctrace.errors import NotFoundError
from cctrace.types import SightingStatus

from . import _convert
from ._base import Repository, check_text, chunks, require_finite, retry_on_conflict
from .records import InvalidInputError, SightingRecord
from .schema import CaseRow, CaseSightingRow, TrackletRow, utcnow


def _sighting_status(status: SightingStatus | str) -> SightingStatus:
    try:
        return SightingStatus(status)
    except ValueError:
        allowed = ", ".join(s.value for s in SightingStatus)
        raise InvalidInputError(
            f"sighting status: expected one of {allowed}, got {status!r}"
        ) from None


class SightingRepository(Repository):
    """The sightings of cases (``store.sightings``)."""

    def record(
        self, case_id: str, sightings: Iterable[tuple[int, float, SightingStatus | str]]
    ) -> list[SightingRecord]:
        """Upsert machine-scored sightings of a case; returns the stored rows.

        A row a person decided on keeps its status (it is never downgraded or upgraded
        by the machine); only its score rises if the new one is higher. An undecided row
        takes the new (score, status) when the score is at least the stored one.
        """
        best: dict[int, tuple[float, SightingStatus]] = {}
        for tracklet_id, score, status in sightings:
            entry = (require_finite(score, "score"), _sighting_status(status))
            tid = int(tracklet_id)
            if tid not in best or entry[0] > best[tid][0]:
                best[tid] = entry
        return retry_on_conflict(lambda: self._record(case_id, best))

    def _record(
        self, case_id: str, best: dict[int, tuple[float, SightingStatus]]
    ) -> list[SightingRecord]:
        out: list[SightingRecord] = []
        with self._write() as s:
            if s.get(CaseRow, case_id) is None:
                raise NotFoundError(f"expected a stored case {case_id!r}, found none")
            for part in chunks(sorted(best)):
                known = set(s.scalars(select(TrackletRow.id).where(TrackletRow.id.in_(part))))
                missing = [t for t in part if t not in known]
                if missing:
                    raise NotFoundError(f"expected stored tracklets, found none for {missing}")
                rows = {
                    r.tracklet_id: r
                    for r in s.scalars(
                        select(CaseSightingRow)
                        .where(
                            CaseSightingRow.case_id == case_id,
                            CaseSightingRow.tracklet_id.in_(part),
                        )
                        .with_for_update()
                    )
                }
                for tid in part:
                    score, status = best[tid]
                    row = rows.get(tid)
                    if row is None:
                        row = CaseSightingRow(
                            case_id=case_id,
                            tracklet_id=tid,
                            score=score,
                            status=status.value,
                            updated_at=utcnow(),
                        )
                        s.add(row)
                    elif row.decided_by is not None:
                        if score > row.score:
                            row.score, row.updated_at = score, utcnow()
                    elif score >= row.score:
                        row.score, row.status, row.updated_at = score, status.value, utcnow()
                    out.append(_convert.sighting(row))
        return out

    def decide(
        self,
        case_id: str,
        tracklet_id: int,
        status: SightingStatus | str,
        decided_by: str,
        score: float | None = None,
    ) -> SightingRecord:
        """Record a person's decision (accept / reject / back to review) on a sighting.

        Creates the sighting if the investigator picked the tracklet by hand (score 1.0
        unless given).
        """
        value = _sighting_status(status)
        check_text(decided_by, "decided_by", 128)
        with self._write() as s:
            if s.get(CaseRow, case_id) is None:
                raise NotFoundError(f"expected a stored case {case_id!r}, found none")
            if s.get(TrackletRow, int(tracklet_id)) is None:
                raise NotFoundError(f"expected a stored tracklet {tracklet_id}, found none")
            row = s.get(CaseSightingRow, (case_id, int(tracklet_id)), with_for_update=True)
            now = utcnow()
            if row is None:
                row = CaseSightingRow(
                    case_id=case_id,
                    tracklet_id=int(tracklet_id),
                    score=1.0 if score is None else require_finite(score, "score"),
                    status=value.value,
                )
                s.add(row)
            elif score is not None:
                row.score = require_finite(score, "score")
            row.status, row.decided_by, row.decided_at, row.updated_at = (
                value.value,
                decided_by,
                now,
                now,
            )
            s.flush()
            return _convert.sighting(row)

    def of_case(
        self, case_id: str, status: SightingStatus | str | None = None
    ) -> list[SightingRecord]:
        """A case's sightings, best score first."""
        stmt = (
            select(CaseSightingRow)
            .where(CaseSightingRow.case_id == case_id)
            .order_by(CaseSightingRow.score.desc(), CaseSightingRow.tracklet_id)
        )
        if status is not None:
            stmt = stmt.where(CaseSightingRow.status == _sighting_status(status).value)
        with self._read() as s:
            return [_convert.sighting(r) for r in s.scalars(stmt)]
