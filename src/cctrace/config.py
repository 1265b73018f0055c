"""Site configuration: cameras, calibration, ingest, models, trace thresholds, retention.

A site is one YAML file (see ``examples/site.yaml``). It is validated strictly:
unknown keys, bad homographies and missing footage are errors that name the
file and line. Relative paths are resolved against the YAML file's folder.
"""

from __future__ import annotations

import importlib.util
import math
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    PlainValidator,
    ValidationError,
    ValidationInfo,
    WithJsonSchema,
    field_validator,
    model_validator,
)
from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

from cctrace.errors import ConfigError
from cctrace.footage.urls import StreamUrl, is_stream_url
from cctrace.geometry import GroundCalibration
from cctrace.localtime import check_zone_name, site_zone_name, zone
from cctrace.plans.model import MapTilesConfig, SitePlanConfig

_SAFE_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")
RAY_ADDRESS = re.compile(r"auto|local|(ray://)?[A-Za-z0-9_.\[\]:-]{1,253}:[0-9]{1,5}")
"""A Ray cluster address: ``auto``, ``local``, ``host:port`` or ``ray://host:port``."""

EARLIEST_FOOTAGE = datetime(1990, 1, 1, tzinfo=UTC)
"""Footage start times before this (or after tomorrow) are typing errors."""
MAX_CONFIG_VALUES = 100_000
"""A site file expanding to more values than this is refused (a YAML alias bomb)."""


class Strict(BaseModel):
    """Base for config models: unknown keys are errors, models are immutable, and numbers
    must be finite (``.inf`` and ``.nan`` are refused). Errors never repeat the input
    (a stream URL in it may hold a password)."""

    model_config = ConfigDict(
        extra="forbid", frozen=True, allow_inf_nan=False, hide_input_in_errors=True
    )


class SitePosition(Strict):
    """Where a camera is: site-plan metres and/or WGS84 lat/lon."""

    x_m: float | None = Field(None, description="East on the site plan, metres")
    y_m: float | None = Field(None, description="North on the site plan, metres")
    lat: float | None = Field(None, ge=-90, le=90, description="Latitude, degrees")
    lon: float | None = Field(None, ge=-180, le=180, description="Longitude, degrees")

    @model_validator(mode="after")
    def _needs_one(self) -> SitePosition:
        has_xy = self.x_m is not None and self.y_m is not None
        has_ll = self.lat is not None and self.lon is not None
        if not (has_xy or has_ll):
            raise ValueError("give x_m and y_m (site metres) or lat and lon")
        return self


class PlanPlacement(Strict):
    """How a camera's ground frame sits on the site plan (rotate, then shift)."""

    x_m: float = Field(0.0, description="Shift east, metres")
    y_m: float = Field(0.0, description="Shift north, metres")
    rotation_deg: float = Field(0.0, ge=-360, le=360, description="Counter-clockwise rotation")


class Calibration(Strict):
    """Ground-plane calibration: >= 4 image-point to ground-point pairs."""

    points: list[Annotated[list[float], Field(min_length=4, max_length=4)]] = Field(
        ..., description="Rows [u_px, v_px, x_m, y_m]: a pixel and where it lies on the ground"
    )
    placement: PlanPlacement = Field(
        default_factory=PlanPlacement, description="Placement of this ground frame on the plan"
    )
    principal_point_px: Annotated[list[float], Field(min_length=2, max_length=2)] | None = Field(
        None,
        description="The image's optical centre [u_px, v_px] (usually the frame's centre; "
        "for a view cropped from a larger one, that camera's centre minus the crop's "
        "offset); with it, people's heights in metres (about 2% exact) are shown as "
        "evidence for links between cameras",
    )

    @field_validator("principal_point_px")
    @classmethod
    def _finite_centre(cls, value: list[float] | None) -> list[float] | None:
        if value is not None and not all(math.isfinite(v) for v in value):
            raise ValueError(f"principal_point_px must be two finite pixels, got {value}")
        return value

    @field_validator("points")
    @classmethod
    def _fits(cls, rows: list[list[float]]) -> list[list[float]]:
        try:
            GroundCalibration.fit([r[:2] for r in rows], [r[2:] for r in rows])
        except ConfigError as exc:  # pydantic reports ValueErrors with their location
            raise ValueError(str(exc)) from exc
        return rows

    def homography(self) -> GroundCalibration:
        """The fitted image-to-ground homography."""
        return GroundCalibration.fit([r[:2] for r in self.points], [r[2:] for r in self.points])


class CameraLink(Strict):
    """A neighbouring camera a person can walk to, and how long that typically takes."""

    to: str = Field(..., pattern=r"^[A-Za-z0-9_.-]{1,64}$", description="The other camera's id")
    walk_s: Annotated[list[float], Field(min_length=2, max_length=2)] = Field(
        ...,
        description="[shortest, longest] plausible seconds from leaving this camera's view "
        "to appearing in the other's (0 for overlapping views)",
    )

    @field_validator("walk_s")
    @classmethod
    def _ordered(cls, value: list[float]) -> list[float]:
        low, high = value
        if not (math.isfinite(low) and math.isfinite(high)) or low < 0 or high < low:
            raise ValueError(f"walk_s must be [low, high] with 0 <= low <= high, got {value}")
        if high > 24 * 3600:
            raise ValueError(f"walk_s longer than a day ({high} s) is not a neighbour")
        return value


def _stream_url(value: Any) -> StreamUrl:
    if isinstance(value, StreamUrl):
        return value
    if not isinstance(value, str):
        raise ValueError(f"a stream URL must be text, got {type(value).__name__}")
    return StreamUrl(value)


LiveStreamUrl = Annotated[
    StreamUrl,
    PlainValidator(_stream_url),
    PlainSerializer(lambda url: url.masked, return_type=str),
    WithJsonSchema({"type": "string", "format": "uri"}),
]
"""A live stream address (``rtsp://``, ``rtsps://``, ``http(s)://``); shown masked."""


class CameraConfig(Strict):
    """One camera: identity, place, footage and calibration.

    ``footage`` entries that are URLs (``rtsp://``, ``rtsps://``, ``http(s)://...m3u8``)
    are live streams: they are moved to ``streams`` when the file is read, so
    ``footage`` holds only files, folders and patterns (see :mod:`cctrace.footage.urls`).
    """

    id: str = Field(..., pattern=r"^[A-Za-z0-9_.-]{1,64}$", description="Stable camera id")
    name: str = Field("", max_length=200, description="Human-readable name")
    location: SitePosition
    streams: list[LiveStreamUrl] = Field(
        default_factory=list,
        max_length=1,
        description="Live stream of this camera (from footage entries that are URLs); "
        "credentials in it are never shown",
    )
    # After ``streams``: its validator sees whether the camera has a stream.
    footage: list[Path] = Field(
        default_factory=list,
        description="Files, folders or glob patterns; URLs (rtsp://, rtsps://, http(s)://) "
        "are live streams (moved to streams)",
    )
    rtsp_listen: bool = Field(
        False,
        description="Wait for the camera to push its RTSP stream to the streams address "
        "(FFmpeg rtsp_flags=listen) instead of pulling from it",
    )
    decode: Literal["all", "keyframes"] = Field(
        "all",
        description="Which frames of the footage files are decoded: all (sampled at "
        "ingest.analysis_fps, non-reference frames skipped when the rate allows) or "
        "keyframes (I-frames only: analysed at most at the key-frame rate, far cheaper)",
    )
    video_stream: Literal["main", "sub"] = Field(
        "main",
        description="Which video stream of files that hold several: main (the first) or "
        "sub (the lowest-resolution one, an NVR's sub-stream); calibration points are in "
        "the pixels of the stream analysed",
    )
    start_time: datetime | None = Field(
        None, description="UTC start of the footage; else taken from file names or metadata"
    )
    source_fps: float | None = Field(
        None, gt=0, le=240, description="True capture rate when the container's rate is wrong"
    )
    timezone: str = Field(
        "UTC",
        description="Time zone of times written in file names (IANA name, e.g. Asia/Seoul)",
    )
    links: list[CameraLink] = Field(
        default_factory=list,
        description="Neighbouring cameras and walking times to them (the camera graph); "
        "links hold both ways. Without links, neighbours and times follow from the "
        "cameras' site-plan positions (see cctrace.tracing.camera_graph)",
    )
    calibration: Calibration | None = Field(
        None, description="Ground-plane calibration; without it distances are estimated"
    )

    @model_validator(mode="before")
    @classmethod
    def _split_streams(cls, data: Any) -> Any:
        """Move URL entries of ``footage`` to ``streams`` (a path would mangle them)."""
        if not isinstance(data, dict) or "footage" not in data:
            return data
        footage = data["footage"]
        entries = footage if isinstance(footage, list) else [footage]
        urls = [e for e in entries if is_stream_url(e)]
        if not urls and isinstance(footage, list):
            return data
        out = dict(data)
        out["footage"] = [e for e in entries if not is_stream_url(e)]
        out["streams"] = list(out.get("streams") or []) + [u.strip() for u in urls]
        return out

    @field_validator("footage")
    @classmethod
    def _footage_given(cls, value: list[Path], info: ValidationInfo) -> list[Path]:
        """An empty list is reported at ``footage`` itself (its line in the site file)."""
        if not value and not info.data.get("streams"):
            raise ValueError("give at least one file, folder, pattern or stream URL")
        return value

    @model_validator(mode="after")
    def _has_footage(self) -> CameraConfig:
        if not self.footage and not self.streams:
            raise ValueError("footage: give at least one file, folder, pattern or stream URL")
        if self.rtsp_listen and not any(u.scheme.startswith("rtsp") for u in self.streams):
            raise ValueError("rtsp_listen needs an rtsp:// stream URL in footage")
        return self

    @property
    def is_live(self) -> bool:
        """True when the camera has a live stream."""
        return bool(self.streams)

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        return check_zone_name(value)

    @field_validator("start_time")
    @classmethod
    def _utc(cls, value: datetime | None) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("start_time needs a time zone, e.g. 2026-03-15T08:00:00Z")
        value = value.astimezone(UTC)
        latest = datetime.now(UTC) + timedelta(days=1)
        if not EARLIEST_FOOTAGE <= value <= latest:
            raise ValueError(
                f"start_time {value.isoformat()} is not a plausible recording time "
                f"(between {EARLIEST_FOOTAGE.year} and tomorrow)"
            )
        return value


class ModelChoice(Strict):
    """A model picked by ``type`` from the registry, with its parameters."""

    type: str
    params: dict[str, Any] = Field(default_factory=dict)


class ModelsConfig(Strict):
    """Which model runs each stage."""

    person_detector: ModelChoice = Field(
        ModelChoice(
            type="yolov3-tiny-int8",
            # YOLOv3-tiny converted to ONNX and quantised to int8 (bench/person_detector.py:
            # same recall/precision as OpenCV's Darknet loader within 0.3 points, 3x faster).
            # Two side-by-side tiles find far, small people (PETS S2L1 recall 0.80 -> 0.88);
            # a looser NMS keeps people walking shoulder to shoulder apart. A whole-frame
            # pass at 320 px, kept for boxes >= 35 % of the frame height, finds near-camera
            # people that each tile sees only half of (cctrace.vision.tiled).
            params={
                "tiles": [2, 1],
                "tile_full_frame": True,
                "full_frame_size": 320,
                "full_frame_min_height": 0.35,
                # ...only on frames where a tile box is >= 30 % of the frame height (a
                # person the whole-frame pass would keep, >= 35 %, shows at least that
                # much in some tile) or the tiles found nobody: the same boxes as running
                # it always on PETS S2L1, S3-MF1 and the zoomed clips, at the tiles' own
                # cost on PETS (32.1 vs 32.3 ms; always: 43.8; bench/person_detector.py
                # --bands).
                "full_frame_trigger": 0.3,
                # The whole frame also at 416x320, the two passes' boxes fused: big people
                # are boxed better (zoomed PETS clips, people >= 150 px: recall 0.847 ->
                # 0.868 with the "one behind the other" rule of cctrace.vision.tiled,
                # precision 0.91 -> 0.93), at the cost of one more pass on the frames where
                # the whole-frame pass runs at all (none on PETS S2L1).
                "full_frame_fuse_size": 416,
                "nms_threshold": 0.6,
            },
        ),
        description="Person detector type and params: yolov3-tiny-int8 (default, MIT), "
        "yolov3-tiny-onnx, yolov3-tiny; onnx-yolo (a YOLOv5/v8-style ONNX of your own: "
        "params path, sha256, input_size, person_class; see cctrace.vision.onnx_yolo); "
        "yolov8n-agpl (opt-in, AGPL-3.0 WEIGHTS: installed only by "
        "`bash scripts/setup.sh --agpl-detector`, never by default)",
    )
    face_detector: ModelChoice = ModelChoice(type="yunet")
    face_embedder: ModelChoice = ModelChoice(type="sface")
    mask_classifier: ModelChoice = ModelChoice(type="mobilenetv2-head")
    body_embedder: ModelChoice = ModelChoice(
        # Clothing colour by body part, no learned weights (bench/body_reid.py); a site
        # with a re-ID network of its own sets type onnx-reid with params path and sha256.
        type="part-colour"
    )

    @field_validator(
        "person_detector", "face_detector", "face_embedder", "mask_classifier", "body_embedder"
    )
    @classmethod
    def _known_model(cls, choice: ModelChoice, info: ValidationInfo) -> ModelChoice:
        check_model_choice(str(info.field_name), choice)
        return choice


def check_model_choice(stage: str, choice: ModelChoice) -> None:
    """``ValueError`` naming the problem when ``choice`` names no registered model of
    ``stage`` or its params do not fit the adapter: the adapter is built through the
    registry's factory (``cctrace.vision.build_<stage>``), which loads no weights."""
    from cctrace import vision

    build = getattr(vision, f"build_{stage}")
    build(choice.type, **choice.params)


class IngestConfig(Strict):
    """How footage is analysed."""

    analysis_fps: float = Field(7.0, gt=0, le=60, description="Frames analysed per second")
    face_every_n_frames: int = Field(
        2, ge=1, le=100, description="Look for faces on every n-th analysed frame"
    )
    face_full_frame_every: int = Field(
        7,
        ge=0,
        le=1000,
        description="Search the whole frame for faces every n-th analysed frame (0 = never; "
        "other frames search only head regions of people)",
    )
    face_search_backoff: bool = Field(
        True,
        description="Search a head region that gave no face several times in a row less "
        "often (up to every 4th head-search frame) until it grows or a face is found "
        "(cctrace.ingest.face_backoff)",
    )
    min_face_px: int = Field(16, ge=8, le=512, description="Smallest face width kept")
    keep_face_crops: bool = Field(
        False,
        description="Also store each tracklet's best aligned face crops as JPEG files "
        "(unredacted faces of everyone seen; off by default, embeddings suffice to search)",
    )
    faces_per_tracklet: int = Field(5, ge=1, le=50, description="Best face crops kept per track")
    min_track_points: int = Field(3, ge=1, description="Shorter tracks are dropped as noise")
    tracker: Literal["bytetrack"] = Field(
        "bytetrack",
        description="ByteTrack (cctrace's own, cctrace.tracking.bytetrack); at ingest lost "
        "tracks are joined to the tracks that continue them, gaps filled and boxes smoothed: "
        "PETS S2L1 MOTA 0.875, IDF1 0.838 (SORT, since removed, with the same clean-up: "
        "0.825, 0.666; see cctrace.evaluation.mot)",
    )
    max_tracklet_s: float = Field(
        600.0, ge=10, description="Longer tracks are cut into tracklets of this length"
    )
    checkpoint_seconds: float = Field(
        30.0, gt=0, description="Footage seconds between crash-safe checkpoints"
    )
    workers: int = Field(0, ge=0, le=256, description="Worker processes; 0 = one per core")
    engine: Literal["local", "ray"] = Field(
        "local",
        description="Where files are analysed: local worker processes, or one Ray task per "
        "footage file on a Ray cluster (needs cctrace[cluster]; see cctrace.cluster)",
    )
    ray_address: str | None = Field(
        None,
        description="engine ray: the cluster to join: 'auto' (the cluster started on this "
        "machine with `ray start`), 'local' (start a private one-machine Ray), or the head's "
        "host:port or ray://host:port",
    )
    ray_max_retries: int = Field(
        3,
        ge=0,
        le=100,
        description="engine ray: times Ray runs a file's task again when its worker or node "
        "dies (it resumes from the file's last checkpoint)",
    )
    live_segment_s: float = Field(
        60.0,
        ge=1,
        le=3600,
        description="Live cameras: stream seconds per committed segment (a footage row); "
        "a trace sees a live camera's finished tracks at most this much later",
    )
    live_timeout_s: float = Field(
        10.0,
        gt=0,
        le=300,
        description="Live cameras: a stream that gives nothing for this long (connecting or "
        "reading) is lost and reconnected",
    )
    live_backoff_max_s: float = Field(
        30.0,
        gt=0,
        le=3600,
        description="Live cameras: longest wait between reconnection attempts (the wait "
        "doubles from 0.5 s up to this, with random jitter)",
    )
    distance_bands_m: tuple[float, float, float] = Field(
        (1.0, 2.0, 3.0),
        description="Distance bands (metres, increasing) whose seconds are measured at ingest",
    )

    @field_validator("tracker", mode="before")
    @classmethod
    def _tracker(cls, value: object) -> object:
        if value in ("ocsort", "sort"):  # cctrace.tracking.tracker.REMOVED_TRACKER_TYPES
            raise ValueError(
                f"tracker {value!r} was removed with the `trackers` library; cctrace has its "
                "own ByteTrack: set tracker: bytetrack (or leave it out)"
            )
        return value

    @field_validator("ray_address")
    @classmethod
    def _ray_address(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is None:
            return None
        if info.data.get("engine") != "ray":
            raise ValueError("ray_address is set but engine is not 'ray' (add engine: ray)")
        if not RAY_ADDRESS.fullmatch(value):
            raise ValueError(
                f"expected 'auto', 'local', host:port or ray://host:port, got {value[:80]!r}"
            )
        return value

    @field_validator("distance_bands_m")
    @classmethod
    def _increasing_bands(cls, value: tuple[float, float, float]) -> tuple[float, float, float]:
        if not all(0 < b <= 20 for b in value) or list(value) != sorted(set(value)):
            raise ValueError(
                f"distance bands must be increasing distances in (0, 20] m, got {list(value)}"
            )
        return value

    max_gap_s: float = Field(
        1.5, gt=0, le=10, description="Detection drop-outs up to this long are interpolated"
    )
    smoothing_s: float = Field(
        0.6, ge=0, le=10, description="Moving-average window for ground positions, seconds"
    )
    occlusion_gap_s: float = Field(
        15.0,
        ge=0,
        le=60,
        description="A person lost behind another and found again beside them within this "
        "many seconds is joined and their hidden path filled; 0 turns it off",
    )
    appearance_weight: float = Field(
        0.0,
        ge=0,
        le=5,
        description="ByteTrack only: rank box matches by overlap minus this times their "
        "colour distance (part-wise HSV histograms); 0 = boxes only. At 1.0: PETS S3-MF1 "
        "(people running and crossing) MOTA 0.858 -> 0.900, IDF1 0.908 -> 0.940, but PETS "
        "S2L1 IDF1 0.843 -> 0.832, so it is off by default",
    )


class RuntimeConfig(Strict):
    """Where the models run (see :mod:`cctrace.vision.runtime`)."""

    device: Literal["auto", "cpu", "cuda"] = Field(
        "auto",
        description="auto: onnxruntime's CUDA provider when present (onnxruntime-gpu and an "
        "NVIDIA GPU), else the CPU; cpu; cuda: the GPU or an error at validate/ingest time. "
        "$CCTRACE_DEVICE overrides it",
    )
    device_id: int = Field(0, ge=0, le=63, description="Which GPU, when there are several")


class TraceConfig(Strict):
    """Default trace thresholds (each can be overridden per query)."""

    accept_threshold: float = Field(
        0.50, ge=-1, le=1, description="Cosine similarity at or above which a hit is accepted"
    )
    review_threshold: float = Field(
        0.363, ge=-1, le=1, description="Hits between this and accept need human review"
    )
    distance_m: float = Field(2.0, gt=0, le=10, description="Close-contact distance, metres")
    minutes: float = Field(15.0, ge=0, description="Cumulative minutes within distance in 24 h")
    top_k: int = Field(200, ge=1, le=100_000, description="Face hits considered per query")

    @model_validator(mode="after")
    def _ordered(self) -> TraceConfig:
        if self.review_threshold > self.accept_threshold:
            raise ValueError("review_threshold must not exceed accept_threshold")
        return self


class IndexConfig(Strict):
    """Which face index a trace searches (``storage.index``)."""

    type: Literal["exact", "ivf"] = Field(
        "exact",
        description="exact: brute-force search of every face (exact scores; p95 < 0.1 s up "
        "to ~1M faces on 2 cores). ivf: approximate FAISS IVF-SQ8, one shard per day (and "
        "district), for city-scale sites (millions of faces a day); needs the 'city' extra "
        "(pip install 'cctrace[city]'); see bench/results/vector_index.md",
    )
    nprobe: int = Field(
        512,
        ge=1,
        le=65_536,
        description="ivf only: inverted lists scanned per query in each shard (more: higher "
        "recall, slower). A shard has ~sqrt(faces) lists (4,096 for a city-day of 2e7 "
        "faces: 512 gave recall@10 0.97, p95 0.39 s for 10 traces at once on 2 cores)",
    )
    districts: dict[str, list[str]] = Field(
        default_factory=dict,
        description="ivf only: district name -> camera ids; each district gets its own "
        "shards, so a camera-set search skips other districts",
    )

    @field_validator("districts")
    @classmethod
    def _district_names(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        seen: dict[str, str] = {}
        for name, cams in value.items():
            if not _SAFE_NAME.fullmatch(name):
                raise ValueError(f"district name {name!r}: expected letters, digits, _ or -")
            for cam in cams:
                if cam in seen:
                    raise ValueError(f"camera {cam!r} is in districts {seen[cam]!r} and {name!r}")
                seen[cam] = name
        return value

    @field_validator("type")
    @classmethod
    def _engine_installed(cls, value: str) -> str:
        if value == "ivf" and importlib.util.find_spec("faiss") is None:
            raise ValueError("storage.index.type 'ivf' needs FAISS: pip install 'cctrace[city]'")
        return value

    def camera_districts(self) -> dict[str, str]:
        """Camera id -> district name."""
        return {cam: name for name, cams in self.districts.items() for cam in cams}


class PoolConfig(Strict):
    """Database connection pool of each process (``storage.pool``; PostgreSQL only:
    SQLite opens a connection per use)."""

    size: int = Field(
        5,
        ge=1,
        le=200,
        description="Connections each process keeps open (each web worker, ingest worker "
        "and Ray task is a process: size x processes must stay under the server's "
        "max_connections, 100 by default)",
    )
    max_overflow: int = Field(
        5, ge=0, le=200, description="Extra connections opened under load, closed after use"
    )
    timeout_s: float = Field(
        30.0, gt=0, le=600, description="Seconds to wait for a free connection before an error"
    )
    recycle_s: int = Field(
        1800,
        ge=-1,
        le=86_400,
        description="Reopen connections older than this (firewalls drop idle ones; -1: never)",
    )


class StorageConfig(Strict):
    """Where the index lives."""

    data_dir: Path = Field(Path("cctrace-data"), description="Database, index, crops")
    database_url: str | None = Field(
        None, description="SQLAlchemy URL; default SQLite in data_dir (PostgreSQL supported)"
    )
    index: IndexConfig = Field(default_factory=IndexConfig, description="Face index")
    pool: PoolConfig = Field(default_factory=PoolConfig, description="Connection pool (PostgreSQL)")


class AuditConfig(Strict):
    """Where the audit log's signed checkpoints go (outside the database)."""

    anchor_path: Path | None = Field(
        None,
        description="Append-only JSON-lines file of signed audit checkpoints (count, head "
        "hash, time, HMAC), written after every audit entry and read by `cctrace audit "
        "verify` to detect deleted or rewritten entries. Default: "
        "<data_dir>/audit/anchors.jsonl. Put it where a database writer cannot reach: "
        "another disk, an append-only (chattr +a) file, a mount another host collects",
    )
    syslog: bool = Field(
        False,
        description="Also send every checkpoint to syslog (facility auth, tag "
        "'cctrace-audit-anchor'), for a copy off this host",
    )


class RetentionConfig(Strict):
    """How long derived data is kept (``cctrace purge``; the web app purges on a schedule)."""

    days: int = Field(
        28,
        ge=1,
        le=3650,
        description="Tracklets (tracks, faces, encounters, crops, snapshots) are deleted this "
        "many days after they end, unless a case holds them as evidence (Korea keeps "
        "check-in logs 28 days)",
    )
    case_evidence_days: int = Field(
        365,
        ge=0,
        le=36500,
        description="Days a closed case keeps its evidence (sightings, their contacts, "
        "approvals, reports) after closing; the case row and the audit log are kept",
    )
    purge_interval_hours: float = Field(
        24.0, gt=0, le=24 * 30, description="Hours between scheduled purges"
    )


class SiteConfig(Strict):
    """A whole site: its cameras and how to analyse and search them."""

    name: str = Field("site", max_length=200)
    timezone: str | None = Field(
        None,
        description="Time zone people read and type times in (IANA name, e.g. Asia/Seoul): "
        "web pages, HTML/PDF reports and CSV *_local columns show local time with its "
        "offset; the database and JSON stay UTC. Default: the cameras' timezone when they "
        "all name the same one, else UTC",
    )
    cameras: list[CameraConfig] = Field(..., min_length=1)
    ingest: IngestConfig = IngestConfig()
    runtime: RuntimeConfig = RuntimeConfig()
    models: ModelsConfig = ModelsConfig()
    trace: TraceConfig = TraceConfig()
    storage: StorageConfig = StorageConfig()
    audit: AuditConfig = AuditConfig()
    retention: RetentionConfig = RetentionConfig()
    site_plan: SitePlanConfig | None = Field(
        None,
        description="The site's own plan image (floor plan or map export) placed by 2-6 "
        "reference points; reports and the case page draw the route on it. An admin's "
        "upload on the admin page takes its place",
    )
    map_tiles: MapTilesConfig | None = Field(
        None,
        description="The site's own map tile server, drawn under the route when no plan "
        "image is in force and the cameras have lat/lon; unset: no tile is ever fetched",
    )
    source_file: Path | None = Field(None, exclude=True, description="Set by load_site")

    @field_validator("timezone")
    @classmethod
    def _site_zone(cls, value: str | None) -> str | None:
        return None if value is None else check_zone_name(value)

    @property
    def zone_name(self) -> str:
        """The site's time zone: ``timezone``, else the cameras' common ``timezone``, else
        UTC (see :mod:`cctrace.localtime`)."""
        return site_zone_name(self.timezone, (c.timezone for c in self.cameras))

    def zone(self) -> ZoneInfo:
        """:attr:`zone_name` as a ``ZoneInfo``."""
        return zone(self.zone_name)

    @field_validator("cameras")
    @classmethod
    def _unique_ids(cls, cameras: list[CameraConfig]) -> list[CameraConfig]:
        seen: set[str] = set()
        for cam in cameras:
            if cam.id in seen:
                raise ValueError(f"camera id {cam.id!r} appears more than once")
            seen.add(cam.id)
        for cam in cameras:
            for link in cam.links:
                if link.to not in seen:
                    raise ValueError(
                        f"camera {cam.id!r} links to unknown camera {link.to!r}; "
                        f"this site has: {', '.join(sorted(seen))}"
                    )
                if link.to == cam.id:
                    raise ValueError(f"camera {cam.id!r} links to itself")
        return cameras

    @model_validator(mode="after")
    def _known_district_cameras(self) -> SiteConfig:
        known = {c.id for c in self.cameras}
        for name, cams in self.storage.index.districts.items():
            unknown = sorted(set(cams) - known)
            if unknown:
                raise ValueError(
                    f"storage.index.districts.{name}: unknown cameras {', '.join(unknown)}"
                )
        return self

    def camera(self, camera_id: str) -> CameraConfig:
        """The camera with this id; ``ConfigError`` naming the known ids otherwise."""
        for cam in self.cameras:
            if cam.id == camera_id:
                return cam
        known = ", ".join(c.id for c in self.cameras)
        raise ConfigError(f"unknown camera {camera_id!r}; this site has: {known}")


def load_site(path: str | Path, check_files: bool = True) -> SiteConfig:
    """Read, validate and resolve a site YAML file.

    Raises ``ConfigError`` naming the file and line of the first problem.
    """
    source = Path(path)
    if not source.is_file():
        raise ConfigError(f"{source}: site file not found")
    yaml = YAML(typ="rt")
    try:
        text = source.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        line = source.read_bytes()[: exc.start].count(b"\n") + 1
        raise ConfigError(
            f"{source}:{line}: not UTF-8 text (byte 0x{exc.object[exc.start]:02x}); "
            "save the site file as UTF-8"
        ) from exc
    try:
        raw = yaml.load(text)
    except YAMLError as exc:
        raise ConfigError(f"{source}: not valid YAML: {exc}") from exc
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}:1: a site file must be a mapping with a 'cameras' list")
    try:
        plain = _plain(raw)
    except ValueError as exc:
        raise ConfigError(f"{source}:1: refused: {exc}") from exc
    try:
        site = SiteConfig.model_validate(plain)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = tuple(err["loc"])
        if "streams" in loc:  # stream URLs are written under footage
            loc = (*loc[: loc.index("streams")], "footage")
        line = _line_of(raw, loc)
        where = ".".join(str(p) for p in loc) or "(top level)"
        raise ConfigError(f"{source}:{line}: {where}: {err['msg']}") from exc
    base = source.resolve().parent
    site = _resolve_paths(site, base, source.resolve())
    if check_files:
        _check_footage(site, raw, source)
    _check_site_plan(site, raw, source)
    return site


def _check_site_plan(site: SiteConfig, raw: dict[str, Any], source: Path) -> None:
    """The declared plan image exists, is a plan picture, and its points fall on it."""
    plan = site.site_plan
    if plan is None:
        return
    from cctrace.plans.images import PlanImageError, read_plan_image

    line = _line_of(raw, ("site_plan", "image"))
    if not plan.image.is_file():
        raise ConfigError(f"{source}:{line}: site_plan.image: file not found: {plan.image}")
    try:
        picture = read_plan_image(plan.image.read_bytes())
    except PlanImageError as exc:
        raise ConfigError(f"{source}:{line}: site_plan.image: {exc}") from exc
    for i, point in enumerate(plan.points):
        u, v = point.uv
        if u > picture.width or v > picture.height:
            where = _line_of(raw, ("site_plan", "points", i, "pixel"))
            raise ConfigError(
                f"{source}:{where}: site_plan.points.{i}.pixel: [{u:g}, {v:g}] is outside "
                f"the image ({picture.width} x {picture.height} pixels)"
            )


def _resolve_paths(site: SiteConfig, base: Path, source: Path) -> SiteConfig:
    cameras = [
        cam.model_copy(update={"footage": [_abs(base, p) for p in cam.footage]})
        for cam in site.cameras
    ]
    storage = site.storage.model_copy(update={"data_dir": _abs(base, site.storage.data_dir)})
    audit = site.audit
    if audit.anchor_path is not None:
        audit = audit.model_copy(update={"anchor_path": _abs(base, audit.anchor_path)})
    plan = site.site_plan
    if plan is not None:
        plan = plan.model_copy(update={"image": _abs(base, plan.image)})
    return site.model_copy(
        update={
            "cameras": cameras,
            "storage": storage,
            "audit": audit,
            "site_plan": plan,
            "source_file": source,
        }
    )


def _abs(base: Path, path: Path) -> Path:
    expanded = path.expanduser()
    return expanded if expanded.is_absolute() else base / expanded


def _check_footage(site: SiteConfig, raw: dict[str, Any], source: Path) -> None:
    for i, cam in enumerate(site.cameras):
        for j, pattern in enumerate(cam.footage):
            if any(ch in str(pattern) for ch in "*?["):
                if not list(pattern.parent.glob(pattern.name)):
                    line = _line_of(raw, ("cameras", i, "footage", j))
                    raise ConfigError(f"{source}:{line}: no files match {pattern}")
            elif not pattern.exists():
                line = _line_of(raw, ("cameras", i, "footage", j))
                raise ConfigError(f"{source}:{line}: footage not found: {pattern}")
            elif pattern.is_dir() and not _has_video(pattern):
                line = _line_of(raw, ("cameras", i, "footage", j))
                raise ConfigError(f"{source}:{line}: no video files in the folder {pattern}")


def _has_video(folder: Path) -> bool:
    from cctrace.footage.sources import is_video_file

    return any(is_video_file(p) for p in folder.rglob("*"))


def _plain(node: Any, budget: list[int] | None = None) -> Any:
    """ruamel round-trip containers -> plain dicts/lists for pydantic.

    Raises ``ValueError`` when the file expands to more than ``MAX_CONFIG_VALUES`` values
    (aliases of aliases: a few hundred bytes can stand for billions of values).
    """
    budget = budget if budget is not None else [MAX_CONFIG_VALUES]
    budget[0] -= 1
    if budget[0] < 0:
        raise ValueError(
            f"it expands to more than {MAX_CONFIG_VALUES} values (YAML aliases of aliases?)"
        )
    if isinstance(node, dict):
        return {str(k): _plain(v, budget) for k, v in node.items()}
    if isinstance(node, list):
        return [_plain(v, budget) for v in node]
    return node


def _line_of(raw: Any, loc: tuple[Any, ...]) -> int:
    """1-based line of the deepest node of ``loc`` that exists in the YAML."""
    line = 1
    node = raw
    for part in loc:
        lc = getattr(node, "lc", None)
        try:
            if isinstance(node, dict) and part in node:
                if lc is not None:
                    line = lc.key(part)[0] + 1
                node = node[part]
            elif isinstance(node, list) and isinstance(part, int) and part < len(node):
                if lc is not None:
                    line = lc.item(part)[0] + 1
                node = node[part]
            else:
                break
        except (KeyError, IndexError, TypeError):
            break
    return line
