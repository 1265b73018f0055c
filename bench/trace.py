"""Trace latency, end to end, on an ingested site (the demo by default).

One command: ``python bench/trace.py [--site demo/site.yaml] [--runs 30]``. Runs
``cctrace demo`` first if the site does not exist yet. Each run traces a case from a
random tracklet (face search over the index, route, contacts: everything but writing
the report) and reports p50/p95 wall time; the report writing is timed separately.
For search latency at city scale (1,000,000 faces) see ``bench/trace_index.py``.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from cctrace.config import load_site  # noqa: E402
from cctrace.ingest.models import ModelSet  # noqa: E402
from cctrace.report.bundle import write_report  # noqa: E402
from cctrace.store.repository import Store  # noqa: E402
from cctrace.tracing.service import TraceRequest, trace_in_store  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--site", type=Path, default=ROOT / "demo" / "site.yaml")
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args()
    if not args.site.is_file():
        from cctrace.demo import run_demo

        shared = ROOT.parent / "shared" / "data"
        run_demo(args.site.parent, shared_data=shared if shared.is_dir() else None)
    site = load_site(args.site)
    models = ModelSet(site.models)
    with Store.for_site(site) as store:
        ids = [r.id for r in store.tracklets.in_window(None, None)]
        n_emb = store.faces.embedding_stats()[0]
        rng = random.Random(0)
        times, report_times = [], []
        for i in range(args.runs):
            request = TraceRequest(
                case_id=f"BENCH-{i:04d}",
                actor="bench",
                tracklet_id=rng.choice(ids),
                distance_m=2.0,
                minutes=0.25,
            )
            store.cases.create(request.case_id, "bench", "benchmark")
            t = time.perf_counter()
            result = trace_in_store(site, store, request, models)
            times.append(time.perf_counter() - t)
            t = time.perf_counter()
            write_report(result, Path(tempfile.mkdtemp(prefix="cctrace-bench-report-")))
            report_times.append(time.perf_counter() - t)
    print(f"site: {args.site} ({len(ids)} tracklets, {n_emb} face embeddings), {args.runs} traces")
    print("| step | p50 ms | p95 ms | max ms |")
    print("|---|---:|---:|---:|")
    for name, values in (("trace (search, route, contacts)", times), ("report", report_times)):
        q = statistics.quantiles([v * 1000 for v in values], n=20)
        print(
            f"| {name} | {statistics.median(values) * 1000:.1f} | {q[18]:.1f} | "
            f"{max(values) * 1000:.1f} |"
        )


if __name__ == "__main__":
    main()
