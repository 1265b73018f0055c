"""Benchmark the face vector index (exact numpy search) at 10k, 100k and 1M faces.

    python bench/trace_index.py                 # 10k, 100k, 1M faces
    python bench/trace_index.py --sizes 10000 --reps 200 --json out.json

Synthetic random L2-normalised 128-d float32 vectors, timestamps uniform over a
28-day retention period, added in 20k batches (as ``FaceIndex.sync`` does). For each
size: build time, save/load time, index memory, process peak RSS, and p50/p95 search
latency for 1 and 5 queries (k=50), with no time window, a 14-day window and a 1-day
window. The index is saved encrypted, as a store's index is (``--plain``: unencrypted).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import resource
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from cctrace.privacy.crypto import DataCipher
from cctrace.store.vector_index import FaceIndex

log = logging.getLogger("bench.trace_index")

DIM = 128
DAY = 86_400.0
RETENTION_DAYS = 28
BATCH = 20_000
WINDOWS: dict[str, float | None] = {"none": None, "14d": 14 * DAY, "1d": DAY}


def _rss_mib() -> tuple[float, float]:
    """(current, peak) resident memory of this process in MiB."""
    current = 0.0
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                current = int(line.split()[1]) / 1024
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return current, peak


def _unit(rng: np.random.Generator, n: int) -> np.ndarray:
    v = rng.standard_normal((n, DIM), dtype=np.float32)
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    return v


def build(
    n: int, directory: Path, seed: int = 0, cipher: DataCipher | None = None
) -> tuple[FaceIndex, float]:
    """An index of ``n`` random faces, added in batches; returns it and the add time."""
    rng = np.random.default_rng(seed)
    index = FaceIndex(directory, dim=DIM, cipher=cipher)
    elapsed = 0.0
    for start in range(0, n, BATCH):
        m = min(BATCH, n - start)
        ids = np.arange(start + 1, start + m + 1, dtype=np.int64)
        tids = (ids // 4).astype(np.int64)  # ~4 faces per tracklet
        ts = rng.uniform(0, RETENTION_DAYS * DAY, m)
        vecs = _unit(rng, m)
        t = time.perf_counter()
        index.add(ids, tids, ts, vecs)
        elapsed += time.perf_counter() - t
    return index, elapsed


def latency(
    index: FaceIndex, n_queries: int, window: float | None, reps: int, seed: int = 1
) -> dict[str, float]:
    """p50/p95/max search latency in milliseconds over ``reps`` random queries."""
    rng = np.random.default_rng(seed)
    times = []
    for _ in range(reps + 2):
        q = _unit(rng, n_queries)
        lo = hi = None
        if window is not None:
            lo = float(rng.uniform(0, RETENTION_DAYS * DAY - window))
            hi = lo + window
        t = time.perf_counter()
        index.search(q, 50, t_from=lo, t_to=hi)
        times.append((time.perf_counter() - t) * 1000)
    arr = np.array(times[2:])  # first two are warm-up
    return {
        "p50_ms": float(np.percentile(arr, 50)),
        "p95_ms": float(np.percentile(arr, 95)),
        "max_ms": float(arr.max()),
    }


def run(sizes: list[int], reps: int, encrypted: bool = True) -> list[dict[str, Any]]:
    """Benchmark each size; returns one result dict per size."""
    results = []
    cipher = DataCipher(os.urandom(32)) if encrypted else None
    for n in sizes:
        with tempfile.TemporaryDirectory(prefix="cctrace-bench-") as tmp:
            index, add_s = build(n, Path(tmp), cipher=cipher)
            t = time.perf_counter()
            index.save()
            save_s = time.perf_counter() - t
            del index
            index = FaceIndex(Path(tmp), dim=DIM, cipher=cipher)
            t = time.perf_counter()
            index.load()
            load_s = time.perf_counter() - t
            rss, peak = _rss_mib()
            row: dict[str, Any] = {
                "n": n,
                "encrypted": encrypted,
                "add_s": add_s,
                "save_s": save_s,
                "load_s": load_s,
                "index_mib": index.nbytes / 2**20,
                "rss_mib": rss,
                "peak_rss_mib": peak,
                "search": {},
            }
            for q in (1, 5):
                for name, window in WINDOWS.items():
                    row["search"][f"q{q}_{name}"] = latency(index, q, window, reps)
            results.append(row)
            del index
    return results


def _print(results: list[dict[str, Any]]) -> None:
    cores = os.cpu_count()
    saved = "encrypted" if results and results[0]["encrypted"] else "plain"
    print(
        f"FaceIndex exact search, dim {DIM}, k=50, {cores} CPU cores, numpy {np.__version__}, "
        f"saved {saved}"
    )
    print(
        f"{'faces':>9} {'add s':>6} {'save s':>6} {'load s':>6} {'index MiB':>9} "
        f"{'RSS MiB':>8} {'peak MiB':>8}"
    )
    for r in results:
        print(
            f"{r['n']:>9} {r['add_s']:>6.2f} {r['save_s']:>6.2f} {r['load_s']:>6.2f} "
            f"{r['index_mib']:>9.1f} {r['rss_mib']:>8.0f} {r['peak_rss_mib']:>8.0f}"
        )
    print(f"\n{'faces':>9} {'queries':>7} {'window':>6} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8}")
    for r in results:
        for key, s in r["search"].items():
            q, window = key.split("_")
            print(
                f"{r['n']:>9} {q[1:]:>7} {window:>6} {s['p50_ms']:>8.1f} {s['p95_ms']:>8.1f} "
                f"{s['max_ms']:>8.1f}"
            )


def main() -> None:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--reps", type=int, default=100, help="timed searches per setting")
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--plain", action="store_true", help="save the index unencrypted")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    results = run(args.sizes, args.reps, encrypted=not args.plain)
    _print(results)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
