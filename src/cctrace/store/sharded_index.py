"""Approximate face index for a city: FAISS inverted files, one shard per day (and district).

The same interface as the exact :class:`~cctrace.store.vector_index.FaceIndex`
(``add``, ``remove``, ``search``, ``save``, ``load``, ``sync``), for sites too big for
one brute-force matrix (``storage.index.type: ivf``; see ``bench/vector_index.py``).

* **Shards.** A face goes to the shard of its UTC day, and of its camera's district when
  the site names districts. A time-window search touches only the shards whose days
  overlap the window; a camera filter skips shards holding none of those cameras.
* **Inside a shard.** Up to ``flat_below`` faces are searched exactly (float32). A bigger
  shard is an inverted file with ``nlist`` ~ sqrt(faces) lists, trained on the shard's
  own faces: 4-bit product-quantisation codes scanned with SIMD (``IVF<nlist>,PQ64x4fs``,
  32 bytes a face) find at least 400 (or 2k) candidates in ``nprobe`` lists, which are
  re-ranked by 8-bit scalar codes of the same faces (128 bytes a face; scores within
  ~0.01 of the exact cosine). It is retrained with 4x the lists when it grows 16x. New
  faces wait in the exact part until ``fold_rows`` of them (or the next save). A window
  that cuts a shard, a camera set, or purged faces become a bitmap ``IDSelector``, and
  ``nprobe`` grows by the inverse of the selected fraction, so a filter does not starve
  the result.
* **Retention.** :meth:`ShardedFaceIndex.remove` drops a shard whole (its file deleted at
  the next save) once every face in it is gone; faces kept as case evidence keep theirs.
* **At rest.** Each shard is one file (:mod:`cctrace.store.shard_files`) encrypted with
  the site's data key, decrypted into memory on load. ``MANIFEST`` (replaced atomically)
  names the live shard files; a save writes only the shards that changed.
"""

from __future__ import annotations

import fcntl
import json
import logging
import math
import os
import threading
import time
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from cctrace.errors import ConfigError, StoreError
from cctrace.privacy.crypto import DataCipher

from .files import write_file_atomic
from .records import InvalidInputError
from .shard_files import read_sections, write_sections
from .vector_index import EmbeddingSource, Hit, _epoch

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
MANIFEST = "MANIFEST"
DAY_S = 86_400
FLAT_BELOW = 50_000
FOLD_ROWS = 1_000_000
DEFAULT_NPROBE = 512
MAX_NLIST = 4096
MAX_K = 16_384
SAVE_EVERY = 1_000_000
"""Faces synced before :meth:`ShardedFaceIndex.sync` saves again (today's shard is
rewritten whole; faces not yet saved are read from the database again after a restart)."""
STALE_CHECK_S = 300.0
"""Seconds between checks that the database still holds every indexed face."""
RERANK_MIN = 400
"""Fast-scan candidates re-ranked per query and shard: at least this many, else 2k."""
Float32 = npt.NDArray[np.float32]
Int64 = npt.NDArray[np.int64]


THREADS_ENV = "CCTRACE_FAISS_THREADS"
"""OpenMP threads FAISS may use per call (default 1)."""
_threads_set = False


def faiss_threads() -> int:
    """``$CCTRACE_FAISS_THREADS`` (1..256, default 1); ``ConfigError`` naming a bad value."""
    raw = (os.environ.get(THREADS_ENV) or "1").strip()
    if not raw.isdigit() or not 1 <= int(raw) <= 256:
        raise ConfigError(f"${THREADS_ENV}: expected a whole number 1..256 (got {raw!r})")
    return int(raw)


def _faiss() -> Any:
    global _threads_set
    try:
        import faiss
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise StoreError(
            "storage.index.type 'ivf' needs FAISS: pip install 'cctrace[city]'"
        ) from exc
    if not _threads_set:
        # Concurrent traces already search in parallel, one thread each; OpenMP teams on
        # top of them (or beside other work on the machine) spin and wait for each other:
        # training a small shard took 6.5 s with 2 threads on a busy 2-core host, 0.75 s
        # with 1.
        faiss.omp_set_num_threads(faiss_threads())
        _threads_set = True
    return faiss


def nlist_for(n: int) -> int:
    """Inverted lists for a shard of ``n`` faces: the power of two nearest sqrt(n),
    within [64, 4096]."""
    return int(min(MAX_NLIST, max(64, 2 ** round(math.log2(max(1.0, math.sqrt(n)))))))


class _RWLock:
    """Many searches at once, or one writer."""

    def __init__(self) -> None:
        self._cond = threading.Condition(threading.Lock())
        self._readers = 0
        self._writer: int | None = None
        self._depth = 0

    @contextmanager
    def read(self) -> Iterator[None]:
        me = threading.get_ident()
        if self._writer == me:  # a writer may search
            yield
            return
        with self._cond:
            while self._writer is not None:
                self._cond.wait()
            self._readers += 1
        try:
            yield
        finally:
            with self._cond:
                self._readers -= 1
                self._cond.notify_all()

    @contextmanager
    def write(self) -> Iterator[None]:
        me = threading.get_ident()
        with self._cond:
            if self._writer != me:
                while self._writer is not None or self._readers:
                    self._cond.wait()
                self._writer = me
            self._depth += 1
        try:
            yield
        finally:
            with self._cond:
                self._depth -= 1
                if self._depth == 0:
                    self._writer = None
                    self._cond.notify_all()


@dataclass
class _Cols:
    ids: Int64
    tids: Int64
    ts: npt.NDArray[np.float64]
    cams: npt.NDArray[np.int32]


class _Shard:
    """The faces of one day (and district). Row ``i`` of the columns is FAISS id ``i``;
    rows ``[0, n_ann)`` are in the inverted file, the rest in ``flat`` (exact)."""

    def __init__(self, key: str, day: int, district: str, dim: int) -> None:
        self.key, self.day, self.district, self.dim = key, day, district, dim
        self._parts: list[_Cols] = []
        self._cols = _Cols(
            np.empty(0, np.int64), np.empty(0, np.int64), np.empty(0, np.float64),
            np.empty(0, np.int32),
        )  # fmt: skip
        self.alive = np.ones(0, bool)
        self.n_dead = 0
        self.tid_sum = 0  # of the live faces: the fingerprint sync compares with the store
        self.ann: Any = None  # IVF-PQ fast-scan: finds candidates
        self.sq: Any = None  # its 8-bit scalar quantizer: re-ranks them
        self.codes = np.empty((0, dim), np.uint8)  # SQ8 codes of rows [0, n_ann)
        self.n_ann = 0
        self._flat_parts: list[Float32] = []
        self._flat = np.empty((0, dim), np.float32)
        self.dirty = True
        self.file: str | None = None
        self._cam_set: frozenset[int] | None = None
        self._span: tuple[float, float] | None = None

    # columns are appended in parts and joined lazily (a day arrives in many batches)
    def cols(self) -> _Cols:
        if self._parts:
            parts = [self._cols, *self._parts]
            self._cols = _Cols(
                np.concatenate([p.ids for p in parts]),
                np.concatenate([p.tids for p in parts]),
                np.concatenate([p.ts for p in parts]),
                np.concatenate([p.cams for p in parts]),
            )
            self._parts = []
            grown = len(self._cols.ids) - len(self.alive)
            self.alive = np.concatenate([self.alive, np.ones(grown, bool)])
        return self._cols

    def flat(self) -> Float32:
        if self._flat_parts:
            self._flat = np.concatenate([self._flat, *self._flat_parts])
            self._flat_parts = []
        return self._flat

    def __len__(self) -> int:
        return len(self._cols.ids) + sum(len(p.ids) for p in self._parts)

    @property
    def n_alive(self) -> int:
        return len(self) - self.n_dead

    @property
    def n_flat(self) -> int:
        return len(self) - self.n_ann

    def time_span(self) -> tuple[float, float]:
        """The first and last face time held (cached; (inf, -inf) when empty)."""
        c = self.cols()
        if self._span is None:
            self._span = (
                (float(c.ts.min()), float(c.ts.max())) if len(c.ts) else (math.inf, -math.inf)
            )
        return self._span

    def cameras(self) -> frozenset[int]:
        if self._cam_set is None:
            self._cam_set = frozenset(int(c) for c in np.unique(self.cols().cams))
        return self._cam_set

    def append(self, cols: _Cols, vecs: Float32) -> None:
        self._parts.append(cols)
        self._flat_parts.append(vecs)
        self.tid_sum += int(cols.tids.sum())
        self._span = None
        self._cam_set = None
        self.dirty = True

    def nbytes(self) -> int:
        c = self.cols()
        n = sum(a.nbytes for a in (c.ids, c.tids, c.ts, c.cams, self.alive, self.flat()))
        if self.ann is not None:
            n += (int(self.ann.code_size) + 8) * int(self.ann.ntotal) + self.codes.nbytes
            n += int(self.ann.nlist) * self.dim * 4
        return n

    # ---- the inverted file -----------------------------------------------------------

    def fold(self) -> None:
        """Move the exact part into the inverted file (training it, or retraining it
        with 4x the lists once the shard has grown 16x)."""
        faiss = _faiss()
        c = self.cols()
        flat = self.flat()
        n = len(c.ids)
        keep = np.flatnonzero(self.alive[self.n_ann :]) + self.n_ann
        want = nlist_for(self.n_alive)
        if self.ann is None or want >= 4 * int(self.ann.nlist):
            rng = np.random.default_rng(n)
            old_rows = np.flatnonzero(self.alive[: self.n_ann])
            n_train = min(self.n_alive, 64 * want)
            pool = flat[keep - self.n_ann]
            if len(pool) < n_train and len(old_rows):
                extra = rng.choice(old_rows, min(len(old_rows), n_train - len(pool)), False)
                pool = np.concatenate([pool, self._decode(extra)])
            train = np.ascontiguousarray(
                pool[rng.choice(len(pool), min(n_train, len(pool)), replace=False)]
            )
            ann = faiss.index_factory(
                self.dim, f"IVF{want},PQ{self.dim // 2}x4fs", faiss.METRIC_INNER_PRODUCT
            )
            ann.train(train)
            if self.sq is None:  # the re-ranking codes: trained once, kept on retraining
                self.sq = faiss.IndexScalarQuantizer(
                    self.dim, faiss.ScalarQuantizer.QT_8bit, faiss.METRIC_INNER_PRODUCT
                )
                self.sq.train(train)
            for start in range(0, len(old_rows), FOLD_ROWS):
                rows = old_rows[start : start + FOLD_ROWS]
                ann.add_with_ids(self._decode(rows), rows.astype(np.int64))
            self.ann = ann
            log.info("face index shard %s: inverted file with %d lists", self.key, want)
        if len(keep):
            self.ann.add_with_ids(flat[keep - self.n_ann], keep.astype(np.int64))
        self.codes = np.concatenate([self.codes, self.sq.sq.compute_codes(flat)])
        self.n_ann = n
        self._flat = np.empty((0, self.dim), np.float32)
        self.dirty = True

    def _decode(self, rows: Int64) -> Float32:
        """The SQ8 reconstruction of these inverted-file rows."""
        out: Float32 = self.sq.sq.decode(self.codes[rows])
        return out

    def remove(self, gone: Int64) -> int:
        c = self.cols()
        hit = np.isin(c.ids, gone) & self.alive
        rows = np.flatnonzero(hit)
        if len(rows) == 0:
            return 0
        self.alive[rows] = False
        self.n_dead += len(rows)
        self.tid_sum -= int(c.tids[rows].sum())
        ann_rows = rows[rows < self.n_ann]
        if self.ann is not None and len(ann_rows):
            self.ann.remove_ids(_faiss().IDSelectorBatch(ann_rows.astype(np.int64)))
        self.dirty = True
        return len(rows)

    # ---- search ----------------------------------------------------------------------

    def search(
        self,
        q: Float32,
        k: int,
        lo: float | None,
        hi: float | None,
        cams: npt.NDArray[np.int32] | None,
        nprobe: int,
    ) -> tuple[npt.NDArray[np.float32], Int64]:
        """(scores, rows), each (Q, <=k) with -inf / -1 padding."""
        c = self.cols()
        n = len(c.ids)
        mask: npt.NDArray[np.bool_] | None = None
        first, last = self.time_span()
        if lo is not None and lo > first:
            mask = c.ts >= lo
        if hi is not None and hi < last:
            mask = c.ts <= hi if mask is None else mask & (c.ts <= hi)
        if cams is not None and not self.cameras() <= set(cams.tolist()):
            cm = np.isin(c.cams, cams)
            mask = cm if mask is None else mask & cm
        if self.n_dead:
            mask = self.alive.copy() if mask is None else mask & self.alive
        scores, rows = [], []
        if self.ann is not None and self.n_ann:
            s, r = self._search_ann(q, k, None if mask is None else mask[: self.n_ann], nprobe)
            scores.append(s)
            rows.append(r)
        if self.n_flat:
            s, r = self._search_flat(q, k, None if mask is None else mask[self.n_ann : n])
            scores.append(s)
            rows.append(r)
        if not scores:
            return np.full((len(q), 0), -np.inf, np.float32), np.full((len(q), 0), -1, np.int64)
        return np.concatenate(scores, axis=1), np.concatenate(rows, axis=1)

    def _search_ann(
        self, q: Float32, k: int, mask: npt.NDArray[np.bool_] | None, nprobe: int
    ) -> tuple[npt.NDArray[np.float32], Int64]:
        faiss = _faiss()
        nlist = int(self.ann.nlist)
        probe = min(nlist, nprobe)
        params = faiss.SearchParametersIVF()
        bits = None
        if mask is not None:
            selected = int(mask.sum())
            if selected == 0:
                return np.full((len(q), 0), -np.inf, np.float32), np.full((len(q), 0), -1)
            fraction = selected / max(1, len(mask))
            probe = min(nlist, math.ceil(nprobe / fraction))
            bits = np.packbits(mask, bitorder="little")
            params.sel = faiss.IDSelectorBitmap(len(mask), faiss.swig_ptr(bits))
        params.nprobe = probe
        cand = min(self.n_ann, max(2 * k, RERANK_MIN))
        _, found = self.ann.search(q, cand, params=params)
        del bits  # (kept alive until the search is done)
        # re-rank the fast-scan candidates by their 8-bit codes (within ~0.01 of exact)
        kk = min(k, cand)
        scores = np.full((len(q), kk), -np.inf, np.float32)
        rows = np.full((len(q), kk), -1, np.int64)
        for j in range(len(q)):
            got = found[j][found[j] >= 0]
            if len(got):
                s = self._decode(got) @ q[j]
                top = np.argsort(-s, kind="stable")[:kk]
                scores[j, : len(top)], rows[j, : len(top)] = s[top], got[top]
        return scores, rows

    def _search_flat(
        self, q: Float32, k: int, mask: npt.NDArray[np.bool_] | None
    ) -> tuple[npt.NDArray[np.float32], Int64]:
        flat = self.flat()
        rows = np.arange(self.n_ann, self.n_ann + len(flat), dtype=np.int64)
        if mask is not None:
            rows = rows[mask]
            vecs = flat[mask]
        else:
            vecs = flat
        if len(rows) == 0:
            return np.full((len(q), 0), -np.inf, np.float32), np.full((len(q), 0), -1)
        s = q @ vecs.T  # (Q, m)
        take = min(k, len(rows))
        top = np.argpartition(-s, take - 1, axis=1)[:, :take] if take < len(rows) else None
        if top is None:
            return s.astype(np.float32), np.broadcast_to(rows, s.shape).copy()
        return np.take_along_axis(s, top, axis=1).astype(np.float32), rows[top]

    # ---- persistence -------------------------------------------------------------------

    def sections(self) -> dict[str, npt.NDArray[Any]]:
        c = self.cols()
        out: dict[str, npt.NDArray[Any]] = {
            "ids": c.ids, "tids": c.tids, "ts": c.ts, "cams": c.cams,
            "alive": self.alive, "flat": self.flat(),
        }  # fmt: skip
        if self.ann is not None:
            out["ann"] = _faiss().serialize_index(self.ann)
            out["sq"] = _faiss().serialize_index(self.sq)
            out["codes"] = self.codes
        return out

    @classmethod
    def from_sections(
        cls, key: str, day: int, district: str, dim: int, sec: Mapping[str, npt.NDArray[Any]]
    ) -> _Shard:
        shard = cls(key, day, district, dim)
        n = len(sec["ids"])
        if not (len(sec["tids"]) == len(sec["ts"]) == len(sec["cams"]) == len(sec["alive"]) == n):
            raise ValueError(f"shard {key}: columns of different lengths")
        shard._cols = _Cols(
            sec["ids"].astype(np.int64), sec["tids"].astype(np.int64),
            sec["ts"].astype(np.float64), sec["cams"].astype(np.int32),
        )  # fmt: skip
        shard.alive = sec["alive"].astype(bool)
        shard.n_dead = int(n - shard.alive.sum())
        shard.tid_sum = int(shard._cols.tids[shard.alive].sum())
        flat = sec["flat"]
        if flat.ndim != 2 or flat.shape[1] != dim or flat.dtype != np.float32:
            raise ValueError(f"shard {key}: flat vectors of shape {flat.shape}")
        shard._flat = flat
        shard.n_ann = n - len(flat)
        if "ann" in sec:
            shard.sq = _faiss().deserialize_index(sec["sq"])
            shard.codes = sec["codes"].astype(np.uint8)
            if shard.codes.shape != (n - len(flat), shard.sq.code_size):
                raise ValueError(f"shard {key}: re-ranking codes do not match its columns")
            shard.ann = _faiss().deserialize_index(sec["ann"])
            if shard.ann.d != dim or shard.ann.ntotal != int(shard.alive[: shard.n_ann].sum()):
                raise ValueError(f"shard {key}: inverted file does not match its columns")
        elif shard.n_ann:
            raise ValueError(f"shard {key}: rows without vectors")
        shard.dirty = False
        return shard


def _shard_key(day: int, district: str) -> str:
    date = datetime.fromtimestamp(day * DAY_S, UTC).strftime("%Y%m%d")
    return f"{date}.{district}" if district else date


class ShardedFaceIndex:
    """Approximate cosine search over L2-normalised faces, sharded by day (and district).

    ``districts`` maps camera ids to district names (shards split by district too);
    ``nprobe`` is how many inverted lists a query scans in each shard (more: better
    recall, slower); ``cipher`` encrypts the saved shards (a synced index adopts the
    store's cipher, as :class:`~cctrace.store.vector_index.FaceIndex` does).
    """

    def __init__(
        self,
        directory: Path | str,
        dim: int = 128,
        cipher: DataCipher | None = None,
        *,
        nprobe: int = DEFAULT_NPROBE,
        districts: Mapping[str, str] | None = None,
        flat_below: int = FLAT_BELOW,
        fold_rows: int = FOLD_ROWS,
    ) -> None:
        _faiss()
        if nprobe < 1 or flat_below < 1 or fold_rows < 1:
            raise InvalidInputError("nprobe, flat_below and fold_rows must be positive")
        self.directory = Path(directory)
        self.dim = int(dim)
        self.cipher = cipher
        self.nprobe = int(nprobe)
        self.districts = dict(districts or {})
        self.flat_below = int(flat_below)
        self.fold_rows = int(fold_rows)
        self._lock = _RWLock()
        self._shards: dict[str, _Shard] = {}
        self._dropped: set[str] = set()
        self._cameras: list[str] = []
        self._camera_code: dict[str, int] = {}
        self._max_id = 0
        self._generation = 0
        self._loaded_plain = False
        self._checked_at = -math.inf
        self._unsaved = 0  # faces synced since the last save
        self.instance_id: str | None = None
        """The store instance this index was built from (None until synced)."""

    def __len__(self) -> int:
        return sum(s.n_alive for s in self._shards.values())

    @property
    def max_id(self) -> int:
        """The largest embedding id held (0 when empty)."""
        return self._max_id

    @property
    def nbytes(self) -> int:
        """Memory held by the shards (codes, lists, columns, exact parts)."""
        with self._lock.write():
            return sum(s.nbytes() for s in self._shards.values())

    def shard_keys(self) -> list[str]:
        """The shards held, oldest first (``YYYYMMDD`` or ``YYYYMMDD.district``)."""
        return sorted(self._shards)

    def _code(self, camera: str) -> int:
        code = self._camera_code.get(camera)
        if code is None:
            code = self._camera_code[camera] = len(self._cameras)
            self._cameras.append(camera)
        return code

    # ---- building --------------------------------------------------------------------

    def add(
        self,
        ids: npt.ArrayLike,
        tracklet_ids: npt.ArrayLike,
        timestamps: npt.ArrayLike,
        vectors: npt.ArrayLike,
        cameras: Iterable[str] | None = None,
    ) -> None:
        """Add faces (ids new and above :attr:`max_id`, epoch-second timestamps,
        (N, dim) normalised vectors, optionally each face's camera id)."""
        ids_a = np.asarray(ids, np.int64).reshape(-1)
        tids = np.asarray(tracklet_ids, np.int64).reshape(-1)
        ts = np.asarray(timestamps, np.float64).reshape(-1)
        vecs = np.ascontiguousarray(vectors, dtype=np.float32)
        n = len(ids_a)
        if n == 0:
            return
        if vecs.shape != (n, self.dim):
            raise InvalidInputError(f"vectors: expected ({n}, {self.dim}), got {vecs.shape}")
        cam_names = np.full(n, "") if cameras is None else np.asarray(list(cameras), dtype=str)
        if len(tids) != n or len(ts) != n or len(cam_names) != n:
            raise InvalidInputError("ids, tracklet_ids, timestamps and cameras: unequal lengths")
        if not (np.isfinite(vecs).all() and np.isfinite(ts).all()):
            raise InvalidInputError("vectors and timestamps must be finite")
        if len(np.unique(ids_a)) != n:
            raise InvalidInputError("ids: expected distinct embedding ids")
        with self._lock.write():
            if int(ids_a.min()) <= self._max_id:
                raise InvalidInputError(
                    f"ids: expected ids above {self._max_id}, got {int(ids_a.min())}"
                )
            names_u, inverse = np.unique(cam_names, return_inverse=True)
            cams = np.array([self._code(str(c)) for c in names_u], np.int32)[inverse]
            names = sorted(set(self.districts.values()))
            slot = {d: i + 1 for i, d in enumerate(names)}
            cam_slot = np.array([slot.get(self.districts.get(c, ""), 0) for c in self._cameras])
            days = np.floor(ts / DAY_S).astype(np.int64)
            group = days * (len(names) + 1) + cam_slot[cams]
            for g in np.unique(group).tolist():
                rows = np.flatnonzero(group == g)
                day, k = divmod(int(g), len(names) + 1)
                district = names[k - 1] if k else ""
                key = _shard_key(day, district)
                shard = self._shards.get(key)
                if shard is None:
                    shard = self._shards[key] = _Shard(key, day, district, self.dim)
                    self._dropped.discard(key)
                shard.append(_Cols(ids_a[rows], tids[rows], ts[rows], cams[rows]), vecs[rows])
                if shard.n_flat >= self.fold_rows and shard.n_alive >= self.flat_below:
                    shard.fold()
            self._max_id = int(ids_a.max())

    def settle(self) -> None:
        """Fold every shard's exact part of ``flat_below`` or more faces into its
        inverted file (done by :meth:`save`; call before timing searches)."""
        with self._lock.write():
            for shard in self._shards.values():
                if shard.n_flat and (shard.ann is not None or shard.n_alive >= self.flat_below):
                    shard.fold()

    def remove(self, embedding_ids: Iterable[int]) -> int:
        """Drop these faces (retention purge); returns how many were held. A shard left
        with no faces is dropped whole (its file goes at the next :meth:`save`)."""
        gone = np.unique(np.fromiter((int(i) for i in embedding_ids), np.int64))
        if len(gone) == 0:
            return 0
        removed = 0
        with self._lock.write():
            for key, shard in list(self._shards.items()):
                removed += shard.remove(gone)
                if shard.n_alive == 0:
                    del self._shards[key]
                    self._dropped.add(key)
                    log.info("face index: dropped shard %s", key)
        if removed:
            log.info("face index: removed %d faces", removed)
        return removed

    def clear(self) -> None:
        """Drop every face (in memory; the saved copy stays until :meth:`save`)."""
        with self._lock.write():
            self._dropped.update(self._shards)
            self._shards = {}
            self._cameras, self._camera_code = [], {}
            self._max_id = 0
            self.instance_id = None

    # ---- search ----------------------------------------------------------------------

    def search(
        self,
        queries: npt.ArrayLike,
        k: int,
        t_from: datetime | float | None = None,
        t_to: datetime | float | None = None,
        min_score: float | None = None,
        per_tracklet: bool = False,
        cameras: Iterable[str] | None = None,
    ) -> list[list[Hit]]:
        """The ``k`` best faces for each query (Q, dim), best first, by (approximate)
        cosine similarity; arguments as :meth:`FaceIndex.search
        <cctrace.store.vector_index.FaceIndex.search>`, plus ``cameras``: only faces
        seen by these camera ids."""
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
        q = np.ascontiguousarray(q / norms, dtype=np.float32)
        lo, hi = _epoch(t_from, "t_from"), _epoch(t_to, "t_to")
        if any(sh._parts or sh._flat_parts for sh in self._shards.values()):
            with self._lock.write():  # join appended parts before sharing them
                for sh in self._shards.values():
                    sh.cols()
                    sh.flat()
        with self._lock.read():
            cams = None
            if cameras is not None:
                codes = [self._camera_code[c] for c in set(cameras) if c in self._camera_code]
                cams = np.array(sorted(codes), np.int32)
            shards = [s for s in self._shards.values() if self._overlaps(s, lo, hi, cams)]
            want = k * 4 if per_tracklet else k
            while True:
                found = [(s, *s.search(q, want, lo, hi, cams, self.nprobe)) for s in shards]
                out = [self._top(found, j, k, min_score, per_tracklet) for j in range(len(q))]
                if want >= MAX_K or not any(
                    short and self._full(found, j, want) for j, (_, short) in enumerate(out)
                ):
                    return [hits for hits, _ in out]
                want = min(MAX_K, want * 4)  # too many faces of the same tracklets; widen

    @staticmethod
    def _full(
        found: list[tuple[_Shard, npt.NDArray[np.float32], Int64]], j: int, want: int
    ) -> bool:
        """Whether some shard returned all ``want`` faces it was asked for (query j)."""
        return any(r.shape[1] >= want and r[j, -1] >= 0 for _, _, r in found)

    @staticmethod
    def _overlaps(
        shard: _Shard, lo: float | None, hi: float | None, cams: npt.NDArray[np.int32] | None
    ) -> bool:
        start, end = shard.day * DAY_S, (shard.day + 1) * DAY_S
        if (lo is not None and lo >= end) or (hi is not None and hi < start):
            return False
        return cams is None or not shard.cameras().isdisjoint(cams.tolist())

    @staticmethod
    def _top(
        found: list[tuple[_Shard, npt.NDArray[np.float32], Int64]],
        j: int,
        k: int,
        min_score: float | None,
        per_tracklet: bool,
    ) -> tuple[list[Hit], bool]:
        """Query j's best hits, and whether asking the shards for more could add
        tracklets (fewer than ``k``, and ``min_score`` did not cut the candidates)."""
        scores, ids, tids = [], [], []
        for shard, s, r in found:
            ok = r[j] >= 0
            rows = r[j][ok]
            c = shard.cols()
            scores.append(s[j][ok])
            ids.append(c.ids[rows])
            tids.append(c.tids[rows])
        if not scores:
            return [], False
        sc, ii, tt = np.concatenate(scores), np.concatenate(ids), np.concatenate(tids)
        order = np.lexsort((ii, -sc))
        cut = False
        if min_score is not None:
            passed = order[sc[order] >= min_score]
            cut = len(passed) < len(order)
            order = passed
        if per_tracklet:
            _, first = np.unique(tt[order], return_index=True)
            order = order[np.sort(first)]
        order = order[:k]
        hits = [Hit(int(ii[i]), int(tt[i]), float(sc[i])) for i in order]
        return hits, per_tracklet and len(hits) < k and not cut

    # ---- persistence -----------------------------------------------------------------

    def save(self) -> None:
        """Fold and write the changed shards, then replace ``MANIFEST`` atomically and
        delete the files it no longer names (dropped shards, older generations)."""
        self.settle()
        self.directory.mkdir(parents=True, exist_ok=True)
        with self._lock.write(), self._files_locked(exclusive=True):
            saved = self.saved_generation()
            if saved != self._generation and saved != 0:
                # another process saved since this one loaded (a purge): its copy wins;
                # the next sync reloads it and reads the newer faces from the database
                log.warning("face index: generation %d on disk is newer; not saving", saved)
                return
            gen = self._generation + 1
            shards: dict[str, dict[str, Any]] = {}
            for key, shard in sorted(self._shards.items()):
                if shard.dirty or shard.file is None or self._loaded_plain != (self.cipher is None):
                    name = f"shard-{key}-{gen:06d}.bin"
                    write_sections(
                        self.directory / name, shard.sections(), self.cipher, f"{key}/{gen}"
                    )
                    shard.file, shard.dirty = name, False
                shards[key] = {
                    "file": shard.file,
                    "day": shard.day,
                    "district": shard.district,
                    "faces": shard.n_alive,
                }
            manifest = {
                "version": FORMAT_VERSION,
                "kind": "ivf-pq4fs-sq8",
                "dim": self.dim,
                "max_id": self._max_id,
                "instance_id": self.instance_id,
                "encrypted": self.cipher is not None,
                "cameras": self._cameras,
                "shards": shards,
                "generation": gen,
            }
            write_file_atomic(self.directory / MANIFEST, json.dumps(manifest).encode())
            self._generation = gen
            self._loaded_plain = self.cipher is None
            live = {s["file"] for s in shards.values()}
            for old in self.directory.glob("shard-*.bin"):
                if old.name not in live:
                    old.unlink(missing_ok=True)
            self._dropped.clear()
            self._unsaved = 0
        log.info("face index saved: %d faces in %d shards", len(self), len(shards))

    def _read_manifest(self) -> dict[str, Any] | None:
        path = self.directory / MANIFEST
        if not path.exists():
            return None
        try:
            manifest = json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            raise StoreError(f"face index manifest {path} is unreadable: {exc}") from exc
        if not isinstance(manifest, dict):
            raise StoreError(f"face index manifest {path} is unreadable")
        return manifest

    @property
    def generation(self) -> int:
        """The generation this instance last saved or loaded (0: neither)."""
        return self._generation

    def saved_generation(self) -> int:
        """The generation number of the saved index (0 when none)."""
        try:
            manifest = self._read_manifest()
        except StoreError:
            return -1
        return int(manifest.get("generation", 0)) if manifest else 0

    @contextmanager
    def _files_locked(self, exclusive: bool) -> Iterator[None]:
        """An advisory lock on the folder across processes: a save (exclusive) never
        deletes files under a load (shared) in another process."""
        self.directory.mkdir(parents=True, exist_ok=True)
        with open(self.directory / ".lock", "a+b") as fh:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
            try:
                yield
            finally:
                fcntl.flock(fh.fileno(), fcntl.LOCK_UN)

    def _read_shards(self, manifest: dict[str, Any]) -> dict[str, _Shard]:
        encrypted = bool(manifest.get("encrypted"))
        shards: dict[str, _Shard] = {}
        for key, entry in manifest["shards"].items():
            file = str(entry["file"])
            file_gen = int(file.rsplit("-", 1)[1].split(".")[0])
            sec = read_sections(
                self.directory / file, self.cipher if encrypted else None, f"{key}/{file_gen}"
            )
            shard = _Shard.from_sections(
                key, int(entry["day"]), str(entry["district"]), self.dim, sec
            )
            shard.file = file
            shards[key] = shard
        return shards

    def load(self) -> bool:
        """Load the saved index; False when nothing is saved, :class:`StoreError` when
        the saved files are corrupt, inconsistent, or need another key."""
        manifest = self._read_manifest()
        if manifest is None:
            return False
        if manifest.get("version") != FORMAT_VERSION or manifest.get("dim") != self.dim:
            raise StoreError(f"face index at {self.directory}: other version or dimension")
        encrypted = bool(manifest.get("encrypted"))
        if encrypted and self.cipher is None:
            raise StoreError(f"face index at {self.directory} is encrypted; no data key given")
        gen = int(manifest.get("generation", 0))
        try:
            with self._files_locked(exclusive=False):
                shards = self._read_shards(manifest)
        except (OSError, ValueError, KeyError, TypeError, RuntimeError) as exc:
            raise StoreError(f"face index at {self.directory} is unreadable: {exc}") from exc
        with self._lock.write():
            self._shards = shards
            self._dropped = set()
            self._cameras = [str(c) for c in manifest.get("cameras", [])]
            self._camera_code = {c: i for i, c in enumerate(self._cameras)}
            self._max_id = int(manifest.get("max_id", 0))
            self.instance_id = manifest.get("instance_id")
            self._generation = gen
            self._loaded_plain = not encrypted
        log.info("face index loaded: %d faces in %d shards", len(self), len(shards))
        return True

    # ---- keeping up with the database ------------------------------------------------

    def sync(self, store: EmbeddingSource, save: bool = True) -> int:
        """Bring the index up to date with the store; returns how many faces were added.

        Reloads when another process saved a newer generation (a purge), then appends
        the embeddings above :attr:`max_id`, and rebuilds from scratch when the index
        belongs to another database or holds faces the database no longer has. Saves
        (with ``save``) once :data:`SAVE_EVERY` faces were added since the last save, or
        after a rebuild or a shard drop.
        """
        with self._lock.write():
            if self.cipher is None:
                self.cipher = getattr(store, "cipher", None)
            saved = self.saved_generation()
            reloaded = saved != self._generation
            if reloaded:
                try:
                    if not self.load():
                        self.clear()
                except StoreError as exc:
                    log.warning("rebuilding the face index: %s", exc)
                    self.clear()
            # The fingerprint (count and tracklet sum of every face up to max id) scans the
            # embeddings table: for a city, done on load and then every STALE_CHECK_S, not
            # at every trace (purges through cctrace reach the index directly).
            due = time.monotonic() - self._checked_at >= STALE_CHECK_S
            rebuilt = False
            if reloaded or due or self.instance_id != store.instance_id:
                rebuilt = self._stale(store)
                self._checked_at = time.monotonic()
            if rebuilt:
                log.warning("face index out of step with the database; rebuilding")
                self.clear()
            added = 0
            camera_of: dict[int, str] = {}
            tracklets = getattr(store, "tracklets", None)
            lookup = tracklets.get_many if tracklets is not None else None
            for batch in store.faces.iter_embedding_batches(after_id=self._max_id):
                cams: list[str] | None = None
                if lookup is not None:
                    missing = {int(t) for t in batch.tracklet_ids} - camera_of.keys()
                    camera_of.update({r.id: r.camera_id for r in lookup(sorted(missing))})
                    cams = [camera_of.get(int(t), "") for t in batch.tracklet_ids]
                self.add(batch.ids, batch.tracklet_ids, batch.timestamps, batch.vectors, cams)
                added += len(batch.ids)
            self.instance_id = store.instance_id
            self._unsaved += added
            reencrypt = self._loaded_plain and self.cipher is not None
            if save and (
                self._unsaved >= SAVE_EVERY
                or rebuilt
                or reencrypt
                or self._dropped
                or self._generation == 0
            ):
                self.save()
        if added:
            log.info("face index synced: +%d faces, %d total", added, len(self))
        return added

    def _stale(self, store: EmbeddingSource) -> bool:
        if self.instance_id is not None and self.instance_id != store.instance_id:
            return True
        if not self._shards:
            return False
        count, _, tracklet_sum = store.faces.embedding_stats(upto_id=self._max_id)
        held = sum(s.tid_sum for s in self._shards.values())
        return count != len(self) or tracklet_sum != held
