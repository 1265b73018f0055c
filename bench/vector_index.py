"""Benchmark the day-sharded approximate face index (``storage.index.type: ivf``).

    python bench/vector_index.py --sizes 100000 1000000 2000000 5000000
    nice -n 19 python bench/vector_index.py --sizes 20000000      # one city-day
    python bench/vector_index.py --compare 1000000                # engines side by side

For each size, one day shard of that many faces (one city-day is ~2e7), built through
:class:`~cctrace.store.sharded_index.ShardedFaceIndex` in 1M batches as ``sync`` adds
them, saved encrypted and loaded back; then

* recall@10 against exact search for 50 query faces (10 traces x 5 photos), at several
  ``nprobe``, with no filter, a 6-hour window, and a set of 1% of the cameras;
* latency of 10 concurrent traces (threads), each one trace's search call: 5 query
  vectors, k = 200 per tracklet, min score 0.363 (the shipped review threshold);
* build, save and load time, file and index bytes, process RSS.

Data: synthetic SFace-like faces, since no corpus of millions of real faces ships
with the project. Each face is ``a*mu + b*identity + c*noise`` (normalised), with a,
b, c fitted to SFace on real photos (``bench/results/face_threshold.json``: impostor
cosine mean 0.12, sd 0.09; genuine median 0.75): a^2 = 0.12, b^2 = 0.63, c^2 = 0.25.
Identities (one per 20 faces) are isotropic in 128-d, which is harder for IVF than real
embeddings (they lie on a lower-dimensional manifold): recall here is a floor.

Built indexes and exact answers are cached under ``--cache`` (default
/tmp/cctrace-vector-index), so a size is built once.
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import json
import logging
import os
import resource
import shutil
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from cctrace.privacy.crypto import DataCipher
from cctrace.store.sharded_index import DAY_S, ShardedFaceIndex

log = logging.getLogger("bench.vector_index")

DIM = 128
A, B, C = np.sqrt(0.12), np.sqrt(0.63), np.sqrt(0.25)
FACES_PER_ID = 20
CHUNK = 1_000_000
CAMERAS = 10_820
DAY0 = 20_000  # 2024-10-04, an epoch day
TRACES, PHOTOS = 10, 5
REVIEW = 0.363
KEY = DataCipher(bytes(range(32)))  # a fixed bench key: files encrypted as in production
WINDOW = (DAY0 * DAY_S + 9 * 3600, DAY0 * DAY_S + 15 * 3600)  # 6 hours of the day
CAMERA_SET = [f"c{i:05d}" for i in range(0, CAMERAS, 100)]  # 1% of the cameras


def _rss_mib() -> tuple[float, float]:
    current = 0.0
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                current = int(line.split()[1]) / 1024
    return current, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _unit(v: np.ndarray) -> np.ndarray:
    return (v / np.linalg.norm(v, axis=1, keepdims=True)).astype(np.float32)


class Faces:
    """The synthetic faces of one size, generated chunk by chunk (deterministic)."""

    def __init__(self, n: int, seed: int = 0) -> None:
        self.n = n
        rng = np.random.default_rng(seed)
        self.mu = _unit(rng.standard_normal((1, DIM)))[0]
        self.centres = _unit(rng.standard_normal((max(1, n // FACES_PER_ID), DIM)))
        self.seed = seed

    def draw(self, labels: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        noise = _unit(rng.standard_normal((len(labels), DIM), dtype=np.float32))
        return _unit(A * self.mu + B * self.centres[labels] + C * noise)

    def chunks(self) -> Any:
        """(ids, tracklet ids, timestamps, cameras, vectors) per chunk of CHUNK faces."""
        for start in range(0, self.n, CHUNK):
            m = min(CHUNK, self.n - start)
            rng = np.random.default_rng([self.seed, start])
            ids = np.arange(start + 1, start + m + 1, dtype=np.int64)
            ts = DAY0 * DAY_S + rng.uniform(0, DAY_S, m)
            cam_idx = rng.integers(0, CAMERAS, m)
            vecs = self.draw(rng.integers(0, len(self.centres), m), rng)
            yield ids, (ids + 3) // 4, ts, cam_idx, vecs

    def queries(self) -> np.ndarray:
        rng = np.random.default_rng([self.seed, 999])
        labels = rng.integers(0, len(self.centres), TRACES * PHOTOS)
        return self.draw(labels, rng)


def _camera_names(idx: np.ndarray) -> np.ndarray:
    names = np.array([f"c{i:05d}" for i in range(CAMERAS)])
    return names[idx]


class _TopK:
    """Running exact top-k ids per query over chunks."""

    def __init__(self, q: int, k: int) -> None:
        self.k = k
        self.scores = np.full((q, 0), -np.inf, np.float32)
        self.ids = np.zeros((q, 0), np.int64)

    def update(self, scores: np.ndarray, ids: np.ndarray) -> None:
        s = np.concatenate([self.scores, scores], axis=1)
        i = np.concatenate([self.ids, np.broadcast_to(ids, scores.shape)], axis=1)
        if s.shape[1] > self.k:
            part = np.argpartition(-s, self.k - 1, axis=1)[:, : self.k]
            s, i = np.take_along_axis(s, part, 1), np.take_along_axis(i, part, 1)
        top = np.argsort(-s, axis=1, kind="stable")[:, : self.k]
        self.scores, self.ids = np.take_along_axis(s, top, 1), np.take_along_axis(i, top, 1)


def build(n: int, cache: Path) -> dict[str, Any]:
    """Build, save and cache the index of ``n`` faces with the exact answers."""
    folder = cache / f"n{n}"
    info_file = folder / "build.json"
    if info_file.exists():
        return dict(json.loads(info_file.read_text()))
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    faces = Faces(n)
    q = faces.queries()
    truth = {name: _TopK(len(q), 10) for name in ("all", "window", "cameras")}
    cam_set = np.arange(0, CAMERAS, 100)
    index = ShardedFaceIndex(folder / "index", cipher=KEY)
    t_build = t_truth = 0.0
    for ids, tids, ts, cam_idx, vecs in faces.chunks():
        t = time.perf_counter()
        index.add(ids, tids, ts, vecs, _camera_names(cam_idx))
        t_build += time.perf_counter() - t
        t = time.perf_counter()
        s = q @ vecs.T
        truth["all"].update(s, ids)
        w = (ts >= WINDOW[0]) & (ts <= WINDOW[1])
        truth["window"].update(s[:, w], ids[w])
        c = np.isin(cam_idx, cam_set)
        truth["cameras"].update(s[:, c], ids[c])
        t_truth += time.perf_counter() - t
        log.info("n=%d: %d added, %.0f s", n, int(ids[-1]), t_build)
    t = time.perf_counter()
    index.settle()
    t_build += time.perf_counter() - t
    rss_built = _rss_mib()
    t = time.perf_counter()
    index.save()
    t_save = time.perf_counter() - t
    np.savez(folder / "truth.npz", queries=q, **{f"ids_{k}": v.ids for k, v in truth.items()})
    shard = next(iter(index._shards.values()))
    info = {
        "faces": n,
        "build_s": round(t_build, 1),
        "build_faces_per_s": round(n / t_build),
        "save_s": round(t_save, 1),
        "exact_truth_s": round(t_truth, 1),
        "nlist": int(shard.ann.nlist) if shard.ann is not None else 0,
        "index_bytes": index.nbytes,
        "file_bytes": sum(p.stat().st_size for p in (folder / "index").glob("shard-*")),
        "rss_mib_after_build": round(rss_built[0]),
        "peak_rss_mib_build": round(rss_built[1]),
    }
    info_file.write_text(json.dumps(info, indent=1))
    return info


def _recall(hits: list[list[Any]], truth: np.ndarray) -> float:
    got = [{h.embedding_id for h in row[:10]} for row in hits]
    return float(np.mean([len(g & set(t.tolist())) / 10 for g, t in zip(got, truth, strict=True)]))


def measure(n: int, cache: Path, nprobes: list[int], rounds: int) -> dict[str, Any]:
    """Load the cached index of ``n`` faces; recall and concurrent-trace latency."""
    folder = cache / f"n{n}"
    info = build(n, cache)
    rss0 = _rss_mib()[0]
    index = ShardedFaceIndex(folder / "index", cipher=KEY)
    t = time.perf_counter()
    index.load()
    info["load_s"] = round(time.perf_counter() - t, 1)
    info["rss_mib_loaded"] = round(_rss_mib()[0] - rss0)
    with np.load(folder / "truth.npz") as z:
        q = z["queries"]
        truth = {k: z[f"ids_{k}"] for k in ("all", "window", "cameras")}
    rows = []
    for nprobe in nprobes:
        index.nprobe = nprobe
        row: dict[str, Any] = {"nprobe": nprobe}
        row["recall"] = round(_recall(index.search(q, 10), truth["all"]), 3)
        row["recall_window"] = round(
            _recall(index.search(q, 10, t_from=WINDOW[0], t_to=WINDOW[1]), truth["window"]), 3
        )
        row["recall_cameras"] = round(
            _recall(index.search(q, 10, cameras=CAMERA_SET), truth["cameras"]), 3
        )
        row.update(_latency(index, q, rounds))
        log.info("n=%d %s", n, row)
        rows.append(row)
    info["runs"] = rows
    info["load_avg_1m"] = os.getloadavg()[0]
    return info


def _latency(index: ShardedFaceIndex, q: np.ndarray, rounds: int) -> dict[str, float]:
    """p50/p95 of one trace's search while 10 traces run at once (threads)."""

    def trace(i: int) -> float:
        t = time.perf_counter()
        index.search(q[i * PHOTOS : (i + 1) * PHOTOS], 200, min_score=REVIEW, per_tracklet=True)
        return time.perf_counter() - t

    times: list[float] = []
    t0, cpu0 = time.perf_counter(), time.process_time()
    with cf.ThreadPoolExecutor(TRACES) as pool:
        for _ in range(rounds):
            times += list(pool.map(trace, range(TRACES)))
    wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    ms = np.array(times) * 1e3
    return {
        "trace_p50_ms": round(float(np.percentile(ms, 50)), 1),
        "trace_p95_ms": round(float(np.percentile(ms, 95)), 1),
        "traces_per_s": round(len(times) / wall, 1),
        # CPU time per trace: what capacity planning needs, whatever else the host runs
        "cpu_ms_per_trace": round(cpu / len(times) * 1e3, 1),
    }


def _rerank(ix: Any, sq: Any, codes: np.ndarray, q: np.ndarray) -> np.ndarray:
    _, cand = ix.search(q, 400)
    out = []
    for j, rows in enumerate(cand):
        rows = rows[rows >= 0]
        out.append(rows[np.argsort(-(sq.decode(codes[rows]) @ q[j]))[:10]])
    return np.array(out)


def compare(n: int) -> list[dict[str, Any]]:
    """Engines side by side on ``n`` faces, in memory: FAISS IVF-SQ8, IVF-PQ fast-scan,
    IVF-SQfp16 and usearch HNSW (i8), where installed."""
    import faiss

    faces = Faces(n)
    data = np.concatenate([c[4] for c in faces.chunks()])
    q = faces.queries()
    exact = np.argsort(-(q @ data.T), axis=1)[:, :10]

    def rec(ids: np.ndarray) -> float:
        return float(
            np.mean([len(set(a[:10]) & set(b)) / 10 for a, b in zip(ids, exact, strict=True)])
        )

    def lat(fn: Any) -> float:
        ts = []
        for r in range(20):
            t = time.perf_counter()
            fn(q[(r * 5) % 50 : (r * 5) % 50 + 5])
            ts.append(time.perf_counter() - t)
        return round(float(np.percentile(ts, 95)) * 1e3, 1)

    out: list[dict[str, Any]] = []
    nlist = 1024
    sq = faiss.ScalarQuantizer(DIM, faiss.ScalarQuantizer.QT_8bit)
    sq.train(data[: 64 * nlist])
    codes = sq.compute_codes(data)
    for spec in (f"IVF{nlist},SQ8", f"IVF{nlist},PQ64x4fs", f"IVF{nlist},SQfp16"):
        t = time.perf_counter()
        ix = faiss.index_factory(DIM, spec, faiss.METRIC_INNER_PRODUCT)
        ix.train(data[np.random.default_rng(1).choice(n, min(n, 64 * nlist), replace=False)])
        ix.add(data)
        build_s = time.perf_counter() - t
        size = faiss.serialize_index(ix).nbytes
        for nprobe in (32, 64, 128, 256):
            ix.nprobe = nprobe
            row = {
                "engine": f"faiss {spec}",
                "param": f"nprobe {nprobe}",
                "build_s": round(build_s, 1),
                "bytes_per_face": round(size / n),
                "recall": round(rec(ix.search(q, 10)[1]), 3),
                "p95_ms_5q_k200": lat(lambda x, ix=ix: ix.search(x, 200)),
            }
            if "fs" in spec:  # what the index does: 400 candidates re-ranked by SQ8 codes
                row["recall_reranked_sq8"] = round(rec(_rerank(ix, sq, codes, q)), 3)
            log.info("%s", row)
            out.append(row)
        del ix
    try:
        from usearch.index import Index
    except ImportError:
        return out
    t = time.perf_counter()
    u = Index(ndim=DIM, metric="ip", dtype="i8", connectivity=16, expansion_add=128)
    u.add(np.arange(n), data, threads=2)
    build_s = time.perf_counter() - t
    for ef in (64, 256):
        u.expansion_search = ef
        row = {
            "engine": "usearch HNSW i8 M16",
            "param": f"ef {ef}",
            "build_s": round(build_s, 1),
            "bytes_per_face": round(u.memory_usage / n),
            "recall": round(rec(u.search(q, 10, threads=2).keys), 3),
            "p95_ms_5q_k200": lat(lambda x: u.search(x, 200, threads=2)),
        }
        log.info("%s", row)
        out.append(row)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", type=int, nargs="*", default=[100_000, 1_000_000])
    ap.add_argument("--nprobe", type=int, nargs="+", default=[64, 128, 256])
    ap.add_argument("--rounds", type=int, default=10, help="rounds of 10 concurrent traces")
    ap.add_argument("--cache", type=Path, default=Path("/tmp/cctrace-vector-index-v2"))
    ap.add_argument("--compare", type=int, metavar="N", help="engines side by side at N faces")
    ap.add_argument("--json", type=Path, help="write the results here")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    results: dict[str, Any] = {"command": " ".join(["python", *sys.argv]), "cpus": os.cpu_count()}
    if args.compare:
        results["compare"] = compare(args.compare)
    results["sizes"] = [measure(n, args.cache, args.nprobe, args.rounds) for n in args.sizes]
    text = json.dumps(results, indent=1)
    print(text)
    if args.json:
        args.json.write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
