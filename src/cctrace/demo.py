"""The end-to-end demo: real PETS2009 footage -> a two-camera site -> ingest -> trace.

The demo site cuts the PETS2009 S2L1 View_001 clip (from Debian's opencv-doc)
into two overlapping camera views, west and east, each with its own ground
calibration (the View_001 calibration shifted by the crop), so people walking
across the plaza are seen by both cameras, as on a real street.
"""

from __future__ import annotations

import logging
import re
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from rich.console import Console

from cctrace.footage.demo import (
    DEMO_GROUND_POINTS,
    DEMO_SOURCE_FPS,
    DEMO_START_TIME,
    fetch_demo_video,
)

if TYPE_CHECKING:
    from cctrace.config import SiteConfig
    from cctrace.tracing.result import TraceResult

log = logging.getLogger(__name__)

DEMO_CASE = "DEMO-0001"
DEMO_INVESTIGATOR = "investigator"
"""The demo case belongs to this user (``cctrace serve --demo`` creates the account)."""
CROPS = {
    # camera id: (name, x0, x1, site-plan position of the camera in metres)
    "plaza-west": ("Plaza, west view", 0, 480, (-18.0, 6.0)),
    "plaza-east": ("Plaza, east view", 288, 768, (4.0, -18.0)),
}
"""Two overlapping 480x576 views cut from the 768x576 clip."""
DEMO_PRINCIPAL_POINT = (324.2, 282.6)
"""View_001's optical centre in its published (Tsai) calibration, full-frame pixels."""


def crop_ground_points(x0: float, x1: float) -> list[tuple[float, float, float, float]]:
    """Calibration points spread over a camera cut from columns ``x0..x1`` of View_001.

    The full-frame homography is fitted to the 12 surveyed points (``DEMO_GROUND_POINTS``)
    and evaluated on a 3x3 grid inside the cut, so each camera is calibrated across its
    whole view (as an installer would survey it) rather than extrapolated from the few
    surveyed points that happen to fall inside it.
    """
    from cctrace.geometry import GroundCalibration

    full = GroundCalibration.fit(
        [(u, v) for u, v, _, _ in DEMO_GROUND_POINTS],
        [(x, y) for _, _, x, y in DEMO_GROUND_POINTS],
    )
    margin = 40.0
    columns = (x0 + margin, (x0 + x1) / 2, x1 - margin)
    rows = (160.0, 320.0, 560.0)
    image = [(u, v) for v in rows for u in columns]
    ground = full.to_ground(image)
    return [(u, v, float(g[0]), float(g[1])) for (u, v), g in zip(image, ground, strict=True)]


def demo_start_time(site_yaml: Path) -> datetime:
    """When the demo footage "was recorded".

    PETS2009 gives no date (only the clock time 12:34), so the demo stamps its footage
    with the day before the demo was first built: retention (28 days by default) then applies
    to it as to live footage. A rebuilt demo keeps the date its ``site.yaml`` has.
    """
    if site_yaml.is_file():
        found = re.search(r"start_time: (\S+)", site_yaml.read_text())
        if found:
            return datetime.fromisoformat(found.group(1))
    yesterday = (datetime.now(UTC) - timedelta(days=1)).date()  # never in the future
    return datetime.combine(yesterday, DEMO_START_TIME.timetz())


CropSpec = dict[str, tuple[str, int, int, tuple[float, float]]]
"""camera id -> (name, first column, last column, site-plan position in metres)."""


def build_demo_site(
    workdir: Path,
    video: Path,
    console: Console | None = None,
    crops: CropSpec | None = None,
    links_yaml: dict[str, str] | None = None,
    name: str = "PETS2009 plaza demo",
    models_yaml: str = "",
) -> Path:
    """Write the demo cameras' clips and ``site.yaml`` under ``workdir``; return the YAML path.

    ``crops`` defaults to the demo's two overlapping views (``CROPS``); ``links_yaml``
    maps a camera id to its ``links:`` value (the camera graph), e.g.
    ``{"gate": "[{to: kiosk, walk_s: [0, 30]}]"}``; ``models_yaml`` is a top-level
    ``models:`` section ("" keeps the default models).
    """
    workdir.mkdir(parents=True, exist_ok=True)
    start_time = demo_start_time(workdir / "site.yaml")
    footage_dir = workdir / "footage"
    footage_dir.mkdir(exist_ok=True)
    cameras = []
    for cam_id, (cam_name, x0, x1, (px, py)) in (crops or CROPS).items():
        clip = footage_dir / f"{cam_id}.mp4"
        if not clip.is_file():
            if console:
                console.print(f"cutting camera view {cam_id} from {video.name}")
            _crop_clip(video, clip, x0, x1)
        points = [
            f"        - [{u - x0:.1f}, {v:.1f}, {x:.3f}, {y:.3f}]"
            for u, v, x, y in crop_ground_points(x0, x1)
        ]
        cameras.append(
            "\n".join(
                [
                    f"  - id: {cam_id}",
                    f"    name: {cam_name}",
                    f"    location: {{x_m: {px}, y_m: {py}}}",
                    f"    footage: [footage/{cam_id}.mp4]",
                    f"    start_time: {start_time.isoformat()}",
                    f"    source_fps: {DEMO_SOURCE_FPS}",
                    *(
                        [f"    links: {links_yaml[cam_id]}"]
                        if links_yaml and cam_id in links_yaml
                        else []
                    ),
                    "    calibration:",
                    f"      principal_point_px: [{DEMO_PRINCIPAL_POINT[0] - x0:.1f}, "
                    f"{DEMO_PRINCIPAL_POINT[1]:.1f}]",
                    "      points:",
                    *points,
                ]
            )
        )
    plan_yaml = ""
    if crops is None:  # the demo's own views: the plaza from above is their site plan
        from cctrace.plans.demo_plan import write_demo_plan

        plan_yaml = write_demo_plan(workdir, video, DEMO_GROUND_POINTS)
    site = workdir / "site.yaml"
    site.write_text(
        "# Demo site: PETS2009 S2L1 View_001 cut into two overlapping camera views.\n"
        "# Footage (c) University of Reading, PETS 2009; calibration via OpenTraj (MIT).\n"
        "# The clip has no date: it is stamped with the day before this demo was built,\n"
        "# so the 28-day retention purge treats it like live footage.\n"
        f"name: {name}\n"
        "cameras:\n" + "\n".join(cameras) + "\n"
        "ingest:\n"
        "  analysis_fps: 7\n"
        "  checkpoint_seconds: 20\n"
        "trace:\n"
        "  distance_m: 2.0\n"
        "  minutes: 0.08   # 4.8 s: the clip lasts under two minutes\n"
        "storage:\n"
        "  data_dir: data\n" + plan_yaml + models_yaml
    )
    return site


def _crop_clip(source: Path, target: Path, x0: int, x1: int) -> None:
    """Re-encode a horizontal slice of a clip as lossless H.264, frame for frame.

    Lossless, so the cut cameras decode to exactly the source's pixels on every run and
    the demo's ingest, trace and tests are the same every time (a lossy re-encode varied
    from run to run: :mod:`cctrace.footage.writer`).
    """
    import av

    from cctrace.footage.writer import write_video, x264_options

    tmp = target.with_suffix(".part.mp4")
    with av.open(str(source)) as inp:
        in_stream = inp.streams.video[0]
        rate = in_stream.average_rate or 10
        frames = (frame.to_ndarray(format="bgr24")[:, x0:x1] for frame in inp.decode(in_stream))
        write_video(tmp, frames, rate, options=x264_options(lossless=True))
    tmp.replace(target)


def pick_demo_tracklet(site_path: Path) -> int:
    """A sample 'case' that shows the product: someone both cameras see (so the trace
    offers their other camera's sighting to confirm, and the route can cross cameras) with
    the longest close encounter (so there is a contact to show); anyone with the longest
    encounter when nobody is seen by both."""
    from cctrace.config import load_site
    from cctrace.store.repository import Store
    from cctrace.tracing.service import fragments_of
    from cctrace.tracing.stitching import overlap_links

    site = load_site(site_path, check_files=False)
    with Store.for_site(site) as store:
        records = store.tracklets.in_window(None, None)
        calibrated = {c.id for c in store.cameras.all() if c.homography is not None}
        fragments = fragments_of(store, records, calibrated)
        both = {f.tracklet_id for f in fragments if overlap_links(f, fragments)}
        encounter_s: dict[int, float] = {}
        for enc in store.tracklets.encounters_for([r.id for r in records]):
            secs = enc.seconds_within.get(2.0, 0.0)
            encounter_s[enc.tracklet_id] = max(encounter_s.get(enc.tracklet_id, 0.0), secs)
    if not encounter_s:
        from cctrace.errors import NotFoundError

        raise NotFoundError("the demo ingest found no encounters to trace")
    # Seen by both cameras first, then the longest encounter; ties by id (repeatable).
    return min(encounter_s, key=lambda t: (t not in both, -encounter_s[t], t))


def confirm_track_continuations(site: SiteConfig, result: TraceResult) -> list[int]:
    """What the demo's investigator does in the review band: confirm the suggestions
    that continue the case's own track in the other, overlapping camera (found by the
    same ground path at the same time, not by clothing), as the web app's Confirm button
    does (decision and audit entry). Returns the confirmed tracklet ids.

    The demo is repeatable byte for byte (``bench/determinism.py``), and a test checks
    its confirmed route against the PETS ground truth."""
    from cctrace.store.repository import Store
    from cctrace.types import SightingStatus

    seed_cameras = {s.camera_id for s in result.route}
    chosen = [
        s.tracklet_id
        for s in result.sightings
        if s.status == SightingStatus.NEEDS_REVIEW
        and s.link is None
        and s.camera_id not in seed_cameras
    ]
    with Store.for_site(site) as store:
        for tid in chosen:
            store.sightings.decide(
                result.query.case_id, tid, SightingStatus.ACCEPTED, DEMO_INVESTIGATOR
            )
            store.audit.append(
                DEMO_INVESTIGATOR,
                "sighting_decision",
                result.query.case_id,
                {"tracklet_id": tid, "decision": "accept", "note": "demo script"},
                {},
            )
    return chosen


def run_demo(
    workdir: Path, shared_data: Path | None = None, console: Console | None = None
) -> Path:
    """Fetch real footage, build the site, ingest it, trace a sample case; return the report."""
    from cctrace.casework import run_trace
    from cctrace.config import load_site
    from cctrace.ingest.runner import ingest_site
    from cctrace.tracing.service import TraceRequest

    console = console or Console()
    console.print("[bold]1/5[/bold] obtaining real footage (PETS2009 S2L1, Debian opencv-doc)")
    video = fetch_demo_video(prefer_shared=shared_data is not None, shared_data=shared_data)
    console.print(f"      {video}")
    console.print("[bold]2/5[/bold] building the demo site")
    site_path = build_demo_site(workdir, video, console)
    site = load_site(site_path)
    console.print(f"      {site_path} ({len(site.cameras)} cameras)")
    console.print("[bold]3/5[/bold] ingesting (cameras in parallel)")
    summary = ingest_site(site, progress=True, allow_expired=True)  # demo footage keeps its date
    for f in summary.files:
        console.print(
            f"      {f.camera_id}: {f.status}, {f.tracklets} tracklets, {f.encounters} encounters"
            + (f" ({f.note})" if f.note else "")
        )
    tracklet = pick_demo_tracklet(site_path)
    console.print(f"[bold]4/5[/bold] tracing case {DEMO_CASE} from tracklet {tracklet}")
    request = TraceRequest(
        case_id=DEMO_CASE,
        actor=DEMO_INVESTIGATOR,
        tracklet_id=tracklet,
        distance_m=site.trace.distance_m,
        minutes=site.trace.minutes,
        legal_basis="demo (public research footage)",
    )
    with tempfile.TemporaryDirectory(prefix="cctrace-demo-") as first_look:
        # The first trace is what the investigator reviews; only the reviewed one's
        # report is kept (both are in the audit log).
        result, paths = run_trace(site, request, out_dir=Path(first_look))
    confirmed = confirm_track_continuations(site, result)
    if confirmed:
        console.print(
            f"[bold]5/5[/bold] the demo investigator confirms the case's own track in the "
            f"other camera (sighting(s) {', '.join(map(str, confirmed))}: same ground path at "
            "the same time) and traces again"
        )
    result, paths = run_trace(site, request)
    console.print(
        f"      {len(result.route)} sighting(s) on the route "
        f"({len({s.camera_id for s in result.route})} camera(s)), "
        f"{len(result.contacts)} contact(s), "
        f"{sum(c.is_close_contact for c in result.contacts)} close contact(s), "
        f"{sum(s.status == 'needs_review' for s in result.sightings)} left to review"
    )
    return paths.html
