"""Open work on the case list at team scale: how long ``GET /cases`` (with each case's
close contacts still to call), ``GET /api/contacts/open`` and a call list CSV take when
a team has many traced cases.

One command: ``python bench/case_list.py`` (``--cases 300``; results printed and written
to ``bench/results/case_list.json``). Uses a private copy of the demo site
(``--demo-dir``, default ``demo/``; built with ``cctrace demo`` from ``../shared/data``
when missing), the real app (``create_app``, in process, through ``TestClient``) and
its SQLite store. Each extra case is opened in the store with the demo trace's result as
its latest trace (the real ``cctrace.trace/1`` file of the demo case, so every case has
its 3 contacts); a third of the contacts get a status through the API.

Reported: the first ``GET /cases`` after start (every result file parsed once), then the
median and max of ``--repeat`` warm ones (results cached per process by file, size and
modification time), the same for ``GET /api/contacts/open``, and one call list CSV.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from fastapi.testclient import TestClient  # noqa: E402

from cctrace.casework import latest_result_path  # noqa: E402
from cctrace.config import load_site  # noqa: E402
from cctrace.demo import DEMO_CASE  # noqa: E402
from cctrace.evaluation.runner import git_commit  # noqa: E402
from cctrace.web import WebSettings, create_app  # noqa: E402
from cctrace.web.cli import ensure_demo_users  # noqa: E402

HTML = {"Accept": "text/html"}


def demo_dir(arg: Path) -> Path:
    """The demo site, built when missing."""
    if (arg / "site.yaml").is_file():
        return arg
    shared = ROOT.parent / "shared" / "data"
    cmd = [sys.executable, "-m", "cctrace.cli", "demo", "--workdir", str(arg)]
    if shared.is_dir():
        cmd += ["--shared-data", str(shared)]
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    subprocess.run(cmd, check=True, env=env)
    return arg


def timed(client: TestClient, path: str, **kw: Any) -> float:
    """Seconds one GET took (it must answer 200)."""
    start = time.perf_counter()
    resp = client.get(path, **kw)
    took = time.perf_counter() - start
    if resp.status_code != 200:
        raise SystemExit(f"GET {path}: {resp.status_code} {resp.text[:200]}")
    return took


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=300, help="traced cases of the team")
    parser.add_argument("--repeat", type=int, default=10, help="warm requests per route")
    parser.add_argument("--demo-dir", type=Path, default=ROOT / "demo")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "case_list.json")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="cctrace-caselist-") as tmp:
        work = Path(tmp) / "site"
        shutil.copytree(demo_dir(args.demo_dir.resolve()), work, symlinks=True)
        site = load_site(work / "site.yaml", check_files=False)
        passwords = ensure_demo_users(site.storage.data_dir, work)
        app = create_app(site, WebSettings.for_demo().model_copy(update={"trace_workers": 0}))
        state = app.state.cctrace
        source = latest_result_path(site, DEMO_CASE).read_bytes()
        for k in range(args.cases):
            case_id = f"BENCH-{k:04d}"
            state.store.cases.create(case_id, "investigator", "bench", team="default")
            path = latest_result_path(site, case_id)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(source)
        with TestClient(app) as client:
            login = client.post(
                "/api/auth/login",
                json={"username": "investigator", "password": passwords["investigator"]},
            )
            client.headers["X-CSRF-Token"] = login.json()["csrf_token"]
            cold = timed(client, "/cases", headers=HTML)
            warm = [timed(client, "/cases", headers=HTML) for _ in range(args.repeat)]
            contacts = client.get("/api/cases/BENCH-0000/contacts").json()
            for k in range(0, args.cases, 3):
                client.put(
                    f"/api/cases/BENCH-{k:04d}/contacts/{contacts[0]['tracklet_ids'][0]}/status",
                    json={"status": "called", "note": "bench"},
                )
            after = [timed(client, "/cases", headers=HTML) for _ in range(args.repeat)]
            open_api = [timed(client, "/api/contacts/open") for _ in range(args.repeat)]
            open_n = len(client.get("/api/contacts/open").json())
            csv_s = timed(client, "/api/cases/BENCH-0000/call-list.csv")
        state.jobs.shutdown()
        state.store.close()

    out = {
        "cases": args.cases + 1,
        "contacts_per_case": len(contacts),
        "open_contacts": open_n,
        "cases_page_cold_s": round(cold, 3),
        "cases_page_warm_median_s": round(statistics.median(warm), 3),
        "cases_page_warm_max_s": round(max(warm), 3),
        "cases_page_after_changes_median_s": round(statistics.median(after), 3),
        "open_contacts_api_median_s": round(statistics.median(open_api), 3),
        "call_list_csv_s": round(csv_s, 3),
        "machine": {
            "cpus": os.cpu_count(),
            "load_1m": round(os.getloadavg()[0], 2),
            "python": platform.python_version(),
            "commit": git_commit(),
        },
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=1) + "\n")
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
