"""Per-camera analysis: frames in, finished tracklets and encounters out.

``CameraProcessor`` holds all per-camera state (tracker, open tracklets, open
encounters) and describes it as explicit data (:meth:`CameraProcessor.to_state`: plain
numbers, text and numpy arrays), so ingest can checkpoint it and resume after a crash
(the checkpoint is versioned and authenticated: :mod:`cctrace.ingest.checkpoint`).
Models are passed in per call and never part of the state.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import cv2
import numpy as np

from cctrace.config import CameraConfig, IngestConfig
from cctrace.geometry import GroundCalibration, HeightScaleEstimate
from cctrace.ingest.body_samples import BodySampler
from cctrace.ingest.face_assignment import FaceAssignment, FaceFate, assign_faces
from cctrace.ingest.face_backoff import HeadSearchBackoff
from cctrace.ingest.models import ModelSet
from cctrace.privacy.redaction import crop_with_context, redact_snapshot
from cctrace.state import StateError, attrs_from_state, attrs_to_state
from cctrace.tracking.cuts import Break, CutDetector
from cctrace.tracking.encounters import EncounterBuilder, EncounterSettings
from cctrace.tracking.postprocess import PostSettings
from cctrace.tracking.tracker import HIGH_CONFIDENCE, PersonTracker
from cctrace.tracking.tracklets import TrackletBuilder
from cctrace.types import (
    BodyAppearance,
    Detections,
    Encounter,
    Face,
    Faces,
    FaceSample,
    Frame,
    FrameRef,
    LooseFace,
    Snapshot,
    TrackPoint,
)
from cctrace.types import Tracklet as TrackletT

log = logging.getLogger(__name__)

PSEUDO_PERSON_MIN_FACE_SCORE = 0.75
"""A face no person box holds becomes a person detection above this score."""
FACE_TO_BODY_RATIO = 8.0
"""A standing person is about this many face widths tall."""
NO_CROP = np.zeros((0, 0, 3), np.uint8)
"""Stands for a face crop that is not kept."""
FULL_BODY_ASPECT = 2.2
"""A person box at least this many times taller than wide shows the whole body."""
HEAD_UPSCALE_MAX = 2.0
"""Head regions are upscaled at most this much before face detection."""
HEAD_REGION_TARGET_PX = 96
"""Head regions smaller than this (height) are upscaled towards it."""
SNAPSHOT_IMPROVEMENT = 1.15
"""A new snapshot replaces the old one when it scores this much better."""
TRACK_LOST_AFTER_S = 3.0
"""The tracker keeps a lost person's track this long (PETS S2L1, ByteTrack with the
post-processing below: IDF1 0.735 at 2 s, 0.760 at 3 s with first-round score 0.5; the
same from 2 to 4 s with the default 0.8)."""
LINK_GAP_S = 2.0
"""A track lost for up to this long may be continued by a new track (motion must agree)."""
BOX_SMOOTH_S = 1.0
"""Moving-average window of stored person boxes (PETS S2L1 MOTA 0.860 at 0.7 s, 0.875 at
1 s, 0.883 at 1.4 s; longer windows lag behind people who turn)."""
MAX_LOOSE_FACES_PER_S = 6
"""At most this many faces that nobody surely holds are embedded and kept per camera and
footage second (the largest and most confident first), so a crowd cannot flood the
``loose_faces`` table nor slow ingest: at most 6 extra embeddings per camera-second."""


@dataclass
class CameraOutput:
    """What one step of a camera produced that is ready to store."""

    tracklets: list[TrackletT] = field(default_factory=list)
    encounters: list[Encounter] = field(default_factory=list)
    loose_faces: list[LooseFace] = field(default_factory=list)
    """Faces no tracked person surely holds, embedded (searchable, never attributed)."""

    def extend(self, other: CameraOutput) -> None:
        self.tracklets.extend(other.tracklets)
        self.encounters.extend(other.encounters)
        self.loose_faces.extend(other.loose_faces)


class GroundMapper:
    """Foot points in pixels -> site-plan metres, calibrated or estimated."""

    def __init__(self, camera: CameraConfig, image_width: int) -> None:
        self.image_width = image_width
        self.calibrated = camera.calibration is not None
        self._homography: GroundCalibration | None = None
        self._estimate: HeightScaleEstimate | None = None
        if camera.calibration is not None:
            self._homography = camera.calibration.homography()
            p = camera.calibration.placement
            angle = np.deg2rad(p.rotation_deg)
            self._rotation = np.array(
                [[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]]
            )
            self._shift = np.array([p.x_m, p.y_m])
        else:
            self._estimate = HeightScaleEstimate.for_image(image_width)

    def to_site(self, detections: Detections) -> np.ndarray:
        """(N, 2) site metres of each box's foot point."""
        if len(detections) == 0:
            return np.zeros((0, 2))
        if self._homography is not None:
            ground = self._homography.to_ground(detections.foot_points)
            return np.asarray(ground @ self._rotation.T + self._shift)
        assert self._estimate is not None  # set in __init__ when uncalibrated
        return self._estimate.to_ground(detections.xyxy)


class CameraProcessor:
    """Tracks people in one camera's frames and builds tracklets and encounters.

    At a shot cut or a recording gap (:mod:`cctrace.tracking.cuts`) every open track is
    finished before the frame is tracked, so no tracklet, join or filled gap spans it.
    """

    body: BodySampler | None = None
    """Body appearance samples (None until the first frame)."""
    body_model: str = ""

    _head_backoff: HeadSearchBackoff | None = None
    """Head-region search back-off (created on first use: checkpoints written before it
    existed resume with it)."""

    _loose_budget: tuple[int, int] = (-1, 0)
    """(camera-second, loose faces kept in it)."""

    SCALARS: ClassVar[dict[str, Any]] = {
        "body_model": str,
        "_searched": bool,
        "_frames_seen": int,
        "_loose_budget": tuple[int, int],
        "_face_counts": dict[str, int],
    }
    """The processor's own small state (the parts have their own ``to_state``)."""

    def __init__(
        self,
        camera: CameraConfig,
        config: IngestConfig,
        source_fps: float | None = None,
        tracker_high_confidence: float | None = None,
    ) -> None:
        """``tracker_high_confidence`` is the person detector's first-round ByteTrack
        score (:attr:`cctrace.ingest.models.ModelSet.tracker_high_confidence`); None
        keeps the tracker's default, ``HIGH_CONFIDENCE``. It also sets how far a box
        holding a confident face is raised (:func:`_add_pseudo_persons`)."""
        self.camera = camera
        self.config = config
        # A camera recording slower than the analysis rate gives every frame: each
        # analysed instant then stands for 1 / source rate seconds.
        rate = min(config.analysis_fps, source_fps or config.analysis_fps)
        params: dict[str, Any] | None = None
        if config.tracker == "bytetrack":
            params = {"appearance_weight": config.appearance_weight}
            if tracker_high_confidence is not None:
                params["high_conf_det_threshold"] = float(tracker_high_confidence)
        self.tracker = PersonTracker(config.tracker, rate, TRACK_LOST_AFTER_S, params)
        # A track lost for a moment is joined to the track that continues it, its gaps
        # filled and its boxes smoothed before it is stored (tracking/postprocess.py).
        post = PostSettings(
            step_s=1.0 / rate,
            link_gap_s=LINK_GAP_S,
            fill_gap_s=config.max_gap_s,
            smooth_s=BOX_SMOOTH_S,
            occlusion_gap_s=config.occlusion_gap_s,
        )
        self.builder = TrackletBuilder(
            camera.id,
            faces_per_tracklet=config.faces_per_tracklet,
            min_points=config.min_track_points,
            lost_after_s=TRACK_LOST_AFTER_S + 1.0,
            max_duration_s=config.max_tracklet_s,
            post=post,
        )
        self.encounters = EncounterBuilder(
            camera.id,
            EncounterSettings(
                bands_m=config.distance_bands_m,
                step_s=1.0 / rate,
                max_gap_s=config.max_gap_s,
                smooth_s=config.smoothing_s,
            ),
        )
        self._mapper: GroundMapper | None = None
        self._searched = False
        self._frames_seen = 0
        self._face_counts: dict[str, int] = {}
        self.cuts = CutDetector(step_s=1.0 / rate)

    def to_state(self) -> dict[str, Any]:
        """Everything a resumed ingest needs, as plain data and numpy arrays: the camera
        and ingest settings it runs under, the tracker, open tracklets (points, faces,
        snapshots), finished paths still waiting for encounters, the cut detector, body
        samples and counters. Models are not state."""
        return {
            "camera": self.camera.model_dump(mode="json"),
            "config": self.config.model_dump(mode="json"),
            "tracker": self.tracker.to_state(),
            "builder": self.builder.to_state(),
            "encounters": self.encounters.to_state(),
            "cuts": self.cuts.to_state(),
            "body": None if self.body is None else self.body.to_state(),
            "mapper_width": None if self._mapper is None else self._mapper.image_width,
            "head_backoff": None if self._head_backoff is None else self._head_backoff.to_state(),
            "own": attrs_to_state(self, self.SCALARS),
        }

    @classmethod
    def from_state(cls, state: Any) -> CameraProcessor:
        """The processor :meth:`to_state` described; :class:`~cctrace.state.StateError`
        (or pydantic's ValidationError for the settings) when it does not fit."""
        if not isinstance(state, dict):
            raise StateError("camera processor: expected a dict")
        made = cls.__new__(cls)
        made.camera = CameraConfig.model_validate(state["camera"])
        made.config = IngestConfig.model_validate(state["config"])
        made.tracker = PersonTracker.from_state(state["tracker"])
        made.builder = TrackletBuilder.from_state(state["builder"])
        made.encounters = EncounterBuilder.from_state(state["encounters"])
        made.cuts = CutDetector.from_state(state["cuts"])
        body = state["body"]
        made.body = None if body is None else BodySampler.from_state(body)
        width = state["mapper_width"]
        made._mapper = None if width is None else GroundMapper(made.camera, int(width))
        backoff = state.get("head_backoff")
        try:
            made._head_backoff = None if backoff is None else HeadSearchBackoff.from_state(backoff)
        except (KeyError, TypeError, ValueError) as exc:
            raise StateError(f"camera processor: head-search back-off: {exc}") from exc
        attrs_from_state(made, cls.SCALARS, state["own"], "camera processor")
        return made

    def process(self, frame: Frame, models: ModelSet) -> CameraOutput:
        """Analyse one sampled frame; return whatever finished because of it."""
        out = self._end_tracks_at_break(frame)
        if self._mapper is None:
            self._mapper = GroundMapper(self.camera, frame.width)
        persons = models.person_detector.detect(frame.image)
        faces, searched_faces = self._detect_faces(frame, persons, models), self._searched
        self._frames_seen += 1
        persons = _add_pseudo_persons(
            persons, faces, frame.width, frame.height, self.tracker.high_confidence
        )
        tracked = self.tracker.update(persons, frame.image)
        confirmed = tracked.filter(tracked.tracker_id >= 0)
        self._sample_bodies(frame, confirmed, models)
        ground = self._mapper.to_site(confirmed)
        for row in range(len(confirmed)):
            tid = int(confirmed.tracker_id[row])
            box = confirmed.xyxy[row]
            self.builder.add_point(
                tid,
                TrackPoint(
                    frame_index=frame.frame_index,
                    timestamp=frame.timestamp,
                    xyxy=(float(box[0]), float(box[1]), float(box[2]), float(box[3])),
                    ground_xy=(float(ground[row, 0]), float(ground[row, 1])),
                    confidence=float(confirmed.confidence[row]),
                ),
            )
        face_rows = _assign_faces(confirmed, faces, persons)
        out.loose_faces.extend(self._add_faces(frame, confirmed, faces, face_rows, models))
        if searched_faces:
            # Snapshots only from frames whose whole frame was searched for faces: there
            # every face found can be blurred, wherever it is (a head-region search misses
            # a face outside the head regions of the boxes the detector drew); every
            # detection (confirmed or not) counts as a bystander to blur.
            self._update_snapshots(frame, confirmed, persons, faces, face_rows)
        kept, _ = self.builder.expire(frame.timestamp)
        out.extend(self._finish(kept))
        return out

    def _end_tracks_at_break(self, frame: Frame) -> CameraOutput:
        """Finish every track when this frame follows a shot cut or a recording gap."""
        found = self.cuts.check(frame.image, frame.timestamp)
        if found is Break.NONE:
            return CameraOutput()
        log.info(
            "camera %s: %s before frame %d (%.1f s): every track ends here",
            self.camera.id,
            "shot cut" if found is Break.CUT else "recording gap",
            frame.frame_index,
            frame.offset_s,
        )
        kept, _ = self.builder.finish_all()
        self.tracker.drop_tracks()
        return self._finish(kept)

    def _detect_faces(self, frame: Frame, persons: Detections, models: ModelSet) -> Faces:
        """Faces in this frame: a full-frame pass now and then, head regions otherwise.

        The full frame is searched every ``face_full_frame_every`` analysed frames
        (and whenever no person is seen: close-up cameras see faces, not bodies).
        On other frames only the head regions of people tall enough to show a
        usable face are searched, upscaled when small, which is both faster and
        finds smaller faces than one pass over the whole frame.
        """
        cfg = self.config
        ref = FrameRef(frame.camera_id, frame.frame_index, frame.width, frame.height)
        full_every = cfg.face_full_frame_every
        self._searched = True
        if (full_every and self._frames_seen % full_every == 0) or len(persons) == 0:
            return Faces.from_faces(models.face_detector.detect(frame.image), ref)
        self._searched = False  # only head regions (or nothing): not for snapshots
        if self._frames_seen % cfg.face_every_n_frames != 0:
            return Faces.empty(ref)
        parts: list[Faces] = []
        min_height = FACE_TO_BODY_RATIO * cfg.min_face_px / HEAD_UPSCALE_MAX
        regions = head_regions(persons, frame.width, frame.height, min_height)
        backoff = self._backoff()
        plan = backoff.plan(regions) if backoff is not None else [True] * len(regions)
        for (x0, y0, x1, y1), search in zip(regions, plan, strict=True):
            if not search:
                continue
            crop: np.ndarray = frame.image[y0:y1, x0:x1]
            scale = min(HEAD_UPSCALE_MAX, max(1.0, HEAD_REGION_TARGET_PX / max(y1 - y0, 1)))
            if scale > 1.0:
                crop = cv2.resize(crop, None, fx=scale, fy=scale, interpolation=cv2.INTER_CUBIC)
            found = Faces.from_faces(models.face_detector.detect(np.ascontiguousarray(crop)))
            if backoff is not None:
                backoff.record((x0, y0, x1, y1), len(found) > 0)
            parts.append(found.mapped(x0, y0, scale))
        if backoff is not None:
            backoff.commit()
        return Faces.concat(parts, ref).sorted_by_score()

    def _backoff(self) -> HeadSearchBackoff | None:
        """The head-search back-off, when the site keeps it on (``face_search_backoff``)."""
        if not getattr(self.config, "face_search_backoff", False):
            return None
        if self._head_backoff is None:
            self._head_backoff = HeadSearchBackoff()
        return self._head_backoff

    def finish(self) -> CameraOutput:
        """End of footage: finish every open track and its encounters."""
        kept, _ = self.builder.finish_all()
        return self._finish(kept)

    def _finish(self, kept: list[TrackletT]) -> CameraOutput:
        if self.body is not None:
            kept = [self._with_body(t) for t in kept]
            self.body.forget_before(self.builder.earliest_open_start())
        encounters = self.encounters.add_finished(kept)
        self.encounters.forget_before(self.builder.earliest_open_start())
        return CameraOutput(tracklets=kept, encounters=encounters)

    def _sample_bodies(self, frame: Frame, confirmed: Detections, models: ModelSet) -> None:
        """Keep body appearance samples of clean person boxes (``ingest/body_samples``)."""
        if self.body is None:
            self.body = BodySampler(every_n=max(1, round(self.config.analysis_fps)))
            self.body_model = models.config.body_embedder.type
        self.body.observe(
            frame.frame_index, frame.timestamp, frame.image, confirmed, models.body_embedder
        )

    def _with_body(self, tracklet: TrackletT) -> TrackletT:
        if self.body is None:
            return tracklet
        vector = self.body.embedding_for(tracklet.points)
        if vector is None:
            return tracklet
        return dataclasses.replace(tracklet, body=BodyAppearance(self.body_model, vector))

    @property
    def face_counts(self) -> dict[str, int]:
        """Faces seen so far by fate (assigned, ambiguous, no_person), for logs and eval."""
        counts = self._face_counts
        return {fate.value: counts.get(fate.value, 0) for fate in FaceFate}

    def _count_faces(self, assignment: FaceAssignment) -> None:
        counts = self._face_counts
        for fate in assignment.fates:
            counts[fate.value] = counts.get(fate.value, 0) + 1

    def _add_faces(
        self,
        frame: Frame,
        tracked: Detections,
        faces: Faces,
        face_rows: FaceAssignment,
        models: ModelSet,
    ) -> list[LooseFace]:
        """Embed the faces surely assigned to a tracked person and add them to its
        tracklet; return the faces nobody surely holds (ambiguous or in nobody's head
        region), embedded in the same model call but never given to anybody.

        Both pass the same size gate (``min_face_px``); loose faces are capped at
        :data:`MAX_LOOSE_FACES_PER_S` per camera-second and get no mask classification.
        """
        from cctrace.vision.quality import face_quality

        self._count_faces(face_rows)
        if face_rows.ambiguous:
            log.debug(
                "camera %s frame %d: %d ambiguous face(s) left unassigned at %s",
                frame.camera_id,
                frame.frame_index,
                len(face_rows.ambiguous),
                [tuple(round(float(v)) for v in faces.xyxy[i]) for i in face_rows.ambiguous],
            )
        todo: list[tuple[int, Face, float]] = []
        for face_idx, row in face_rows.rows.items():
            face = faces[face_idx]
            if face.width < self.config.min_face_px:
                continue
            tid = int(tracked.tracker_id[row])
            quality = face_quality(frame.image, face)
            todo.append((tid, face, quality))
        loose = self._loose_candidates(frame, faces, face_rows)
        if not todo and not loose:
            return []
        # Only faces the tracklet will keep are embedded (its best few by quality); the
        # others only vote their mask status. The stored faces are the same either way.
        keep = [self.builder.would_keep_face(tid, quality) for tid, _, quality in todo]
        embedded = [f for (_, f, _), k in zip(todo, keep, strict=True) if k]
        every = embedded + [faces[i] for i in loose]
        vectors = models.face_embedder.embed(frame.image, every)
        kept_vectors, loose_vectors = vectors[: len(embedded)], vectors[len(embedded) :]
        loose_faces = [
            LooseFace(
                camera_id=frame.camera_id,
                frame_index=frame.frame_index,
                timestamp=frame.timestamp,
                xyxy=faces[i].xyxy,
                score=faces[i].score,
                quality=float(face_quality(frame.image, faces[i])),
                embedding=np.asarray(vec, np.float32),
                fate=face_rows.fates[i].value,
            )
            for i, vec in zip(loose, loose_vectors, strict=True)
        ]
        if not todo:
            return loose_faces
        crops = [models.face_embedder.align(frame.image, f) for _, f, _ in todo]
        # The mask classifiers score best on the aligned crops (bench/masks.py).
        mask_probs = models.mask_classifier.classify(crops)
        embeddings = iter(kept_vectors)
        for (tid, _face, quality), is_kept, crop, prob in zip(
            todo, keep, crops, mask_probs, strict=True
        ):
            if not is_kept:
                self.builder.vote_mask(tid, float(prob))
                continue
            emb = next(embeddings)
            sample = FaceSample(
                frame_index=frame.frame_index,
                timestamp=frame.timestamp,
                embedding=np.asarray(emb, np.float32),
                quality=float(quality),
                mask_probability=float(prob),
                # Unredacted face crops are kept only when the site asks for them.
                crop=crop if self.config.keep_face_crops else NO_CROP,
            )
            self.builder.add_face(tid, sample)
        return loose_faces

    def _loose_candidates(self, frame: Frame, faces: Faces, face_rows: FaceAssignment) -> list[int]:
        """Indices of the unassigned faces to keep: wide enough, and within this
        camera-second's budget (largest, most confident first)."""
        sizable = [i for i in face_rows.unassigned if faces[i].width >= self.config.min_face_px]
        if not sizable:
            return []
        second = int(frame.timestamp.timestamp())
        used_second, used = self._loose_budget
        if used_second != second:
            used = 0
        room = max(0, MAX_LOOSE_FACES_PER_S - used)
        if len(sizable) > room:
            log.debug(
                "camera %s frame %d: %d unassigned face(s) over the per-second cap",
                frame.camera_id,
                frame.frame_index,
                len(sizable) - room,
            )
        chosen = sorted(sizable, key=lambda i: -faces[i].score * faces[i].width)[:room]
        self._loose_budget = (second, used + len(chosen))
        return sorted(chosen)

    def _update_snapshots(
        self,
        frame: Frame,
        tracked: Detections,
        detected: Detections,
        faces: Faces,
        face_rows: FaceAssignment,
    ) -> None:
        """Keep each track's best picture, with every face that is not surely the
        track's own blurred (ambiguous faces and faces of nobody's box included)."""
        for row in range(len(tracked)):
            tid = int(tracked.tracker_id[row])
            box = tracked.xyxy[row]
            own = face_rows.face_of(row)
            height = float(box[3] - box[1])
            score = height * float(tracked.confidence[row]) * (1.5 if own is not None else 1)
            if score <= self.builder.snapshot_score(tid) * SNAPSHOT_IMPROVEMENT:
                continue
            clipped = np.clip(box, 0, [frame.width, frame.height, frame.width, frame.height])
            if clipped[2] - clipped[0] < 2 or clipped[3] - clipped[1] < 2:
                continue
            crop, subject = crop_with_context(frame.image, tuple(clipped.tolist()))
            offset = (float(clipped[0] - subject[0]), float(clipped[1] - subject[1]))
            others = [b for b in tracked.xyxy if not np.allclose(b, box)]
            others += [b for b in detected.xyxy if not np.allclose(b, box)]
            redacted = redact_snapshot(
                crop,
                subject,
                [_shift(b, offset) for b in faces.xyxy],
                [_shift(b, offset) for b in others],
                subject_face=None if own is None else _shift(faces.xyxy[own], offset),
                subject_face_known=True,
            )
            self.builder.set_snapshot(
                tid,
                Snapshot(frame.frame_index, frame.timestamp, redacted, subject),
                score,
            )


def _shift(box: np.ndarray, offset: tuple[float, float]) -> tuple[float, float, float, float]:
    ox, oy = offset
    return (float(box[0] - ox), float(box[1] - oy), float(box[2] - ox), float(box[3] - oy))


def head_regions(
    persons: Detections, width: int, height: int, min_person_height: float
) -> list[tuple[int, int, int, int]]:
    """Head-and-shoulder regions of tall-enough people, merged where they overlap."""
    regions: list[list[float]] = []
    for x1, y1, x2, y2 in persons.xyxy.tolist():
        h, w = y2 - y1, x2 - x1
        if h < min_person_height:
            continue
        # A full body shows its face in the top part; a head-and-shoulders box (not
        # much taller than wide) may hold it anywhere, so search all of it.
        bottom = y1 + 0.4 * h if h >= FULL_BODY_ASPECT * w else y2
        regions.append([x1 - 0.25 * w, y1 - 0.1 * h, x2 + 0.25 * w, bottom])
    merged = True
    while merged and len(regions) > 1:
        merged = False
        for i in range(len(regions)):
            for j in range(i + 1, len(regions)):
                a, b = regions[i], regions[j]
                if a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]:
                    regions[i] = [
                        min(a[0], b[0]),
                        min(a[1], b[1]),
                        max(a[2], b[2]),
                        max(a[3], b[3]),
                    ]
                    del regions[j]
                    merged = True
                    break
            if merged:
                break
    out = []
    for x1, y1, x2, y2 in regions:
        box = (max(int(x1), 0), max(int(y1), 0), min(int(x2) + 1, width), min(int(y2) + 1, height))
        if box[2] - box[0] >= 8 and box[3] - box[1] >= 8:
            out.append(box)
    return out


def _assign_faces(
    persons: Detections, faces: Faces, bystanders: Detections | None = None
) -> FaceAssignment:
    """Faces surely in one person's head region (see :mod:`cctrace.ingest.face_assignment`);
    ``bystanders`` (other boxes of the frame) can only make a face ambiguous."""
    return assign_faces(persons, faces, bystanders)


def _add_pseudo_persons(
    persons: Detections,
    faces: Faces | Sequence[Face],
    width: int,
    height: int,
    high_confidence: float = HIGH_CONFIDENCE,
) -> Detections:
    """Make every confident face a trackable person.

    A person box holding a confident face is raised to ``high_confidence``, the
    tracker's first-round score (ByteTrack starts tracks only from boxes that sure; a
    half-seen body with a clear face is a person), and a body box is added below each
    confident face that no person box holds (close-up cameras often see a face but not
    the body; without this the face would never join a track).

    Only a face surely assigned to a box (:func:`assign_faces`) raises it; an
    ambiguous face (near two heads, or sharing one) raises nothing and adds nothing.
    """
    if not isinstance(faces, Faces):
        faces = Faces.from_faces(faces)
    assignment = _assign_faces(persons, faces)
    confident = {i for i, f in enumerate(faces) if f.score >= PSEUDO_PERSON_MIN_FACE_SCORE}
    rows = [row for i, row in assignment.rows.items() if i in confident]
    if rows and np.any(persons.confidence[rows] < high_confidence):
        raised = persons.confidence.copy()
        raised[rows] = np.maximum(raised[rows], high_confidence)
        persons = dataclasses.replace(persons, confidence=raised)
    lonely = [
        f
        for i, f in enumerate(faces)
        if i in confident and assignment.fates[i] is FaceFate.NO_PERSON
    ]
    if not lonely:
        return persons
    extra = []
    for f in lonely:
        x1, y1, x2, y2 = f.xyxy
        w, h = x2 - x1, y2 - y1
        cx = (x1 + x2) / 2
        extra.append(
            [
                max(cx - 1.5 * w, 0),
                max(y1 - 0.3 * h, 0),
                min(cx + 1.5 * w, width),
                min(y1 + 7 * h, height),
            ]
        )
    boxes = np.vstack([persons.xyxy, np.asarray(extra, np.float32)])
    # A face this confident is as sure a person as a strong body box: it must be able to
    # start a track (ByteTrack starts tracks only from boxes at or above high_confidence).
    conf = np.concatenate([persons.confidence, [max(f.score, high_confidence) for f in lonely]])
    return Detections.create(boxes, conf)
