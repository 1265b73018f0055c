"""Cameras per device at 1080p, 2 fps analysed, decode included: one prepared script.

One command, the same on a CPU-only machine and on a GPU host::

    python bench/gpu.py --quick            # GPU host: a few minutes (cameras ramp up)
    python bench/gpu.py --seconds 10       # CPU here: a short run, 2 cameras
    python bench/gpu.py --device cuda ...  # refuse to run without CUDA

What it does:

1. Makes 1080p footage from real frames: PETS2009 S2L1 View_001 (../shared/data, else
   the Debian opencv-doc copy) upscaled from 768x576 to 1920x1080, played forward then
   backward (no cut), encoded with the project's writer (H.264, 25 fps, a key frame every
   25 frames, 2 B-frames: a common CCTV main stream). Cached under the temp folder.
2. Runs N cameras, each decoding that file itself with PyAV (decode is part of the cost:
   every camera pays its own), sampled at 2 fps (non-reference frames skipped, as ingest
   does; ``--decode keyframes`` decodes I-frames only), with the site's default models on
   the chosen device (``--device auto|cpu|cuda``: :mod:`cctrace.vision.runtime`). Frames
   of all the cameras a process serves go through the person detector together
   (``detect_batch``: the tiles of ``--batch`` frames in one inference call); then each
   camera's own ingest code runs (tracking, face search on head regions, face embedding,
   masks, encounters: ``cctrace.ingest.camera.CameraProcessor``), as ``cctrace ingest``
   does, only without writing to a database.
3. Cameras are spread over ``--procs`` processes (each has its own model sessions on the
   same device), each with one decoding thread per camera.

Figure: camera-seconds analysed per wall second = how many cameras this machine keeps
up with in real time. When a run keeps up with all of its cameras (factor >= its
camera count) the device was not saturated and the figure is a lower bound; the ramp
(``--cameras 16,64,256``) goes on until it is. Results: ``bench/results/gpu_<device>.json``
and ``.md`` (``--out`` another folder).

On CUDA the float YOLOv3-tiny model is the default (``--detector``): the int8 one is
quantised for CPU VNNI kernels and runs partly on the CPU under the CUDA provider.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import platform
import queue
import resource
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

import numpy as np  # noqa: E402

from cctrace.types import Detections, Frame, Image  # noqa: E402

WIDTH, HEIGHT, SOURCE_FPS, GOP = 1920, 1080, 25, 25
START = datetime(2026, 3, 15, 8, 0, tzinfo=UTC)


@dataclass
class RunResult:
    """One run: ``cameras`` cameras over ``procs`` processes."""

    cameras: int
    procs: int
    seconds: float
    wall_s: float
    cpu_s: float
    frames: int
    decode_wait_s: float = 0.0
    detect_s: float = 0.0
    process_s: float = 0.0
    providers: list[str] = field(default_factory=list)

    @property
    def realtime_cameras(self) -> float:
        """Camera-seconds analysed per wall second."""
        return self.cameras * self.seconds / self.wall_s if self.wall_s else 0.0

    @property
    def saturated(self) -> bool:
        """False when the run kept up with all of its cameras (a lower bound)."""
        return self.realtime_cameras < 0.9 * self.cameras


def source_clip(seconds: float) -> Path:
    """The 1080p test clip (made once per length and cached in the temp folder)."""
    from cctrace.footage.writer import write_video

    path = Path(tempfile.gettempdir()) / f"cctrace-gpu-bench-1080p-{seconds:g}s.mp4"
    if path.is_file() and path.stat().st_size > 0:
        return path
    import av
    import cv2

    shared = ROOT.parent / "shared" / "data" / "pets2009-s2l1" / "view001.mp4"
    if shared.is_file():
        source = shared
    else:
        from cctrace.footage.demo import fetch_demo_video

        source = fetch_demo_video()
    frames: list[np.ndarray] = []
    with av.open(str(source)) as container:
        for frame in container.decode(video=0):
            frames.append(frame.to_ndarray(format="bgr24"))
    wanted = round(seconds * SOURCE_FPS)
    cycle = frames + frames[-2:0:-1]  # forward then backward: no shot cut when it loops
    order = [cycle[i % len(cycle)] for i in range(wanted)]
    big = (cv2.resize(f, (WIDTH, HEIGHT), interpolation=cv2.INTER_LINEAR) for f in order)
    options = {
        "crf": "23",
        "preset": "veryfast",
        "x264-params": f"threads=1:keyint={GOP}:min-keyint={GOP}:bframes=2:scenecut=0",
    }
    tmp = path.with_suffix(".part.mp4")
    t0 = time.perf_counter()
    write_video(tmp, big, SOURCE_FPS, options=options)
    tmp.rename(path)
    print(f"made {path} ({wanted} frames 1920x1080) in {time.perf_counter() - t0:.0f} s")
    return path


class Precomputed:
    """A person detector that hands back the boxes the batch found for this frame."""

    def __init__(self) -> None:
        self.next: Detections | None = None

    def detect(self, image: Image) -> Detections:
        found, self.next = self.next, None
        if found is None:
            raise RuntimeError("no batched detections for this frame")
        return found


def _decode(clip: Path, cam: str, fps: float, keyframes: bool, out: queue.Queue[Any]) -> None:
    from cctrace.footage.reader import iter_frames

    try:
        for frame in iter_frames(clip, cam, START, fps, keyframes_only=keyframes, decode_threads=1):
            out.put(frame)
    finally:
        out.put(None)


def worker(args: dict[str, Any], cams: list[str], results: Any) -> None:
    """One process: decode threads for ``cams``, batched detection, per-camera ingest."""
    import cv2

    from cctrace.config import CameraConfig, IngestConfig, ModelChoice, ModelsConfig
    from cctrace.ingest.camera import CameraProcessor
    from cctrace.ingest.models import ModelSet
    from cctrace.vision.runtime import session_provider, use_device

    cv2.setNumThreads(1)
    use_device(args["device"])
    default = ModelsConfig().person_detector
    config = ModelsConfig(
        person_detector=ModelChoice(type=args["detector"], params=dict(default.params))
    )
    models = ModelSet(config, threads=args["threads"])
    detector = models.person_detector
    warm = np.zeros((HEIGHT, WIDTH, 3), np.uint8)
    detector.detect_batch([warm] * min(args["batch"], len(cams)))  # type: ignore[attr-defined]
    models.face_detector.detect(warm[:320, :320])
    providers = [f"person: {session_provider(detector._load())}"]  # type: ignore[attr-defined]
    shim = Precomputed()
    per_cam = ModelSet(config)
    per_cam.__dict__.update(
        person_detector=shim,
        face_detector=models.face_detector,
        face_embedder=models.face_embedder,
        mask_classifier=models.mask_classifier,
        body_embedder=models.body_embedder,
    )
    ingest = IngestConfig(analysis_fps=args["fps"])
    procs = {}
    queues: dict[str, queue.Queue[Any]] = {}
    clip = Path(args["clip"])
    for cam in cams:
        camera = CameraConfig(id=cam, location={"x_m": 0, "y_m": 0}, footage=[clip])
        procs[cam] = CameraProcessor(camera, ingest, source_fps=SOURCE_FPS)
        queues[cam] = queue.Queue(maxsize=4)
    barrier = args["barrier"]
    barrier.wait()
    t0, c0 = time.perf_counter(), time.process_time()
    threads = [
        threading.Thread(
            target=_decode,
            args=(clip, cam, args["fps"], args["keyframes"], queues[cam]),
            daemon=True,
        )
        for cam in cams
    ]
    for t in threads:
        t.start()
    live = list(cams)
    frames = 0
    wait_s = detect_s = process_s = 0.0
    while live:
        batch: list[Frame] = []
        t = time.perf_counter()
        for cam in list(live):
            item = queues[cam].get()
            if item is None:
                live.remove(cam)
            else:
                batch.append(item)
        wait_s += time.perf_counter() - t
        for start in range(0, len(batch), args["batch"]):
            chunk = batch[start : start + args["batch"]]
            t = time.perf_counter()
            found = detector.detect_batch([f.image for f in chunk])  # type: ignore[attr-defined]
            detect_s += time.perf_counter() - t
            t = time.perf_counter()
            for frame, people in zip(chunk, found, strict=True):
                shim.next = people
                procs[frame.camera_id].process(frame, per_cam)
            process_s += time.perf_counter() - t
        frames += len(batch)
    for cam in cams:
        procs[cam].finish()
    results.put(
        {
            "wall_s": time.perf_counter() - t0,
            "cpu_s": time.process_time() - c0,
            "frames": frames,
            "decode_wait_s": wait_s,
            "detect_s": detect_s,
            "process_s": process_s,
            "providers": providers,
        }
    )


def run(clip: Path, cameras: int, procs: int, args: argparse.Namespace) -> RunResult:
    """``cameras`` cameras over ``procs`` processes; wall time from a common start."""
    ctx = mp.get_context("spawn")
    procs = max(1, min(procs, cameras))
    results = ctx.Queue()
    barrier = ctx.Barrier(procs + 1)
    shared = {
        "device": args.device,
        "detector": args.detector,
        "threads": args.threads,
        "batch": args.batch,
        "fps": args.fps,
        "keyframes": args.decode == "keyframes",
        "clip": str(clip),
        "barrier": barrier,
    }
    names = [f"cam{i:04d}" for i in range(cameras)]
    workers = [
        ctx.Process(target=worker, args=(shared, names[i::procs], results)) for i in range(procs)
    ]
    for w in workers:
        w.start()
    _wait_for(lambda: barrier.n_waiting >= procs, workers)  # every process has its models
    barrier.wait(timeout=60)
    t0 = time.perf_counter()
    got: list[dict[str, Any]] = []
    while len(got) < len(workers):
        try:
            got.append(results.get(timeout=2))
        except queue.Empty:
            _check_alive(workers)
    wall = time.perf_counter() - t0
    for w in workers:
        w.join()
    return RunResult(
        cameras=cameras,
        procs=procs,
        seconds=args.seconds,
        wall_s=wall,
        cpu_s=sum(g["cpu_s"] for g in got),
        frames=sum(g["frames"] for g in got),
        decode_wait_s=max(g["decode_wait_s"] for g in got),
        detect_s=max(g["detect_s"] for g in got),
        process_s=max(g["process_s"] for g in got),
        providers=sorted({p for g in got for p in g["providers"]}),
    )


def _check_alive(workers: list[Any]) -> None:
    """Stop with one line when a worker process died (its traceback is above)."""
    dead = [w.exitcode for w in workers if w.exitcode not in (None, 0)]
    if dead:
        for w in workers:
            w.kill()
        raise SystemExit(f"error: a worker process failed (exit codes {dead}); see above")


def _wait_for(ready: Any, workers: list[Any], timeout_s: float = 900.0) -> None:
    """Wait until ``ready()`` while checking that the workers are alive."""
    deadline = time.monotonic() + timeout_s
    while not ready():
        _check_alive(workers)
        if time.monotonic() > deadline:
            raise SystemExit("error: the workers did not load their models in time")
        time.sleep(0.2)


def describe_machine() -> dict[str, Any]:
    """CPU, cores, load, GPU (nvidia-smi when present), onnxruntime providers."""
    import shutil
    import subprocess

    import onnxruntime as ort

    gpu = ""
    if shutil.which("nvidia-smi"):
        done = subprocess.run(
            ["nvidia-smi", "--query-gpu=name,memory.total", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            check=False,
        )
        gpu = done.stdout.strip()
    return {
        "cpu": platform.processor() or platform.machine(),
        "cores": os.cpu_count(),
        "load_avg": os.getloadavg(),
        "gpu": gpu or "none",
        "onnxruntime": ort.__version__,
        "providers": ort.get_available_providers(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    parser.add_argument("--seconds", type=float, default=60.0, help="footage per camera")
    parser.add_argument("--cameras", default=None, help="camera counts to run, e.g. 16,64,256")
    parser.add_argument("--procs", type=int, default=None, help="processes (default: by device)")
    parser.add_argument("--batch", type=int, default=None, help="frames per detector batch")
    parser.add_argument("--threads", type=int, default=None, help="CPU inference threads/proc")
    parser.add_argument("--fps", type=float, default=2.0, help="analysis rate")
    parser.add_argument("--decode", choices=["all", "keyframes"], default="all")
    parser.add_argument("--detector", default=None, help="person detector type")
    parser.add_argument(
        "--quick", action="store_true", help="30 s of footage, a short ramp (< 8 min on a GPU)"
    )
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results")
    args = parser.parse_args()

    from cctrace.vision.runtime import DeviceError, effective_device, providers_for, use_device

    try:
        use_device(args.device)  # cuda without CUDA: a clear error here, before any work
    except DeviceError as exc:
        parser.exit(2, f"error: {exc}\n")
    import onnxruntime as ort

    first = providers_for(effective_device(args.device), ort.get_available_providers())[0]
    on_gpu = not isinstance(first, str)
    device_name = "cuda" if on_gpu else "cpu"
    cores = os.cpu_count() or 1
    if args.quick:
        args.seconds = min(args.seconds, 30.0)
    if args.cameras is None:
        args.cameras = ("32,128,384" if args.quick else "16,64,256,512") if on_gpu else "2"
    counts = [int(c) for c in str(args.cameras).split(",") if c.strip()]
    if not counts or min(counts) < 1:
        parser.error("--cameras: give positive camera counts, e.g. 2 or 16,64")
    args.procs = args.procs or (max(1, cores // 2) if on_gpu else 1)
    args.batch = args.batch or (32 if on_gpu else 4)
    args.threads = args.threads or (1 if on_gpu else cores)
    args.detector = args.detector or ("yolov3-tiny-onnx" if on_gpu else "yolov3-tiny-int8")
    clip = source_clip(args.seconds)
    machine = describe_machine()
    print(f"device {device_name}; machine {machine}")
    runs: list[RunResult] = []
    for count in counts:
        result = run(clip, count, args.procs, args)
        runs.append(result)
        print(
            f"{count} cameras, {result.procs} procs: {result.wall_s:.1f} s wall, "
            f"{result.cpu_s:.1f} CPU s, {result.frames} frames -> "
            f"{result.realtime_cameras:.1f} cameras in real time"
            + ("" if result.saturated else " (kept up with all: lower bound)")
        )
        if not result.saturated and count == counts[-1] and on_gpu:
            print("the last run kept up with all its cameras: add a larger --cameras count")
    best = max(runs, key=lambda r: r.realtime_cameras)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    summary = {
        "command": " ".join(sys.argv),
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "device": device_name,
        "settings": {k: v for k, v in vars(args).items() if k not in ("out",) and not callable(v)},
        "clip": {"path": str(clip), "size": [WIDTH, HEIGHT], "fps": SOURCE_FPS, "gop": GOP},
        "machine": machine,
        "runs": [
            {**asdict(r), "realtime_cameras": r.realtime_cameras, "saturated": r.saturated}
            for r in runs
        ],
        "cameras_per_device": best.realtime_cameras,
        "lower_bound": not best.saturated,
        "camera_s_per_cpu_s": best.cameras * best.seconds / best.cpu_s if best.cpu_s else 0.0,
        "children_cpu_s": children.ru_utime + children.ru_stime,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    stem = args.out / f"gpu_{device_name}"
    stem.with_suffix(".json").write_text(json.dumps(summary, indent=2, default=str) + "\n")
    lines = [
        f"# bench/gpu.py on {device_name} ({summary['when']})",
        "",
        f"`{summary['command']}`; 1920x1080 H.264 25 fps (GOP {GOP}), analysed at "
        f"{args.fps:g} fps, decode {args.decode}, detector {args.detector}, batch "
        f"{args.batch}; machine: {machine['cores']} cores, GPU {machine['gpu']}, load "
        f"{', '.join(f'{v:.1f}' for v in machine['load_avg'])}",
        "",
        "| cameras | procs | wall s | CPU s | frames | waiting for decode s | detection s "
        "| per-camera ingest s | cameras in real time | saturated |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in runs:
        lines.append(
            f"| {r.cameras} | {r.procs} | {r.wall_s:.1f} | {r.cpu_s:.1f} | {r.frames} | "
            f"{r.decode_wait_s:.1f} | {r.detect_s:.1f} | {r.process_s:.1f} | "
            f"{r.realtime_cameras:.1f} | {'yes' if r.saturated else 'no (lower bound)'} |"
        )
    lines += [
        "",
        "Stage seconds are the slowest process's own (wall, inside that process).",
    ]
    lines += [
        "",
        f"**{best.realtime_cameras:.1f} cameras per {device_name}"
        f"{' (at least)' if not best.saturated else ''}**; "
        f"{summary['camera_s_per_cpu_s']:.2f} camera-seconds per CPU-second; providers: "
        f"{', '.join(best.providers)}",
    ]
    stem.with_suffix(".md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    print(f"written: {stem}.json, {stem}.md")


if __name__ == "__main__":
    main()
