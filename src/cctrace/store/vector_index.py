"""Face-embedding search index: exact (brute-force) cosine search with a time pre-filter.

A derived, rebuildable cache of the ``face_embeddings`` table. Vectors live in one
contiguous float32 matrix sorted by timestamp, so a time window is a contiguous slice
found with ``searchsorted``, and a search is one matrix product over that slice
(``bench/trace_index.py``: 1M faces, p95 well under a second on 2 cores). New vectors
go to a small unsorted tail that is merged in when it grows.

On disk: ``<dir>/gen-<n>/`` holds the vectors, ``meta.npz`` (ids, tracklets,
timestamps) and ``manifest.json``; ``<dir>/CURRENT`` names the live generation and is
replaced atomically, so a crash mid-save leaves the previous generation intact. With a
data cipher (always, for an index synced from a :class:`~cctrace.store.Store`) the
vectors are written encrypted (``vectors.enc``: AES-GCM chunks, see
:mod:`cctrace.privacy.crypto`); without one, as ``vectors.npy``.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import struct
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from cctrace.errors import StoreError
from cctrace.privacy.crypto import HEADER_BYTES, TAG_BYTES, DataCipher, is_encrypted

from .files import write_file_atomic
from .records import EmbeddingBatch, InvalidInputError

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
MIN_TAIL_MERGE = 50_000
ENCRYPTED_CHUNK_BYTES = 64 << 20
"""Encrypted vectors are written in chunks of this many plaintext bytes."""
_LEN = struct.Struct("<Q")
Float32 = npt.NDArray[np.float32]
Int64 = npt.NDArray[np.int64]
Float64 = npt.NDArray[np.float64]


@dataclass(frozen=True)
class Hit:
    """One matching face: its embedding, its tracklet and the cosine similarity."""

    embedding_id: int
    tracklet_id: int
    score: float


class FaceBatches(Protocol):
    """The stored faces, as :meth:`FaceIndex.sync` reads them (``store.faces``)."""

    def embedding_stats(self, upto_id: int | None = None) -> tuple[int, int, int]: ...

    def iter_embedding_batches(
        self, after_id: int = 0, batch_size: int = 20_000
    ) -> Iterator[EmbeddingBatch]: ...


class EmbeddingSource(Protocol):
    """What :meth:`FaceIndex.sync` needs from the store."""

    instance_id: str

    @property
    def faces(self) -> FaceBatches: ...


def _epoch(value: datetime | float | None, name: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        if value.tzinfo is None or value.utcoffset() is None:
            raise InvalidInputError(f"{name}: expected a timezone-aware datetime, got {value!r}")
        return value.timestamp()
    return float(value)


class _Part:
    """Column arrays of a set of faces (ids, tracklets, timestamps, vectors)."""

    def __init__(self, ids: Int64, tids: Int64, ts: Float64, vecs: Float32) -> None:
        self.ids, self.tids, self.ts, self.vecs = ids, tids, ts, vecs

    @classmethod
    def empty(cls, dim: int) -> _Part:
        return cls(
            np.empty(0, np.int64),
            np.empty(0, np.int64),
            np.empty(0, np.float64),
            np.empty((0, dim), np.float32),
        )

    def __len__(self) -> int:
        return len(self.ids)

    def concat(self, other: _Part) -> _Part:
        return _concat([self, other])

    def sorted_by_time(self) -> _Part:
        order = np.argsort(self.ts, kind="stable")
        return _Part(
            self.ids[order],
            self.tids[order],
            self.ts[order],
            np.ascontiguousarray(self.vecs[order]),
        )


def _concat(parts: list[_Part]) -> _Part:
    return _Part(
        np.concatenate([p.ids for p in parts]),
        np.concatenate([p.tids for p in parts]),
        np.concatenate([p.ts for p in parts]),
        np.concatenate([p.vecs for p in parts]),
    )


class FaceIndex:
    """Exact cosine search over L2-normalised face embeddings, with a time filter.

    ``cipher`` encrypts the saved vectors; when None, :meth:`sync` adopts the store's
    cipher, so an index kept for a store never holds plaintext vectors on disk.
    """

    def __init__(
        self, directory: Path | str, dim: int = 128, cipher: DataCipher | None = None
    ) -> None:
        self.directory = Path(directory)
        self.dim = int(dim)
        self.cipher = cipher
        self._loaded_plain = False  # the saved vectors are plaintext (before encryption)
        self._lock = threading.RLock()
        self._main = _Part.empty(self.dim)  # sorted by timestamp
        self._tail_parts: list[_Part] = []  # unsorted recent additions, merged lazily
        self._max_id = 0
        self.instance_id: str | None = None
        """The store instance this index was built from (None until synced)."""

    def __len__(self) -> int:
        return len(self._main) + sum(len(p) for p in self._tail_parts)

    @property
    def max_id(self) -> int:
        """The largest embedding id held (0 when empty)."""
        return self._max_id

    @property
    def nbytes(self) -> int:
        """Memory held by the index arrays."""
        return sum(
            a.nbytes for p in (self._main, *self._tail_parts) for a in (p.ids, p.tids, p.ts, p.vecs)
        )

    # ---- building ------------------------------------------------------------------

    def add(
        self,
        ids: npt.ArrayLike,
        tracklet_ids: npt.ArrayLike,
        timestamps: npt.ArrayLike,
        vectors: npt.ArrayLike,
    ) -> None:
        """Add faces. Ids must be new and larger than :attr:`max_id` (the store's
        insertion order); timestamps are epoch seconds; vectors (N, dim) normalised."""
        part = _Part(
            np.asarray(ids, np.int64).reshape(-1),
            np.asarray(tracklet_ids, np.int64).reshape(-1),
            np.asarray(timestamps, np.float64).reshape(-1),
            np.ascontiguousarray(vectors, dtype=np.float32),
        )
        n = len(part.ids)
        if n == 0:
            return
        if part.vecs.shape != (n, self.dim):
            raise InvalidInputError(f"vectors: expected ({n}, {self.dim}), got {part.vecs.shape}")
        if len(part.tids) != n or len(part.ts) != n:
            raise InvalidInputError("ids, tracklet_ids and timestamps must have equal lengths")
        if not (np.isfinite(part.vecs).all() and np.isfinite(part.ts).all()):
            raise InvalidInputError("vectors and timestamps must be finite")
        if len(np.unique(part.ids)) != n:
            raise InvalidInputError("ids: expected distinct embedding ids")
        with self._lock:
            if int(part.ids.min()) <= self._max_id:
                raise InvalidInputError(
                    f"ids: expected ids above {self._max_id}, got {int(part.ids.min())}"
                )
            self._tail_parts.append(part)
            self._max_id = int(part.ids.max())
            if len(self) - len(self._main) > max(MIN_TAIL_MERGE, len(self._main) // 2):
                self._merge()

    def _merge(self) -> None:
        if self._tail_parts:
            self._main = self._main.concat(self._tail()).sorted_by_time()
            self._tail_parts = []

    def _tail(self) -> _Part:
        """The unsorted additions as one part (concatenated once, then cached)."""
        if not self._tail_parts:
            return _Part.empty(self.dim)
        if len(self._tail_parts) > 1:
            self._tail_parts = [_concat(self._tail_parts)]
        return self._tail_parts[0]

    def remove(self, embedding_ids: Iterable[int]) -> int:
        """Drop these faces (retention purge); returns how many were held.

        :attr:`max_id` is kept: the database never reuses ids, so "every face up to max
        id" stays true once the same faces are deleted there.
        """
        gone = np.fromiter((int(i) for i in embedding_ids), np.int64)
        if len(gone) == 0:
            return 0
        with self._lock:
            removed = 0
            parts = []
            for part in (self._main, *self._tail_parts):
                keep = ~np.isin(part.ids, gone)
                removed += int(len(part) - keep.sum())
                if keep.all():
                    parts.append(part)
                else:
                    parts.append(
                        _Part(
                            part.ids[keep],
                            part.tids[keep],
                            part.ts[keep],
                            np.ascontiguousarray(part.vecs[keep]),
                        )
                    )
            self._main, self._tail_parts = parts[0], [p for p in parts[1:] if len(p)]
        if removed:
            log.info("face index: removed %d faces", removed)
        return removed

    def clear(self) -> None:
        """Drop every face (in memory; the saved copy stays until :meth:`save`)."""
        with self._lock:
            self._main = _Part.empty(self.dim)
            self._tail_parts = []
            self._max_id = 0
            self.instance_id = None

    # ---- search --------------------------------------------------------------------

    def search(
        self,
        queries: npt.ArrayLike,
        k: int,
        t_from: datetime | float | None = None,
        t_to: datetime | float | None = None,
        min_score: float | None = None,
        per_tracklet: bool = False,
    ) -> list[list[Hit]]:
        """The ``k`` best faces for each query (Q, dim), best first, by cosine similarity.

        ``t_from``/``t_to`` (aware datetimes or epoch seconds, inclusive) restrict the
        faces' timestamps; ``min_score`` drops weaker hits; ``per_tracklet`` keeps only
        each tracklet's best face, so up to ``k`` distinct tracklets come back.
        """
        q = np.ascontiguousarray(queries, dtype=np.float32)
        if q.ndim == 1:
            q = q.reshape(1, -1)
        if q.ndim != 2 or q.shape[1] != self.dim:
            raise InvalidInputError(f"queries: expected (Q, {self.dim}), got {q.shape}")
        if k <= 0:
            raise InvalidInputError(f"k: expected > 0, got {k}")
        norms = np.linalg.norm(q, axis=1, keepdims=True)
        if not (np.isfinite(norms).all() and (norms > 0).all()):
            raise InvalidInputError("queries: expected finite, non-zero vectors")
        if np.abs(norms - 1.0).max() > 1e-4:  # cosine even for unnormalised queries
            q = np.ascontiguousarray(q / norms, dtype=np.float32)
        lo_t, hi_t = _epoch(t_from, "t_from"), _epoch(t_to, "t_to")
        with self._lock:
            m = self._main
            lo = 0 if lo_t is None else int(np.searchsorted(m.ts, lo_t, "left"))
            hi = len(m) if hi_t is None else int(np.searchsorted(m.ts, hi_t, "right"))
            hi = max(hi, lo)
            pieces = [(m.ids[lo:hi], m.tids[lo:hi], m.vecs[lo:hi])]
            t = self._tail()
            if len(t) and lo_t is None and hi_t is None:
                pieces.append((t.ids, t.tids, t.vecs))
            elif len(t):
                keep = np.ones(len(t), bool)
                if lo_t is not None:
                    keep &= t.ts >= lo_t
                if hi_t is not None:
                    keep &= t.ts <= hi_t
                pieces.append((t.ids[keep], t.tids[keep], t.vecs[keep]))
            if len(pieces) == 1:
                ids, tids, vecs = pieces[0]
                # (n, Q): the (n, dim) x (dim, Q) product is the fast BLAS orientation
                scores = vecs @ q.T
            else:
                ids = np.concatenate([p[0] for p in pieces])
                tids = np.concatenate([p[1] for p in pieces])
                scores = np.concatenate([p[2] @ q.T for p in pieces], axis=0)
        return [
            self._top(scores[:, j], ids, tids, k, min_score, per_tracklet) for j in range(len(q))
        ]

    @staticmethod
    def _top(
        scores: Float32,
        ids: Int64,
        tids: Int64,
        k: int,
        min_score: float | None,
        per_tracklet: bool,
    ) -> list[Hit]:
        n = len(scores)
        want = k
        while True:
            take = min(n, want)
            if take == 0:
                return []
            cand = np.argpartition(-scores, take - 1)[:take] if take < n else np.arange(n)
            cand = cand[np.argsort(-scores[cand], kind="stable")]
            if min_score is not None:
                cand = cand[scores[cand] >= min_score]
            if per_tracklet:
                _, first = np.unique(tids[cand], return_index=True)
                distinct = cand[np.sort(first)]
                if len(distinct) < k and take < n and len(cand) == take:
                    want *= 4  # too many faces of the same tracklets; widen
                    continue
                cand = distinct[:k]
            return [Hit(int(ids[i]), int(tids[i]), float(scores[i])) for i in cand]

    # ---- persistence -----------------------------------------------------------------

    def save(self) -> None:
        """Write the index to a new generation folder and switch ``CURRENT`` to it."""
        with self._lock:
            self._merge()
            self.directory.mkdir(parents=True, exist_ok=True)
            current = self._current_gen()
            gen = f"gen-{(int(current.split('-')[1]) + 1) if current else 1:06d}"
            path = self.directory / gen
            shutil.rmtree(path, ignore_errors=True)
            path.mkdir()
            m = self._main
            if self.cipher is None:
                vectors_file = "vectors.npy"
                np.save(path / vectors_file, m.vecs)
            else:
                vectors_file = "vectors.enc"
                _write_encrypted(path / vectors_file, m.vecs, self.cipher)
            np.savez(path / "meta.npz", ids=m.ids, tids=m.tids, ts=m.ts)
            manifest = {
                "version": FORMAT_VERSION,
                "dim": self.dim,
                "count": len(m),
                "max_id": self._max_id,
                "instance_id": self.instance_id,
                "vectors": vectors_file,
            }
            (path / "manifest.json").write_text(json.dumps(manifest))
            _fsync_dir(path)
            write_file_atomic(self.directory / "CURRENT", gen.encode())
            self._loaded_plain = self.cipher is None
            for old in self.directory.glob("gen-*"):
                if old.name != gen:
                    shutil.rmtree(old, ignore_errors=True)
        log.info("face index saved: %d faces in %s", len(m), path)

    def _current_gen(self) -> str | None:
        cur = self.directory / "CURRENT"
        if not cur.exists():
            return None
        name = cur.read_text().strip()
        if not name.startswith("gen-") or not name[4:].isdigit():
            raise StoreError(f"{cur}: expected a generation name, got {name!r}")
        return name

    def load(self) -> bool:
        """Load the saved index; False when nothing is saved, :class:`StoreError` when
        the saved files are corrupt or inconsistent (rebuild with :meth:`sync`)."""
        gen = self._current_gen()
        if gen is None:
            return False
        path = self.directory / gen
        try:
            manifest: dict[str, Any] = json.loads((path / "manifest.json").read_text())
            n = manifest.get("count")
            vectors_file = manifest.get("vectors", "vectors.npy")
            if vectors_file == "vectors.enc":
                if self.cipher is None:
                    raise StoreError(f"face index at {path} is encrypted; no data key given")
                vecs = _read_encrypted(path / vectors_file, int(n or 0), self.dim, self.cipher)
            elif vectors_file == "vectors.npy":
                vecs = np.load(path / vectors_file)
            else:
                raise StoreError(f"face index at {path}: unknown vectors file {vectors_file!r}")
            with np.load(path / "meta.npz") as meta:
                ids, tids, ts = meta["ids"], meta["tids"], meta["ts"]
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise StoreError(f"face index at {path} is unreadable: {exc}") from exc
        if (
            manifest.get("version") != FORMAT_VERSION
            or manifest.get("dim") != self.dim
            or vecs.shape != (n, self.dim)
            or vecs.dtype != np.float32
            or not len(ids) == len(tids) == len(ts) == n
        ):
            raise StoreError(f"face index at {path} is inconsistent with its manifest")
        with self._lock:
            self._main = _Part(
                ids.astype(np.int64),
                tids.astype(np.int64),
                ts.astype(np.float64),
                np.ascontiguousarray(vecs),
            )
            self._tail_parts = []
            self._max_id = int(manifest.get("max_id", 0))
            self.instance_id = manifest.get("instance_id")
            self._loaded_plain = vectors_file == "vectors.npy"
        log.info("face index loaded: %d faces from %s", n, path)
        return True

    # ---- keeping up with the database ------------------------------------------------

    def sync(self, store: EmbeddingSource, save: bool = True) -> int:
        """Bring the index up to date with the store; returns how many faces were added.

        Appends the embeddings with ids above :attr:`max_id`. Rebuilds from scratch when
        the index belongs to another database, holds faces the database no longer has
        (retention purge, restored backup, crash), or its saved files are unreadable.
        """
        with self._lock:
            if self.cipher is None:
                self.cipher = getattr(store, "cipher", None)
            if self.instance_id is None and len(self) == 0:
                try:
                    self.load()
                except StoreError as exc:
                    log.warning("rebuilding the face index: %s", exc)
            rebuilt = self._stale(store)
            if rebuilt:
                log.warning("face index out of step with the database; rebuilding")
                self.clear()
            added = 0
            for batch in store.faces.iter_embedding_batches(after_id=self._max_id):
                self.add(batch.ids, batch.tracklet_ids, batch.timestamps, batch.vectors)
                added += len(batch.ids)
            self.instance_id = store.instance_id
            reencrypt = self._loaded_plain and self.cipher is not None
            if save and (
                added or rebuilt or reencrypt or not (self.directory / "CURRENT").exists()
            ):
                self.save()
        if added:
            log.info("face index synced: +%d faces, %d total", added, len(self))
        return added

    def _stale(self, store: EmbeddingSource) -> bool:
        if self.instance_id is not None and self.instance_id != store.instance_id:
            return True
        if len(self) == 0:
            return False
        count, _, tracklet_sum = store.faces.embedding_stats(upto_id=self._max_id)
        held = int(self._main.tids.sum()) + int(self._tail().tids.sum())
        return count != len(self) or tracklet_sum != held


def _write_encrypted(path: Path, vecs: Float32, cipher: DataCipher) -> None:
    """Raw float32 vectors as length-prefixed AES-GCM chunks; each chunk's associated
    data names its position and the chunk count, so chunks cannot be dropped or moved."""
    raw = np.ascontiguousarray(vecs, dtype=np.float32).reshape(-1).view(np.uint8)
    n_chunks = max(1, -(-len(raw) // ENCRYPTED_CHUNK_BYTES))
    with open(path, "wb") as fh:
        for i in range(n_chunks):
            piece = raw[i * ENCRYPTED_CHUNK_BYTES : (i + 1) * ENCRYPTED_CHUNK_BYTES]
            blob = cipher.encrypt(piece.tobytes(), "index", f"vectors:{i}/{n_chunks}")
            fh.write(_LEN.pack(len(blob)))
            fh.write(blob)


def _read_encrypted(path: Path, n: int, dim: int, cipher: DataCipher) -> Float32:
    """The (n, dim) float32 matrix written by :func:`_write_encrypted`."""
    out = np.empty((n, dim), np.float32)
    flat = out.reshape(-1).view(np.uint8)
    n_chunks = max(1, -(-flat.size // ENCRYPTED_CHUNK_BYTES))
    offset = 0
    with open(path, "rb") as fh:
        for i in range(n_chunks):
            head = fh.read(_LEN.size)
            if len(head) != _LEN.size:
                raise ValueError(f"{path.name}: expected {n_chunks} chunks, found {i}")
            (size,) = _LEN.unpack(head)
            if size > ENCRYPTED_CHUNK_BYTES + HEADER_BYTES + TAG_BYTES:
                raise ValueError(f"{path.name}: chunk {i} claims {size} bytes")
            blob = fh.read(size)
            if not is_encrypted(blob):
                raise ValueError(f"{path.name}: chunk {i} is not encrypted")
            plain = cipher.decrypt(blob, "index", f"vectors:{i}/{n_chunks}")
            if offset + len(plain) > flat.size:
                raise ValueError(f"{path.name}: more vector bytes than the manifest says")
            flat[offset : offset + len(plain)] = np.frombuffer(plain, np.uint8)
            offset += len(plain)
        if offset != flat.size or fh.read(1):
            raise ValueError(f"{path.name}: vector bytes do not match the manifest")
    return out


def _fsync_dir(path: Path) -> None:
    """Flush a folder's files and entries to disk (best effort on odd filesystems)."""
    try:
        for f in path.iterdir():
            with open(f, "rb") as fh:
                os.fsync(fh.fileno())
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError as exc:  # pragma: no cover - e.g. filesystems without dir fsync
        log.debug("fsync of %s skipped: %s", path, exc)
