"""The whole face-search job, cctrace against ``face_recognition``, on one 640x360 clip.

One command (cctrace's Python)::

    python bench/vs_face_recognition.py [--fps 10] [--profile] [--out bench/results]

Issue 11 item 8: on a 640x360 clip analysed at every frame, the face-search job (ingest
+ trace) should take at most a third of the time ``face_recognition`` (dlib HOG +
ResNet, ageitgey/face_recognition 1.3.0) takes on the same clip.

1. ``face_recognition`` goes into a throwaway venv (``--venv``, default
   ``$XDG_CACHE_HOME/cctrace/bench-face-recognition-venv``, reused when its pins match):
   ``dlib-bin`` (a prebuilt dlib wheel), ``face-recognition-models`` and, with
   ``--no-deps`` (it requires ``dlib`` by name and would compile it),
   ``face-recognition``; OpenCV to read the video, as the library's video example
   does. Never cctrace's dependencies. Its run refuses every network connection.
2. The clip: the evaluation's "trace-photo" scene (:mod:`cctrace.evaluation.face_scene`)
   at 640x360: real people from ``faces/deepface`` pasted as head-and-shoulders
   cut-outs (faces 40-90 px) onto the real, empty PETS2009 background (cropped to 16:9),
   one at a time, each frame JPEG q60, the clip H.264 at ``--fps`` (10). The traced
   person is on screen twice among four others; the query is *another* photo of them.
   Truth: the frames they are on screen in.
3. Each side runs as a user runs it, in its own processes, timed by wall clock and by
   CPU (user + system of the whole process tree, ``getrusage(RUSAGE_CHILDREN)``):
   ``face_recognition``: ``bench/face_recognition_worker.py`` (query encoding, every
   frame ``face_locations`` + ``face_encodings``, ``compare_faces`` at 0.6); cctrace:
   ``cctrace ingest site.yaml`` (one camera, ``analysis_fps`` = the clip's fps, every
   other setting default) then ``cctrace trace --photo``. Found frames: frames with a
   match (face_recognition), frames inside an accepted sighting (cctrace).
   ``--variant`` picks the cctrace site settings compared (:data:`VARIANTS`: the
   defaults and two single-pass person-detector settings; all by default).
4. ``--profile`` also ingests the clip in-process with each model stage timed
   (bench/ingest.py's timers), a decode-only pass, and cProfile for the rest.

Writes ``vs_face_recognition.md`` and ``.json`` under ``--out``. Needs ``../shared/data``
(faces/deepface, pets2009-s2l1) and the network once (pip) to build the venv.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
WORKER = Path(__file__).resolve().parent / "face_recognition_worker.py"

FRAME_W, FRAME_H = 640, 360
ON_SCREEN_S = 4.0
STRIDE_S = 8.0
"""As the trace-photo stage: 4 s on screen, 4 s empty (longer than the tracker's 3 s
memory of a lost person) before the next person."""
QUERY_PERSON = 1
"""Index (among the cast) of the traced person."""
ORDER = (0, QUERY_PERSON, 2, 3, QUERY_PERSON, 4)
"""Who is on screen in each 8 s slot: the traced person twice, four others once."""

REQUIREMENTS = (
    "dlib-bin==20.0.1.post1",
    "face-recognition-models==0.3.0",
    "numpy==2.4.6",
    "pillow==13.0.0",
    "click==8.5.1",
    "opencv-python-headless==4.14.0.94",
)
NO_DEPS = ("face-recognition==1.3.0",)
"""Installed with --no-deps: its metadata requires ``dlib``, which pip would compile;
``dlib-bin`` provides the same ``dlib`` module prebuilt."""
MARKER = "cctrace-bench-requirements.txt"


# ----------------------------------------------------------------------------- venv


def default_venv() -> Path:
    """``$XDG_CACHE_HOME/cctrace/bench-face-recognition-venv`` (``~/.cache`` by default)."""
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return cache / "cctrace" / "bench-face-recognition-venv"


def ensure_venv(venv: Path) -> Path:
    """The venv's Python, after creating and filling it unless its pins already match.

    After installing, one photo is encoded with the network refused (offline check)."""
    python = venv / "bin" / "python"
    pins = "\n".join(REQUIREMENTS + NO_DEPS) + "\n"
    marker = venv / MARKER
    if python.is_file() and marker.is_file() and marker.read_text() == pins:
        return python
    if venv.exists():
        shutil.rmtree(venv)
    venv.parent.mkdir(parents=True, exist_ok=True)
    print(f"==> throwaway venv for face_recognition in {venv}", file=sys.stderr)
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    env = {**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    pip = [str(python), "-m", "pip", "install", "-q"]
    subprocess.run([*pip, *REQUIREMENTS], check=True, env=env)
    subprocess.run([*pip, "--no-deps", *NO_DEPS], check=True, env=env)
    check_offline(python, SHARED / "faces" / "face_recognition" / "obama_small.jpg")
    marker.write_text(pins)
    return python


def check_offline(python: Path, photo: Path) -> None:
    """Encode ``photo``'s face with every network connection refused; raise if it fails."""
    code = (
        "import importlib.util, sys\n"
        f"spec = importlib.util.spec_from_file_location('w', {str(WORKER)!r})\n"
        "w = importlib.util.module_from_spec(spec); spec.loader.exec_module(w)\n"
        "w.refuse_network()\n"
        "import face_recognition as fr\n"
        f"enc = fr.face_encodings(fr.load_image_file({str(photo)!r}))\n"
        "assert len(enc) == 1 and enc[0].shape == (128,), enc\n"
        "print('face_recognition works offline')\n"
    )
    subprocess.run([str(python), "-c", code], check=True, cwd=tempfile.gettempdir())


# ----------------------------------------------------------------------------- clip


@dataclass(frozen=True)
class Scene:
    """The clip, the query photo and when the traced person is on screen."""

    video: Path
    query_photo: Path
    in_video_photo: Path
    identity: str
    fps: int
    n_frames: int
    start: datetime
    spans: tuple[tuple[float, float], ...]
    """(t0, t1) seconds of each of the traced person's appearances."""
    others: tuple[str, ...]
    """Identities of the other people on screen."""


def build_clip(workdir: Path, fps: int) -> Scene:
    """Render the 640x360 clip (see the module docstring); return what it holds."""
    import cv2
    import numpy as np

    from cctrace.evaluation.face_scene import (
        Appearance,
        cutout_from_photo,
        pets_background,
        write_face_video,
    )
    from cctrace.evaluation.face_trace import cast

    faces_dir = SHARED / "faces" / "deepface"
    casting = cast(faces_dir, 5, 0)
    full = pets_background(SHARED / "pets2009-s2l1" / "view001.mp4")  # 768x576
    top = (full.shape[0] - full.shape[1] * 9 // 16) // 2
    band = full[top : top + full.shape[1] * 9 // 16]
    background = np.ascontiguousarray(
        cv2.resize(band, (FRAME_W, FRAME_H), interpolation=cv2.INTER_AREA)
    )
    cutouts = {k: cutout_from_photo(faces_dir / casting.present[k][1]) for k in set(ORDER)}
    people: list[Appearance] = []
    spans: list[tuple[float, float]] = []
    for slot, k in enumerate(ORDER):
        t0 = 1.0 + slot * STRIDE_S
        grow = slot % 2 == 0
        left_to_right = slot % 3 != 1
        people.append(
            Appearance(
                cutouts[k],
                t0,
                t0 + ON_SCREEN_S,
                (120.0, 125.0) if left_to_right else (520.0, 140.0),
                (500.0, 155.0) if left_to_right else (150.0, 110.0),
                40.0 if grow else 90.0,
                90.0 if grow else 40.0,
            )
        )
        if k == QUERY_PERSON:
            spans.append((t0, t0 + ON_SCREEN_S))
    duration = 2.0 + len(ORDER) * STRIDE_S
    video = write_face_video(workdir / "door.mp4", background, people, duration, fps=fps)
    identity, in_video, query = casting.present[QUERY_PERSON]
    return Scene(
        video=video,
        query_photo=faces_dir / query,
        in_video_photo=faces_dir / in_video,
        identity=identity,
        fps=fps,
        n_frames=round(duration * fps),
        start=datetime.now(UTC).replace(microsecond=0, second=0) - timedelta(hours=2),
        spans=tuple(spans),
        others=tuple(casting.present[k][0] for k in sorted(set(ORDER) - {QUERY_PERSON})),
    )


VARIANTS: dict[str, str] = {
    "default": "",
    # One 416x416 pass over the whole frame instead of two tiles plus the whole-frame
    # passes at 320 and 416 (which run on every frame here: the people are tall, and
    # empty frames trigger them too). At 640x360 a face big enough to recognise belongs
    # to a person tall enough for the whole-frame pass; tiles are for far, small people.
    "whole-frame-416": "models:\n  person_detector:\n    type: yolov3-tiny-int8\n"
    "    params: {tiles: [1, 1], nms_threshold: 0.6}\n",
    "whole-frame-320": "models:\n  person_detector:\n    type: yolov3-tiny-int8\n"
    "    params: {tiles: [1, 1], input_size: 320, nms_threshold: 0.6}\n",
}
"""Site settings compared (``--variant``): the defaults, and person-detector settings a
user could pick for face search on a low-resolution camera. None changes a default."""


def write_site(workdir: Path, scene: Scene, extra: str = "") -> Path:
    """A one-camera site over the clip analysing every frame; defaults otherwise, plus
    the YAML ``extra`` (a ``models:`` section of :data:`VARIANTS`)."""
    site = workdir / "site.yaml"
    site.write_text(
        "name: bench-vs-face-recognition\n"
        "cameras:\n"
        "  - id: door\n"
        "    location: {x_m: 0, y_m: 0}\n"
        f"    footage: [{scene.video}]\n"
        f"    start_time: {scene.start.isoformat().replace('+00:00', 'Z')}\n"
        "ingest:\n"
        f"  analysis_fps: {scene.fps}\n"
        "storage:\n"
        "  data_dir: data\n" + extra
    )
    return site


# ----------------------------------------------------------------------------- scoring


def truth_frames(spans: Iterable[tuple[float, float]], fps: float, n_frames: int) -> set[int]:
    """Frames ``i`` (at ``i / fps`` s) that fall inside any of ``spans`` (inclusive)."""
    return {i for i in range(n_frames) if any(t0 <= i / fps <= t1 for t0, t1 in spans)}


def frames_in_intervals(
    intervals: Iterable[tuple[float, float]], fps: float, n_frames: int
) -> set[int]:
    """Frames whose time lies in any ``(start_s, end_s)`` interval, half a frame of slack."""
    half = 0.5 / fps
    return {
        i for i in range(n_frames) if any(a - half <= i / fps <= b + half for a, b in intervals)
    }


@dataclass(frozen=True)
class Found:
    """What one side found, scored against the truth frames."""

    found_frames: int
    true_frames: int
    hit_frames: int
    false_frames: int
    frame_recall: float
    appearances_found: int
    appearances: int

    @property
    def summary(self) -> str:
        """One line for the table."""
        return (
            f"{self.appearances_found}/{self.appearances} appearances; frames "
            f"{self.hit_frames}/{self.true_frames} ({self.frame_recall:.2f}), "
            f"{self.false_frames} false"
        )


def score(
    found: set[int], spans: Sequence[tuple[float, float]], fps: float, n_frames: int
) -> Found:
    """Frame recall of ``found`` against the frames in ``spans`` and appearances hit."""
    truth = truth_frames(spans, fps, n_frames)
    hits = found & truth
    appeared = sum(1 for span in spans if hits & truth_frames([span], fps, n_frames))
    return Found(
        found_frames=len(found),
        true_frames=len(truth),
        hit_frames=len(hits),
        false_frames=len(found - truth),
        frame_recall=len(hits) / len(truth) if truth else float("nan"),
        appearances_found=appeared,
        appearances=len(spans),
    )


def accepted_intervals(trace: dict[str, Any], start: datetime) -> list[tuple[float, float]]:
    """``(start_s, end_s)`` from the clip start of each accepted sighting of a
    ``cctrace trace --json`` output (``{"trace": {"sightings": [...]}}``)."""
    out = []
    for s in trace["trace"]["sightings"]:
        if s["status"] != "accepted":
            continue
        a = datetime.fromisoformat(s["start"].replace("Z", "+00:00"))
        b = datetime.fromisoformat(s["end"].replace("Z", "+00:00"))
        out.append(((a - start).total_seconds(), (b - start).total_seconds()))
    return sorted(out)


# ----------------------------------------------------------------------------- runs


@dataclass
class Step:
    """One timed command: wall seconds and CPU seconds of its process tree."""

    name: str
    argv: list[str]
    wall_s: float = 0.0
    cpu_s: float = 0.0
    stdout: str = field(default="", repr=False)


def run_timed(name: str, argv: list[str], env: dict[str, str], cwd: Path) -> Step:
    """Run ``argv`` to completion; CPU = children's user + system time (whole tree)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.run(argv, env=env, cwd=cwd, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise RuntimeError(f"{name} failed ({proc.returncode}):\n{proc.stderr[-4000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return Step(name, argv, wall, cpu, proc.stdout)


def cctrace_env() -> dict[str, str]:
    """The environment for cctrace's subprocesses: this checkout first on the path."""
    path = os.pathsep.join([str(ROOT / "src"), str(ROOT), os.environ.get("PYTHONPATH", "")])
    return {**os.environ, "PYTHONPATH": path.rstrip(os.pathsep), "CCTRACE_NO_PROGRESS": "1"}


def run_cctrace(scene: Scene, workdir: Path, extra: str = "") -> tuple[list[Step], dict[str, Any]]:
    """``cctrace ingest`` then ``cctrace trace --photo`` as a user runs them, in
    ``workdir`` (a fresh data dir), the site's YAML plus ``extra``."""
    workdir.mkdir(parents=True, exist_ok=True)
    site = write_site(workdir, scene, extra)
    env = cctrace_env()
    cli = [sys.executable, "-c", "from cctrace.cli import main; main()"]
    ingest = run_timed("cctrace ingest", [*cli, "ingest", str(site), "--json"], env, workdir)
    files = json.loads(ingest.stdout)["files"]
    if any(f["status"] != "done" for f in files):
        raise RuntimeError(f"ingest did not finish: {files}")
    trace = run_timed(
        "cctrace trace",
        [
            *cli,
            "trace",
            "--site",
            str(site),
            "--case",
            "BENCH-FR-1",
            "--photo",
            str(scene.query_photo),
            "--legal-basis",
            "benchmark",
            "--actor",
            "bench",
            "--json",
        ],
        env,
        workdir,
    )
    return [ingest, trace], json.loads(trace.stdout)


def run_face_recognition(python: Path, scene: Scene, workdir: Path) -> tuple[Step, dict[str, Any]]:
    """The worker in the venv: query encoding + every frame searched."""
    out = workdir / "face_recognition.json"
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    step = run_timed(
        "face_recognition",
        [str(python), str(WORKER), str(scene.video), str(scene.query_photo), str(out)],
        env,
        workdir,
    )
    return step, json.loads(out.read_text())


# ----------------------------------------------------------------------------- profile


def profile_cctrace(scene: Scene, workdir: Path, extra: str = "") -> dict[str, Any]:
    """Ingest the clip in-process (site YAML plus ``extra``) with every model stage
    timed (CPU), decode timed in a separate pass, and cProfile's listing of the rest
    written beside; then the trace, timed."""
    import cProfile
    import pstats

    sys.path.insert(0, str(ROOT / "src"))
    spec = importlib.util.spec_from_file_location("bench_ingest", ROOT / "bench" / "ingest.py")
    assert spec and spec.loader
    bench_ingest = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench_ingest)

    from cctrace.config import load_site
    from cctrace.footage.reader import iter_frames
    from cctrace.ingest.models import ModelSet
    from cctrace.ingest.runner import ingest_site
    from cctrace.store.repository import Store
    from cctrace.tracing.service import TraceRequest, trace_in_store

    workdir.mkdir(parents=True, exist_ok=True)
    site = load_site(write_site(workdir, scene, extra))

    def cpu() -> float:
        r = resource.getrusage(resource.RUSAGE_SELF)
        return r.ru_utime + r.ru_stime

    c0 = cpu()
    n = sum(1 for _ in iter_frames(scene.video, "door", scene.start, scene.fps, scene.fps))
    decode_cpu = cpu() - c0

    models = bench_ingest.TimedModels(site.models)
    bench_ingest.CPU_TIMES.clear()
    bench_ingest.CALLS.clear()
    profiler = cProfile.Profile()
    c0 = cpu()
    profiler.enable()
    ingest_site(site, workers=1, progress=False, models=models)
    profiler.disable()
    ingest_cpu = cpu() - c0
    stats = pstats.Stats(profiler)
    stats.sort_stats("cumulative")
    listing = workdir / "ingest_cprofile.txt"
    with listing.open("w") as fh:
        pstats.Stats(profiler, stream=fh).sort_stats("tottime").print_stats(40)
    stages = {k: round(v, 3) for k, v in sorted(bench_ingest.CPU_TIMES.items())}
    calls = dict(sorted(bench_ingest.CALLS.items()))
    self_time = {
        f"{Path(f).name}:{fn}": round(tt, 3)
        for (f, _, fn), (_, _, tt, _, _) in stats.stats.items()  # type: ignore[attr-defined]
    }
    c0 = cpu()
    with Store.for_site(site) as store:
        stored = store.faces.embedding_stats()[0]
        tracklets = len(store.tracklets.in_window(None, None))
        store.cases.create("BENCH-FR-P", created_by="bench", legal_basis="benchmark")
        trace_in_store(
            site,
            store,
            TraceRequest(case_id="BENCH-FR-P", actor="bench", photos=(scene.query_photo,)),
            ModelSet(site.models),
        )
    trace_cpu = cpu() - c0
    return {
        "frames_decoded": n,
        "decode_cpu_s": round(decode_cpu, 3),
        "ingest_cpu_s": round(ingest_cpu, 3),
        "stage_cpu_s": stages,
        "stage_calls": calls,
        "trace_in_store_cpu_s": round(trace_cpu, 3),
        "face_embeddings_stored": stored,
        "tracklets": tracklets,
        "top_self_cpu_s": dict(sorted(self_time.items(), key=lambda kv: -kv[1])[:25]),
        "cprofile_listing": str(listing),
    }


# ----------------------------------------------------------------------------- report


def load_avg() -> str:
    """The 1, 5 and 15 minute load averages."""
    return " / ".join(f"{x:.1f}" for x in os.getloadavg())


def commit() -> str:
    """This checkout's short commit id (``+dirty`` with uncommitted changes)."""
    head = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
    ).stdout.strip()
    dirty = subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=no"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    ).stdout.strip()
    return head + ("+dirty" if dirty else "")


def ratio(a: float, b: float) -> float:
    """``a / b`` (NaN when ``b`` is 0)."""
    return a / b if b else float("nan")


def cctrace_summary(steps: Sequence[Step], trace: dict[str, Any], scene: Scene) -> dict[str, Any]:
    """Times and findings of one cctrace run (``steps``: ingest, trace)."""
    intervals = accepted_intervals(trace, scene.start)
    found = score(
        frames_in_intervals(intervals, scene.fps, scene.n_frames),
        scene.spans,
        scene.fps,
        scene.n_frames,
    )
    statuses: dict[str, int] = {}
    for s in trace["trace"]["sightings"]:
        statuses[s["status"]] = statuses.get(s["status"], 0) + 1
    return {
        "ingest_wall_s": steps[0].wall_s,
        "ingest_cpu_s": steps[0].cpu_s,
        "trace_wall_s": steps[1].wall_s,
        "trace_cpu_s": steps[1].cpu_s,
        "wall_s": sum(s.wall_s for s in steps),
        "cpu_s": sum(s.cpu_s for s in steps),
        "frames": scene.n_frames,
        "found": found.summary,
        "score": asdict(found),
        "sightings": ", ".join(f"{n} {k}" for k, n in sorted(statuses.items()))
        + " sightings; accepted "
        + (", ".join(f"{a:.1f}-{b:.1f} s" for a, b in intervals) or "none"),
    }


def render_markdown(result: dict[str, Any]) -> str:
    """The results table and the run's conditions, as markdown."""
    fr = result["face_recognition"]
    lines = [
        "# Face search: cctrace vs face_recognition (issue 11 item 8)",
        "",
        f"- command: `{result['command']}`",
        f"- date: {result['date']}, commit {result['commit']}, {result['machine']}",
        f"- load average (1/5/15 min) before: {result['load_before']}, after: "
        f"{result['load_after']}",
        f"- clip: {result['clip']}",
        f"- query: {result['query']}",
        "- CPU s: user + system of the job's whole process tree; found: the traced "
        "person's appearances found, and frames found / frames they are on screen "
        "(face_recognition: frames with a match; cctrace: frames inside an accepted "
        "sighting), plus frames found outside them",
        "",
        "| job | wall s | CPU s | frames | found | cctrace / face_recognition wall, CPU |",
        "|---|---:|---:|---:|---|---:|",
        f"| face_recognition 1.3.0 (HOG, upsample 1, ResNet, tolerance 0.6) | "
        f"{fr['wall_s']:.1f} | {fr['cpu_s']:.1f} | {fr['frames']} | {fr['found']} | |",
    ]
    for name, cc in result["cctrace"].items():
        label = "site defaults" if name == "default" else f"`{name}` person detector"
        lines += [
            f"| cctrace ingest ({label}) | {cc['ingest_wall_s']:.1f} | "
            f"{cc['ingest_cpu_s']:.1f} | {cc['frames']} | | |",
            f"| cctrace trace --photo | {cc['trace_wall_s']:.1f} | {cc['trace_cpu_s']:.1f} | | | |",
            f"| **cctrace ingest + trace ({label})** | **{cc['wall_s']:.1f}** | "
            f"**{cc['cpu_s']:.1f}** | {cc['frames']} | {cc['found']} | "
            f"**{cc['ratio_wall']:.2f}, {cc['ratio_cpu']:.2f}** |",
        ]
    lines += [
        "",
        "Target: cctrace / face_recognition <= 0.33. face_recognition: query encoding "
        f"{fr['query_s']:.1f} s, search {fr['search_s']:.1f} s wall inside the worker; "
        f"frames with a face found: {fr['frames_with_faces']}.",
    ]
    for name, cc in result["cctrace"].items():
        lines.append(f"cctrace `{name}`: {cc['sightings']}.")
    start = result["cctrace_cli_startup"]
    lines.append(
        f"`cctrace --help` alone (Python start, imports, no models): {start['cpu_s']:.1f} CPU "
        f"s, {start['wall_s']:.1f} s wall; ingest and trace each pay it."
    )
    for name, extra in result["variants"].items():
        if extra:
            lines += ["", f"`{name}` adds to the site file:", "", "```yaml", extra.rstrip(), "```"]
    for name, prof in result.get("profile", {}).items():
        frames = max(1, prof["frames_decoded"])
        lines += [
            "",
            f"## Where cctrace's ingest CPU goes (`{name}`, `--profile`: in-process, one "
            "worker, each model stage timed)",
            "",
            "| part | CPU s | CPU ms per frame | calls |",
            "|---|---:|---:|---:|",
        ]
        staged = 0.0
        for stage, secs in prof["stage_cpu_s"].items():
            staged += secs
            lines.append(
                f"| {stage} | {secs:.2f} | {1000 * secs / frames:.1f} | "
                f"{prof['stage_calls'].get(stage, 0)} |"
            )
        rest = prof["ingest_cpu_s"] - staged
        lines += [
            f"| rest: decode, tracking, body features, DB, snapshots | {rest:.2f} | "
            f"{1000 * rest / frames:.1f} | |",
            f"| (decode alone, a separate pass) | {prof['decode_cpu_s']:.2f} | "
            f"{1000 * prof['decode_cpu_s'] / frames:.1f} | {frames} |",
            f"| **whole ingest** | **{prof['ingest_cpu_s']:.2f}** | "
            f"**{1000 * prof['ingest_cpu_s'] / frames:.1f}** | |",
            f"| trace in store (query photo + search) | {prof['trace_in_store_cpu_s']:.2f} | | |",
            "",
            f"{prof['tracklets']} tracklets, {prof['face_embeddings_stored']} face embeddings "
            f"stored after {prof['stage_calls'].get('face_embed.embed', 0)} embedding calls.",
        ]
    return "\n".join(lines) + "\n"


def main() -> None:
    """Build the clip, run both jobs, write the results."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--fps", type=int, default=10, help="clip fps (analysed at every frame)")
    parser.add_argument("--venv", type=Path, default=default_venv(), help="face_recognition venv")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results")
    parser.add_argument("--workdir", type=Path, default=None, help="keep the clip and site here")
    parser.add_argument(
        "--variant",
        action="append",
        choices=sorted(VARIANTS),
        help="cctrace site settings to run (repeatable; default: all)",
    )
    parser.add_argument("--profile", action="store_true", help="also profile cctrace's ingest")
    args = parser.parse_args()
    variants = args.variant or list(VARIANTS)
    sys.path.insert(0, str(ROOT / "src"))
    for need in (SHARED / "faces" / "deepface", SHARED / "pets2009-s2l1" / "view001.mp4"):
        if not need.exists():
            raise SystemExit(f"needs {need} (../shared/data)")
    python = ensure_venv(args.venv)
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="cctrace-vs-fr-"))
    workdir.mkdir(parents=True, exist_ok=True)
    scene = build_clip(workdir, args.fps)
    print(f"clip {scene.video} ({scene.n_frames} frames), query {scene.query_photo}")

    load_before = load_avg()
    fr_step, fr = run_face_recognition(python, scene, workdir)
    print(f"face_recognition: {fr_step.wall_s:.1f} s wall, {fr_step.cpu_s:.1f} s CPU")
    startup = run_timed(
        "cctrace --help",
        [sys.executable, "-c", "from cctrace.cli import main; main()", "--help"],
        cctrace_env(),
        workdir,
    )
    runs: dict[str, dict[str, Any]] = {}
    for name in variants:
        steps, trace = run_cctrace(scene, workdir / f"cctrace-{name}", VARIANTS[name])
        runs[name] = cctrace_summary(steps, trace, scene)
        runs[name]["ratio_wall"] = ratio(runs[name]["wall_s"], fr_step.wall_s)
        runs[name]["ratio_cpu"] = ratio(runs[name]["cpu_s"], fr_step.cpu_s)
        print(f"cctrace {name}: {runs[name]['wall_s']:.1f} s wall, {runs[name]['cpu_s']:.1f} s CPU")
    load_after = load_avg()
    fr_found = score(set(fr["found_frames"]), scene.spans, scene.fps, fr["frames"])
    command = "python bench/vs_face_recognition.py" + "".join(
        f" --variant {v}" for v in args.variant or ()
    )
    result: dict[str, Any] = {
        "command": command + (" --profile" if args.profile else ""),
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "commit": commit(),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}",
        "load_before": load_before,
        "load_after": load_after,
        "clip": f"{FRAME_W}x{FRAME_H}, {scene.fps} fps, {scene.n_frames} frames "
        f"({scene.n_frames / scene.fps:.0f} s), 6 appearances of 5 real people "
        "(faces/deepface, faces 40-90 px) on the empty PETS2009 S2L1 background, JPEG q60 "
        "+ H.264; the traced person twice ("
        + ", ".join(f"{t0:g}-{t1:g} s" for t0, t1 in scene.spans)
        + ")",
        "query": f"{scene.query_photo.name} ({scene.identity}; the clip shows "
        f"{scene.in_video_photo.name})",
        "face_recognition": {
            "wall_s": fr_step.wall_s,
            "cpu_s": fr_step.cpu_s,
            "frames": fr["frames"],
            "query_s": fr["query_s"],
            "search_s": fr["search_s"],
            "frames_with_faces": sum(1 for n in fr["faces_per_frame"] if n),
            "found": fr_found.summary,
            "score": asdict(fr_found),
        },
        "cctrace": runs,
        "cctrace_cli_startup": {"wall_s": startup.wall_s, "cpu_s": startup.cpu_s},
        "variants": {name: VARIANTS[name] for name in variants},
    }
    if args.profile:
        result["profile"] = {
            name: profile_cctrace(scene, workdir / f"profile-{name}", VARIANTS[name])
            for name in variants
        }
    text = render_markdown(result)
    print(text)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "vs_face_recognition.md").write_text(text)
    (args.out / "vs_face_recognition.json").write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
