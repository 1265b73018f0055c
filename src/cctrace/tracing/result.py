"""What a trace returns: ranked sightings, the route and close contacts.

These are plain frozen records (no embeddings, no raw crops) that reports, the
CLI and the API render.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from cctrace.types import MaskStatus, SightingStatus


@dataclass(frozen=True)
class CameraInfo:
    """A camera as a report shows it."""

    camera_id: str
    name: str
    x_m: float | None
    """Site-plan position in metres (None when only lat/lon is known)."""
    y_m: float | None
    lat: float | None
    lon: float | None


@dataclass(frozen=True)
class PathPoint:
    """A person's ground position at an instant, in site metres."""

    timestamp: datetime
    x_m: float
    y_m: float


@dataclass(frozen=True)
class CameraLinkEvidence:
    """Why a sighting in another camera is suggested: the evidence an investigator sees."""

    from_tracklet_id: int
    """The accepted sighting it continues (or precedes)."""
    from_camera_id: str
    direction: Literal["after", "before"]
    """``after``: appeared here after the case left ``from_camera_id``; ``before``: left
    here before the case appeared there."""
    gap_s: float
    """Seconds between leaving one view and appearing in the other."""
    window_s: tuple[float, float]
    """The plausible walking time between the two cameras."""
    window_source: str
    """Where the window came from: configured, positions or learned."""
    distance_m: float | None
    """Straight-line distance between the cameras, when their positions are known."""
    body_similarity: float
    """Cosine of the two tracklets' body appearance embeddings."""
    case_height_m: float | None = None
    """Median height of the person in the sighting it continues (calibrated camera)."""
    candidate_height_m: float | None = None
    """Median height of the candidate (calibrated camera)."""
    exit_cos: float | None = None
    """How straight the one who left was heading towards the other camera's view:
    cosine, +1 straight there, -1 straight away (None: unknown or standing)."""
    entry_cos: float | None = None
    """How straight the one who appeared walked in from the other camera's side: cosine."""
    score: float = 0.0
    """The ranking score: the sum of the cues' log-likelihood ratios
    (:func:`cctrace.tracing.cross_camera.link_score`); above 0 the cues favour the
    same person."""


@dataclass(frozen=True)
class SightingResult:
    """One tracklet matched to the case."""

    tracklet_id: int
    camera_id: str
    start: datetime
    end: datetime
    score: float
    """Best cosine similarity between a query face and the tracklet's faces; for a
    sighting suggested from another camera (``link``), its body-appearance cosine."""
    status: SightingStatus
    mask_status: MaskStatus
    snapshot_path: str | None
    path: tuple[PathPoint, ...] = ()
    """Ground path in site metres (camera-local ground mapped to the site plan)."""
    link: CameraLinkEvidence | None = None
    """Set when the sighting was suggested by body appearance and travel time from an
    accepted sighting in a neighbouring camera: the evidence to review."""


@dataclass(frozen=True)
class LooseFaceResult:
    """A face seen without a tracked person that matches the case: "face seen at camera
    X, time T, box B, score S". Always for review: never a sighting, never on the route,
    never attributed to a tracklet or a person."""

    loose_face_id: int
    camera_id: str
    timestamp: datetime
    frame_index: int
    xyxy: tuple[float, float, float, float]
    """Face box in the camera frame, pixels."""
    score: float
    """Best cosine similarity between a query face and this face."""
    fate: str
    """Why no tracked person holds it: ``ambiguous`` (near several people's heads) or
    ``no_person`` (nobody tracked there)."""
    faces_seen: int = 1
    """Matching loose faces of the same camera within a few seconds of each other, shown
    as this one row (this is the best of them)."""
    seen_until: datetime | None = None
    """The last of those faces' time (None when it is the only one)."""


@dataclass(frozen=True)
class EncounterResult:
    """One encounter of the case with a contact, in one camera, as a trace result holds it
    (from the stored :class:`~cctrace.store.records.EncounterRecord` of the case's side,
    with both people's mask status and the contact's snapshot)."""

    contact_tracklet_id: int
    case_tracklet_id: int
    camera_id: str
    start: datetime
    end: datetime
    seconds_within: float
    """Seconds within the query distance."""
    min_distance_m: float
    min_distance_at: datetime
    case_mask: MaskStatus
    contact_mask: MaskStatus
    snapshot_path: str | None
    seconds_by_band: dict[float, float] = field(default_factory=dict)
    """All stored bands (metres -> seconds), for the report's detail columns."""


@dataclass(frozen=True)
class ContactSummary:
    """One contact person over all their encounters with the case (cumulative time)."""

    contact_tracklet_ids: tuple[int, ...]
    total_seconds_within: float
    min_distance_m: float
    first_seen: datetime
    last_seen: datetime
    contact_mask: MaskStatus
    is_close_contact: bool
    """True when cumulative time within the distance passes the minutes threshold."""
    encounters: tuple[EncounterResult, ...]
    linked_by: tuple[str, ...] = ()
    """How this person's tracklets were joined into one (``face``, ``motion
    continuity``, ``same ground path in overlapping cameras``); empty for one tracklet
    or tracklets joined by nothing. Times of joined tracklets are added together."""


@dataclass(frozen=True)
class TraceQuery:
    """What the investigator asked."""

    case_id: str
    photos: tuple[str, ...]
    start_tracklet_id: int | None
    window_from: datetime | None
    window_to: datetime | None
    distance_m: float
    minutes: float
    accept_threshold: float
    review_threshold: float


@dataclass(frozen=True)
class TraceResult:
    """Everything a trace found, ready to report."""

    query: TraceQuery
    created_at: datetime
    actor: str
    cameras: tuple[CameraInfo, ...]
    sightings: tuple[SightingResult, ...]
    """All hits at or above the review threshold, best score first."""
    contacts: tuple[ContactSummary, ...]
    """Close contacts and near-contacts, longest cumulative time first."""
    notes: tuple[str, ...] = ()
    """Caveats shown to the reader (e.g. a camera without calibration)."""
    loose_faces: tuple[LooseFaceResult, ...] = ()
    """Faces seen without a tracked person that match the case at or above the review
    threshold, best score first: a separate list for review, never sightings."""

    @property
    def route(self) -> tuple[SightingResult, ...]:
        """Accepted sightings in time order."""
        accepted = [s for s in self.sightings if s.status == SightingStatus.ACCEPTED]
        return tuple(sorted(accepted, key=lambda s: s.start))
