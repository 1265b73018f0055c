"""Short real clips cut from PETS2009 View_001 and sites over them, for the Ray tests."""

from __future__ import annotations

import os
import socket
from collections import Counter
from pathlib import Path

import av

from cctrace.config import load_site
from cctrace.footage.writer import write_video, x264_options
from cctrace.store.repository import Store

Snapshot = tuple[Counter[tuple[object, ...]], Counter[tuple[object, ...]]]


def cut_clips(view: Path, out: Path, spans: list[tuple[int, int]]) -> list[Path]:
    """One clip per (first frame, frame count) of ``view``, at 7 fps. Only the first clip
    has a creation time: each later clip starts where the one before it ends (the time
    chain the registration step must keep)."""
    last = max(a + n for a, n in spans)
    with av.open(str(view)) as inp:
        frames = [
            f.to_ndarray(format="bgr24")
            for _, f in zip(range(last), inp.decode(video=0), strict=False)
        ]
    out.mkdir(parents=True, exist_ok=True)
    clips = []
    for i, (first, count) in enumerate(spans):
        meta = {"creation_time": "2009-01-01T12:34:00Z"} if i == 0 else None
        clips.append(
            write_video(
                out / f"part{i + 1}.mkv",
                frames[first : first + count],
                7,
                options=x264_options(gop=7),
                metadata=meta,
            )
        )
    return clips


def write_site(
    workdir: Path, cameras: dict[str, list[Path]], pets: Path, ingest: str = "", extra: str = ""
) -> Path:
    """A site with these cameras (files in order), PETS calibration, data in workdir/data
    (unless ``extra``, top-level YAML appended at the end, sets ``storage``)."""
    rows = (pets / "ground_points.csv").read_text().splitlines()
    header = rows[0].split(",")
    points = []
    for row in rows[1:]:
        r = dict(zip(header, row.split(","), strict=True))
        points.append(f"        - [{r['u_px']}, {r['v_px']}, {r['x_m']}, {r['y_m']}]")
    text = "name: ray-test\ncameras:\n"
    for i, (cam, files) in enumerate(cameras.items()):
        listed = ", ".join(str(f) for f in files)
        text += (
            f"  - id: {cam}\n"
            f"    location: {{x_m: {10 * i}, y_m: 0}}\n"
            f"    footage: [{listed}]\n"
            "    source_fps: 7\n"
            "    calibration:\n"
            "      points:\n" + "\n".join(points) + "\n"
        )
    text += f"ingest:\n  analysis_fps: 7\n{ingest}{extra}"
    workdir.mkdir(parents=True, exist_ok=True)
    site = workdir / "site.yaml"
    site.write_text(text)
    return site


def snapshot(site_path: Path) -> Snapshot:
    """Tracklets (camera, track, start, end, points) and encounters, with multiplicity."""
    with Store.for_site(load_site(site_path, check_files=False)) as store:
        records = store.tracklets.in_window(None, None)
        by_id = {r.id: (r.camera_id, r.track_id) for r in records}
        tracklets = Counter((r.camera_id, r.track_id, r.start, r.end, r.n_points) for r in records)
        encounters = Counter(
            (*sorted((by_id[e.tracklet_id], by_id[e.other_tracklet_id])), e.start)
            for e in store.tracklets.encounters_for(list(by_id))
        )
    return tracklets, encounters


def footage_rows(site_path: Path) -> dict[tuple[str, str], tuple[object, ...]]:
    """(camera, file name) -> (status, start time, where it came from, duration)."""
    with Store.for_site(load_site(site_path, check_files=False)) as store:
        return {
            (f.camera_id, Path(f.path).name): (
                f.status.value,
                f.start_time,
                f.start_source,
                round(f.duration_s, 3),
            )
            for f in store.footage.files()
        }


def free_port() -> int:
    """A TCP port nobody listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def child_env(repo: Path, key_file: Path) -> dict[str, str]:
    """Environment for Ray nodes and the CLI: this checkout's code, one data key."""
    path = os.pathsep.join(
        p for p in (str(repo / "src"), str(repo), os.environ.get("PYTHONPATH", "")) if p
    )
    return {
        **os.environ,
        "PYTHONPATH": path,
        "CCTRACE_DATA_KEY_FILE": str(key_file),
        "CCTRACE_NO_PROGRESS": "1",
        "RAY_USAGE_STATS_ENABLED": "0",
    }
