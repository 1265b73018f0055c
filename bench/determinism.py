"""Is the demo the same on every run? Builds it N times and compares, byte for byte.

One command: ``python bench/determinism.py [--runs 2] [--keep DIR]``.

Each run builds the demo site from scratch in its own folder (cut cameras, ingest with
cameras in parallel, trace of the demo case) and fingerprints it:

- the cut cameras' files (sha256);
- per camera, every stored tracklet by its per-file track number (database ids depend
  on which camera process writes first), with its span, mask status and a digest of
  its boxes and ground points;
- every encounter by its two track numbers, with its seconds per band;
- the trace: route and contacts by (camera, track number).

Exit status 1 when any two runs differ, with the first differences printed.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import sqlite3
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))


def fingerprint(workdir: Path) -> dict[str, Any]:
    """What a run produced, keyed by values that do not depend on write order."""
    footage = {
        p.name: hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted((workdir / "footage").glob("*.mp4"))
    }
    db = sqlite3.connect(workdir / "data" / "cctrace.db")
    key_of: dict[int, str] = {}
    tracklets: dict[str, Any] = {}
    for tid, cam, track, start, end, n, mask in db.execute(
        "SELECT id, camera_id, track_id, start_time, end_time, n_points, mask_status FROM tracklets"
    ):
        key = f"{cam}#{track}"
        key_of[tid] = key
        points = db.execute(
            "SELECT frame_index, x1, y1, x2, y2, ground_x, ground_y FROM track_points "
            "WHERE tracklet_id = ? ORDER BY frame_index",
            (tid,),
        ).fetchall()
        digest = hashlib.sha256(
            json.dumps(
                [[round(v, 3) if isinstance(v, float) else v for v in p] for p in points]
            ).encode()
        ).hexdigest()[:16]
        tracklets[key] = [str(start), str(end), n, mask, digest]
    encounters: dict[str, Any] = {}
    for a, b, band, dmin in db.execute(
        "SELECT tracklet_a_id, tracklet_b_id, seconds_by_band, min_distance_m FROM encounters"
    ):
        pair = "|".join(sorted((key_of[a], key_of[b])))
        encounters[pair] = [band, round(dmin, 3)]
    db.close()
    report = next((workdir / "data" / "reports").rglob("*.json"), None)
    trace: Any = None
    if report is not None:
        data = json.loads(report.read_text())
        trace = {
            "route": sorted(key_of.get(int(s["tracklet_id"]), "?") for s in data.get("route", [])),
            "contacts": sorted(
                key_of.get(int(e["contact_tracklet_id"]), "?")
                for c in data.get("contacts", [])
                for e in c.get("encounters", [])
            ),
        }
    return {
        "footage": footage,
        "tracklets": tracklets,
        "encounters": encounters,
        "trace": trace,
    }


def differences(a: dict[str, Any], b: dict[str, Any], limit: int = 10) -> list[str]:
    """Human-readable differences between two fingerprints (at most ``limit``)."""
    out: list[str] = []
    for section in a:
        x, y = a[section], b[section]
        if x == y:
            continue
        if isinstance(x, dict) and isinstance(y, dict):
            for key in sorted(set(x) | set(y)):
                if x.get(key) != y.get(key):
                    out.append(f"{section}[{key}]: {x.get(key)} != {y.get(key)}")
        else:
            out.append(f"{section}: {x} != {y}")
    return out[:limit]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=2, help="demo builds to compare (>= 2)")
    parser.add_argument("--keep", type=Path, help="keep the runs' folders under DIR")
    parser.add_argument("--shared-data", type=Path, default=ROOT.parent / "shared" / "data")
    args = parser.parse_args()
    from rich.console import Console

    from cctrace.demo import run_demo

    base = args.keep or Path(tempfile.mkdtemp(prefix="cctrace-determinism-"))
    shared = args.shared_data if args.shared_data.is_dir() else None
    prints = []
    for run in range(max(2, args.runs)):
        workdir = base / f"run{run}"
        shutil.rmtree(workdir, ignore_errors=True)
        run_demo(workdir, shared_data=shared, console=Console(quiet=True))
        prints.append(fingerprint(workdir))
        fp = prints[-1]
        print(
            f"run {run}: {len(fp['tracklets'])} tracklets, {len(fp['encounters'])} encounters, "
            f"route {len(fp['trace']['route']) if fp['trace'] else 0}, footage "
            + ", ".join(f"{k} {v[:12]}" for k, v in fp["footage"].items()),
            flush=True,
        )
    failed = False
    for run, fp in enumerate(prints[1:], start=1):
        diff = differences(prints[0], fp)
        if diff:
            failed = True
            print(f"run {run} differs from run 0:")
            for line in diff:
                print("  " + line)
    if not args.keep:
        shutil.rmtree(base, ignore_errors=True)
    print("DIFFERENT" if failed else f"IDENTICAL over {len(prints)} runs")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
