"""Cameras: where each one is, its calibration and configuration."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from sqlalchemy import select

from cctrace.errors import NotFoundError

from . import _convert
from ._base import Repository, require_finite
from .records import CameraRecord, InvalidInputError
from .schema import CameraRow, utcnow

MAX_ID_LEN = 128


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


class CameraRepository(Repository):
    """The cameras of a site (``store.cameras``)."""

    def upsert(
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

    def get(self, camera_id: str) -> CameraRecord:
        """The camera ``camera_id``; :class:`NotFoundError` if unknown."""
        with self._read() as s:
            row = s.get(CameraRow, camera_id)
            if row is None:
                raise NotFoundError(f"expected a stored camera {camera_id!r}, found none")
            return _convert.camera(row)

    def all(self) -> list[CameraRecord]:
        """Every camera, by id."""
        with self._read() as s:
            return [_convert.camera(r) for r in s.scalars(select(CameraRow).order_by(CameraRow.id))]
