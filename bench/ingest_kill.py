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

A round whose ingest ended before its kill (the moment is drawn from the clean run's
time, longer or shorter under load) is a row "no (done)" and is drawn again, in a window
half as late, up to 3 times.

With ``--commit-kills N`` it also runs **commit** rounds, at chosen stages instead of
random moments: a camera worker kills itself (SIGKILL) right before, then right after,
its k-th database commit, for k = 1..N (2N rounds). A worker of this clip commits about
14 times: opening the store, registering the camera and its file, claiming it, each
checkpoint (tracklets, encounters and tracker state together), heartbeats and the
final batch. The hook is a ``sitecustomize`` module on the ingest's ``PYTHONPATH`` that
only spawned workers act on, and only the first worker to reach commit k in a round
(the restarted one runs on); the checks are those of a worker round.

"Lost" counts reference tracklets missing afterwards, "duplicated" tracklets stored
more than once, "extra" tracklets the reference does not have (a tracklet is its
camera, tracker id, start, end and point count).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
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
        tracklets: Counter[tuple[object, ...]] = Counter(
            (r.camera_id, r.track_id, r.start, r.end, r.n_points) for r in records
        )
        encounters = Counter(
            (*sorted((by_id[e.tracklet_id], by_id[e.other_tracklet_id])), e.start)
            for e in store.tracklets.encounters_for(list(by_id))
        )
    # encounters_for lists each encounter once from each side.
    return tracklets, encounters


def ingest_cmd(site: Path, verbose: bool = False) -> list[str]:
    cli = [sys.executable, "-m", "cctrace.cli", *(["-v"] if verbose else []), "ingest", str(site)]
    return [*cli, "--no-progress", "--allow-expired"]  # PETS footage is dated 2009


def env(hook: tuple[Path, str] | None = None) -> dict[str, str]:
    """The ingest's environment; ``hook`` (folder of the kill hook, its spec) for commit
    rounds."""
    if hook is None:
        return {**os.environ, "CCTRACE_NO_PROGRESS": "1", "PYTHONPATH": str(ROOT / "src")}
    folder, spec = hook
    path = os.pathsep.join([str(folder), str(ROOT / "src")])
    return {**os.environ, "CCTRACE_NO_PROGRESS": "1", "PYTHONPATH": path, KILL_ENV: spec}


KILL_ENV = "CCTRACE_BENCH_KILL_AT_COMMIT"
KILL_HOOK = f'''"""Written by bench/ingest_kill.py for its commit rounds (never installed).

In a spawned camera worker, ${KILL_ENV} = "K:before|after:MARKER" makes the worker
SIGKILL itself right before or after its K-th database commit, if it is the first
process to create MARKER (so one worker a round, and the restarted one runs on).
"""

import os
import sys

_SPEC = os.environ.get("{KILL_ENV}")


def _install(k: int, when: str, marker: str) -> None:
    import signal

    from sqlalchemy import event
    from sqlalchemy.orm import Session

    seen = [0]

    def _hook(session: object) -> None:
        seen[0] += 1
        if seen[0] != k:
            return
        try:
            fd = os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            return
        os.write(fd, str(os.getpid()).encode())
        os.close(fd)
        os.kill(os.getpid(), signal.SIGKILL)

    event.listen(Session, "before_commit" if when == "before" else "after_commit", _hook)


if _SPEC and "--multiprocessing-fork" in sys.argv:
    _k, _when, _marker = _SPEC.split(":", 2)
    _install(int(_k), _when, _marker)
'''
"""The ``sitecustomize`` module of commit rounds (see the module docstring)."""


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
    """Seconds after the start (parent and worker rounds)."""
    killed: bool
    orphans: int
    shown: str
    rc: int
    lost: int
    duplicated: int
    extra: int
    encounters_equal: bool
    stage: str = ""
    """Where a commit round killed: ``commit K before|after``."""


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
        shown = ", ".join(f"{k} {v}" for k, v in sorted(states(site).items()))
    return _outcome(Round(kind, n, kill_at, killed, len(orphans), shown, rc, 0, 0, 0, True), site)


def commit_round(
    n: int, k: int, when: str, base: Path, clips: list[Path], pets: Path, hook: Path
) -> Round:
    """A commit round: the first camera worker to reach its ``k``-th database commit kills
    itself ``when`` (``before`` or ``after``) it commits; the ingest must still end with
    exit status 0, no process left and the reference tracklets."""
    site = fresh(base, clips, pets, f"commit-{k}-{when}")
    marker = site.parent / "killed.pid"
    started = time.time()
    with (site.parent / "ingest.log").open("wb") as log_file:
        proc = subprocess.Popen(
            ingest_cmd(site, verbose=VERBOSE),
            env=env((hook, f"{k}:{when}:{marker}")),
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    rc = proc.wait()
    orphans = orphans_after(proc.pid)
    killed = marker.exists()
    at = marker.stat().st_mtime - started if killed else 0.0
    shown = ", ".join(f"{s} {c}" for s, c in sorted(states(site).items()))
    stage = f"commit {k} {when}"
    return _outcome(
        Round("commit", n, at, killed, len(orphans), shown, rc, 0, 0, 0, True, stage), site
    )


def _outcome(round_: Round, site: Path) -> Round:
    """``round_`` with the stored tracklets and encounters compared to the reference
    (:data:`REFERENCE`); the ingest log of a round that went wrong is kept."""
    assert REFERENCE is not None
    lost, duplicated, extra, enc_ok = compare(REFERENCE, snapshot(site))
    done = dataclasses.replace(
        round_, lost=lost, duplicated=duplicated, extra=extra, encounters_equal=enc_ok
    )
    if KEEP_LOGS is not None and (lost or duplicated or extra or done.rc or not enc_ok):
        KEEP_LOGS.mkdir(parents=True, exist_ok=True)
        kept = KEEP_LOGS / f"{site.parent.name}.log"
        shutil.copy(site.parent / "ingest.log", kept)
        print(f"round {site.parent.name} went wrong: its ingest log is in {kept}", flush=True)
    return done


DRAWS = 3
"""Draws of a parent or worker round's kill moment, each earlier, until one comes before
the ingest's end (each draw is a row of the report)."""
REFERENCE: Snapshot | None = None
"""What the clean run stored (set by :func:`main`)."""
KEEP_LOGS: Path | None = None
"""Where the ingest logs of rounds that went wrong are copied (``--keep-logs``)."""
VERBOSE = False


def write_report(
    out: Path,
    args: argparse.Namespace,
    clean_s: float,
    ref: Snapshot,
    rounds: list[Round],
    load: tuple[tuple[float, ...], tuple[float, ...]],
    complete: bool = False,
) -> None:
    """Write the report of the rounds so far (rewritten after each round, so a run cut
    short still leaves its rounds; ``complete`` once all of them ran)."""
    command = " ".join(["python bench/ingest_kill.py", *sys.argv[1:]])
    before, after = (", ".join(f"{x:.1f}" for x in avg) for avg in load)
    lines = [
        "# kill -9 during a two-camera parallel ingest",
        "",
        f"`{command}` on {datetime.now(UTC):%Y-%m-%d} ({os.cpu_count()} cores, shared; load "
        f"average {before} at the start, {after} at the end). Two clips of "
        f"{args.frames} frames (7 fps) cut from PETS2009 View_001, checkpoints every 2 s "
        f"of footage; a clean run takes {clean_s:.1f} s wall and stores "
        f"{sum(ref[0].values())} tracklets and {sum(ref[1].values()) // 2} encounters."
        + ("" if complete else f" **Incomplete: {len(rounds)} rounds so far.**"),
        "",
        "| kill | round | at (s) | killed | orphans | files after | exit | lost | duplicated "
        "| extra | encounters equal |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rounds:
        lines.append(
            f"| {r.kind} | {r.n} | {f'{r.stage}, ' if r.stage else ''}{r.kill_at_s:.1f} "
            f"| {'yes' if r.killed else 'no (done)'} "
            f"| {r.orphans} | {r.shown} | {r.rc} | {r.lost} | {r.duplicated} | {r.extra} "
            f"| {'yes' if r.encounters_equal else 'NO'} |"
        )
    for kind in ("parent", "worker", "commit"):
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
        f"kill (a killed run's file is `{INTERRUPTED}`, never `running`); for **worker** and "
        '**commit** rounds, the states once the parent finished. In commit rounds, "at" names '
        "the database commit of the killed worker (its k-th, killed just before or just after "
        "it) and when that was; the killed column says whether a worker got that far.",
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
    parser.add_argument(
        "--commit-kills",
        type=int,
        default=0,
        metavar="N",
        help="also kill a worker right before and right after each of its commits 1..N",
    )
    args = parser.parse_args()
    global KEEP_LOGS, VERBOSE, REFERENCE
    KEEP_LOGS, VERBOSE = args.keep_logs, args.verbose_ingest
    load_before = os.getloadavg()
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
        ref = REFERENCE = snapshot(site)
        print(f"clean run: {clean_s:.1f} s, {sum(ref[0].values())} tracklets", flush=True)
        rounds = []
        for n in range(1, args.rounds + 1):
            for kind in args.kinds:
                window = (args.window[0], args.window[1])
                for _ in range(DRAWS):
                    r = run_round(kind, n, base, clips, pets, clean_s, window)
                    print(r, flush=True)
                    rounds.append(r)
                    write_report(
                        args.out, args, clean_s, ref, rounds, (load_before, os.getloadavg())
                    )
                    if r.killed:
                        break
                    # The ingest ended first (the clean run's time is only a guess under
                    # load): draw again, earlier.
                    window = (window[0] / 2, window[1] / 2)
        hook = base / "hook"
        hook.mkdir()
        (hook / "sitecustomize.py").write_text(KILL_HOOK)
        for k in range(1, args.commit_kills + 1):
            for when in ("before", "after"):
                r = commit_round(k, k, when, base, clips, pets, hook)
                print(r, flush=True)
                rounds.append(r)
                write_report(args.out, args, clean_s, ref, rounds, (load_before, os.getloadavg()))
        write_report(args.out, args, clean_s, ref, rounds, (load_before, os.getloadavg()), True)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
