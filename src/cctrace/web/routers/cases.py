"""Cases, traces, review decisions and second-degree traces."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, TypeVar

from fastapi import APIRouter, Depends, File, Form, Request, UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response

from cctrace.errors import NotFoundError, PhotoError, QueryError
from cctrace.localtime import from_local
from cctrace.report.evidence import ExtraDetectors
from cctrace.store.records import CaseStatus, UserRecord
from cctrace.store.repository import Store
from cctrace.tracing.query import embed_photo, read_photo
from cctrace.tracing.service import check_case_id, check_distance
from cctrace.types import SightingStatus

from ..deps import app_state, current_user, get_store, needs
from ..jobs import Job
from ..picker import frame_at, render_pick_frame
from ..roles import Permission
from ..schemas import (
    MAX_DB_ID,
    CaseIn,
    CaseOut,
    CasePatch,
    DbId,
    DecisionIn,
    JobOut,
    PickCameraOut,
    PickOut,
    PickPersonOut,
    SecondDegreeOut,
    TraceOut,
)
from ..services import (
    TraceParams,
    cases_for,
    check_in_window,
    contact_tracklets,
    create_case_for,
    latest_result,
    open_case,
    photo_dir,
    saved_params,
    start_trace,
    visible_case,
)
from ..state import AppState

router = APIRouter(prefix="/api", tags=["cases"])
WindowBody = TypeVar("WindowBody", CaseIn, CasePatch)
User = Annotated[UserRecord, Depends(current_user)]
StoreDep = Annotated[Store, Depends(get_store)]
PHOTO_TYPES = {
    "image/jpeg": ".jpg",
    "image/png": ".png",
    "image/webp": ".webp",
    "image/bmp": ".bmp",
}


def job_out(job: Job) -> JobOut:
    """API view of a job."""
    return JobOut(
        job_id=job.job_id,
        case_id=job.case_id,
        status=job.status,
        stage=job.stage,
        progress=round(job.progress, 3),
        error=job.error,
        created_at=job.created_at,
        finished_at=job.finished_at,
    )


@router.get("/cases", response_model=list[CaseOut])
@needs(Permission.CASE_READ)
def list_cases(user: User, store: StoreDep) -> list[CaseOut]:
    """Your cases (investigator) or your team's (supervisor), newest first."""
    return [CaseOut.of(c) for c in cases_for(store, user)]


@router.post("/cases", response_model=CaseOut, status_code=201)
@needs(Permission.CASE_WRITE)
def create_case(body: CaseIn, request: Request, user: User, store: StoreDep) -> CaseOut:
    """Open a case: a case number, the legal basis, the infectious window (a time without
    an offset is the site's local time), notes.

    Case numbers are unique on the site. A number already in use answers 409 with one
    message whoever holds it (you, a colleague or another team), and is audited."""
    check_case_id(body.case_id)
    body = _local_window(request, body)
    case = create_case_for(
        store,
        user,
        body.case_id,
        body.legal_basis,
        body.notes,
        team=user.team,
        window_from=body.window_from,
        window_to=body.window_to,
        audit_query={
            "legal_basis": body.legal_basis,
            "window_from": _iso(body.window_from),
            "window_to": _iso(body.window_to),
        },
    )
    return CaseOut.of(case)


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


@router.get("/cases/{case_id}", response_model=CaseOut)
@needs(Permission.CASE_READ)
def get_case(case_id: str, user: User, store: StoreDep) -> CaseOut:
    """One case you may see."""
    return CaseOut.of(visible_case(store, user, case_id))


@router.patch("/cases/{case_id}", response_model=CaseOut)
@needs(Permission.CASE_WRITE)
def update_case(
    case_id: str, body: CasePatch, request: Request, user: User, store: StoreDep
) -> CaseOut:
    """Change the legal basis, window or notes of an open case."""
    open_case(store, user, case_id)
    body = _local_window(request, body)
    with store.unit_of_work():
        case = store.cases.update(
            case_id,
            legal_basis=body.legal_basis,
            notes=body.notes,
            window_from=body.window_from,
            window_to=body.window_to,
        )
        store.audit.append(
            user.username,
            "case_update",
            case_id,
            {
                k: v
                for k, v in body.model_dump(mode="json").items()
                if v is not None and k != "notes"
            }
            | ({"notes": "changed"} if body.notes is not None else {}),
            {},
        )
    return CaseOut.of(case)


@router.post("/cases/{case_id}/close", response_model=CaseOut)
@needs(Permission.CASE_WRITE)
def close_case(case_id: str, user: User, store: StoreDep) -> CaseOut:
    """Close a case: no more searches; its evidence is kept for the evidence period."""
    visible_case(store, user, case_id)
    with store.unit_of_work():
        case = store.cases.set_status(case_id, CaseStatus.CLOSED)
        store.audit.append(user.username, "case_close", case_id, {}, {})
    return CaseOut.of(case)


def _check_photo(path: Path, state: AppState) -> None:
    """Decode safely (size limits) and find exactly one face; ``PhotoError`` otherwise."""
    cipher = state.store.cipher
    read_photo(path, cipher)
    embed_photo(path, state.models, cipher)


async def _save_photos(request: Request, case_id: str, photos: list[UploadFile]) -> list[str]:
    state = app_state(request)
    settings = state.settings
    if len(photos) > settings.max_photos:
        raise QueryError(f"at most {settings.max_photos} photos per trace, got {len(photos)}")
    folder = photo_dir(state, case_id)
    saved: list[str] = []
    try:
        for photo in photos:
            saved.append(await _save_photo(state, folder, photo))
    except BaseException:
        for path in saved:  # a failed request keeps no photo of anyone
            Path(path).unlink(missing_ok=True)
        raise
    return saved


async def _save_photo(state: AppState, folder: Path, photo: UploadFile) -> str:
    """Check one uploaded photo (type, size, one face) and keep it; its path."""
    settings = state.settings
    name = photo.filename or "photo"
    if photo.content_type not in PHOTO_TYPES:
        raise PhotoError(
            f"{name}: a {photo.content_type or 'file of unknown type'} is not a photo "
            "(JPEG, PNG, WebP or BMP expected)"
        )
    data = await photo.read(settings.max_upload_bytes + 1)
    if len(data) > settings.max_upload_bytes:
        raise PhotoError(f"{name}: larger than the {settings.max_upload_mb:g} MB upload limit")
    if not data:
        raise PhotoError(f"{name}: the file is empty")
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{uuid.uuid4().hex}{PHOTO_TYPES[photo.content_type]}"
    # A case's photo is a face of a resident: stored encrypted like every face crop.
    path.write_bytes(state.store.cipher.encrypt(data, "photo"))
    try:
        await run_in_threadpool(_check_photo, path, state)
    except BaseException as exc:
        path.unlink(missing_ok=True)
        if isinstance(exc, PhotoError):
            raise PhotoError(str(exc).replace(str(path), name)) from None
        raise
    return str(path)


@router.post("/cases/{case_id}/traces", response_model=JobOut, status_code=202)
@needs(Permission.SEARCH)
async def start_case_trace(
    case_id: str,
    request: Request,
    photos: Annotated[list[UploadFile] | None, File(description="Photos of the case")] = None,
    tracklet_id: Annotated[
        int | None, Form(ge=1, le=MAX_DB_ID, description="Or: a person picked in a frame")
    ] = None,
    distance_m: Annotated[float, Form(gt=0, le=10)] = 2.0,
    minutes: Annotated[float, Form(gt=0, le=24 * 60)] = 15.0,
    window_from: Annotated[datetime | None, Form()] = None,
    window_to: Annotated[datetime | None, Form()] = None,
) -> JobOut:
    """Start a trace from photos and/or a tracklet; poll ``/api/jobs/{job_id}``."""
    state = app_state(request)
    user = current_user(request)
    case = await run_in_threadpool(open_case, state.store, user, case_id)
    check_distance(state.site, distance_m, "distance_m")  # before any photo is read
    if tracklet_id is not None:
        await run_in_threadpool(state.store.tracklets.get, tracklet_id)
    saved = await _save_photos(request, case_id, [p for p in photos or [] if p.filename])
    params = TraceParams(
        photos=tuple(saved),
        tracklet_id=tracklet_id,
        window_from=_local(request, window_from),
        window_to=_local(request, window_to),
        distance_m=distance_m,
        minutes=minutes,
    )
    try:
        return job_out(await run_in_threadpool(start_trace, state, case, params, user.username))
    except BaseException:
        for path in saved:
            Path(path).unlink(missing_ok=True)
        raise


@router.get("/jobs/{job_id}", response_model=JobOut)
@needs(Permission.CASE_READ)
def get_job(job_id: str, request: Request, user: User) -> JobOut:
    """A trace job's stage and progress."""
    state = app_state(request)
    job = state.jobs.get(job_id)
    if job is None:
        raise NotFoundError(f"no trace job {job_id!r} (finished jobs are kept for 30 days)")
    visible_case(state.store, user, job.case_id)
    return job_out(job)


@router.get("/cases/{case_id}/result", response_model=TraceOut)
@needs(Permission.CASE_READ)
def get_result(case_id: str, request: Request, user: User) -> TraceOut:
    """The case's latest trace: timeline, route, contacts (no images, no embeddings)."""
    state = app_state(request)
    visible_case(state.store, user, case_id)
    result = latest_result(state, case_id)
    if result is None:
        raise NotFoundError(f"no trace has been run for case {case_id} yet")
    state.store.audit.append(user.username, "view_case", case_id, {"via": "api"}, {})
    return TraceOut.of(result)


@router.post("/cases/{case_id}/sightings/{tracklet_id}", response_model=JobOut, status_code=202)
@needs(Permission.REVIEW)
def decide_sighting(
    case_id: str, tracklet_id: DbId, body: DecisionIn, request: Request, user: User
) -> JobOut:
    """Confirm or reject a sighting; the trace runs again (confirmed faces become queries,
    rejected sightings never come back)."""
    state = app_state(request)
    case = open_case(state.store, user, case_id)
    known = {s.tracklet_id for s in state.store.sightings.of_case(case_id)}
    if tracklet_id not in known:
        raise NotFoundError(f"tracklet {tracklet_id} is not a sighting of case {case_id}")
    status = {
        "accept": SightingStatus.ACCEPTED,
        "reject": SightingStatus.REJECTED,
        "review": SightingStatus.NEEDS_REVIEW,
    }[body.decision]
    with state.store.unit_of_work():
        state.store.sightings.decide(case_id, tracklet_id, status, user.username)
        state.store.audit.append(
            user.username,
            "sighting_decision",
            case_id,
            {"tracklet_id": tracklet_id, "decision": body.decision, "note": body.note},
            {},
        )
    params = saved_params(state, case_id) or TraceParams(tracklet_id=tracklet_id)
    return job_out(start_trace(state, case, params, user.username))


@router.post(
    "/cases/{case_id}/contacts/{tracklet_id}/trace",
    response_model=SecondDegreeOut,
    status_code=202,
)
@needs(Permission.SEARCH)
def second_degree(case_id: str, tracklet_id: DbId, request: Request, user: User) -> SecondDegreeOut:
    """Open a linked case for a contact and trace them (second degree)."""
    state = app_state(request)
    parent = open_case(state.store, user, case_id)
    result = latest_result(state, case_id)
    if tracklet_id not in contact_tracklets(result):
        raise NotFoundError(f"tracklet {tracklet_id} is not a contact of case {case_id}")
    child_id = f"{case_id[:48]}-C{tracklet_id}"
    try:
        child = open_case(state.store, user, child_id)
        if child.parent_case_id != case_id:
            raise QueryError(f"case {child_id} exists but is not a second-degree case of {case_id}")
    except NotFoundError:
        child = create_case_for(
            state.store,
            user,
            child_id,
            f"second-degree trace from case {case_id}: {parent.legal_basis}"[:10_000],
            f"Contact (tracklet {tracklet_id}) of case {case_id}.",
            team=parent.team,
            window_from=parent.window_from,
            window_to=parent.window_to,
            parent_case_id=case_id,
            audit_query={"parent_case_id": case_id, "contact_tracklet_id": tracklet_id},
        )
    base = saved_params(state, case_id)
    params = TraceParams(
        tracklet_id=tracklet_id,
        distance_m=base.distance_m if base else state.site.trace.distance_m,
        minutes=base.minutes if base else state.site.trace.minutes,
    )
    job = start_trace(state, child, params, user.username)
    return SecondDegreeOut(case=CaseOut.of(child), job=job_out(job))


@router.get("/cases/{case_id}/cameras", response_model=list[PickCameraOut])
@needs(Permission.SEARCH)
def case_cameras(case_id: str, user: User, store: StoreDep) -> list[PickCameraOut]:
    """Cameras and the time their ingested footage covers (to pick a person in a frame)."""
    open_case(store, user, case_id)
    out = []
    for cam in store.cameras.all():
        files = store.footage.files(cam.id)
        if not files:
            continue
        out.append(
            PickCameraOut(
                camera_id=cam.id,
                name=cam.name,
                footage_from=min(f.start_time for f in files),
                footage_to=max(f.start_time + timedelta(seconds=f.duration_s) for f in files),
            )
        )
    return out


@router.get("/cases/{case_id}/cameras/{camera_id}/people", response_model=PickOut)
@needs(Permission.SEARCH)
def pick_people(
    case_id: str, camera_id: str, at: datetime, request: Request, user: User, store: StoreDep
) -> PickOut:
    """The tracked people in the analysed frame of a camera nearest ``at`` (without an
    offset: the site's local time). Audited."""
    case = open_case(store, user, case_id)
    at = _at(request, at)
    check_in_window(case, at, at, app_state(request).site.zone())
    pick = frame_at(store, camera_id, _aware(at))
    store.audit.append(
        user.username,
        "view_frame_people",
        case_id,
        {"camera_id": camera_id, "at": pick.timestamp.isoformat()},
        {"people": len(pick.people)},
    )
    return PickOut(
        camera_id=camera_id,
        timestamp=pick.timestamp,
        frame_url=f"/api/cases/{case_id}/cameras/{camera_id}/frame.jpg?at={pick.timestamp.isoformat()}".replace(
            "+", "%2B"
        ),
        people=[
            PickPersonOut(
                tracklet_id=lab.tracklet_id, box=list(lab.box), label_box=list(lab.label_xyxy)
            )
            for lab in pick.labels()
        ],
    )


@router.get(
    "/cases/{case_id}/cameras/{camera_id}/frame.jpg",
    response_class=Response,
    responses={200: {"content": {"image/jpeg": {}}}},
)
@needs(Permission.SEARCH)
def pick_frame(
    case_id: str, camera_id: str, at: datetime, request: Request, user: User
) -> Response:
    """That frame as JPEG: every head blurred, each tracked person numbered. Audited."""
    state = app_state(request)
    at = _at(request, at)
    case = open_case(state.store, user, case_id)
    check_in_window(case, at, at, app_state(request).site.zone())
    pick = frame_at(state.store, camera_id, _aware(at))
    data = render_pick_frame(pick, ExtraDetectors.from_models(state.models))
    state.store.audit.append(
        user.username,
        "view_frame",
        case_id,
        {"camera_id": camera_id, "at": pick.timestamp.isoformat()},
        {"people": len(pick.people)},
    )
    return Response(data, media_type="image/jpeg", headers={"Cache-Control": "no-store"})


def _aware(at: datetime) -> datetime:
    return at if at.tzinfo else at.replace(tzinfo=UTC)


def _at(request: Request, at: datetime) -> datetime:
    """A typed instant: without an offset it is the site's local time."""
    return from_local(at, app_state(request).site.zone())


def _local(request: Request, value: datetime | None) -> datetime | None:
    return None if value is None else _at(request, value)


def _local_window(request: Request, body: WindowBody) -> WindowBody:
    """``body`` with its infectious window read in the site's zone (see cctrace.localtime)."""
    return body.model_copy(
        update={
            "window_from": _local(request, body.window_from),
            "window_to": _local(request, body.window_to),
        }
    )
