"""Faces: face embeddings of tracklets, their encrypted crops, and loose faces (faces no
tracked person surely holds); the vector index reads its batches here."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from datetime import datetime
from pathlib import Path

import numpy as np
from sqlalchemy import func, select

from cctrace.errors import NotFoundError

from . import _convert
from ._base import Repository, chunks, require_aware, unique_ints
from .files import read_crop
from .records import EmbeddingBatch, EmbeddingRecord, LooseFaceRecord
from .schema import FaceEmbeddingRow, LooseFaceRow

log = logging.getLogger(__name__)


class FaceRepository(Repository):
    """Stored faces (``store.faces``): tracklets' face embeddings and crops, loose faces."""

    def counts(self, ids: Iterable[int]) -> dict[int, int]:
        """How many faces are stored for each of the tracklets ``ids`` (0 when none)."""
        wanted = unique_ints(ids)
        counts = dict.fromkeys(wanted, 0)
        f = FaceEmbeddingRow
        with self._read() as s:
            for part in chunks(wanted):
                stmt = (
                    select(f.tracklet_id, func.count(f.id))
                    .where(f.tracklet_id.in_(part))
                    .group_by(f.tracklet_id)
                )
                for tid, n in s.execute(stmt):
                    counts[int(tid)] = int(n)
        return counts

    def embeddings_of(self, ids: Iterable[int]) -> list[EmbeddingRecord]:
        """Face embeddings of the tracklets, by tracklet then best quality first."""
        out: list[EmbeddingRecord] = []
        with self._read() as s:
            for part in chunks(sorted(set(unique_ints(ids)))):
                stmt = (
                    select(FaceEmbeddingRow)
                    .where(FaceEmbeddingRow.tracklet_id.in_(part))
                    .order_by(
                        FaceEmbeddingRow.tracklet_id,
                        FaceEmbeddingRow.quality.desc(),
                        FaceEmbeddingRow.id,
                    )
                )
                out.extend(
                    _convert.embedding(r, self.abspath, self.cipher) for r in s.scalars(stmt)
                )
        return out

    def read_crop(self, crop_path: str | Path) -> bytes:
        """The JPEG bytes of a face crop (``EmbeddingRecord.crop_path``), decrypted.

        :class:`NotFoundError` when the file is missing or lies outside the data
        directory; :class:`~cctrace.errors.StoreError` when the data key does not match.
        """
        path = Path(crop_path)
        if not path.is_absolute():
            path = self.data_dir / path
        path = path.resolve()
        if not path.is_relative_to(self.data_dir):
            raise NotFoundError(f"expected a crop inside {self.data_dir}, got {crop_path}")
        try:
            return read_crop(path, self.cipher)
        except FileNotFoundError as exc:
            raise NotFoundError(f"expected a stored face crop at {path}, found none") from exc

    def embedding_stats(self, upto_id: int | None = None) -> tuple[int, int, int]:
        """(count, max id, sum of tracklet ids) of the stored face embeddings with
        id <= ``upto_id`` (all when None): a cheap fingerprint for the vector index."""
        stmt = select(
            func.count(FaceEmbeddingRow.id),
            func.max(FaceEmbeddingRow.id),
            func.sum(FaceEmbeddingRow.tracklet_id),
        )
        if upto_id is not None:
            stmt = stmt.where(FaceEmbeddingRow.id <= upto_id)
        with self._read() as s:
            count, max_id, tracklet_sum = s.execute(stmt).one()
        return int(count or 0), int(max_id or 0), int(tracklet_sum or 0)

    def iter_embedding_batches(
        self, after_id: int = 0, batch_size: int = 20_000
    ) -> Iterator[EmbeddingBatch]:
        """Face embeddings with id > ``after_id`` in id order, as column arrays."""
        last = int(after_id)
        while True:
            stmt = (
                select(
                    FaceEmbeddingRow.id,
                    FaceEmbeddingRow.tracklet_id,
                    FaceEmbeddingRow.timestamp,
                    FaceEmbeddingRow.vector,
                )
                .where(FaceEmbeddingRow.id > last)
                .order_by(FaceEmbeddingRow.id)
                .limit(batch_size)
            )
            with self._read() as s:
                rows = s.execute(stmt).all()
            if not rows:
                return
            ids = np.fromiter((r[0] for r in rows), np.int64, len(rows))
            yield EmbeddingBatch(
                ids=ids,
                tracklet_ids=np.fromiter((r[1] for r in rows), np.int64, len(rows)),
                timestamps=np.fromiter((r[2].timestamp() for r in rows), np.float64, len(rows)),
                vectors=np.stack([_convert.vector(r[3], self.cipher, r[1]) for r in rows]),
            )
            last = int(ids[-1])

    def loose_in_window(
        self,
        t_from: datetime | None,
        t_to: datetime | None,
        camera_ids: Iterable[str] | None = None,
    ) -> list[LooseFaceRecord]:
        """Faces no tracked person surely holds, seen in [t_from, t_to] (inclusive; None
        is open), optionally of some cameras, by time; vectors decrypted."""
        r = LooseFaceRow
        stmt = select(r).order_by(r.timestamp, r.id)
        if t_from is not None:
            stmt = stmt.where(r.timestamp >= require_aware(t_from, "t_from"))
        if t_to is not None:
            stmt = stmt.where(r.timestamp <= require_aware(t_to, "t_to"))
        if camera_ids is not None:
            stmt = stmt.where(r.camera_id.in_(list(camera_ids)))
        out: list[LooseFaceRecord] = []
        with self._read() as s:
            for row in s.scalars(stmt):
                plain = self.cipher.decrypt(
                    row.vector,
                    "embedding",
                    _convert.loose_face_context(row.footage_id, row.frame_index),
                )
                vector = np.frombuffer(plain, dtype=np.float32)
                vector.flags.writeable = False
                out.append(
                    LooseFaceRecord(
                        id=row.id,
                        camera_id=row.camera_id,
                        footage_id=row.footage_id,
                        frame_index=row.frame_index,
                        timestamp=row.timestamp,
                        xyxy=(row.x1, row.y1, row.x2, row.y2),
                        score=row.score,
                        quality=row.quality,
                        fate=row.fate,
                        vector=vector,
                    )
                )
        return out

    def count_loose(self, footage_id: int | None = None) -> int:
        """How many loose faces are stored (for one footage file, or in all)."""
        stmt = select(func.count(LooseFaceRow.id))
        if footage_id is not None:
            stmt = stmt.where(LooseFaceRow.footage_id == footage_id)
        with self._read() as s:
            return int(s.execute(stmt).scalar_one())
