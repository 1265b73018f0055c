"""Bad inputs against the real command line and the real web app: clear errors only.

One command: ``python bench/robustness.py`` (a real clip is cut from PETS2009 View_001 in
../shared/data or $CCTRACE_SHARED_DATA). Writes ``bench/results/robustness.md``.

The corpus, by category:

- **footage**: a real clip cut with the project's ``write_video``, then truncated,
  garbled, zeroed, emptied, replaced by noise or text, cut as MPEG-TS, a folder, a
  symlink loop, frames too small to analyse, a time past retention. Each is ingested by
  ``cctrace ingest --json`` in a subprocess.
- **config**: ``cctrace site validate`` on YAML errors, an alias bomb, bad types, NaN and
  infinite numbers, unknown cameras and models, bad model params, impossible times, a
  missing file, a folder.
- **cli arguments**: out-of-range and malformed options (``--distance``, ``--tracklet``,
  times, unknown cameras, ids >= 2^63).
- **photos**: no face, a decompression-bomb header, a TIFF named PNG, an empty file,
  huge real dimensions, a truncated JPEG, text; through ``cctrace trace --photo`` and
  uploaded to ``POST /api/cases/{id}/traces``.
- **api values**: ints >= 2^63 and negative in form fields, path and query ids, strings
  where ints go, NaN and infinite floats, bad times, malformed JSON, oversized bodies
  and uploads, against the app from ``cctrace.web.create_app`` (FastAPI TestClient,
  signed in as an investigator and a supervisor).

Each input's outcome is one of: **clear** (CLI: a non-zero exit with a message naming the
problem, or for footage a ``failed``/``partial`` row with its reason; web: a 4xx with the
``{"error": ...}`` envelope), **traceback** ("Traceback" anywhere in the output or the
body), **5xx**, **hang** (no answer within the time limit), or **unclear** (none of
these: e.g. success, or an error that does not say what is wrong).
"""

from __future__ import annotations

import argparse
import json
import os
import struct
import subprocess
import sys
import tempfile
import threading
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

CLI_TIMEOUT_S = 180.0
WEB_TIMEOUT_S = 60.0
INT64_PLUS = str(2**63)
OUTCOMES = ("clear", "traceback", "5xx", "hang", "unclear")


@dataclass
class Outcome:
    """What one bad input got."""

    category: str
    name: str
    kind: str
    detail: str


def shared_data() -> Path:
    env = os.environ.get("CCTRACE_SHARED_DATA")
    return Path(env) if env else ROOT.parent / "shared" / "data"


def env() -> dict[str, str]:
    out = {k: v for k, v in os.environ.items() if k != "CCTRACE_SITE"}
    out["PYTHONPATH"] = str(ROOT / "src") + os.pathsep + out.get("PYTHONPATH", "")
    out["CCTRACE_NO_PROGRESS"] = "1"
    return out


def run_cli(args: list[str], cwd: Path) -> tuple[int | None, str, str]:
    """(exit status or None on a hang, stdout, stderr) of ``cctrace ARGS``."""
    try:
        done = subprocess.run(
            [sys.executable, "-m", "cctrace.cli", *args],
            cwd=cwd,
            env=env(),
            capture_output=True,
            text=True,
            timeout=CLI_TIMEOUT_S,
            check=False,
            errors="replace",
        )
    except subprocess.TimeoutExpired:
        return None, "", ""
    return done.returncode, done.stdout, done.stderr


def judge_cli(category: str, name: str, args: list[str], cwd: Path, expect: str) -> Outcome:
    """Clear: non-zero exit and ``expect`` (the thing at fault) in the error output."""
    rc, out, err = run_cli(args, cwd)
    if rc is None:
        return Outcome(category, name, "hang", f"no exit in {CLI_TIMEOUT_S:.0f} s")
    text = out + err
    line = err.strip().splitlines()[-1] if err.strip() else out.strip()[-200:]
    if "Traceback" in text:
        return Outcome(category, name, "traceback", line)
    if rc != 0 and expect.lower() in text.lower():
        return Outcome(category, name, "clear", f"exit {rc}: {line}")
    return Outcome(category, name, "unclear", f"exit {rc}: {line}")


# ---- footage -----------------------------------------------------------------------

SITE = """\
name: robustness
cameras:
  - id: cam1
    location: {{x_m: 0, y_m: 0}}
    footage: [{footage}]
    start_time: {start}
storage:
  data_dir: data
"""


def cut_clip(pets: Path, out: Path, frames: int = 14) -> tuple[Path, list[np.ndarray]]:
    """A real clip: the first ``frames`` frames of View_001 at half size."""
    import av
    import cv2

    from cctrace.footage.writer import write_video, x264_options

    with av.open(str(pets)) as inp:
        decoded = [
            cv2.resize(f.to_ndarray(format="bgr24"), (384, 288), interpolation=cv2.INTER_AREA)
            for _, f in zip(range(frames), inp.decode(video=0), strict=False)
        ]
    return write_video(out, decoded, 7, options=x264_options(gop=7)), decoded


def footage_corpus(work: Path, clip: Path, frames: list[np.ndarray]) -> dict[str, Path]:
    """name -> a bad footage file (or folder, or link) under ``work/footage``."""
    from cctrace.footage.writer import write_video, x264_options

    folder = work / "footage"
    folder.mkdir(parents=True)
    data = clip.read_bytes()
    rng = np.random.default_rng(7)
    files: dict[str, Path] = {}

    def put(name: str, content: bytes) -> None:
        files[name] = folder / name
        files[name].write_bytes(content)

    put("truncated-50.mp4", data[: len(data) // 2])
    put("truncated-10.mp4", data[: len(data) // 10])
    put("one-byte.mp4", data[:1])
    put("empty.mp4", b"")
    garbled = bytearray(data)
    start = len(data) // 4
    garbled[start : start + len(data) // 5] = rng.integers(
        0, 256, len(data) // 5, np.uint8
    ).tobytes()
    put("garbled-middle.mp4", bytes(garbled))
    zeroed = bytearray(data)
    zeroed[:4096] = bytes(min(4096, len(data)))
    put("zeroed-header.mp4", bytes(zeroed))
    put("noise.mp4", rng.integers(0, 256, 50_000, np.uint8).tobytes())
    put("text.mp4", b"this is not a video\n" * 100)
    ts = write_video(
        folder / "whole.ts", frames, 7, options=x264_options(gop=7), container_format="mpegts"
    )
    put("mpegts-cut-50.ts", ts.read_bytes()[: ts.stat().st_size // 2])
    ts.unlink()
    mkv = write_video(folder / "whole.mkv", frames, 7, options=x264_options(gop=7))
    put("mkv-cut-50.mkv", mkv.read_bytes()[: mkv.stat().st_size * 6 // 10])
    mkv.unlink()
    small = [np.full((2, 2, 3), (40, 120, 200), np.uint8)] * 20
    files["solid-2x2.mp4"] = write_video(folder / "solid-2x2.mp4", small, 7)
    tiny = [np.full((16, 16, 3), 200, np.uint8)] * 20
    files["solid-16x16.mp4"] = write_video(folder / "solid-16x16.mp4", tiny, 7)
    (folder / "empty-folder").mkdir()
    files["empty-folder"] = folder / "empty-folder"
    loop = folder / "loop.mp4"
    loop.symlink_to(loop)
    files["symlink-loop.mp4"] = loop
    return files


def judge_footage(
    name: str, path: Path, work: Path, start: str = "2026-12-01T08:00:00Z"
) -> Outcome:
    """Ingest one bad file: clear when every row is failed or partial with a reason naming
    it (or the run exits non-zero naming it)."""
    site_dir = work / "sites" / name
    site_dir.mkdir(parents=True)
    (site_dir / "site.yaml").write_text(SITE.format(footage=json.dumps(str(path)), start=start))
    rc, out, err = run_cli(["ingest", "site.yaml", "--json", "--workers", "1"], site_dir)
    if rc is None:
        return Outcome("footage", name, "hang", f"no exit in {CLI_TIMEOUT_S:.0f} s")
    if "Traceback" in out + err:
        return Outcome("footage", name, "traceback", err.strip().splitlines()[-1])
    try:
        rows = json.loads(out)["files"]
    except (ValueError, KeyError):
        line = err.strip().splitlines()[-1] if err.strip() else ""
        kind = "clear" if rc != 0 and path.name in err else "unclear"
        return Outcome("footage", name, kind, f"exit {rc}: {line}")
    notes = [f"{r['status']}: {r['note']}" for r in rows]
    handled = rows and all(r["status"] in ("failed", "partial") and r["note"] for r in rows)
    return Outcome(
        "footage", name, "clear" if handled else "unclear", f"exit {rc}; " + " | ".join(notes)
    )


# ---- configs -------------------------------------------------------------------------

GOOD_CAMERA = (
    "cameras:\n  - id: cam1\n    location: {x_m: 0, y_m: 0}\n    footage: [clip.mp4]\n"
    "    start_time: 2026-12-01T08:00:00Z\n"
)
ALIAS_BOMB = (
    'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n'
    "b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\n"
    "c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\n"
    "d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]\n"
    "e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]\n"
    "f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]\n"
    "g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]\n"
    "h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]\n"
    "i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]\n"
)

CONFIGS: dict[str, tuple[bytes, str]] = {
    "yaml syntax with brackets": (b"name: x\ncameras: [\n  - id: [cam\n", "line"),
    "alias bomb": (ALIAS_BOMB.encode(), "alias"),
    "not utf-8": ("name: caf\xe9\n".encode("latin-1") + GOOD_CAMERA.encode(), "utf-8"),
    "empty file": (b"", "site.yaml"),
    "top-level list": (b"- a\n- b\n", "site.yaml"),
    "cameras is a number": (b"name: x\ncameras: 3\n", "cameras"),
    "analysis_fps a word": (
        (GOOD_CAMERA + "ingest:\n  analysis_fps: fast\n").encode(),
        "analysis_fps",
    ),
    "NaN distance band": ((GOOD_CAMERA + "ingest:\n  distance_bands_m: [.nan]\n").encode(), "band"),
    "negative distance band": (
        (GOOD_CAMERA + "ingest:\n  distance_bands_m: [-1, 2]\n").encode(),
        "band",
    ),
    "infinite location": (
        GOOD_CAMERA.replace("{x_m: 0, y_m: 0}", "{x_m: .inf, y_m: 0}").encode(),
        "x_m",
    ),
    "link to unknown camera": (
        (GOOD_CAMERA + "    links: [{to: ghost, walk_s: [10, 20]}]\n").encode(),
        "ghost",
    ),
    "unknown model type": (
        (GOOD_CAMERA + "models:\n  person_detector: {type: nope}\n").encode(),
        "nope",
    ),
    "bad model params": (
        (
            GOOD_CAMERA
            + "models:\n  person_detector: {type: yolov3-tiny-int8, params: {tiles: lots}}\n"
        ).encode(),
        "tiles",
    ),
    "year 9999 start": (
        GOOD_CAMERA.replace("2026-12-01T08:00:00Z", "9999-01-01T00:00:00Z").encode(),
        "start_time",
    ),
    "unknown key": ((GOOD_CAMERA + "colour: red\n").encode(), "colour"),
    "duplicate camera ids": (
        (GOOD_CAMERA + GOOD_CAMERA.removeprefix("cameras:\n")).encode(),
        "cam1",
    ),
    "retention days 0": ((GOOD_CAMERA + "retention:\n  days: 0\n").encode(), "days"),
    "missing footage": (GOOD_CAMERA.replace("clip.mp4", "nowhere.mp4").encode(), "nowhere.mp4"),
    "footage is an empty folder": (
        GOOD_CAMERA.replace("clip.mp4", "emptydir").encode(),
        "emptydir",
    ),
    "unreadable footage, no start time": (
        GOOD_CAMERA.replace("clip.mp4", "noise.mp4")
        .replace("    start_time: 2026-12-01T08:00:00Z\n", "")
        .encode(),
        "noise.mp4",
    ),
}


def config_outcomes(work: Path) -> list[Outcome]:
    out = []
    for i, (name, (text, expect)) in enumerate(CONFIGS.items()):
        d = work / "configs" / str(i)
        d.mkdir(parents=True)
        (d / "clip.mp4").write_bytes(b"not read: start_time is set")
        (d / "noise.mp4").write_bytes(
            np.random.default_rng(i).integers(0, 256, 9000, np.uint8).tobytes()
        )
        (d / "emptydir").mkdir()
        (d / "site.yaml").write_bytes(text)
        out.append(judge_cli("config", name, ["site", "validate", "site.yaml"], d, expect))
        if name == "unreadable footage, no start time":
            out.append(
                judge_cli("config", f"{name} (ingest)", ["ingest", "site.yaml"], d, "noise.mp4")
            )
    d = work / "configs" / "paths"
    d.mkdir(parents=True)
    (d / "folder.yaml").mkdir()
    out.append(
        judge_cli("config", "missing site file", ["site", "validate", "none.yaml"], d, "none.yaml")
    )
    out.append(
        judge_cli(
            "config", "site path is a folder", ["site", "validate", "folder.yaml"], d, "folder.yaml"
        )
    )
    return out


# ---- CLI arguments -------------------------------------------------------------------


def argument_outcomes(site_dir: Path) -> list[Outcome]:
    trace = ["trace", "site.yaml", "--case", "C-1"]
    cases: list[tuple[str, list[str], str]] = [
        (
            "--distance beyond the widest band",
            [*trace, "--tracklet", "1", "--distance", "5"],
            "distance",
        ),
        ("--distance nan", [*trace, "--tracklet", "1", "--distance", "nan"], "distance"),
        ("--distance negative", [*trace, "--tracklet", "1", "--distance", "-1"], "distance"),
        ("--tracklet 2^63", [*trace, "--tracklet", INT64_PLUS], "tracklet"),
        ("--tracklet a word", [*trace, "--tracklet", "one"], "tracklet"),
        ("--from not a time", [*trace, "--tracklet", "1", "--from", "yesterday"], "--from"),
        (
            "--case path escape",
            ["trace", "site.yaml", "--case", "../x", "--tracklet", "1"],
            "case id",
        ),
        ("--minutes nan", [*trace, "--tracklet", "1", "--minutes", "nan"], "minutes"),
        ("unknown camera", ["tracklets", "list", "site.yaml", "--camera", "ghost"], "ghost"),
        (
            "--at not a time",
            ["tracklets", "list", "site.yaml", "--camera", "cam1", "--at", "noon"],
            "--at",
        ),
        (
            "export --footage 2^63",
            ["export", "tracks", "site.yaml", "--camera", "cam1", "--footage", INT64_PLUS],
            "footage",
        ),
        ("purge --now not a time", ["purge", "site.yaml", "--now", "soon"], "--now"),
        ("--workers negative", ["ingest", "site.yaml", "--workers", "-3"], "workers"),
        ("two site files", ["status", "site.yaml", "--site", "other.yaml"], "two site files"),
    ]
    return [
        judge_cli("cli arguments", name, args, site_dir, expect) for name, args, expect in cases
    ]


# ---- photos --------------------------------------------------------------------------


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png(width: int, height: int, rows: bytes) -> bytes:
    """A PNG (8-bit grey) declaring ``width`` x ``height`` with ``rows`` as its data."""
    head = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", head)
        + _png_chunk(b"IDAT", zlib.compress(rows, 9))
        + _png_chunk(b"IEND", b"")
    )


def photo_corpus(frame: np.ndarray) -> dict[str, tuple[str, bytes, str]]:
    """name -> (file name, bytes, content type)."""
    import cv2

    jpeg = cv2.imencode(".jpg", frame)[1].tobytes()
    tiff = cv2.imencode(".tiff", frame)[1].tobytes()
    side = 8000
    huge = png(side, side, bytes((side + 1) * side))  # real, valid, 64 megapixels
    return {
        "no face (a street scene, no one near)": (
            "scene.jpg",
            cv2.imencode(".jpg", frame[:40, :40])[1].tobytes(),
            "image/jpeg",
        ),
        "no face (solid grey)": (
            "grey.png",
            cv2.imencode(".png", np.full((200, 200, 3), 128, np.uint8))[1].tobytes(),
            "image/png",
        ),
        "bomb header 50000x50000": ("bomb.png", png(50000, 50000, b"\x00" * 50001), "image/png"),
        "TIFF sent as PNG": ("photo.png", tiff, "image/png"),
        "empty file": ("empty.jpg", b"", "image/jpeg"),
        "huge real dimensions 8000x8000": ("huge.png", huge, "image/png"),
        "truncated JPEG": ("half.jpg", jpeg[: len(jpeg) // 3], "image/jpeg"),
        "text named .jpg": ("notes.jpg", b"hello, not a photo\n" * 10, "image/jpeg"),
    }


def photo_cli_outcomes(site_dir: Path, photos: dict[str, tuple[str, bytes, str]]) -> list[Outcome]:
    out = []
    folder = site_dir / "photos"
    folder.mkdir()
    for name, (file_name, data, _) in photos.items():
        path = folder / file_name
        path.write_bytes(data)
        args = ["trace", "site.yaml", "--case", "C-P", "--photo", str(path)]
        out.append(judge_cli("photos (CLI)", name, args, site_dir, file_name))
        path.unlink()
    return out


# ---- web -----------------------------------------------------------------------------


def call(fn: Callable[[], Any]) -> tuple[Any, str | None]:
    """(fn's result, None) or (None, "hang") when it does not return within the limit."""
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["value"] = fn()
        except BaseException as exc:  # the client raised: the app let an error escape
            box["error"] = exc

    t = threading.Thread(target=target, daemon=True)
    t.start()
    t.join(WEB_TIMEOUT_S)
    if t.is_alive():
        return None, "hang"
    if "error" in box:
        return None, f"{type(box['error']).__name__}: {box['error']}"
    return box["value"], None


def judge_web(category: str, name: str, fn: Callable[[], Any]) -> Outcome:
    resp, problem = call(fn)
    if problem == "hang":
        return Outcome(category, name, "hang", f"no answer in {WEB_TIMEOUT_S:.0f} s")
    if problem is not None:
        kind = "traceback" if "Traceback" in problem else "5xx"
        return Outcome(category, name, kind, problem)
    body = resp.text
    if "Traceback" in body:
        return Outcome(category, name, "traceback", body[:200])
    if resp.status_code >= 500:
        return Outcome(category, name, "5xx", f"{resp.status_code}: {body[:200]}")
    try:
        error = resp.json().get("error", {})
    except (ValueError, AttributeError):
        error = {}
    message = error.get("message", "") if isinstance(error, dict) else ""
    if 400 <= resp.status_code < 500 and message:
        return Outcome(
            category, name, "clear", f"{resp.status_code} {error.get('code')}: {message[:160]}"
        )
    return Outcome(category, name, "unclear", f"{resp.status_code}: {body[:160]}")


def web_outcomes(work: Path, photos: dict[str, tuple[str, bytes, str]]) -> list[Outcome]:
    from fastapi.testclient import TestClient

    from cctrace.config import load_site
    from cctrace.store import Store
    from cctrace.web import WebSettings, create_app
    from cctrace.web.security import hash_password

    site_dir = work / "web"
    site_dir.mkdir()
    (site_dir / "cam1.mp4").write_bytes(b"")
    (site_dir / "site.yaml").write_text(
        SITE.format(footage="cam1.mp4", start="2026-12-01T08:00:00Z")
    )
    site = load_site(site_dir / "site.yaml", check_files=False)
    store = Store.for_site(site)
    password = "correct horse battery staple"
    digest = hash_password(password)
    store.users.create("ivy", digest, "investigator", "north")
    store.users.create("sue", digest, "supervisor", "north")
    store.users.create("aud", digest, "auditor", "north")
    settings = WebSettings.for_demo()
    app = create_app(site, settings, store=store)

    def client_for(user: str) -> TestClient:
        client = TestClient(app, raise_server_exceptions=False)
        resp = client.post("/api/auth/login", json={"username": user, "password": password})
        client.headers["X-CSRF-Token"] = resp.json()["csrf_token"]
        return client

    ivy, sue, aud = client_for("ivy"), client_for("sue"), client_for("aud")
    ivy.post("/api/cases", json={"case_id": "C-1", "legal_basis": "Public Health Act"})
    out: list[Outcome] = []
    for name, (file_name, data, ctype) in photos.items():
        out.append(
            judge_web(
                "photos (web)",
                name,
                lambda f=file_name, d=data, c=ctype: ivy.post(
                    "/api/cases/C-1/traces", files={"photos": (f, d, c)}
                ),
            )
        )
    big = b"\xff\xd8" + bytes(settings.max_upload_bytes + 10)
    form: list[tuple[str, Callable[[], Any]]] = [
        (
            "tracklet_id 2^63",
            lambda: ivy.post("/api/cases/C-1/traces", data={"tracklet_id": INT64_PLUS}),
        ),
        (
            "tracklet_id negative",
            lambda: ivy.post("/api/cases/C-1/traces", data={"tracklet_id": "-1"}),
        ),
        (
            "tracklet_id a word",
            lambda: ivy.post("/api/cases/C-1/traces", data={"tracklet_id": "one"}),
        ),
        (
            "tracklet_id 1e999",
            lambda: ivy.post("/api/cases/C-1/traces", data={"tracklet_id": "1e999"}),
        ),
        (
            "distance_m nan",
            lambda: ivy.post(
                "/api/cases/C-1/traces", data={"tracklet_id": "1", "distance_m": "nan"}
            ),
        ),
        (
            "distance_m inf",
            lambda: ivy.post(
                "/api/cases/C-1/traces", data={"tracklet_id": "1", "distance_m": "inf"}
            ),
        ),
        (
            "distance_m beyond widest band",
            lambda: ivy.post("/api/cases/C-1/traces", data={"tracklet_id": "1", "distance_m": "5"}),
        ),
        (
            "minutes 1e308",
            lambda: ivy.post(
                "/api/cases/C-1/traces", data={"tracklet_id": "1", "minutes": "1e308"}
            ),
        ),
        (
            "window_from a word",
            lambda: ivy.post(
                "/api/cases/C-1/traces", data={"tracklet_id": "1", "window_from": "yesterday"}
            ),
        ),
        (
            "oversized upload",
            lambda: ivy.post(
                "/api/cases/C-1/traces", files={"photos": ("big.jpg", big, "image/jpeg")}
            ),
        ),
        (
            "six photos",
            lambda: ivy.post(
                "/api/cases/C-1/traces",
                files=[("photos", (f"{i}.jpg", b"x", "image/jpeg")) for i in range(6)],
            ),
        ),
    ]
    paths: list[tuple[str, Callable[[], Any]]] = [
        (
            "sighting id 2^63",
            lambda: ivy.post(f"/api/cases/C-1/sightings/{INT64_PLUS}", json={"decision": "accept"}),
        ),
        (
            "sighting id negative",
            lambda: ivy.post("/api/cases/C-1/sightings/-5", json={"decision": "accept"}),
        ),
        (
            "sighting id a word",
            lambda: ivy.post("/api/cases/C-1/sightings/abc", json={"decision": "accept"}),
        ),
        ("contact id 2^63", lambda: ivy.post(f"/api/cases/C-1/contacts/{INT64_PLUS}/trace")),
        ("snapshot id 2^63", lambda: ivy.get(f"/api/cases/C-1/snapshots/{INT64_PLUS}.jpg")),
        (
            "approval id 2^63",
            lambda: sue.post(f"/api/approvals/{INT64_PLUS}", json={"approve": True}),
        ),
        ("approval id a word", lambda: sue.post("/api/approvals/xyz", json={"approve": True})),
        (
            "export download id 2^63",
            lambda: ivy.get(f"/api/cases/C-1/exports/{INT64_PLUS}/report.pdf"),
        ),
        ("job id unknown", lambda: ivy.get("/api/jobs/" + "f" * 64)),
        ("case id 300 chars", lambda: ivy.get("/api/cases/" + "C" * 300)),
        (
            "frame time a word",
            lambda: ivy.get("/api/cases/C-1/cameras/cam1/people", params={"at": "noon"}),
        ),
        (
            "frame time year 9999",
            lambda: ivy.get(
                "/api/cases/C-1/cameras/cam1/people", params={"at": "9999-12-31T23:59:59Z"}
            ),
        ),
    ]
    bodies: list[tuple[str, Callable[[], Any]]] = [
        (
            "case_id an int >= 2^63",
            lambda: ivy.post("/api/cases", json={"case_id": 2**63, "legal_basis": "x" * 20}),
        ),
        (
            "case_id with control characters",
            lambda: ivy.post(
                "/api/cases", json={"case_id": "C\x00\x07", "legal_basis": "Public Health Act"}
            ),
        ),
        (
            "legal_basis a list",
            lambda: ivy.post("/api/cases", json={"case_id": "C-9", "legal_basis": ["a"]}),
        ),
        (
            "window_from year 0",
            lambda: ivy.post(
                "/api/cases",
                json={
                    "case_id": "C-9",
                    "legal_basis": "Public Health Act",
                    "window_from": "0000-01-01T00:00:00Z",
                },
            ),
        ),
        (
            "malformed JSON",
            lambda: ivy.post(
                "/api/cases", content=b"{", headers={"Content-Type": "application/json"}
            ),
        ),
        (
            "2 MB JSON body",
            lambda: ivy.post("/api/cases", json={"case_id": "C-9", "legal_basis": "x" * 2_000_000}),
        ),
        (
            "decision not a choice",
            lambda: ivy.post("/api/cases/C-1/sightings/1", json={"decision": "maybe"}),
        ),
        (
            "login username an int",
            lambda: TestClient(app, raise_server_exceptions=False).post(
                "/api/auth/login", json={"username": 2**64, "password": 1}
            ),
        ),
        (
            "login body a list",
            lambda: TestClient(app, raise_server_exceptions=False).post(
                "/api/auth/login", json=[1, 2]
            ),
        ),
    ]
    queries: list[tuple[str, Callable[[], Any]]] = [
        ("audit before_id 2^63", lambda: aud.get("/api/audit", params={"before_id": INT64_PLUS})),
        ("audit limit 2^63", lambda: aud.get("/api/audit", params={"limit": INT64_PLUS})),
        ("audit limit negative", lambda: aud.get("/api/audit", params={"limit": "-1"})),
    ]
    for name, fn in [*form, *paths, *bodies, *queries]:
        out.append(judge_web("api values", name, fn))
    for c in (ivy, sue, aud):
        c.close()
    app.state.cctrace.jobs.shutdown()
    store.close()
    return out


# ---- report --------------------------------------------------------------------------


def table(outcomes: list[Outcome]) -> str:
    cats: dict[str, list[Outcome]] = {}
    for o in outcomes:
        cats.setdefault(o.category, []).append(o)
    lines = [
        "| category | inputs tried | clear errors | tracebacks | 5xx | hangs | unclear |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    rows = [*cats.items(), ("**all**", outcomes)]
    for cat, items in rows:
        counts = [sum(o.kind == k for o in items) for k in OUTCOMES]
        lines.append(f"| {cat} | {len(items)} | " + " | ".join(map(str, counts)) + " |")
    return "\n".join(lines)


def details(outcomes: list[Outcome]) -> str:
    lines = ["| category | input | outcome | what it said |", "|---|---|---|---|"]
    for o in outcomes:
        said = o.detail.replace("|", "\\|").replace("\n", " ")[:220]
        lines.append(f"| {o.category} | {o.name} | {o.kind} | {said} |")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "robustness.md")
    parser.add_argument("--only", nargs="*", help="categories: footage config args photos web")
    args = parser.parse_args()
    pets = shared_data() / "pets2009-s2l1" / "view001.mp4"
    if not pets.is_file():
        print(f"PETS2009 View_001 not found at {pets} (set CCTRACE_SHARED_DATA)", file=sys.stderr)
        return 2
    only = set(args.only or ("footage", "config", "args", "photos", "web"))
    began = time.perf_counter()
    outcomes: list[Outcome] = []
    with tempfile.TemporaryDirectory(prefix="cctrace-robustness-") as tmp:
        work = Path(tmp)
        clip, frames = cut_clip(pets, work / "clip.mp4")
        site_dir = work / "site"
        site_dir.mkdir()
        (site_dir / "cam1.mp4").write_bytes(clip.read_bytes())
        (site_dir / "site.yaml").write_text(
            SITE.format(footage="cam1.mp4", start="2026-12-01T08:00:00Z")
        )
        photos = photo_corpus(frames[0])
        if "footage" in only:
            for name, path in footage_corpus(work, clip, frames).items():
                outcomes.append(judge_footage(name, path, work))
                print(outcomes[-1], flush=True)
            outcomes.append(
                judge_footage("past retention (2009)", clip, work, "2009-01-01T12:34:00Z")
            )
        if "config" in only:
            outcomes.extend(config_outcomes(work))
        if "args" in only:
            outcomes.extend(argument_outcomes(site_dir))
        if "photos" in only:
            outcomes.extend(photo_cli_outcomes(site_dir, photos))
        if "web" in only:
            outcomes.extend(web_outcomes(work, photos))
    elapsed = time.perf_counter() - began
    summary = table(outcomes)
    print(summary)
    bad = [o for o in outcomes if o.kind != "clear"]
    for o in bad:
        print(f"  {o.kind}: {o.category} / {o.name}: {o.detail}")
    report = (
        "# Robustness: bad inputs against the real CLI and web app\n\n"
        f"`python bench/robustness.py` ({elapsed:.0f} s). Target: 0 tracebacks, 0 5xx, 0 hangs.\n"
        "Outcomes: see the docstring of bench/robustness.py.\n\n"
        f"{summary}\n\n## Every input\n\n{details(outcomes)}\n"
    )
    if not args.only:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(report)
        print(f"written: {args.out}")
    return 1 if any(o.kind in ("traceback", "5xx", "hang") for o in outcomes) else 0


if __name__ == "__main__":
    sys.exit(main())
