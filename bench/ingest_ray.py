"""Ingest throughput on Ray vs the local path: 1 and 2 workers, and a two-node cluster.

One command: ``python bench/ingest_ray.py`` (needs ``cctrace[cluster]`` and PETS2009
View_001 from ../shared/data or $CCTRACE_SHARED_DATA). Writes
``bench/results/ingest_ray.md``. Options: ``--cameras`` (4), ``--frames`` per clip (280 =
40 s), ``--fps`` analysis rate (2, the rate a city would analyse at), ``--no-two-nodes``.

What it does: cuts one clip per camera from View_001 (different parts of the scene) with
the project's ``write_video`` and ingests the same site, each time into a fresh store:

- **local path**, ``workers`` 1 and 2 (``ingest_site``: supervised worker processes);
- **Ray, one machine**, ``ray.init(num_cpus=1)`` and ``num_cpus=2`` (``ingest.engine:
  ray``: one task per file);
- **Ray, two nodes** on this machine (``ray start --head`` and ``ray start --address``,
  one CPU each), the driver joining with the head's address.

"x real time" is footage seconds of all cameras over wall time (model loading included:
each worker loads the models once). "camera-s per CPU-s" is footage seconds over the CPU
time (user + system) of every process of the run: this process and its children (the
local path's workers; Ray's GCS, raylets and workers, read from /proc: before Ray stops
for ``ray.init``, every 0.5 s while the driver runs for the two nodes, whose job's
workers Ray stops with the driver). Every run checks that it stored the local path's
tracklets exactly. The machine is shared: the load average before and after each run is
reported with it; wall times compare only between runs under similar load.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT))

from tests.cluster.ray_sites import cut_clips, free_port, snapshot, write_site  # noqa: E402

from cctrace.config import load_site  # noqa: E402
from cctrace.ingest.runner import ingest_site  # noqa: E402

CITY_CAMERAS = 10_820
TICKS = os.sysconf("SC_CLK_TCK")


@dataclass
class Run:
    name: str
    wall_s: float
    cpu_s: float
    footage_s: float
    load_before: float
    load_after: float
    same: bool

    @property
    def realtime(self) -> float:
        return self.footage_s / self.wall_s

    @property
    def per_cpu(self) -> float:
        return self.footage_s / self.cpu_s


def shared_data() -> Path:
    env = os.environ.get("CCTRACE_SHARED_DATA")
    return Path(env) if env else ROOT.parent / "shared" / "data"


def _procs() -> dict[int, tuple[int, str, float]]:
    """pid -> (parent, command line, CPU seconds of it and its reaped children)."""
    out = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmd = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            fields = (entry / "stat").read_text()
        except OSError:
            continue
        rest = fields[fields.rfind(")") + 2 :].split()
        # utime + stime, and cutime + cstime: children it waited for (Ray's raylet reaps
        # the idle workers it stops; their CPU would be lost otherwise).
        ticks = sum(int(rest[i]) for i in (11, 12, 13, 14))
        out[int(entry.name)] = (int(rest[1]), cmd, ticks / TICKS)
    return out


def _tree(roots: set[int], procs: dict[int, tuple[int, str, float]]) -> set[int]:
    found = set(roots)
    grew = True
    while grew:
        grew = False
        for pid, (parent, _, _) in procs.items():
            if parent in found and pid not in found:
                found.add(pid)
                grew = True
    return found


def _children_cpu() -> float:
    import resource

    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def _self_cpu() -> float:
    t = os.times()
    return t.user + t.system


def fresh(base: Path, name: str, cameras: dict[str, list[Path]], pets: Path, extra: str) -> Path:
    work = base / name
    shutil.rmtree(work, ignore_errors=True)
    return write_site(work, cameras, pets, extra)


def run_local(site_path: Path, workers: int) -> tuple[float, float]:
    site = load_site(site_path)
    t0, c0, k0 = time.perf_counter(), _self_cpu(), _children_cpu()
    summary = ingest_site(site, workers=workers, progress=False, allow_expired=True)
    wall = time.perf_counter() - t0
    assert not summary.failed, summary.files
    return wall, _self_cpu() - c0 + _children_cpu() - k0


def run_ray_local(site_path: Path, cpus: int) -> tuple[float, float]:
    import ray

    site = load_site(site_path)
    temp = tempfile.mkdtemp(prefix="cctr-bench-", dir="/tmp")
    t0, c0 = time.perf_counter(), _self_cpu()
    ray.init(num_cpus=cpus, include_dashboard=False, _temp_dir=temp, configure_logging=False)
    try:
        summary = ingest_site(site, progress=False, allow_expired=True)
        wall = time.perf_counter() - t0
        procs = _procs()
        ray_cpu = sum(procs[p][2] for p in _tree({os.getpid()}, procs) if p != os.getpid())
    finally:
        ray.shutdown()
        shutil.rmtree(temp, ignore_errors=True)
    assert not summary.failed, summary.files
    return wall, _self_cpu() - c0 + ray_cpu


def run_two_nodes(site_path: Path, key: Path) -> tuple[float, float]:
    """A head and a second node started with `ray start`, one CPU each; stopped by pid."""
    ray_bin = Path(sys.executable).with_name("ray")
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT)]),
        "CCTRACE_DATA_KEY_FILE": str(key),
        "RAY_USAGE_STATS_ENABLED": "0",
        "RAY_AUTH_MODE": "token",
        "RAY_AUTH_TOKEN": os.urandom(32).hex(),
    }
    dirs = [tempfile.mkdtemp(prefix=f"cctr-bench-{n}-", dir="/tmp") for n in ("h", "w")]
    port = free_port()
    common = ["--node-ip-address=127.0.0.1", "--num-cpus=1", "--disable-usage-stats"]

    def ports() -> list[str]:
        return [
            f"--dashboard-agent-listen-port={free_port()}",
            f"--runtime-env-agent-port={free_port()}",
            f"--metrics-export-port={free_port()}",
        ]

    t0, k0 = time.perf_counter(), _children_cpu()
    try:
        head = [str(ray_bin), "start", "--head", f"--port={port}", f"--temp-dir={dirs[0]}"]
        head += ["--include-dashboard=false", f"--dashboard-port={free_port()}"]
        subprocess.run([*head, *common, *ports()], env=env, check=True, capture_output=True)
        node = [str(ray_bin), "start", f"--address=127.0.0.1:{port}", f"--temp-dir={dirs[1]}"]
        subprocess.run([*node, *common, *ports()], env=env, check=True, capture_output=True)
        # The driver is `cctrace ingest` itself, joining with the head's address.
        cli = [sys.executable, "-m", "cctrace.cli", "ingest", str(site_path), "--json"]
        driver = subprocess.Popen(
            [*cli, "--ray", f"127.0.0.1:{port}", "--allow-expired"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        # Ray stops a job's workers when its driver ends, and their CPU time is not
        # added to any parent: sample the nodes' processes while the job runs.
        seen: dict[int, float] = {}
        while True:
            running = driver.poll() is None
            procs = _procs()
            roots = {p for p, (_, cmd, _) in procs.items() if any(d in cmd for d in dirs)}
            for pid in _tree(roots, procs):
                seen[pid] = max(seen.get(pid, 0.0), procs[pid][2])
            if not running:
                break
            time.sleep(0.5)
        wall = time.perf_counter() - t0
        _, err = driver.communicate()
        cluster_cpu = sum(seen.values())
    finally:
        procs = _procs()
        roots = {p for p, (_, cmd, _) in procs.items() if any(d in cmd for d in dirs)}
        for pid in _tree(roots, procs) - {os.getpid()}:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, 9)
        for d in dirs:
            shutil.rmtree(d, ignore_errors=True)
    if driver.returncode != 0:
        raise SystemExit(f"two-node ingest failed ({driver.returncode}): {err[-2000:]}")
    # `ray start` nodes are not our children: their CPU is read from /proc; the
    # driver's and the `ray start` commands' come from RUSAGE_CHILDREN (waited for).
    return wall, _children_cpu() - k0 + cluster_cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cameras", type=int, default=4)
    parser.add_argument("--frames", type=int, default=280, help="frames per clip (7 fps)")
    parser.add_argument("--fps", type=float, default=2.0, help="analysis rate")
    parser.add_argument("--no-two-nodes", action="store_true")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "ingest_ray.md")
    args = parser.parse_args()
    pets = shared_data() / "pets2009-s2l1"
    if not (pets / "view001.mp4").is_file():
        sys.exit(f"PETS2009 View_001 not found in {pets} (set CCTRACE_SHARED_DATA)")
    base = Path(tempfile.mkdtemp(prefix="cctrace-bench-ray-"))
    key = base / "data.key"
    key.write_text(base64.urlsafe_b64encode(os.urandom(32)).decode() + "\n")
    key.chmod(0o600)
    os.environ["CCTRACE_DATA_KEY_FILE"] = str(key)
    os.environ["RAY_USAGE_STATS_ENABLED"] = "0"
    os.environ["PYTHONPATH"] = os.pathsep.join([str(ROOT / "src"), str(ROOT)])
    starts = [int(i * (795 - args.frames) / max(1, args.cameras - 1)) for i in range(args.cameras)]
    cameras = {
        f"cam{i + 1}": cut_clips(pets / "view001.mp4", base / f"clips{i + 1}", [(s, args.frames)])
        for i, s in enumerate(starts)
    }
    footage_s = args.cameras * args.frames / 7.0
    runs: list[Run] = []
    reference = None
    plan = [
        ("local path, 1 worker", "local1", "", lambda p: run_local(p, 1)),
        ("local path, 2 workers", "local2", "", lambda p: run_local(p, 2)),
        ("Ray, 1 CPU (ray.init)", "ray1", "  engine: ray\n", lambda p: run_ray_local(p, 1)),
        ("Ray, 2 CPUs (ray.init)", "ray2", "  engine: ray\n", lambda p: run_ray_local(p, 2)),
    ]
    if not args.no_two_nodes:
        plan.append(
            (
                "Ray, two nodes x 1 CPU (ray start)",
                "two",
                "  engine: ray\n",
                lambda p: run_two_nodes(p, key),
            )
        )
    for name, folder, engine, runner in plan:
        site_path = fresh(base, folder, cameras, pets, engine)
        text = site_path.read_text().replace(
            "  analysis_fps: 7\n", f"  analysis_fps: {args.fps:g}\n"
        )
        site_path.write_text(text)
        load_before = os.getloadavg()[0]
        wall, cpu = runner(site_path)
        got = snapshot(site_path)
        reference = reference or got
        runs.append(
            Run(name, wall, cpu, footage_s, load_before, os.getloadavg()[0], got == reference)
        )
        r = runs[-1]
        print(
            f"{name}: {wall:.1f} s wall, {cpu:.1f} CPU s, {r.realtime:.2f}x real time, "
            f"{r.per_cpu:.2f} camera-s/CPU-s, load {load_before:.1f}->{r.load_after:.1f}",
            flush=True,
        )
    assert reference is not None
    write_report(args, runs, sum(reference[0].values()))
    shutil.rmtree(base, ignore_errors=True)


def write_report(args: argparse.Namespace, runs: list[Run], tracklets: int) -> None:
    best = max(r.per_cpu for r in runs if r.name.startswith("Ray"))
    lines = [
        "# Ingest on Ray vs the local path",
        "",
        f"`python bench/ingest_ray.py --cameras {args.cameras} --frames {args.frames} "
        f"--fps {args.fps:g}` on {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, "
        f"{os.cpu_count()} cores ({platform.machine()}), shared with other work (load "
        "averages below). "
        f"{args.cameras} cameras, one clip of {args.frames} frames (7 fps, "
        f"{args.frames / 7:.0f} s) each, cut from PETS2009 View_001 (768x576); analysed at "
        f"{args.fps:g} fps; {tracklets} tracklets stored per run.",
        "",
        "| run | wall s | CPU s | x real time | camera-s per CPU-s | load avg before -> after "
        "| same tracklets as local |",
        "|---|---:|---:|---:|---:|---|---|",
    ]
    for r in runs:
        lines.append(
            f"| {r.name} | {r.wall_s:.1f} | {r.cpu_s:.1f} | {r.realtime:.2f} | "
            f"{r.per_cpu:.2f} | {r.load_before:.1f} -> {r.load_after:.1f} | "
            f"{'yes' if r.same else 'NO'} |"
        )
    lines += [
        "",
        "Wall time includes starting Ray (and `ray start` for two nodes) and loading the "
        "models once per worker process; CPU time counts every process of the run.",
        f"Projected CPU cores for {CITY_CAMERAS:,} cameras analysed continuously at "
        f"{args.fps:g} fps, from the best Ray camera-s per CPU-s ({best:.2f}): "
        f"**{CITY_CAMERAS / best:,.0f} cores** (no headroom; a shared, loaded 2-core "
        "machine measures high).",
    ]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
