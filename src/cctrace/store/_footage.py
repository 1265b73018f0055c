"""Footage files: registration and ingest progress."""

from __future__ import annotations

import logging
import re
from datetime import datetime

from sqlalchemy import delete, select, update

from cctrace.errors import NotFoundError, StoreError

from . import _convert
from ._base import Repository, require_aware, require_finite
from .records import (
    FootageFailureRecord,
    FootageRecord,
    FootageStatus,
    InvalidInputError,
    parse_footage_status,
)
from .schema import CameraRow, FootageFailureRow, FootageRow, utcnow

log = logging.getLogger(__name__)

_SHA256 = re.compile(r"^[0-9a-f]{64}$")
START_SOURCES = ("config", "filename", "container", "previous", "stream")
"""Where a footage start time came from; ``stream``: a live segment's stream clock."""


class FootageRepository(Repository):
    """Footage files: registration, ingest progress and claims, and files that failed
    (``store.footage``)."""

    def get_or_create(
        self,
        camera_id: str,
        path: str,
        sha256: str,
        size: int,
        start_time: datetime,
        duration_s: float,
        fps: float,
        *,
        start_source: str | None = None,
    ) -> FootageRecord:
        """The footage record for (camera, sha256), created as ``pending`` if new.

        Re-ingesting the same file (even from another path) returns the existing record,
        with its progress and checkpoint, so ingest can resume or skip it.
        ``start_source`` says where ``start_time`` came from (see ``START_SOURCES``).
        A failure recorded for this camera and path is cleared.
        """
        if start_source is not None and start_source not in START_SOURCES:
            raise InvalidInputError(
                f"start_source: expected one of {', '.join(START_SOURCES)}, got {start_source!r}"
            )
        digest = str(sha256).lower()
        if not _SHA256.match(digest):
            raise InvalidInputError(f"sha256: expected 64 hex digits, got {sha256!r}")
        if int(size) < 0:
            raise InvalidInputError(f"size: expected >= 0 bytes, got {size}")
        require_aware(start_time, "start_time")
        if require_finite(duration_s, "duration_s") < 0:
            raise InvalidInputError(f"duration_s: expected >= 0, got {duration_s}")
        if require_finite(fps, "fps") <= 0:
            raise InvalidInputError(f"fps: expected > 0, got {fps}")

        def lookup() -> FootageRecord | None:
            with self._read() as s:
                row = s.scalars(
                    select(FootageRow).where(
                        FootageRow.camera_id == camera_id, FootageRow.sha256 == digest
                    )
                ).one_or_none()
                return None if row is None else _convert.footage(row, self.cipher)

        self.clear_failure(camera_id, str(path))
        found = lookup()
        if found is not None:
            if found.path != str(path):
                log.info("footage %s already ingested from %s (now %s)", digest, found.path, path)
            return found
        try:
            with self._write() as s:
                if s.get(CameraRow, camera_id) is None:
                    raise NotFoundError(f"expected a stored camera {camera_id!r}, found none")
                row = FootageRow(
                    camera_id=camera_id,
                    path=str(path),
                    sha256=digest,
                    size=int(size),
                    start_time=start_time,
                    duration_s=float(duration_s),
                    fps=float(fps),
                    status=FootageStatus.PENDING.value,
                    start_source=start_source,
                )
                s.add(row)
                s.flush()
                return _convert.footage(row, self.cipher)
        except StoreError:
            found = lookup()  # lost a race with another ingest of the same file
            if found is None:
                raise
            return found

    def get(self, footage_id: int) -> FootageRecord:
        """The footage record ``footage_id``; :class:`NotFoundError` if unknown."""
        with self._read() as s:
            row = s.get(FootageRow, footage_id)
            if row is None:
                raise NotFoundError(f"expected a stored footage file {footage_id}, found none")
            return _convert.footage(row, self.cipher)

    def files(
        self,
        camera_id: str | None = None,
        status: FootageStatus | str | None = None,
    ) -> list[FootageRecord]:
        """Footage files (optionally of one camera / in one status), by camera and start."""
        stmt = select(FootageRow).order_by(
            FootageRow.camera_id, FootageRow.start_time, FootageRow.id
        )
        if camera_id is not None:
            stmt = stmt.where(FootageRow.camera_id == camera_id)
        if status is not None:
            stmt = stmt.where(FootageRow.status == parse_footage_status(status).value)
        with self._read() as s:
            return [_convert.footage(r, self.cipher) for r in s.scalars(stmt)]

    def mark(
        self,
        footage_id: int,
        status: FootageStatus | str,
        error: str | None = None,
        *,
        progress_offset_s: float | None = None,
        frames_decoded: int | None = None,
        frames_failed: int | None = None,
        checkpoint_state: bytes | None = None,
        clear_checkpoint: bool = False,
    ) -> FootageRecord:
        """Set a footage file's status and error (``None`` clears it).

        Progress fields and the checkpoint are only changed when given;
        ``clear_checkpoint=True`` drops the stored checkpoint.
        """
        new_status = parse_footage_status(status)
        if checkpoint_state is not None and clear_checkpoint:
            raise InvalidInputError("give checkpoint_state or clear_checkpoint, not both")
        with self._write() as s:
            row = s.get(FootageRow, footage_id, with_for_update=True)
            if row is None:
                raise NotFoundError(f"expected a stored footage file {footage_id}, found none")
            row.status = new_status.value
            row.error = error
            if progress_offset_s is not None:
                row.progress_offset_s = require_finite(progress_offset_s, "progress_offset_s")
            if frames_decoded is not None:
                row.frames_decoded = int(frames_decoded)
            if frames_failed is not None:
                row.frames_failed = int(frames_failed)
            if checkpoint_state is not None:
                row.checkpoint_state = self.cipher.encrypt(
                    bytes(checkpoint_state), "checkpoint", str(footage_id)
                )
            if clear_checkpoint:
                row.checkpoint_state = None
            row.updated_at = utcnow()
            s.flush()
            return _convert.footage(row, self.cipher)

    # ---- who is ingesting a file -----------------------------------------------------

    def claim(self, footage_id: int, owner: str) -> FootageRecord:
        """Mark a file ``running`` by ``owner`` (a process id, see ``cctrace.ingest.owner``).

        Progress and checkpoint are kept, so a claimed file resumes where it stopped.
        """
        if not owner or len(owner) > 160:
            raise InvalidInputError(f"owner: expected 1..160 characters, got {owner!r}")
        with self._write() as s:
            row = s.get(FootageRow, footage_id, with_for_update=True)
            if row is None:
                raise NotFoundError(f"expected a stored footage file {footage_id}, found none")
            now = utcnow()
            row.status = FootageStatus.RUNNING.value
            row.error = None
            row.run_owner = owner
            row.heartbeat_at = now
            row.updated_at = now
            s.flush()
            return _convert.footage(row, self.cipher)

    def heartbeat(self, footage_id: int, owner: str) -> bool:
        """Say ``owner`` is still ingesting the file; False if it no longer owns it."""
        with self._write() as s:
            done = s.execute(
                update(FootageRow)
                .where(FootageRow.id == footage_id, FootageRow.run_owner == owner)
                .values(heartbeat_at=utcnow())
            )
            return bool(getattr(done, "rowcount", 0))

    # ---- files that could not be registered -----------------------------------------

    def record_failure(
        self, camera_id: str, path: str, error: str, size: int | None = None
    ) -> FootageFailureRecord:
        """Record (or update) why ``path`` of ``camera_id`` could not be registered."""
        if not error:
            raise InvalidInputError("error: expected a reason, got an empty string")
        with self._write() as s:
            if s.get(CameraRow, camera_id) is None:
                raise NotFoundError(f"expected a stored camera {camera_id!r}, found none")
            row = s.scalars(
                select(FootageFailureRow).where(
                    FootageFailureRow.camera_id == camera_id, FootageFailureRow.path == str(path)
                )
            ).one_or_none()
            if row is None:
                row = FootageFailureRow(camera_id=camera_id, path=str(path))
                s.add(row)
            row.error = str(error)
            row.size = None if size is None else int(size)
            row.failed_at = utcnow()
            s.flush()
            return _convert.footage_failure(row)

    def clear_failure(self, camera_id: str, path: str) -> None:
        """Forget a recorded failure of ``path`` (it registered, or it is gone)."""
        with self._write() as s:
            s.execute(
                delete(FootageFailureRow).where(
                    FootageFailureRow.camera_id == camera_id, FootageFailureRow.path == str(path)
                )
            )

    def failures(self, camera_id: str | None = None) -> list[FootageFailureRecord]:
        """Files that could not be registered (optionally of one camera), by camera and path."""
        stmt = select(FootageFailureRow).order_by(
            FootageFailureRow.camera_id, FootageFailureRow.path
        )
        if camera_id is not None:
            stmt = stmt.where(FootageFailureRow.camera_id == camera_id)
        with self._read() as s:
            return [_convert.footage_failure(r) for r in s.scalars(stmt)]
