"""Does a one-day query stay one day's work as the days pile up? (PostgreSQL)

    python bench/store_days.py                       # 20,000 tracklets a day, 1/7/28 days
    python bench/store_days.py --per-day 100000 --days 1 7 28

Starts its own PostgreSQL server (initdb + postgres from the machine, a temp dir, a
free port), opens a :class:`~cctrace.store.Store` on it, and fills ``tracklets`` day by
day (rows written directly in bulk: the tracklet table is what a window query reads).
After each step it times the store's window query for the last day
(``Store.tracklets.in_window``, rows converted to records) and the same SQL count
with and without the lower bound on ``start_time`` that :mod:`cctrace.store.time_bounds`
adds, and reads the index pages each touched (``EXPLAIN (ANALYZE, BUFFERS)``).
Writes ``bench/results/store_days.md`` (``--out``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import pwd
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import insert, text

ROOT = Path(__file__).resolve().parents[1]

from cctrace.privacy.crypto import DataCipher  # noqa: E402
from cctrace.store import Store  # noqa: E402
from cctrace.store.schema import CameraRow, FootageRow, TrackletRow  # noqa: E402
from cctrace.store.time_bounds import raise_longest  # noqa: E402

DAY0 = datetime(2026, 11, 1, tzinfo=UTC)
CAMERAS = 50


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def postgres() -> Iterator[str]:
    """A throwaway PostgreSQL server; yields its SQLAlchemy URL."""
    bindir = Path(shutil.which("initdb") or "/usr/lib/postgresql/15/bin/initdb").parent
    tmp = Path(tempfile.mkdtemp(prefix="cctrace-bench-pg-"))
    as_user: dict[str, Any] = {}
    if os.geteuid() == 0:  # postgres refuses root
        pw = pwd.getpwnam("nobody")
        os.chown(tmp, pw.pw_uid, pw.pw_gid)
        as_user = {"user": pw.pw_uid, "group": pw.pw_gid, "extra_groups": []}
    user = "nobody" if as_user else pwd.getpwuid(os.geteuid()).pw_name
    port = _free_port()
    subprocess.run(
        [str(bindir / "initdb"), "-D", str(tmp / "db"), "-U", user, "--auth=trust", "-E", "UTF8"],
        check=True,
        capture_output=True,
        **as_user,
    )
    server = subprocess.Popen(
        [
            *(str(bindir / "postgres"), "-D", str(tmp / "db"), "-p", str(port), "-k", str(tmp)),
            *("-c", "listen_addresses=127.0.0.1", "-c", "fsync=off"),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        **as_user,
    )
    try:
        url = f"postgresql+psycopg://{user}@127.0.0.1:{port}/postgres"
        deadline = time.monotonic() + 60
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError("postgres did not start") from None
                time.sleep(0.2)
        time.sleep(1.0)
        yield url
    finally:
        server.terminate()
        server.wait(30)
        shutil.rmtree(tmp, ignore_errors=True)


def fill_day(store: Store, footage_id: int, day: int, per_day: int) -> None:
    """``per_day`` tracklets of 5-120 s spread over the day, over CAMERAS cameras."""
    start = DAY0 + timedelta(days=day)
    rows = []
    for i in range(per_day):
        t0 = start + timedelta(seconds=(i * 86_400.0) / per_day)
        rows.append(
            {
                "camera_id": f"cam{i % CAMERAS:03d}",
                "footage_id": footage_id,
                "track_id": day * per_day + i,
                "start_time": t0,
                "end_time": t0 + timedelta(seconds=5 + (i * 7919) % 116),
                "n_points": 10,
                "mask_status": "unknown",
                "mask_worn_votes": 0,
                "mask_not_worn_votes": 0,
            }
        )
    with store._write() as s:  # bulk rows: the table a window query reads
        for k in range(0, len(rows), 5000):
            s.execute(insert(TrackletRow), rows[k : k + 5000])
        raise_longest(s, 121.0)


def _plan(store: Store, bounded: bool, day_from: datetime, day_to: datetime) -> dict[str, Any]:
    lower = "AND start_time >= :lo " if bounded else ""
    sql = (
        "EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) SELECT count(*) FROM tracklets "
        f"WHERE end_time >= :a AND start_time <= :b {lower}"
    )
    params = {"a": day_from, "b": day_to, "lo": day_from - timedelta(seconds=122)}
    with store.engine.connect() as c:
        plan = c.execute(text(sql), params).scalar_one()[0]
    node = plan["Plan"]
    buffers = 0
    stack = [node]
    while stack:
        n = stack.pop()
        buffers += int(n.get("Shared Hit Blocks", 0)) + int(n.get("Shared Read Blocks", 0))
        stack.extend(n.get("Plans", []))
    return {"ms": float(plan["Execution Time"]), "pages": buffers}


def measure(store: Store, days: int, rounds: int) -> dict[str, Any]:
    day_from = DAY0 + timedelta(days=days - 1)
    day_to = day_from + timedelta(days=1)
    with store.engine.connect() as c:
        c.execute(text("ANALYZE tracklets"))
    query_s = []
    n = 0
    for _ in range(rounds):
        t = time.perf_counter()
        n = len(store.tracklets.in_window(day_from, day_to))
        query_s.append(time.perf_counter() - t)
    bounded = [_plan(store, True, day_from, day_to) for _ in range(rounds)]
    unbounded = [_plan(store, False, day_from, day_to) for _ in range(rounds)]
    return {
        "days": days,
        "rows_in_day": n,
        "store_query_s": statistics.median(query_s),
        "count_ms_bounded": statistics.median(b["ms"] for b in bounded),
        "pages_bounded": bounded[-1]["pages"],
        "count_ms_unbounded": statistics.median(u["ms"] for u in unbounded),
        "pages_unbounded": unbounded[-1]["pages"],
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--per-day", type=int, default=20_000)
    ap.add_argument("--days", type=int, nargs="+", default=[1, 7, 28])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--out", type=Path, default=ROOT / "bench/results/store_days.md")
    args = ap.parse_args()
    results = []
    with postgres() as url, tempfile.TemporaryDirectory() as data:
        store = Store(data, url=url, cipher=DataCipher(os.urandom(32)))
        with store._write() as s:
            for i in range(CAMERAS):
                s.add(CameraRow(id=f"cam{i:03d}", name=f"cam{i:03d}", config={}))
            s.flush()
            footage = FootageRow(
                camera_id="cam000",
                path="/bench.mp4",
                sha256="0" * 64,
                size=0,
                start_time=DAY0,
                duration_s=86_400.0 * max(args.days),
                fps=7.0,
                status="done",
            )
            s.add(footage)
            s.flush()
            footage_id = int(footage.id)
        filled = 0
        for days in sorted(args.days):
            t = time.perf_counter()
            while filled < days:
                fill_day(store, footage_id, filled, args.per_day)
                filled += 1
            print(f"{days} days stored ({time.perf_counter() - t:.0f} s to fill)", flush=True)
            row = measure(store, days, args.rounds)
            print(json.dumps(row), flush=True)
            results.append(row)
        store.close()
    write(args, results)
    return 0


def write(args: argparse.Namespace, results: list[dict[str, Any]]) -> None:
    load = os.getloadavg()
    lines = [
        "# One-day window queries as days pile up (PostgreSQL, `python bench/store_days.py`)",
        "",
        f"Command: `python bench/store_days.py --per-day {args.per_day} "
        f"--days {' '.join(map(str, args.days))}`; machine: {platform.machine()}, "
        f"{os.cpu_count()} CPUs, load average {load[0]:.1f} at the end (shared machine: "
        "times are noisy; index pages read are not).",
        "",
        f"{args.per_day} tracklets a day (5-120 s long) over {CAMERAS} cameras; the query asks "
        "for the last stored day. `store` is `Store.tracklets.in_window` (SQL + records); "
        "the count columns are the same WHERE as a count, with and without the lower "
        "bound `start_time >= from - longest tracklet` that the store adds.",
        "",
        "| days stored | rows in the day | store query s | count ms (bounded) "
        "| index+heap pages (bounded) | count ms (unbounded) | pages (unbounded) |",
        "|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        lines.append(
            f"| {r['days']} | {r['rows_in_day']} | {r['store_query_s']:.2f} "
            f"| {r['count_ms_bounded']:.1f} | {r['pages_bounded']} "
            f"| {r['count_ms_unbounded']:.1f} | {r['pages_unbounded']} |"
        )
    args.out.write_text("\n".join(lines) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    sys.exit(main())
