"""The ``cctrace`` command line: validate a site, ingest footage, trace a case, export."""

from __future__ import annotations

import getpass
import logging
import os
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from cctrace.cli_json import JsonOption, print_json
from cctrace.cli_lang import LangOption
from cctrace.config import CameraConfig, SiteConfig
from cctrace.console import make_console
from cctrace.env import CliSettings
from cctrace.errors import CctraceError

if TYPE_CHECKING:
    from cctrace.footage.timing import StartTime

app = typer.Typer(
    help=(
        "cctrace: search CCTV footage for a confirmed case's route and close contacts.\n\n"
        "Typical use: `cctrace site validate site.yaml`, `cctrace ingest site.yaml`, then "
        "`cctrace trace --site site.yaml --case C-001 --photo case.jpg`. "
        "`cctrace demo` runs all of it on real footage."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
site_app = typer.Typer(help="Check site configuration files.", no_args_is_help=True)
export_app = typer.Typer(help="Export tracks, sightings and contacts.", no_args_is_help=True)
audit_app = typer.Typer(help="Read and verify the audit log.", no_args_is_help=True)
tracklets_app = typer.Typer(
    help="List the tracked people (tracklets) of a camera.", no_args_is_help=True
)
app.add_typer(site_app, name="site")
app.add_typer(tracklets_app, name="tracklets")
app.add_typer(export_app, name="export")
app.add_typer(audit_app, name="audit")

console = make_console()
err_console = make_console(stderr=True)

SiteOption = Annotated[
    Path | None,
    typer.Option(
        "--site",
        "-s",
        help="Site YAML file (default: $CCTRACE_SITE or ./site.yaml).",
        envvar="CCTRACE_SITE",
        show_default=False,
    ),
]
SiteArgument = Annotated[
    Path | None,
    typer.Argument(
        help="Site YAML file (or --site; default: $CCTRACE_SITE or ./site.yaml).",
        show_default=False,
    ),
]


MAX_ID = 2**63 - 1
"""The largest id the database holds (a signed 64-bit integer): larger ids are refused."""


def _site_path(argument: Path | None, option: Path | None) -> Path:
    """The site file from the positional argument or ``--site`` (or $CCTRACE_SITE, which
    typer puts in ``option``), else ``./site.yaml``; both given and different is an error."""
    if argument is not None and option is not None and argument != option:
        raise typer.BadParameter(f"two site files given: {argument} and --site {option}; give one")
    return argument or option or Path("site.yaml")


def _actor(actor: str | None) -> str:
    return actor or CliSettings.load().actor or getpass.getuser()


def _parse_time(value: str | None, name: str) -> datetime | None:
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise typer.BadParameter(
            f"{name}: {value!r} is not an ISO time like 2026-03-15T08:00:00Z"
        ) from exc
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


@app.callback()
def _main(
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log debug details.")] = False,
) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )


@site_app.command("validate")
def site_validate(
    site_file: SiteArgument = None, site_opt: SiteOption = None, as_json: JsonOption = False
) -> None:
    """Check a site file: keys, models, calibration homographies, footage paths, and when
    each camera's first file starts (and from what), warning about footage already past
    the retention period (which ``ingest`` refuses without ``--allow-expired``).

    Exit status 0 when the site is usable, 2 with one line naming the problem otherwise."""
    from cctrace.config import load_site
    from cctrace.vision.runtime import describe_device

    site = load_site(_site_path(site_file, site_opt))
    device = describe_device(site.runtime.device)
    starts = [_first_start(cam, site.retention.days) for cam in site.cameras]
    cameras = []
    for cam, (start, _) in zip(site.cameras, starts, strict=True):
        calibration = None
        if cam.calibration is not None:
            cal = cam.calibration.homography()
            calibration = {
                "points": len(cam.calibration.points),
                "median_error_m": cal.median_error_m,
            }
        cameras.append(
            {
                "id": cam.id,
                "name": cam.name,
                "footage": [str(p) for p in cam.footage],
                "streams": [u.masked for u in cam.streams],  # never credentials
                "calibration": calibration,
                "first_file_start": None if start is None else start.value,
                "start_source": "stream" if start is None else start.source,
            }
        )
    warnings = [w for _, w in starts if w]
    zones = sorted({c.timezone for c in site.cameras})
    if site.timezone is None and len(zones) > 1:
        warnings.append(
            f"the cameras name different time zones ({', '.join(zones)}) and the site names "
            "none: times are shown in UTC; set `timezone:` at the top of the site file"
        )
    for warning in warnings:
        err_console.print(f"[yellow]warning:[/yellow] {escape(warning)}")
    if as_json:
        print_json(
            {
                "site": site.name,
                "ok": True,
                "cameras": cameras,
                "warnings": warnings,
                "device": device,
            }
        )
        return
    table = Table(title=f"{site.name}: {len(site.cameras)} camera(s) OK")
    for col in ("camera", "name", "footage", "calibration", "first file starts"):
        table.add_column(col)
    for cam, (start, _) in zip(site.cameras, starts, strict=True):
        calib = "none (distances estimated from person height)"
        if cam.calibration is not None:
            error = cam.calibration.homography().median_error_m
            calib = f"{len(cam.calibration.points)} points, median error {error:.2f} m"
        footage = [str(p) for p in cam.footage]
        footage += [f"live {u.kind}: {u.masked}" for u in cam.streams]  # never credentials
        shown = (
            "live: the stream's wall time"
            if start is None
            else f"{start.value.isoformat(timespec='seconds')} ({start.source})"
        )
        table.add_row(cam.id, cam.name, ", ".join(footage), calib, shown)
    console.print(table)
    console.print(f"models run on: {escape(device)}")


def _first_start(camera: CameraConfig, retention_days: int) -> tuple[StartTime | None, str]:
    """(when the camera's first file starts and from what, a warning or ""); None for a
    camera with only live streams (their time is the stream's). A file whose start cannot
    be told, or that cannot be read, is an error: ingest would refuse it."""
    from cctrace.footage.sources import expand_footage
    from cctrace.footage.timing import past_retention, resolve_start

    if not camera.footage:
        return None, ""
    first = expand_footage(camera.footage)[0]
    try:
        start = resolve_start(first, camera.start_time, camera.timezone)
    except CctraceError as exc:
        raise CctraceError(
            f"camera {camera.id}: {exc}; set its start_time in the site file, or name files "
            "like cam_20260315_081500.mp4"
        ) from exc
    except (OSError, ValueError) as exc:  # an unreadable file, a broken container
        raise CctraceError(f"camera {camera.id}: {first}: cannot be read ({exc})") from exc
    expired = past_retention(first, start, retention_days)
    warning = ""
    if expired:
        warning = (
            f"camera {camera.id}: {expired}; `cctrace ingest` refuses it unless given "
            "--allow-expired: check the time or set start_time"
        )
    return start, warning


@app.command()
def ingest(
    site_file: SiteArgument = None,
    site_opt: SiteOption = None,
    camera: Annotated[
        list[str] | None, typer.Option("--camera", "-c", help="Only these camera ids.")
    ] = None,
    workers: Annotated[
        int | None,
        typer.Option(min=0, help="Worker processes (default: site config, 0 = per core)."),
    ] = None,
    progress: Annotated[
        bool,
        typer.Option(
            "--progress/--no-progress",
            help="Show progress bars (also off with CCTRACE_NO_PROGRESS=1 and --json).",
        ),
    ] = True,
    live: Annotated[
        bool,
        typer.Option(
            "--live",
            help="Ingest the live cameras (stream URLs) continuously until Ctrl-C/SIGTERM.",
        ),
    ] = False,
    allow_expired: Annotated[
        bool,
        typer.Option(
            "--allow-expired",
            help="Ingest footage that starts before the retention cut-off (retention.days "
            "ago) too; refused by default, as the next purge would delete it.",
        ),
    ] = False,
    ray: Annotated[
        str | None,
        typer.Option(
            "--ray",
            metavar="auto|local|ADDRESS",
            help="Run one Ray task per footage file on a Ray cluster: auto (the cluster "
            "started here with `ray start`), local (a private one-machine Ray) or the head's "
            "host:port. Needs cctrace[cluster]. Default: ingest.engine in the site file.",
        ),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Analyse every camera's footage into the index (idempotent and resumable).

    Re-running adds nothing for files already ingested; a run that was killed
    resumes from its last checkpoint. Footage that starts before the retention cut-off
    is refused (a failed row naming its start, where that came from and the cut-off)
    unless ``--allow-expired``. Exit status 1 when any file failed. With --live, cameras
    whose footage is a stream URL run until stopped, committing a segment every
    ingest.live_segment_s.
    """
    from cctrace.config import load_site
    from cctrace.footage.sources import expand_footage
    from cctrace.ingest.runner import ingest_site

    # Footage is checked per camera: one camera's missing folder must not stop the others
    # (each failure is a row of the table below and makes the exit status 1).
    from cctrace.vision.runtime import describe_device

    site = load_site(_site_path(site_file, site_opt), check_files=False)
    device = describe_device(site.runtime.device)  # cuda without CUDA: one line, exit 2
    if not as_json:
        err_console.print(f"models run on: {escape(device)}")
    if ray is not None or (site.ingest.engine == "ray" and not live):
        _check_ray_options(ray, live=live, workers=workers)
    if live:
        from cctrace.ingest.live import ingest_live

        summary = ingest_live(site, camera_ids=camera)
    for cam in site.cameras:
        if live or (camera and cam.id not in camera) or not cam.footage:
            continue
        try:
            expand_footage(cam.footage)
        except CctraceError as exc:
            err_console.print(f"[yellow]warning:[/yellow] camera {cam.id}: {escape(str(exc))}")
    show = progress and not as_json and not CliSettings.load().no_progress
    if not live:
        summary = ingest_site(
            site,
            camera_ids=camera,
            workers=workers,
            progress=show,
            allow_expired=allow_expired,
            ray_address=ray,
        )
    if as_json:
        print_json({"files": summary.files, "failed": summary.failed})
        if summary.failed:
            raise typer.Exit(code=1)
        return
    table = Table(title="ingest")
    for col in ("camera", "file", "status", "tracklets", "encounters", "note"):
        table.add_column(col)
    for row in summary.files:
        table.add_row(
            row.camera_id,
            Path(row.path).name,
            row.status,
            str(row.tracklets),
            str(row.encounters),
            escape(row.note),
        )
    console.print(table)
    if summary.failed:
        raise typer.Exit(code=1)


def _check_ray_options(address: str | None, *, live: bool, workers: int | None) -> None:
    """Refuse options the Ray path cannot honour, and a missing or bad Ray, up front."""
    from cctrace.cluster.ray_ingest import import_ray
    from cctrace.config import RAY_ADDRESS

    if live:
        raise typer.BadParameter("--live cameras run locally; leave out --ray", param_hint="--ray")
    if workers is not None:
        raise typer.BadParameter(
            "--workers has no effect with Ray (one task per file on the cluster's CPUs)",
            param_hint="--workers",
        )
    if address is not None and not RAY_ADDRESS.fullmatch(address):
        raise typer.BadParameter(
            f"expected auto, local, host:port or ray://host:port, got {address!r}",
            param_hint="--ray",
        )
    import_ray()


@app.command()
def status(
    site_file: SiteArgument = None, site_opt: SiteOption = None, as_json: JsonOption = False
) -> None:
    """Show what has been ingested, per camera and file (failed files with the reason)."""
    from cctrace.config import load_site
    from cctrace.ingest.owner import run_state
    from cctrace.store.repository import Store

    site = load_site(_site_path(site_file, site_opt), check_files=False)
    with Store.for_site(site) as store:
        if as_json:
            print_json(_status_json(site.name, store))
            return
        table = Table(title=f"{site.name}: footage")
        for col in (
            "camera",
            "footage id",
            "file",
            "status",
            "start (UTC), from",
            "progress",
            "frames",
            "tracklets",
            "note",
        ):
            table.add_column(col)
        for f in store.footage.files():
            state = run_state(f)
            note = f.error or ""
            if state == "running" and f.run_owner:  # a local worker or a Ray task
                note = f"ingesting in process {f.run_owner.rsplit(':', 1)[0]} (host:pid)"
            if state == "interrupted":
                note = f"ingest stopped (process gone); resumes at {f.progress_offset_s:.0f} s"
            table.add_row(
                f.camera_id,
                str(f.id),
                Path(f.path).name,
                state,
                f"{f.start_time:%Y-%m-%d %H:%M:%S}, {f.start_source or '?'}",
                f"{f.progress_offset_s:.0f}/{f.duration_s:.0f} s",
                f"{f.frames_decoded} ({f.frames_failed} lost)",
                str(store.tracklets.count(f.id)),
                escape(note),
            )
        for failure in store.footage.failures():
            table.add_row(
                failure.camera_id,
                "-",
                Path(failure.path).name,
                "failed",
                "-",
                "-",
                "-",
                "0",
                escape(failure.error),
            )
        console.print(table)
    _print_live_status(site)


def _print_live_status(site: SiteConfig) -> None:
    """The live cameras' connection state (cctrace.ingest.live), if the site has any."""
    from cctrace.ingest.live import iter_live_rows

    rows = list(iter_live_rows(site))
    if rows:
        table = Table(title=f"{site.name}: live cameras")
        for col in ("camera", "stream", "state", "last segment ends (UTC)", "note"):
            table.add_column(col)
        for row in rows:
            table.add_row(*(escape(cell) for cell in row))
        console.print(table)


@app.command()
def _status_json(site_name: str, store: Any) -> dict[str, Any]:
    """``status --json``: every footage file and every file that failed to register."""
    from cctrace.ingest.owner import run_state

    files = []
    for f in store.footage.files():
        state = run_state(f)
        files.append(
            {
                "camera_id": f.camera_id,
                "footage_id": f.id,
                "path": f.path,
                "status": state,
                "start_time": f.start_time,
                "start_source": f.start_source,
                "progress_offset_s": f.progress_offset_s,
                "duration_s": f.duration_s,
                "fps": f.fps,
                "frames_decoded": f.frames_decoded,
                "frames_failed": f.frames_failed,
                "tracklets": store.tracklets.count(f.id),
                "error": f.error,
                "run_owner": f.run_owner if state == "running" else None,
            }
        )
    failures = [
        {
            "camera_id": x.camera_id,
            "path": x.path,
            "status": "failed",
            "error": x.error,
            "failed_at": x.failed_at,
        }
        for x in store.footage.failures()
    ]
    return {"site": site_name, "footage": files, "failures": failures}


@app.command()
def trace(
    case: Annotated[str, typer.Option("--case", help="Case number; every trace belongs to one.")],
    site_file: SiteArgument = None,
    site: SiteOption = None,
    photo: Annotated[
        list[Path] | None, typer.Option("--photo", "-p", help="Face photo of the case.")
    ] = None,
    tracklet: Annotated[
        int | None,
        typer.Option(
            "--tracklet",
            min=1,
            max=MAX_ID,
            help="Start from a tracklet id (see `cctrace tracklets list`).",
        ),
    ] = None,
    from_: Annotated[
        str | None, typer.Option("--from", help="Window start, ISO time (UTC if no zone).")
    ] = None,
    to: Annotated[str | None, typer.Option("--to", help="Window end, ISO time.")] = None,
    distance: Annotated[
        float | None, typer.Option("--distance", help="Close-contact distance, metres.")
    ] = None,
    minutes: Annotated[
        float | None,
        typer.Option("--minutes", help="Cumulative minutes within the distance (24 h)."),
    ] = None,
    legal_basis: Annotated[
        str, typer.Option(help="Legal basis recorded with a new case.")
    ] = "not stated",
    actor: Annotated[str | None, typer.Option(help="Who runs the trace (audit).")] = None,
    out: Annotated[
        Path | None, typer.Option(help="Report folder (default: in the data dir).")
    ] = None,
    accept: Annotated[
        float | None, typer.Option(help="Accept threshold for this trace (site default).")
    ] = None,
    review: Annotated[
        float | None, typer.Option(help="Review threshold for this trace (site default).")
    ] = None,
    as_json: JsonOption = False,
    lang: LangOption = None,  # its callback sets the report's language
) -> None:
    """Trace a case: sightings, route and close contacts, with a report.

    ``--distance`` may not exceed the widest distance band measured at ingest
    (``ingest.distance_bands_m``, 3 m by default): checked before anything runs."""
    site = _site_path(site_file, site)
    from cctrace.casework import run_trace
    from cctrace.config import load_site
    from cctrace.tracing.service import TraceRequest, check_distance

    if not photo and tracklet is None:
        raise typer.BadParameter("give at least one --photo or a --tracklet")
    cfg = load_site(site, check_files=False)
    if distance is not None:
        check_distance(cfg, distance, "--distance")
    request = TraceRequest(
        case_id=case,
        photos=tuple(photo or ()),
        tracklet_id=tracklet,
        window_from=_parse_time(from_, "--from"),
        window_to=_parse_time(to, "--to"),
        distance_m=distance if distance is not None else cfg.trace.distance_m,
        minutes=minutes if minutes is not None else cfg.trace.minutes,
        actor=_actor(actor),
        legal_basis=legal_basis,
        accept_threshold=accept,
        review_threshold=review,
    )
    result, paths = run_trace(cfg, request, out_dir=out)
    if as_json:
        from cctrace.report.json_report import trace_to_dict

        print_json({"report": paths, "trace": trace_to_dict(result)})
        return
    _print_trace(result)
    console.print(f"\nreport: [bold]{paths.html}[/bold]")
    console.print(f"json:   {paths.json}")


def _print_trace(result: object) -> None:
    from cctrace.tracing.result import TraceResult

    assert isinstance(result, TraceResult)
    t = Table(title=f"case {result.query.case_id}: sightings")
    for col in ("tracklet", "camera", "start (UTC)", "end", "score", "status", "mask"):
        t.add_column(col)
    for s in result.sightings:
        t.add_row(
            str(s.tracklet_id),
            s.camera_id,
            s.start.strftime("%Y-%m-%d %H:%M:%S"),
            s.end.strftime("%H:%M:%S"),
            f"{s.score:.3f}",
            s.status.value,
            s.mask_status.value,
        )
    console.print(t)
    c = Table(title="contacts")
    for col in ("tracklets", "seconds within", "min distance", "first seen", "mask", "close"):
        c.add_column(col)
    for contact in result.contacts:
        c.add_row(
            ",".join(map(str, contact.contact_tracklet_ids)),
            f"{contact.total_seconds_within:.1f}",
            f"{contact.min_distance_m:.2f} m",
            contact.first_seen.strftime("%H:%M:%S"),
            contact.contact_mask.value,
            "YES" if contact.is_close_contact else "no",
        )
    console.print(c)
    for note in result.notes:
        console.print(f"[yellow]note:[/yellow] {note}")


@export_app.command("tracks")
def export_tracks(
    camera: Annotated[str, typer.Option("--camera", "-c", help="Camera id.")],
    site_file: SiteArgument = None,
    site: SiteOption = None,
    fmt: Annotated[str, typer.Option("--format", help="Output format: mot.")] = "mot",
    actor: Annotated[str | None, typer.Option(help="Who exports (audit).")] = None,
    out: Annotated[Path | None, typer.Option(help="Output file (default: stdout).")] = None,
    footage: Annotated[
        int | None,
        typer.Option(
            min=1,
            max=MAX_ID,
            help="Footage file id (see `cctrace status`), needed when a camera has "
            "several files: MOT frame numbers restart in each file.",
        ),
    ] = None,
) -> None:
    """Write a camera's tracks in MOT-challenge format (frame,id,x,y,w,h,conf,-1,-1,-1)."""
    site = _site_path(site_file, site)
    from cctrace.config import load_site
    from cctrace.report.mot import write_mot
    from cctrace.store.repository import Store

    if fmt != "mot":
        raise typer.BadParameter(f"unknown format {fmt!r}; supported: mot")
    cfg = load_site(site, check_files=False)
    cfg.camera(camera)
    with Store.for_site(cfg) as store:
        files = store.footage.files(camera_id=camera)
        if footage is None and len(files) > 1:
            listing = ", ".join(f"{f.id} ({Path(f.path).name})" for f in files)
            raise typer.BadParameter(
                f"camera {camera} has {len(files)} footage files; pick one with --footage: "
                f"{listing}"
            )
        rows = store.tracklets.mot_rows(camera, footage_id=footage)
        store.audit.append(
            _actor(actor),
            "export_tracks",
            None,
            {"camera": camera, "footage_id": footage, "file": str(out or "stdout")},
            {"rows": len(rows)},
        )
    target = out or Path("/dev/stdout")
    write_mot(rows, target)
    if out:
        console.print(f"{len(rows)} boxes written to {out}")


@export_app.command("sightings")
def export_sightings(
    case: Annotated[str, typer.Option("--case", help="Case number.")],
    site_file: SiteArgument = None,
    site: SiteOption = None,
    out: Annotated[Path, typer.Option(help="CSV file to write.")] = Path("sightings.csv"),
    actor: Annotated[str | None, typer.Option(help="Who exports (audit).")] = None,
    as_json: JsonOption = False,
    lang: LangOption = None,  # its callback sets the person labels' language
) -> None:
    """Write the latest trace's sightings of a case as CSV."""
    site = _site_path(site_file, site)
    _export_csv(site, case, out, "sightings", _actor(actor), as_json)


@export_app.command("contacts")
def export_contacts(
    case: Annotated[str, typer.Option("--case", help="Case number.")],
    site_file: SiteArgument = None,
    site: SiteOption = None,
    out: Annotated[Path, typer.Option(help="CSV file to write.")] = Path("contacts.csv"),
    actor: Annotated[str | None, typer.Option(help="Who exports (audit).")] = None,
    as_json: JsonOption = False,
    lang: LangOption = None,  # its callback sets the person labels' language
) -> None:
    """Write the latest trace's contacts of a case as CSV."""
    site = _site_path(site_file, site)
    _export_csv(site, case, out, "contacts", _actor(actor), as_json)


def _export_csv(site: Path, case: str, out: Path, what: str, actor: str, as_json: bool) -> None:
    from cctrace.casework import export_case_csv
    from cctrace.config import load_site

    cfg = load_site(site, check_files=False)
    n = export_case_csv(cfg, case, what, out, actor)
    if as_json:
        print_json({"case": case, "what": what, "rows": n, "file": out})
        return
    console.print(f"{n} {what} rows written to {out}")


@tracklets_app.command("list")
def tracklets_list(
    camera: Annotated[str, typer.Option("--camera", "-c", help="Camera id.")],
    site_file: SiteArgument = None,
    site: SiteOption = None,
    at: Annotated[
        str | None,
        typer.Option("--at", help="Only people in view at this ISO time (UTC if no zone)."),
    ] = None,
    actor: Annotated[str | None, typer.Option(help="Who lists (audit).")] = None,
    as_json: JsonOption = False,
) -> None:
    """List a camera's tracklets (one tracked person each): id, times, points, faces and
    the redacted snapshot file. A tracklet id is what ``trace --tracklet`` takes.

    Snapshot files are named after the tracker's number within their footage file
    (``snapshots/<camera>/<footage id>/t<track>.jpg``), not the tracklet id: the
    ``snapshot`` column gives each one's path. Audited (camera, time, count)."""
    site_path = _site_path(site_file, site)
    from cctrace.config import load_site
    from cctrace.store.repository import Store

    cfg = load_site(site_path, check_files=False)
    cfg.camera(camera)  # an unknown camera id is an error naming the known ones
    when = _parse_time(at, "--at")
    with Store.for_site(cfg) as store:
        found = store.tracklets.in_window(when, when, [camera])
        faces = store.faces.counts(t.id for t in found)
        store.audit.append(
            _actor(actor),
            "list_tracklets",
            None,
            {"camera": camera, "at": when.isoformat() if when else None},
            {"tracklets": len(found)},
        )
    rows = [
        {
            "tracklet_id": t.id,
            "camera_id": t.camera_id,
            "footage_id": t.footage_id,
            "track_number": t.track_id,
            "start": t.start,
            "end": t.end,
            "duration_s": round((t.end - t.start).total_seconds(), 3),
            "points": t.n_points,
            "faces": faces.get(t.id, 0),
            "mask_status": t.mask_status,
            "snapshot": t.snapshot_path,
        }
        for t in found
    ]
    if as_json:
        print_json({"camera": camera, "at": when, "tracklets": rows})
        return
    where = f" in view at {when:%Y-%m-%d %H:%M:%S} UTC" if when else ""
    table = Table(title=f"camera {camera}: {len(rows)} tracklet(s){where}")
    for col in (
        "tracklet",
        "footage",
        "start (UTC)",
        "end",
        "duration",
        "points",
        "faces",
        "snapshot",
    ):
        table.add_column(col)
    for r in rows:
        start, end = r["start"], r["end"]
        assert isinstance(start, datetime) and isinstance(end, datetime)
        table.add_row(
            str(r["tracklet_id"]),
            str(r["footage_id"]),
            start.strftime("%Y-%m-%d %H:%M:%S"),
            end.strftime("%H:%M:%S"),
            f"{r['duration_s']:.1f} s",
            str(r["points"]),
            str(r["faces"]),
            escape(str(r["snapshot"] or "-")),
        )
    console.print(table)


@audit_app.command("list")
def audit_list(
    site_file: SiteArgument = None,
    site: SiteOption = None,
    case: Annotated[str | None, typer.Option(help="Only this case.")] = None,
    as_json: JsonOption = False,
) -> None:
    """Show the audit log: who searched what, when, and how much was found."""
    site = _site_path(site_file, site)
    from cctrace.config import load_site
    from cctrace.store.repository import Store

    cfg = load_site(site, check_files=False)
    with Store.for_site(cfg) as store:
        entries = [e for e in store.audit.entries() if not case or e.case_id == case]
        if as_json:
            print_json({"entries": entries})
            return
        table = Table(title="audit log")
        for col in ("id", "time (UTC)", "actor", "action", "case", "result"):
            table.add_column(col)
        for e in entries:
            table.add_row(
                str(e.id),
                e.timestamp.strftime("%Y-%m-%d %H:%M:%S"),
                e.actor,
                e.action,
                e.case_id or "",
                escape(", ".join(f"{k}={v}" for k, v in e.result.items())),
            )
        console.print(table)


@audit_app.command("verify")
def audit_verify(
    site_file: SiteArgument = None,
    site: SiteOption = None,
    anchors: Annotated[
        Path | None,
        typer.Option(
            "--anchors",
            help="Check against this copy of the checkpoints (for example lines gathered "
            "from syslog) instead of the site's audit.anchor_path.",
        ),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Check the audit log against its key and its signed checkpoints; exit 1 if any
    entry was edited, rewritten, moved, replayed or deleted (tail and all included)."""
    site = _site_path(site_file, site)
    from cctrace.config import load_site
    from cctrace.store.repository import Store

    cfg = load_site(site, check_files=False)
    with Store.for_site(cfg) as store:
        report = store.audit.verify(anchor_path=anchors)
    if as_json:
        print_json(
            {
                "ok": report.ok,
                "entries": report.entries,
                "verified": report.verified,
                "first_bad": report.first_bad,
                "problems": report.problems,
                "notes": report.notes,
                "checked_against": report.checked_against(),
            }
        )
        if not report.ok:
            raise typer.Exit(code=1)
        return
    console.print("checked against:")
    for line in report.checked_against():
        console.print(f"  {line}", markup=False, highlight=False)
    for note in report.notes:
        console.print(f"note: {note}", markup=False, highlight=False)
    if report.ok:
        console.print(f"audit log intact: {report.entries} entries verified")
        return
    where = f": first bad entry {report.first_bad}" if report.first_bad is not None else ""
    err_console.print(f"[red]audit log tampered{where}[/red]")
    for problem in report.problems:
        err_console.print(f"  {problem}", markup=False, highlight=False)
    raise typer.Exit(code=1)


@app.command()
def purge(
    site_file: SiteArgument = None,
    site: SiteOption = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Count what would be removed; change nothing.")
    ] = False,
    now: Annotated[
        str | None,
        typer.Option("--now", help="Purge as of this ISO time (default: now; UTC if no zone)."),
    ] = None,
    actor: Annotated[str | None, typer.Option(help="Who runs the purge (audit).")] = None,
    as_json: JsonOption = False,
) -> None:
    """Delete data past the site's retention period (retention.days), vectors and files
    included, keeping the evidence of open and recently closed cases. Audited."""
    site = _site_path(site_file, site)
    from cctrace.config import load_site
    from cctrace.retention import purge as run_purge

    cfg = load_site(site, check_files=False)
    report = run_purge(cfg, now=_parse_time(now, "--now"), dry_run=dry_run, actor=_actor(actor))
    if as_json:
        print_json(
            {
                "dry_run": dry_run,
                "before": report.before,
                "counts": report.counts(),
                "expired_cases": report.expired_cases,
                "errors": report.errors,
            }
        )
        if report.errors:
            raise typer.Exit(code=1)
        return
    verb = "would remove" if dry_run else "removed"
    table = Table(
        title=f"retention purge ({'dry run' if dry_run else 'done'}): data that ended before "
        f"{report.before:%Y-%m-%d %H:%M} UTC"
    )
    table.add_column("what")
    table.add_column(verb, justify="right")
    for name, count in report.counts().items():
        table.add_row(name.replace("_", " "), str(count))
    console.print(table)
    if report.expired_cases:
        console.print(
            f"cases past their evidence period ({cfg.retention.case_evidence_days} days after "
            f"closing): {', '.join(report.expired_cases)}"
        )
    for error in report.errors:
        err_console.print(f"[red]purge step failed:[/red] {error}")
    if report.errors:
        raise typer.Exit(code=1)


@app.command()
def demo(
    workdir: Annotated[Path, typer.Option(help="Where the demo site is built.")] = Path("demo"),
    shared_data: Annotated[
        Path | None,
        typer.Option(help="Use view001.mp4 from this shared data folder instead of apt."),
    ] = None,
) -> None:
    """Build a demo site from real PETS2009 footage, ingest it and trace a sample case."""
    from cctrace.demo import run_demo

    report = run_demo(workdir, shared_data=shared_data, console=console)
    console.print(f"\n[bold green]demo report:[/bold green] {report}")
    console.print(
        f"open the web app on the demo case: [bold]cctrace serve --demo --workdir {workdir}[/bold]"
        " (then http://127.0.0.1:8000/cases/DEMO-0001)"
    )


@app.command("eval")
def eval_command(
    data: Annotated[
        Path | None,
        typer.Option(
            help="Reference data folder (default: $CCTRACE_SHARED_DATA or ../shared/data)."
        ),
    ] = None,
    stage: Annotated[
        list[str] | None,
        typer.Option(
            "--stage",
            help="Run only these stages (repeatable): faces, face-detection, masks, mot, "
            "contacts, trace, trace-photo, cross-camera.",
        ),
    ] = None,
    quick: Annotated[bool, typer.Option(help="The CI subset (faster, fewer samples).")] = False,
    out: Annotated[
        Path, typer.Option(help="Where accuracy.json, accuracy.md and accuracy.png go.")
    ] = Path("eval"),
    baseline: Annotated[
        Path | None,
        typer.Option(help="Fail (exit 1) when a metric regresses against this accuracy.json."),
    ] = None,
    threads: Annotated[int, typer.Option(min=1, help="Inference threads.")] = 2,
    person_detector: Annotated[
        str | None,
        typer.Option(
            help="Ingest with this person detector type instead of the default "
            "(e.g. yolov8n-agpl, the opt-in detector with AGPL-3.0 weights); the report "
            "says which ran.",
        ),
    ] = None,
    person_detector_params: Annotated[
        str | None,
        typer.Option(
            help="Its params as a JSON object (default: the type's own; the default "
            "type keeps its default params)."
        ),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Measure every stage's accuracy on real labelled data and print one table."""
    from cctrace.evaluation.metrics import default_shared_data
    from cctrace.evaluation.runner import (
        EvalReport,
        compare_to_baseline,
        person_detector_choice,
        print_table,
        run_eval,
        write_outputs,
    )

    data_root = data or default_shared_data()
    if not data_root.is_dir():
        raise CctraceError(
            f"reference data not found at {data_root}: pass --data or set CCTRACE_SHARED_DATA"
        )
    try:
        report = run_eval(
            data_root,
            stages=stage,
            quick=quick,
            threads=threads,
            progress=lambda s: err_console.print(f"[bold]evaluating {s}[/bold]"),
            person_detector=person_detector_choice(person_detector, person_detector_params),
        )
    except ValueError as exc:
        raise CctraceError(str(exc)) from exc
    if not as_json:
        print_table(report)
    paths = write_outputs(report, out)
    regressions: list[str] = []
    if baseline is not None:
        regressions = [str(r) for r in compare_to_baseline(report, EvalReport.load(baseline))]
        for r in regressions:
            err_console.print(f"[red]regression[/red] {escape(r)}")
    failed = bool(regressions)
    if as_json:
        print_json({"report": report.to_dict(), "written": paths, "regressions": regressions})
    else:
        console.print(f"written: {paths['json']}, {paths['markdown']}, {paths['chart']}")
        if baseline is not None and not regressions:
            console.print(f"no regressions against {baseline}")
    if report.errors or failed:
        raise typer.Exit(code=1)


db_app = typer.Typer(help="Show and upgrade the database schema.", no_args_is_help=True)
app.add_typer(db_app, name="db")


def _database_url(site_file: Path | None, site_opt: Path | None) -> tuple[SiteConfig, str]:
    from cctrace.config import load_site
    from cctrace.store._base import default_url

    cfg = load_site(_site_path(site_file, site_opt), check_files=False)
    return cfg, cfg.storage.database_url or default_url(cfg.storage.data_dir)


def _revision_name(current: str | None, legacy_version: str | None) -> str:
    if current is None and legacy_version is not None:
        return f"schema {legacy_version} (before Alembic)"
    return f"revision {current}" if current else "empty"


@db_app.command("current")
def db_current(site_file: SiteArgument = None, site_opt: SiteOption = None) -> None:
    """Show the database's schema revision and the newest this cctrace knows (read only)."""
    from cctrace.store.migrations import schema_status

    _, url = _database_url(site_file, site_opt)
    status = schema_status(url)
    state = "up to date" if status.up_to_date else "opening it will upgrade it"
    console.print(
        f"{_revision_name(status.current, status.legacy_version)}; newest: revision "
        f"{status.head} ({state})",
        highlight=False,
    )


@db_app.command("upgrade")
def db_upgrade(site_file: SiteArgument = None, site_opt: SiteOption = None) -> None:
    """Upgrade the database schema to the newest revision (every command that opens the
    store does this too; this one does only that)."""
    from cctrace.store.migrations import schema_status
    from cctrace.store.repository import Store

    cfg, url = _database_url(site_file, site_opt)
    before = schema_status(url)
    with Store.for_site(cfg):
        pass
    if before.up_to_date:
        console.print(f"already at revision {before.head}", highlight=False)
    else:
        was = _revision_name(before.current, before.legacy_version)
        console.print(f"upgraded from {was} to revision {before.head}", highlight=False)


footage_app = typer.Typer(help="Manage ingested footage files.", no_args_is_help=True)
app.add_typer(footage_app, name="footage")


@footage_app.command("reset")
def footage_reset(
    file: Annotated[
        str, typer.Option("--file", "-f", help="The footage file: its path or its id.")
    ],
    site_file: SiteArgument = None,
    site: SiteOption = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Only say what would go.")] = False,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do it without asking.")] = False,
    actor: Annotated[str | None, typer.Option(help="Who resets (audit).")] = None,
    as_json: JsonOption = False,
) -> None:
    """Forget what was analysed from one footage file, so the next `cctrace ingest`
    analyses it again from the start: for a file whose checkpoint this cctrace cannot
    read (left by another version), or one analysed with settings since changed.

    Deletes the file's tracklets (points, faces, body embeddings, encounters), its
    loose faces, their crop and snapshot files and face-index vectors. Refused while a
    case in its evidence period holds any of it, or while a process is ingesting the
    file. Audited."""
    from cctrace.config import load_site
    from cctrace.ingest.owner import is_interrupted
    from cctrace.retention import reset_footage
    from cctrace.store.records import FootageStatus
    from cctrace.store.repository import Store

    cfg = load_site(_site_path(site_file, site), check_files=False)
    with Store.for_site(cfg) as store:
        files = store.footage.files()
        wanted = [f for f in files if str(f.id) == file or f.path == file]
        if not wanted:
            resolved = str(Path(file).expanduser().resolve())
            wanted = [f for f in files if f.path == resolved]
        if not wanted:
            raise typer.BadParameter(
                f"--file {file!r}: no ingested footage file has that path or id "
                "(`cctrace status` lists them)"
            )
        footage = wanted[0]
        if footage.status is FootageStatus.RUNNING and not is_interrupted(footage):
            raise typer.BadParameter(
                f"--file {footage.path}: being ingested now by {footage.run_owner}; "
                "stop that ingest first"
            )
        if not (dry_run or yes):
            if not sys.stdin.isatty():
                raise typer.BadParameter("add --yes to reset without a question")
            typer.confirm(
                f"Forget everything analysed from {footage.path} (id {footage.id})?", abort=True
            )
        report = reset_footage(store, footage, cfg.retention, actor=_actor(actor), dry_run=dry_run)
    if as_json:
        print_json(report)
        return
    verb = "would remove" if dry_run else "removed"
    console.print(
        f"{escape(footage.path)}: {verb} {report.tracklets} tracklets, {report.embeddings} "
        f"faces, {report.encounters} encounters, {report.loose_faces} loose faces, "
        f"{report.files} files, {report.index_vectors} index vectors"
        + ("" if dry_run else "; the next `cctrace ingest` analyses it from the start"),
        highlight=False,
    )
    for error in report.errors:
        err_console.print(f"[yellow]warning:[/yellow] {escape(error)}")


def _add_web_commands() -> None:
    from cctrace.web.cli import serve, users_app

    app.command(help="Start the web app and API on the site's store (see --demo).")(serve)
    app.add_typer(users_app, name="users")


_add_web_commands()


PRIVATE_UMASK = 0o077
"""Every file cctrace writes (database, keys, snapshots, reports, photos) is 0600 and
every folder 0700: derived data of residents is readable by the service account only."""


def main() -> None:
    """Entry point: run the CLI, turning cctrace errors into one clear line and exit 2."""
    os.umask(PRIVATE_UMASK)
    try:
        app()
    except CctraceError as exc:
        # The message may hold brackets (a YAML error, a path): never read it as markup.
        err_console.print(f"[red]error:[/red] {escape(str(exc))}")
        sys.exit(2)


if __name__ == "__main__":
    main()
