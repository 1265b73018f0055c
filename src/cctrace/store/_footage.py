"""Cameras and footage files: registration and ingest progress."""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import numpy as np
from sqlalchemy import delete, select, update

from cctrace.errors import NotFoundError, StoreError

from . import _convert
from ._base import StoreBase, require_aware, require_finite
from .records import (
    CameraRecord,
    FootageFailureRecord,
    FootageRecord,
    FootageStatus,
    InvalidInputError,
)
from .schema import CameraRow, FootageFailureRow, FootageRow, utcnow

log = logging.getLogger(__name__)

_SHA256 = re.compile(r"^[0-9a-f]{64}$")
MAX_ID_LEN = 128
START_SOURCES = ("config", "filename", "container", "previous", "stream")
"""Where a footage start time came from; ``stream``: a live segment's stream clock."""


def parse_footage_status(status: FootageStatus | str) -> FootageStatus:
    """A :class:`FootageStatus` from an enum or its string value."""
    try:
        return FootageStatus(status)
    except ValueError:
        allowed = ", ".join(s.value for s in FootageStatus)
        raise InvalidInputError(
            f"footage status: expected one of {allowed}, got {status!r}"
        ) from None


def _homography(value: Any) -> list[list[float]] | None:
    if value is None:
        return None
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise InvalidInputError(f"homography: expected a 3x3 matrix, got {value!r}") from exc
    if arr.shape != (3, 3) or not np.isfinite(arr).all():
        raise InvalidInputError(f"homography: expected a finite 3x3 matrix, got shape {arr.shape}")
    return [[float(v) for v in row] for row in arr]


def _optional_float(value: float | None, name: str, lo: float, hi: float) -> float | None:
    if value is None:
        return None
    out = require_finite(value, name)
    if not lo <= out <= hi:
        raise InvalidInputError(f"{name}: expected {lo}..{hi}, got {out}")
    return out


class FootageMixin(StoreBase):
    """Camera and footage-file methods of :class:`~cctrace.store.Store`."""

    # ---- cameras -------------------------------------------------------------------

    def upsert_camera(
        self,
        camera_id: str,
        name: str | None = None,
        *,
        lat: float | None = None,
        lon: float | None = None,
        x_m: float | None = None,
        y_m: float | None = None,
        homography: Sequence[Sequence[float]] | np.ndarray | None = None,
        config: Mapping[str, Any] | None = None,
    ) -> CameraRecord:
        """Insert or replace a camera (every field is overwritten); returns the record."""
        if not isinstance(camera_id, str) or not camera_id.strip():
            raise InvalidInputError(f"camera id: expected a non-empty string, got {camera_id!r}")
        if len(camera_id) > MAX_ID_LEN:
            raise InvalidInputError(f"camera id: expected <= {MAX_ID_LEN} chars, got {camera_id!r}")
        values: dict[str, Any] = {
            "name": name if name is not None else camera_id,
            "lat": _optional_float(lat, "lat", -90.0, 90.0),
            "lon": _optional_float(lon, "lon", -180.0, 180.0),
            "x_m": _optional_float(x_m, "x_m", -1e7, 1e7),
            "y_m": _optional_float(y_m, "y_m", -1e7, 1e7),
            "homography": _homography(homography),
            "config": dict(config or {}),
        }
        with self._write() as s:
            row = s.get(CameraRow, camera_id)
            if row is None:
                row = CameraRow(id=camera_id, **values)
                s.add(row)
            else:
                for key, value in values.items():
                    setattr(row, key, value)
                row.updated_at = utcnow()
            s.flush()
            return _convert.camera(row)

    def get_camera(self, camera_id: str) -> CameraRecord:
        """The camera ``camera_id``; :class:`NotFoundError` if unknown."""
        with self._read() as s:
            row = s.get(CameraRow, camera_id)
            if row is None:
                raise NotFoundError(f"expected a stored camera {camera_id!r}, found none")
            return _convert.camera(row)

    def list_cameras(self) -> list[CameraRecord]:
        """Every camera, by id."""
        with self._read() as s:
            return [_convert.camera(r) for r in s.scalars(select(CameraRow).order_by(CameraRow.id))]

    # ---- footage -------------------------------------------------------------------

    def get_or_create_footage(
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

        self.clear_footage_failure(camera_id, str(path))
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

    def get_footage(self, footage_id: int) -> FootageRecord:
        """The footage record ``footage_id``; :class:`NotFoundError` if unknown."""
        with self._read() as s:
            row = s.get(FootageRow, footage_id)
            if row is None:
                raise NotFoundError(f"expected a stored footage file {footage_id}, found none")
            return _convert.footage(row, self.cipher)

    def list_footage(
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

    def mark_footage(
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

    def claim_footage(self, footage_id: int, owner: str) -> FootageRecord:
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

    def heartbeat_footage(self, footage_id: int, owner: str) -> bool:
        """Say ``owner`` is still ingesting the file; False if it no longer owns it."""
        with self._write() as s:
            done = s.execute(
                update(FootageRow)
                .where(FootageRow.id == footage_id, FootageRow.run_owner == owner)
                .values(heartbeat_at=utcnow())
            )
            return bool(getattr(done, "rowcount", 0))

    # ---- files that could not be registered -----------------------------------------

    def record_footage_failure(
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

    def clear_footage_failure(self, camera_id: str, path: str) -> None:
        """Forget a recorded failure of ``path`` (it registered, or it is gone)."""
        with self._write() as s:
            s.execute(
                delete(FootageFailureRow).where(
                    FootageFailureRow.camera_id == camera_id, FootageFailureRow.path == str(path)
                )
            )

    def list_footage_failures(self, camera_id: str | None = None) -> list[FootageFailureRecord]:
        """Files that could not be registered (optionally of one camera), by camera and path."""
        stmt = select(FootageFailureRow).order_by(
            FootageFailureRow.camera_id, FootageFailureRow.path
        )
        if camera_id is not None:
            stmt = stmt.where(FootageFailureRow.camera_id == camera_id)
        with self._read() as s:
            return [_convert.footage_failure(r) for r in s.scalars(stmt)]
