"""kill -9 during a two-camera parallel ingest: orphans, interrupted files, lost tracklets.

One command: ``python bench/ingest_kill.py --rounds 10`` (PETS2009 View_001 from
../shared/data or $CCTRACE_SHARED_DATA). Writes ``bench/results/ingest_kill.md``.

What it does: cuts two short clips from View_001 (``--frames`` frames each, different
parts of the scene) with the project's own ``write_video``, builds a two-camera site
(checkpoints every 2 s of footage) and ingests it once cleanly (``cctrace ingest
--workers 2``) as the reference. Then, ``--rounds`` times each, at a random moment
once both camera workers are up:

- **parent**: a fresh ingest is killed (SIGKILL); then every process
  of its session still alive after 5 s is an orphan; ``status`` must show the killed
  file(s) as interrupted (not ``running``); a second ingest resumes and the stored
  tracklets and encounters are compared with the reference.
- **worker**: one of the two camera workers is killed; the parent
  must start that camera again and finish with exit status 0, leave no process behind,
  and store exactly the reference tracklets.

"Lost" counts reference tracklets missing afterwards, "duplicated" tracklets stored
more than once, "extra" tracklets the reference does not have (a tracklet is its
camera, tracker id, start, end and point count).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import av

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from cctrace.config import load_site  # noqa: E402
from cctrace.footage.writer import write_video, x264_options  # noqa: E402
from cctrace.ingest.owner import INTERRUPTED, run_state  # noqa: E402
from cctrace.store.repository import Store  # noqa: E402

Snapshot = tuple[Counter[tuple[object, ...]], Counter[tuple[object, ...]]]


def shared_data() -> Path:
    env = os.environ.get("CCTRACE_SHARED_DATA")
    return Path(env) if env else ROOT.parent / "shared" / "data"


def make_clips(src: Path, out: Path, frames: int) -> list[Path]:
    """Two clips of ``frames`` frames: the start of View_001 and a later part."""
    with av.open(str(src)) as inp:
        decoded = [
            f.to_ndarray(format="bgr24")
            for _, f in zip(range(400), inp.decode(video=0), strict=False)
        ]
    starts = (0, min(300, len(decoded) - frames))
    return [
        write_video(
            out / f"cam{i + 1}.mkv",
            decoded[s : s + frames],
            7,
            options=x264_options(gop=7),
            metadata={"creation_time": "2009-01-01T12:34:00Z"},
        )
        for i, s in enumerate(starts)
    ]


def write_site(workdir: Path, clips: list[Path], pets: Path) -> Path:
    rows = (pets / "ground_points.csv").read_text().splitlines()[1:]
    header = (pets / "ground_points.csv").read_text().splitlines()[0].split(",")
    points = []
    for row in rows:
        r = dict(zip(header, row.split(","), strict=True))
        points.append(f"        - [{r['u_px']}, {r['v_px']}, {r['x_m']}, {r['y_m']}]")
    cameras = "".join(
        f"  - id: cam{i + 1}\n"
        f"    location: {{x_m: {10 * i}, y_m: 0}}\n"
        f"    footage: [{clip}]\n"
        "    calibration:\n"
        "      points:\n" + "\n".join(points) + "\n"
        for i, clip in enumerate(clips)
    )
    site = workdir / "site.yaml"
    site.write_text(
        "name: kill-bench\ncameras:\n"
        + cameras
        + "ingest:\n  analysis_fps: 7\n  checkpoint_seconds: 2\n  workers: 2\n"
    )
    return site


def snapshot(site_path: Path) -> Snapshot:
    with Store.for_site(load_site(site_path, check_files=False)) as store:
        records = store.tracklets.in_window(None, None)
        by_id = {r.id: (r.camera_id, r.track_id) for r in records}
        tracklets = Counter((r.camera_id, r.track_id, r.start, r.end, r.n_points) for r in records)
        encounters = Counter(
            (*sorted((by_id[e.tracklet_id], by_id[e.other_tracklet_id])), e.start)
            for e in store.tracklets.encounters_for(list(by_id))
        )
    # encounters_for lists each encounter once from each side.
    return tracklets, encounters


def ingest_cmd(site: Path, verbose: bool = False) -> list[str]:
    cli = [sys.executable, "-m", "cctrace.cli", *(["-v"] if verbose else []), "ingest", str(site)]
    return [*cli, "--no-progress", "--allow-expired"]  # PETS footage is dated 2009


def env() -> dict[str, str]:
    return {**os.environ, "CCTRACE_NO_PROGRESS": "1", "PYTHONPATH": str(ROOT / "src")}


def session_processes(sid: int) -> list[int]:
    """Live (not zombie) processes of session ``sid``: what a killed ingest left behind."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rfind(")") + 2 :].split()
        if int(fields[3]) == sid and fields[0] != "Z":
            found.append(int(entry.name))
    return found


def workers_of(pid: int) -> list[int]:
    """Camera worker processes (spawned children) of ``pid``."""
    out = []
    for child in session_processes(pid):
        try:
            stat = Path(f"/proc/{child}/stat").read_text()
            cmdline = Path(f"/proc/{child}/cmdline").read_bytes()
        except OSError:
            continue
        ppid = int(stat[stat.rfind(")") + 2 :].split()[1])
        if ppid == pid and b"spawn_main" in cmdline:
            out.append(child)
    return out


def orphans_after(sid: int, wait_s: float = 5.0) -> list[int]:
    deadline = time.monotonic() + wait_s
    while (left := session_processes(sid)) and time.monotonic() < deadline:
        time.sleep(0.1)
    for pid in left:  # clean up, so one bad round does not spoil the next
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    return left


def states(site_path: Path) -> Counter[str]:
    with Store.for_site(load_site(site_path, check_files=False)) as store:
        return Counter(run_state(f) for f in store.footage.files())


@dataclass
class Round:
    kind: str
    n: int
    kill_at_s: float
    killed: bool
    orphans: int
    shown: str
    rc: int
    lost: int
    duplicated: int
    extra: int
    encounters_equal: bool


def compare(reference: Snapshot, got: Snapshot) -> tuple[int, int, int, bool]:
    ref_t, ref_e = reference
    got_t, got_e = got
    lost = sum((ref_t - got_t).values())
    duplicated = sum(c - 1 for c in got_t.values() if c > 1)
    extra = sum((Counter(set(got_t)) - Counter(set(ref_t))).values())
    return lost, duplicated, extra, got_e == ref_e


def fresh(base: Path, clips: list[Path], pets: Path, name: str) -> Path:
    work = base / name
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir()
    return write_site(work, clips, pets)


def run_round(
    kind: str,
    n: int,
    base: Path,
    clips: list[Path],
    pets: Path,
    clean_s: float,
    ref: Snapshot,
    window: tuple[float, float] = (0.05, 0.75),
) -> Round:
    site = fresh(base, clips, pets, f"{kind}-{n}")
    log_path = site.parent / "ingest.log"
    with log_path.open("wb") as log_file:
        proc = subprocess.Popen(
            ingest_cmd(site, verbose=VERBOSE),
            env=env(),
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    started = time.monotonic()
    killed = False
    while len(workers_of(proc.pid)) < 2 and proc.poll() is None:
        time.sleep(0.05)
    ready = time.monotonic() - started  # both camera workers are up
    kill_at = ready + random.uniform(*window) * max(1.0, clean_s - ready)
    while time.monotonic() - started < kill_at and proc.poll() is None:
        time.sleep(0.05)
    if kind == "parent":
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            killed = True
        proc.wait()
        orphans = orphans_after(proc.pid)
        seen = states(site)
        shown = ", ".join(f"{k} {v}" for k, v in sorted(seen.items())) or "no file yet"
        if seen.get("running"):
            shown += " (STALE running)"
        done = subprocess.run(ingest_cmd(site), env=env(), capture_output=True, check=False)
        rc = done.returncode
    else:
        workers = workers_of(proc.pid)
        if workers and proc.poll() is None:
            os.kill(random.choice(workers), signal.SIGKILL)
            killed = True
        rc = proc.wait()
        orphans = orphans_after(proc.pid)
        seen = states(site)
        shown = ", ".join(f"{k} {v}" for k, v in sorted(seen.items()))
    lost, duplicated, extra, enc_ok = compare(ref, snapshot(site))
    if KEEP_LOGS is not None and (lost or duplicated or extra or rc or not enc_ok):
        KEEP_LOGS.mkdir(parents=True, exist_ok=True)
        kept = KEEP_LOGS / f"{kind}-{n}.log"
        shutil.copy(log_path, kept)
        print(f"round {kind} {n} went wrong: its ingest log is in {kept}", flush=True)
    return Round(kind, n, kill_at, killed, len(orphans), shown, rc, lost, duplicated, extra, enc_ok)


KEEP_LOGS: Path | None = None
"""Where the ingest logs of rounds that went wrong are copied (``--keep-logs``)."""
VERBOSE = False


def write_report(
    out: Path, args: argparse.Namespace, clean_s: float, ref: Snapshot, rounds: list[Round]
) -> None:
    lines = [
        "# kill -9 during a two-camera parallel ingest",
        "",
        f"`python bench/ingest_kill.py --rounds {args.rounds} --frames {args.frames}` "
        f"on {datetime.now(UTC):%Y-%m-%d} ({os.cpu_count()} cores). Two clips of "
        f"{args.frames} frames (7 fps) cut from PETS2009 View_001, checkpoints every 2 s "
        f"of footage; a clean run takes {clean_s:.1f} s wall and stores "
        f"{sum(ref[0].values())} tracklets and {sum(ref[1].values()) // 2} encounters.",
        "",
        "| kill | round | at (s) | killed | orphans | files after | exit | lost | duplicated "
        "| extra | encounters equal |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rounds:
        lines.append(
            f"| {r.kind} | {r.n} | {r.kill_at_s:.1f} | {'yes' if r.killed else 'no (done)'} "
            f"| {r.orphans} | {r.shown} | {r.rc} | {r.lost} | {r.duplicated} | {r.extra} "
            f"| {'yes' if r.encounters_equal else 'NO'} |"
        )
    for kind in ("parent", "worker"):
        mine = [r for r in rounds if r.kind == kind]
        if not mine:
            continue
        lines += [
            "",
            f"**{kind}** ({sum(r.killed for r in mine)} of {len(mine)} rounds killed before "
            f"the end): orphans {sum(r.orphans for r in mine)}, lost "
            f"{sum(r.lost for r in mine)}, duplicated {sum(r.duplicated for r in mine)}, "
            f"extra {sum(r.extra for r in mine)}, non-zero exits {sum(r.rc != 0 for r in mine)}, "
            f"rounds with a file left `running` {sum('STALE' in r.shown for r in mine)}.",
        ]
    lines += [
        "",
        "Files after: for **parent** rounds, the states `cctrace status` shows right after the "
        f"kill (a killed run's file is `{INTERRUPTED}`, never `running`); for **worker** rounds, "
        "the states once the parent finished.",
        "",
    ]
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(lines))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=10, help="kills of each kind")
    parser.add_argument("--frames", type=int, default=70, help="frames per clip")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "ingest_kill.md")
    parser.add_argument(
        "--kinds", nargs="+", choices=["parent", "worker"], default=["parent", "worker"]
    )
    parser.add_argument(
        "--window",
        type=float,
        nargs=2,
        default=(0.05, 0.75),
        metavar=("FROM", "TO"),
        help="kill between these fractions of the clean run after both workers are up",
    )
    parser.add_argument(
        "--keep-logs",
        type=Path,
        default=ROOT / "bench" / "results" / "ingest_kill_logs",
        help="copy the ingest log of every round that went wrong here",
    )
    parser.add_argument("--verbose-ingest", action="store_true", help="ingest with -v")
    args = parser.parse_args()
    global KEEP_LOGS, VERBOSE
    KEEP_LOGS, VERBOSE = args.keep_logs, args.verbose_ingest
    random.seed(args.seed)
    pets = shared_data() / "pets2009-s2l1"
    if not (pets / "view001.mp4").is_file():
        sys.exit(f"PETS2009 S2L1 not found in {pets} (set CCTRACE_SHARED_DATA)")
    with tempfile.TemporaryDirectory(prefix="cctrace-kill-") as tmp:
        base = Path(tmp)
        clips_dir = base / "clips"
        clips_dir.mkdir()
        clips = make_clips(pets / "view001.mp4", clips_dir, args.frames)
        site = fresh(base, clips, pets, "reference")
        t = time.monotonic()
        clean = subprocess.Popen(
            ingest_cmd(site), env=env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT
        )
        output, _ = clean.communicate()
        clean_s = time.monotonic() - t
        if clean.returncode != 0:
            sys.exit(f"the clean ingest failed:\n{output.decode()}")
        ref = snapshot(site)
        print(f"clean run: {clean_s:.1f} s, {sum(ref[0].values())} tracklets", flush=True)
        rounds = []
        for n in range(1, args.rounds + 1):
            for kind in args.kinds:
                r = run_round(kind, n, base, clips, pets, clean_s, ref, tuple(args.window))
                print(r, flush=True)
                rounds.append(r)
        write_report(args.out, args, clean_s, ref, rounds)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
