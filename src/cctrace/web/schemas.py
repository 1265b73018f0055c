"""Request and response bodies of the API. None of them carries an embedding or a raw
face crop: images are served only by the snapshot routes, redacted and audited."""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import datetime
from typing import Annotated
from urllib.parse import quote

from fastapi import Path as PathParam
from pydantic import BaseModel, ConfigDict, Field

from cctrace.report.formatting import sighting_key, timeline_numbers
from cctrace.store.records import ApprovalRecord, AuditRecord, CaseRecord, Role, UserRecord
from cctrace.tracing.result import (
    ContactSummary,
    EncounterResult,
    LooseFaceResult,
    SightingResult,
    TraceResult,
)


class Body(BaseModel):
    """Strict request body: unknown fields are refused."""

    model_config = ConfigDict(extra="forbid")


class ErrorDetail(BaseModel):
    """What went wrong, in words a person can act on."""

    status: int
    code: str
    message: str


class ErrorOut(BaseModel):
    """The one error body of every route."""

    error: ErrorDetail


class LoginIn(Body):
    """Sign-in credentials."""

    username: str = Field(min_length=1, max_length=128)
    password: str = Field(min_length=1, max_length=1024)


class UserOut(BaseModel):
    """A user as the API shows them (never the password hash)."""

    username: str
    role: Role
    team: str
    active: bool

    @classmethod
    def of(cls, u: UserRecord) -> UserOut:
        """From a store record."""
        return cls(username=u.username, role=u.role, team=u.team, active=u.active)


class SessionOut(BaseModel):
    """A new session: send ``token`` as ``Authorization: Bearer``, or use the cookie and
    send ``csrf_token`` as ``X-CSRF-Token`` on every change."""

    token: str
    csrf_token: str
    expires_at: datetime
    user: UserOut


class CaseIn(Body):
    """A new case."""

    case_id: str = Field(min_length=1, max_length=64, description="Case number")
    legal_basis: str = Field(min_length=3, max_length=10_000)
    window_from: datetime | None = Field(
        None,
        description="Infectious window start: with an offset or Z as given; without one, "
        "local time in the site's time zone (site file `timezone`)",
    )
    window_to: datetime | None = Field(None, description="Infectious window end (as above)")
    notes: str = Field("", max_length=100_000)


class CasePatch(Body):
    """Changes to a case (omitted fields stay)."""

    legal_basis: str | None = Field(None, min_length=3, max_length=10_000)
    window_from: datetime | None = None
    window_to: datetime | None = None
    notes: str | None = Field(None, max_length=100_000)


class CaseOut(BaseModel):
    """A case."""

    case_id: str
    created_at: datetime
    created_by: str
    team: str
    legal_basis: str
    notes: str
    status: str
    window_from: datetime | None
    window_to: datetime | None
    parent_case_id: str | None
    closed_at: datetime | None

    @classmethod
    def of(cls, c: CaseRecord) -> CaseOut:
        """From a store record."""
        return cls(
            case_id=c.id,
            created_at=c.created_at,
            created_by=c.created_by,
            team=c.team,
            legal_basis=c.legal_basis,
            notes=c.notes,
            status=c.status.value,
            window_from=c.window_from,
            window_to=c.window_to,
            parent_case_id=c.parent_case_id,
            closed_at=c.closed_at,
        )


class JobOut(BaseModel):
    """A trace running in the background."""

    job_id: str
    case_id: str
    status: str = Field(description="queued, running, done or failed")
    stage: str
    progress: float = Field(ge=0, le=1)
    error: str | None = None
    created_at: datetime
    finished_at: datetime | None = None


class DecisionIn(Body):
    """A person's decision on a sighting."""

    decision: str = Field(pattern="^(accept|reject|review)$")
    note: str = Field("", max_length=2000)


MAX_DB_ID = 2**63 - 1
"""Largest id a database row can have (signed 64-bit): larger ids are refused at the edge."""
DbId = Annotated[int, PathParam(ge=1, le=MAX_DB_ID, description="A database id")]
"""A row id in a URL path: 1 .. 2**63 - 1, else 422 (not a database overflow)."""


class LinkOut(BaseModel):
    """Why a sighting in another camera is suggested: body appearance and walking time."""

    from_tracklet_id: int
    from_camera_name: str
    from_snapshot_url: str
    direction: str
    gap_s: float
    window_s: tuple[float, float]
    window_source: str
    distance_m: float | None
    body_similarity: float
    case_height_m: float | None = None
    candidate_height_m: float | None = None
    exit_cos: float | None = None
    """How straight the one who left was heading towards the other camera (+1 straight)."""
    entry_cos: float | None = None
    """How straight the one who appeared walked in from the other camera's side."""
    score: float = 0.0
    """The cues' log-likelihood ratios summed (above 0: they favour the same person)."""


def _round2(value: float | None) -> float | None:
    return None if value is None or not math.isfinite(value) else round(value, 2)


class SightingOut(BaseModel):
    """One sighting on the timeline."""

    number: int = Field(
        0,
        description="1-based position among the trace's sightings in time order: the page "
        'names it "Sighting 2 · Plaza west, 12:34:40" (0: not numbered)',
    )
    tracklet_id: int
    camera_id: str
    camera_name: str
    start: datetime
    end: datetime
    seconds: float
    score: float
    status: str
    mask_status: str
    snapshot_url: str | None
    link: LinkOut | None = None

    @classmethod
    def of(
        cls,
        s: SightingResult,
        case_id: str,
        camera_name: str,
        names: Mapping[str, str] | None = None,
        number: int = 0,
    ) -> SightingOut:
        """From a trace result's sighting (``names``: camera id -> name; ``number``: its
        position in the timeline)."""
        link = None
        if s.link is not None:
            link = LinkOut(
                from_tracklet_id=s.link.from_tracklet_id,
                from_camera_name=(names or {}).get(s.link.from_camera_id, s.link.from_camera_id),
                from_snapshot_url=snapshot_url(case_id, s.link.from_tracklet_id),
                direction=s.link.direction,
                gap_s=round(s.link.gap_s, 1),
                window_s=(round(s.link.window_s[0], 1), round(s.link.window_s[1], 1)),
                window_source=s.link.window_source,
                distance_m=None if s.link.distance_m is None else round(s.link.distance_m, 1),
                body_similarity=round(s.link.body_similarity, 3),
                case_height_m=_round2(s.link.case_height_m),
                candidate_height_m=_round2(s.link.candidate_height_m),
                exit_cos=_round2(s.link.exit_cos),
                entry_cos=_round2(s.link.entry_cos),
                score=round(s.link.score, 2),
            )
        return cls(
            number=number,
            tracklet_id=s.tracklet_id,
            camera_id=s.camera_id,
            camera_name=camera_name,
            start=s.start,
            end=s.end,
            seconds=round((s.end - s.start).total_seconds(), 1),
            score=round(s.score, 4),
            status=s.status.value,
            mask_status=s.mask_status.value,
            snapshot_url=snapshot_url(case_id, s.tracklet_id) if s.snapshot_path else None,
            link=link,
        )


def snapshot_url(case_id: str, tracklet_id: int) -> str:
    """The API path of a tracklet's redacted snapshot within a case."""
    return f"/api/cases/{case_id}/snapshots/{tracklet_id}.jpg"


class EncounterOut(BaseModel):
    """One meeting of the case and a contact in one camera."""

    contact_tracklet_id: int
    case_tracklet_id: int
    camera_id: str
    camera_name: str
    start: datetime
    end: datetime
    seconds_within: float
    min_distance_m: float
    min_distance_at: datetime
    case_mask: str
    contact_mask: str
    snapshot_url: str | None

    @classmethod
    def of(cls, e: EncounterResult, case_id: str, camera_name: str) -> EncounterOut:
        """From a trace result's encounter."""
        return cls(
            contact_tracklet_id=e.contact_tracklet_id,
            case_tracklet_id=e.case_tracklet_id,
            camera_id=e.camera_id,
            camera_name=camera_name,
            start=e.start,
            end=e.end,
            seconds_within=round(e.seconds_within, 1),
            min_distance_m=round(e.min_distance_m, 2),
            min_distance_at=e.min_distance_at,
            case_mask=e.case_mask.value,
            contact_mask=e.contact_mask.value,
            snapshot_url=(
                snapshot_url(case_id, e.contact_tracklet_id) if e.snapshot_path else None
            ),
        )


class ContactOut(BaseModel):
    """One contact person, their cumulative time and every encounter."""

    number: int = Field(
        0,
        description="1-based number in this result (contacts.csv's contact_no): the page "
        'names them "Person 3 (Plaza east, 12:34)", camera and local time of their first '
        "encounter (0: not numbered)",
    )
    contact_tracklet_ids: list[int]
    total_seconds_within: float
    min_distance_m: float
    first_seen: datetime
    last_seen: datetime
    contact_mask: str
    is_close_contact: bool
    linked_by: list[str] = []
    """How the tracklets were joined into one person (face, motion continuity, same
    ground path in overlapping cameras); empty for one tracklet."""
    encounters: list[EncounterOut]

    @classmethod
    def of(
        cls, c: ContactSummary, case_id: str, names: dict[str, str], number: int = 0
    ) -> ContactOut:
        """From a trace result's contact summary (``number``: its place in the result)."""
        return cls(
            number=number,
            contact_tracklet_ids=list(c.contact_tracklet_ids),
            total_seconds_within=round(c.total_seconds_within, 1),
            min_distance_m=round(c.min_distance_m, 2),
            first_seen=c.first_seen,
            last_seen=c.last_seen,
            contact_mask=c.contact_mask.value,
            is_close_contact=c.is_close_contact,
            linked_by=list(c.linked_by),
            encounters=[
                EncounterOut.of(e, case_id, names.get(e.camera_id, e.camera_id))
                for e in c.encounters
            ],
        )


class LooseFaceOut(BaseModel):
    """A face seen without a tracked person that matches the case: for review only,
    never a sighting and never attributed to a tracklet."""

    loose_face_id: int
    camera_id: str
    camera_name: str
    timestamp: datetime
    box: tuple[float, float, float, float]
    score: float
    fate: str
    faces_seen: int = 1
    """Matching faces of this camera less than 3 s apart shown as this one row."""
    seen_until: datetime | None = None
    frame_url: str = Field(
        description="The analysed frame nearest that time, every face blurred (frame picker)"
    )

    @classmethod
    def of(cls, f: LooseFaceResult, case_id: str, camera_name: str) -> LooseFaceOut:
        """From a trace result's loose face."""
        camera, at = quote(f.camera_id, safe=""), quote(f.timestamp.isoformat(), safe="")
        return cls(
            loose_face_id=f.loose_face_id,
            camera_id=f.camera_id,
            camera_name=camera_name,
            timestamp=f.timestamp,
            box=(
                round(f.xyxy[0], 1),
                round(f.xyxy[1], 1),
                round(f.xyxy[2], 1),
                round(f.xyxy[3], 1),
            ),
            score=round(f.score, 4),
            faces_seen=f.faces_seen,
            seen_until=f.seen_until,
            fate=f.fate,
            frame_url=f"/api/cases/{case_id}/cameras/{camera}/frame.jpg?at={at}",
        )


class CameraOut(BaseModel):
    """A camera and where it is."""

    camera_id: str
    name: str
    x_m: float | None
    y_m: float | None
    lat: float | None
    lon: float | None


class TraceOut(BaseModel):
    """A case's latest trace: timeline, route, contacts."""

    case_id: str
    created_at: datetime
    actor: str
    distance_m: float
    minutes: float
    window_from: datetime | None
    window_to: datetime | None
    cameras: list[CameraOut]
    timeline: list[SightingOut] = Field(description="Every sighting, in time order")
    route: list[SightingOut] = Field(description="Accepted sightings in time order")
    needs_review: list[SightingOut]
    contacts: list[ContactOut]
    loose_faces: list[LooseFaceOut] = Field(
        default_factory=list,
        description="Faces seen without a tracked person that match the case: needs review, "
        "never sightings",
    )
    notes: list[str]

    @classmethod
    def of(cls, r: TraceResult) -> TraceOut:
        """From a trace result."""
        names = {c.camera_id: c.name for c in r.cameras}
        case_id = r.query.case_id

        numbers = timeline_numbers(r)

        def out(s: SightingResult) -> SightingOut:
            return SightingOut.of(
                s,
                case_id,
                names.get(s.camera_id, s.camera_id),
                names,
                numbers[sighting_key(s)],
            )

        timeline = sorted(r.sightings, key=lambda s: numbers[sighting_key(s)])
        return cls(
            case_id=case_id,
            created_at=r.created_at,
            actor=r.actor,
            distance_m=r.query.distance_m,
            minutes=r.query.minutes,
            window_from=r.query.window_from,
            window_to=r.query.window_to,
            cameras=[
                CameraOut(
                    camera_id=c.camera_id, name=c.name, x_m=c.x_m, y_m=c.y_m, lat=c.lat, lon=c.lon
                )
                for c in r.cameras
            ],
            timeline=[out(s) for s in timeline],
            route=[out(s) for s in r.route],
            needs_review=[out(s) for s in timeline if s.status.value == "needs_review"],
            contacts=[
                ContactOut.of(c, case_id, names, n) for n, c in enumerate(r.contacts, start=1)
            ],
            loose_faces=[
                LooseFaceOut.of(f, case_id, names.get(f.camera_id, f.camera_id))
                for f in r.loose_faces
            ],
            notes=list(r.notes),
        )


class ApprovalIn(Body):
    """A request for an export or an un-blurred view, with the reason."""

    reason: str = Field(min_length=3, max_length=2000)
    tracklet_id: int | None = Field(None, description="For un-blurring: whose face")


class ApprovalDecisionIn(Body):
    """A supervisor's decision."""

    approve: bool


class ApprovalOut(BaseModel):
    """A request and its decision."""

    approval_id: int
    case_id: str
    kind: str
    tracklet_id: int | None
    reason: str
    requested_by: str
    requested_at: datetime
    status: str
    decided_by: str | None
    decided_at: datetime | None
    downloads: list[str] = Field(default_factory=list)

    @classmethod
    def of(cls, a: ApprovalRecord) -> ApprovalOut:
        """From a store record (export downloads listed once approved)."""
        downloads = (
            [f"/api/cases/{a.case_id}/exports/{a.id}/{name}" for name in EXPORT_FILES]
            if a.kind == "export" and a.status == "approved"
            else []
        )
        return cls(
            approval_id=a.id,
            case_id=a.case_id,
            kind=a.kind,
            tracklet_id=a.tracklet_id,
            reason=a.reason,
            requested_by=a.requested_by,
            requested_at=a.requested_at,
            status=a.status,
            decided_by=a.decided_by,
            decided_at=a.decided_at,
            downloads=downloads,
        )


EXPORT_FILES = ("report.pdf", "sightings.csv", "contacts.csv")
"""What an approved export offers."""


class AuditOut(BaseModel):
    """One audit entry."""

    id: int
    timestamp: datetime
    actor: str
    action: str
    case_id: str | None
    query: dict[str, object]
    result: dict[str, object]
    hash: str

    @classmethod
    def of(cls, a: AuditRecord) -> AuditOut:
        """From a store record."""
        return cls(
            id=a.id,
            timestamp=a.timestamp,
            actor=a.actor,
            action=a.action,
            case_id=a.case_id,
            query=a.query,
            result=a.result,
            hash=a.hash,
        )


class AuditVerifyOut(BaseModel):
    """Whether the keyed chain and its checkpoints verify, what was checked, its head."""

    ok: bool
    broken_at: int | None
    head_id: int
    head_hash: str
    entries: int = 0
    keyed_from: int | None = None
    key_id: str = ""
    anchor_path: str = ""
    checkpoints: int = 0
    last_anchored: int | None = None
    problems: list[str] = []
    notes: list[str] = []


class UserIn(Body):
    """A new user."""

    username: str = Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_.@-]+$")
    password: str = Field(min_length=1, max_length=1024)
    role: Role
    team: str = Field("default", min_length=1, max_length=64)


class UserPatch(Body):
    """Changes to a user (omitted fields stay)."""

    role: Role | None = None
    team: str | None = Field(None, min_length=1, max_length=64)
    active: bool | None = None
    password: str | None = Field(None, min_length=1, max_length=1024)


class CameraPatch(Body):
    """Changes to a camera's name or site-plan position."""

    name: str | None = Field(None, min_length=1, max_length=256)
    x_m: float | None = None
    y_m: float | None = None


class FootageProblemOut(BaseModel):
    """A footage file that failed, or whose ingest was interrupted, and why."""

    file: str
    status: str
    """``failed`` or ``interrupted`` (the ingest process is gone; resumable)."""
    reason: str


class AdminCameraOut(CameraOut):
    """A camera with its footage status."""

    footage_files: int
    footage_done: int
    footage_failed: int
    footage_interrupted: int = 0
    problems: list[FootageProblemOut] = []
    """Failed files (also those that could not be registered) and interrupted ones."""


class RetentionOut(BaseModel):
    """Retention settings and the last purge."""

    days: int
    case_evidence_days: int
    purge_interval_hours: float
    last_purge: AuditOut | None


class SecondDegreeOut(BaseModel):
    """A second-degree case opened from a contact, and its trace."""

    case: CaseOut
    job: JobOut


class PickCameraOut(BaseModel):
    """A camera and the span of its ingested footage."""

    camera_id: str
    name: str
    footage_from: datetime
    footage_to: datetime


class PickPersonOut(BaseModel):
    """A tracked person in a frame: their tracklet and box (frame pixels x1, y1, x2, y2)."""

    tracklet_id: int
    box: list[float]
    label_box: list[float] = []
    """Where the frame image shows this person's number (inside their own box)."""


class PickOut(BaseModel):
    """The analysed frame nearest the asked instant and who is in it."""

    camera_id: str
    timestamp: datetime
    frame_url: str
    people: list[PickPersonOut]
