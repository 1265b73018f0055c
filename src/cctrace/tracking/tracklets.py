"""Tracklet builder: gathers each track's path, best faces, mask votes and snapshot."""

from __future__ import annotations

import heapq
import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, ClassVar

from cctrace.state import attrs_from_state, attrs_to_state
from cctrace.tracking.face_consistency import consistent_faces, identity_change
from cctrace.tracking.postprocess import (
    PostSettings,
    clean_path,
    hidden_cover,
    hidden_path,
    link_cost,
    occlusion_cost,
)
from cctrace.types import FaceSample, MaskStatus, Snapshot, Tracklet, TrackPoint

logger = logging.getLogger(__name__)

MASK_WORN_AT = 0.5
"""A face sample votes "worn" when its mask probability is at least this."""
SEGMENT_STRIDE = 1_000_000
"""A long track cut into pieces stores piece k under tracker id + k * this."""
MASK_MAJORITY = 0.6
"""Share of votes needed to call a tracklet worn / not worn; otherwise unknown."""


@dataclass
class _Open:
    track_id: int
    points: list[TrackPoint] = field(default_factory=list)
    faces: list[tuple[float, int, FaceSample]] = field(default_factory=list)
    """Min-heap of (quality, sequence, sample): the best few faces."""
    worn: int = 0
    not_worn: int = 0
    snapshot: Snapshot | None = None
    snapshot_score: float = 0.0
    last_seen: datetime | None = None
    label: int | None = None
    """The stored track id (set when the track starts, or taken over from a track it
    continues); None in checkpoints written before linking existed."""
    occluder: int | None = None
    """Tracker id of the track whose box hid this one when it was lost (held tracks)."""


def vote_mask(worn: int, not_worn: int) -> MaskStatus:
    """Majority vote over face samples; too few or split votes give UNKNOWN."""
    total = worn + not_worn
    if total == 0:
        return MaskStatus.UNKNOWN
    if worn / total >= MASK_MAJORITY:
        return MaskStatus.WORN
    if not_worn / total >= MASK_MAJORITY:
        return MaskStatus.NOT_WORN
    return MaskStatus.UNKNOWN


class TrackletBuilder:
    """Collects per-track observations and emits finished ``Tracklet`` objects.

    With ``post`` set, a track lost for ``lost_after_s`` is first offered to the tracks
    that started near its end (:func:`~cctrace.tracking.postprocess.link_cost`): the best
    match under ``post.link_max_cost`` takes over its points, faces, votes and id, so the
    person keeps one tracklet. Finished paths get their gaps filled and boxes smoothed
    (:func:`~cctrace.tracking.postprocess.clean_path`). ``lost_after_s`` should exceed
    ``post.link_gap_s`` by a second or so, so the later track has a path to compare.

    With ``post.occlusion_gap_s`` set, a lost track that nothing continues but whose last
    box another open track's box covered (the occluder) is *held* instead of finished,
    for up to that long: the first tracks that start next to the occluder are compared
    with it (:func:`~cctrace.tracking.postprocess.occlusion_cost`) once each has
    ``post.fit_s`` of path. Exactly one acceptable candidate takes it over, with the
    hidden stretch filled alongside the occluder
    (:func:`~cctrace.tracking.postprocess.hidden_path`); none, or several, and it is
    finished as it was.
    """

    def __init__(
        self,
        camera_id: str,
        faces_per_tracklet: int = 5,
        min_points: int = 3,
        lost_after_s: float = 2.5,
        max_duration_s: float = 600.0,
        post: PostSettings | None = None,
    ) -> None:
        self.camera_id = camera_id
        self.faces_per_tracklet = faces_per_tracklet
        self.min_points = min_points
        self.lost_after_s = lost_after_s
        self.max_duration_s = max_duration_s
        self.post = post
        self._open: dict[int, _Open] = {}
        self._segments: dict[int, int] = {}
        self._seq = 0
        self._held: dict[int, _Open] = {}
        self._continued: dict[int, int] = {}

    STATE: ClassVar[dict[str, Any]] = {
        "camera_id": str,
        "faces_per_tracklet": int,
        "min_points": int,
        "lost_after_s": float,
        "max_duration_s": float,
        "post": PostSettings | None,
        "_open": dict[int, _Open],
        "_segments": dict[int, int],
        "_seq": int,
        "_held": dict[int, _Open],
        "_continued": dict[int, int],
    }
    """What :meth:`to_state` holds (name -> type): settings and every open or held
    track with its points, face samples (crops included) and snapshot."""

    def to_state(self) -> dict[str, Any]:
        """Plain numbers, text and arrays (:meth:`from_state` gives it back)."""
        return attrs_to_state(self, self.STATE)

    @classmethod
    def from_state(cls, state: Any) -> TrackletBuilder:
        """The builder :meth:`to_state` described (:class:`~cctrace.state.StateError`)."""
        made = cls.__new__(cls)
        attrs_from_state(made, cls.STATE, state, "tracklet builder")
        return made

    @property
    def open_ids(self) -> set[int]:
        """Track ids still being built."""
        return set(self._open)

    def earliest_open_start(self) -> datetime | None:
        """Start of the oldest track still being built or held (None when none is)."""
        tracks = [*self._open.values(), *self._held.values()]
        starts = [t.points[0].timestamp for t in tracks if t.points]
        return min(starts) if starts else None

    def _track(self, track_id: int) -> _Open:
        track = self._open.get(track_id)
        if track is None:
            label = track_id + SEGMENT_STRIDE * self._segments.get(track_id, 0)
            track = self._open[track_id] = _Open(track_id, label=label)
        return track

    def add_point(self, track_id: int, point: TrackPoint) -> None:
        """Record where a track was in an analysed frame."""
        track = self._track(track_id)
        track.points.append(point)
        track.last_seen = point.timestamp

    def would_keep_face(self, track_id: int, quality: float) -> bool:
        """True when a face of this quality would enter the track's best few now.

        Ingest embeds only such faces (the others only vote their mask status,
        :meth:`vote_mask`): the stored faces, and so every result, are the same.
        """
        track = self._open.get(track_id)
        if track is None or len(track.faces) < self.faces_per_tracklet:
            return True
        return quality > track.faces[0][0]

    def vote_mask(self, track_id: int, mask_probability: float | None) -> None:
        """Count one face's mask vote (None: not classified, no vote)."""
        if mask_probability is None:
            return
        track = self._track(track_id)
        if mask_probability >= MASK_WORN_AT:
            track.worn += 1
        else:
            track.not_worn += 1

    def add_face(self, track_id: int, sample: FaceSample) -> None:
        """Vote its mask status and keep it if it is among the best faces."""
        self.vote_mask(track_id, sample.mask_probability)
        track = self._track(track_id)
        self._seq += 1
        entry = (sample.quality, self._seq, sample)
        if len(track.faces) < self.faces_per_tracklet:
            heapq.heappush(track.faces, entry)
        elif sample.quality > track.faces[0][0]:
            heapq.heapreplace(track.faces, entry)

    def snapshot_score(self, track_id: int) -> float:
        """Score of the track's current snapshot (0 when none)."""
        track = self._open.get(track_id)
        return track.snapshot_score if track else 0.0

    def set_snapshot(self, track_id: int, snapshot: Snapshot, score: float) -> None:
        """Replace the track's snapshot with a better one."""
        track = self._track(track_id)
        track.snapshot = snapshot
        track.snapshot_score = score

    def expire(self, now: datetime) -> tuple[list[Tracklet], set[int]]:
        """Finish tracks unseen for ``lost_after_s``, and cut tracks longer than
        ``max_duration_s`` (the person carries on in a new tracklet, so nobody
        standing still all day holds memory and checkpoints hostage):
        (kept tracklets, all finished tracker ids)."""
        gone = {
            tid
            for tid, t in self._open.items()
            if t.last_seen is not None and (now - t.last_seen).total_seconds() > self.lost_after_s
        }
        too_long = {
            tid
            for tid, t in self._open.items()
            if tid not in gone
            and t.points
            and (now - t.points[0].timestamp).total_seconds() >= self.max_duration_s
        }
        merged: set[int] = set()
        if self.post is not None and self.post.link_gap_s > 0:
            merged = self._link(gone)
        held = self._hold(gone - merged)
        done = self._finish((gone - merged - held) | too_long)
        for tid in too_long:
            self._segments[tid] = self._segments.get(tid, 0) + 1
        done += self._resolve_held(now, final=False)
        return done, gone | too_long

    def finish_all(self) -> tuple[list[Tracklet], set[int]]:
        """Finish every open and held track (end of footage), first linking those lost
        before the end and joining held ones to their re-appearance."""
        ids = set(self._open)
        merged: set[int] = set()
        held: set[int] = set()
        seen = [t.last_seen for t in self._open.values() if t.last_seen is not None]
        last = max(seen) if seen else None
        if self.post is not None and last is not None:
            lost = {
                tid
                for tid, t in self._open.items()
                if t.last_seen is not None and t.last_seen < last
            }
            if self.post.link_gap_s > 0:
                merged = self._link(lost)
            held = self._hold(lost - merged)
        done: list[Tracklet] = []
        if self._held:
            now = last or max(t.points[-1].timestamp for t in self._held.values())
            done = self._resolve_held(now, final=True)
        return done + self._finish(ids - merged - held), ids

    def _occluding(self) -> bool:
        return self.post is not None and self.post.occlusion_gap_s > 0

    def _resolve(self, tid: int) -> _Open | None:
        """The open or held track that tracker id ``tid`` lives on in (after joins)."""
        seen: set[int] = set()
        while tid in self._continued and tid not in seen:
            seen.add(tid)
            tid = self._continued[tid]
        return self._open.get(tid) or self._held.get(tid)

    def _point_near(self, track: _Open, at: TrackPoint) -> TrackPoint | None:
        """``track``'s point closest in time to ``at``, within two analysis steps."""
        assert self.post is not None
        best: TrackPoint | None = None
        for p in reversed(track.points):
            dt = abs((p.timestamp - at.timestamp).total_seconds())
            if dt <= 2 * self.post.step_s + 1e-9 and (
                best is None or dt < abs((best.timestamp - at.timestamp).total_seconds())
            ):
                best = p
            if p.timestamp < at.timestamp and dt > 2 * self.post.step_s:
                break
        return best

    def _hold(self, lost: set[int]) -> set[int]:
        """Hold back the lost tracks that another open track's box was hiding."""
        if not self._occluding():
            return set()
        assert self.post is not None
        held: set[int] = set()
        for tid in sorted(lost):
            track = self._open[tid]
            if not track.points:
                continue
            last = track.points[-1]
            best, best_cover = None, self.post.occlusion_min_cover
            for oid, other in self._open.items():
                if oid in lost or not other.points:
                    continue
                near = self._point_near(other, last)
                if near is None:
                    continue
                cover = hidden_cover(last.xyxy, near.xyxy, self.post.occlusion_widen)
                if cover >= best_cover:
                    best, best_cover = oid, cover
            if best is not None:
                track.occluder = best
                self._held[tid] = self._open.pop(tid)
                held.add(tid)
        return held

    def _resolve_held(self, now: datetime, final: bool) -> list[Tracklet]:
        """Join held tracks to their one re-appearance by the occluder, finish those whose
        window closed (or that several candidates fit), keep waiting otherwise."""
        if not self._held:
            return []
        assert self.post is not None
        post = self.post
        settle = timedelta(seconds=post.fit_s)
        proposals: dict[int, tuple[int, TrackPoint, TrackPoint]] = {}
        finish: set[int] = set()
        for tid in sorted(self._held):
            track = self._held[tid]
            last = track.points[-1]
            window_end = last.timestamp + timedelta(seconds=post.occlusion_gap_s)
            occluder = self._resolve(track.occluder) if track.occluder is not None else None
            at_loss = self._point_near(occluder, last) if occluder is not None else None
            if occluder is None or at_loss is None:
                finish.add(tid)
                continue
            good: list[tuple[float, int, TrackPoint]] = []
            waiting = False
            for bid, later in self._open.items():
                if later is occluder or not later.points:
                    continue
                first = later.points[0]
                if not last.timestamp < first.timestamp <= window_end:
                    continue
                at_return = self._point_near(occluder, first)
                if at_return is None:
                    continue
                if hidden_cover(first.xyxy, at_return.xyxy, post.occlusion_widen) < (
                    post.occlusion_min_cover
                ):
                    continue
                ready = later.points[-1].timestamp - first.timestamp >= settle or (
                    later.last_seen is not None and now - later.last_seen >= settle
                )
                if not ready and not final:
                    waiting = True
                    continue
                cost = occlusion_cost(track.points, later.points, at_loss, at_return, post)
                if cost <= post.occlusion_max_cost:
                    good.append((cost, bid, at_return))
            if len(good) > 1:
                finish.add(tid)  # several people could be this one: do not guess
            elif good and not waiting:
                proposals[tid] = (good[0][1], at_loss, good[0][2])
            elif final or now > window_end + settle:
                finish.add(tid)
        claims: dict[int, int] = {}
        for bid, _, _ in proposals.values():
            claims[bid] = claims.get(bid, 0) + 1
        for tid, (bid, at_loss, at_return) in sorted(proposals.items()):
            if claims[bid] > 1:
                if final:
                    finish.add(tid)
                continue
            earlier = self._held.pop(tid)
            later = self._open[bid]
            assert earlier.occluder is not None
            occluder = self._resolve(earlier.occluder)
            assert occluder is not None
            fill = hidden_path(
                earlier.points[-1], later.points[0], at_loss, at_return, occluder.points
            )
            self._merge(earlier, later, fill)
            self._continued[tid] = bid
        done = [t for tid in sorted(finish) for t in self._emit(tid, self._held.pop(tid))]
        self._prune_continued()
        return done

    def _prune_continued(self) -> None:
        """Forget joins that no held track can refer to any more."""
        if not self._held:
            self._continued.clear()

    def _link(self, lost: set[int]) -> set[int]:
        """Merge lost tracks into the later tracks that continue them; returns the
        tracker ids merged (their tracks live on under the later tracker id)."""
        assert self.post is not None
        pairs: list[tuple[float, int, int]] = []
        for a in sorted(lost):
            for b, later in self._open.items():
                if b in lost or b == a or not later.points:
                    continue
                cost = link_cost(self._open[a].points, later.points, self.post)
                if cost <= self.post.link_max_cost:
                    pairs.append((cost, a, b))
        merged: set[int] = set()
        taken: set[int] = set()
        for _, a, b in sorted(pairs):
            if a in merged or b in taken:
                continue
            self._merge(self._open.pop(a), self._open[b])
            if self._held:
                self._continued[a] = b
            merged.add(a)
            taken.add(b)
        return merged

    def _merge(self, earlier: _Open, later: _Open, fill: list[TrackPoint] | None = None) -> None:
        """``later`` continues ``earlier``: it takes its path (with ``fill`` between the
        two), faces, votes and id."""
        first = later.points[0].frame_index
        before = [p for p in earlier.points if p.frame_index < first]
        after = before[-1].frame_index if before else -1
        gap = [p for p in fill or () if after < p.frame_index < first]
        later.points = before + gap + later.points
        for entry in earlier.faces:
            if len(later.faces) < self.faces_per_tracklet:
                heapq.heappush(later.faces, entry)
            elif entry[0] > later.faces[0][0]:
                heapq.heapreplace(later.faces, entry)
        later.worn += earlier.worn
        later.not_worn += earlier.not_worn
        if earlier.snapshot is not None and earlier.snapshot_score > later.snapshot_score:
            later.snapshot, later.snapshot_score = earlier.snapshot, earlier.snapshot_score
        later.label = earlier.label if earlier.label is not None else earlier.track_id

    def _finish(self, ids: set[int]) -> list[Tracklet]:
        return [t for tid in sorted(ids) for t in self._emit(tid, self._open.pop(tid))]

    def _emit(self, tid: int, track: _Open) -> list[Tracklet]:
        """The stored tracklet(s) of a finished track: none when too short to keep, two
        when its faces show one person and then another (the track swapped people)."""
        if len(track.points) < self.min_points:
            return []
        faces = tuple(s for _, _, s in sorted(track.faces, key=lambda e: -e[0]))
        parts = self._split_at_identity_change(tid, track, faces)
        if parts is not None:
            return parts
        return [self._tracklet(tid, track, faces)]

    def _split_at_identity_change(
        self, tid: int, track: _Open, faces: tuple[FaceSample, ...]
    ) -> list[Tracklet] | None:
        """Two tracklets, cut where the faces change person, or None when they do not
        (or a part would be too short to keep)."""
        moment = identity_change(faces)
        if moment is None:
            return None
        before = [p for p in track.points if p.timestamp < moment]
        after = [p for p in track.points if p.timestamp >= moment]
        if len(before) < self.min_points or len(after) < self.min_points:
            return None
        first_label = track.label
        if first_label is None:
            first_label = tid + SEGMENT_STRIDE * self._segments.get(tid, 0)
        segment = self._segments.get(tid, 0) + 1
        self._segments[tid] = segment
        logger.info(
            "camera %s track %d: faces change person at %s; split into two tracklets",
            self.camera_id,
            tid,
            moment.isoformat(),
        )
        out = []
        for points, label in (
            (before, first_label),
            (after, tid + SEGMENT_STRIDE * segment),
        ):
            part_faces = tuple(f for f in faces if (f.timestamp < moment) == (points is before))
            worn = sum(
                f.mask_probability is not None and f.mask_probability >= MASK_WORN_AT
                for f in part_faces
            )
            not_worn = sum(
                f.mask_probability is not None and f.mask_probability < MASK_WORN_AT
                for f in part_faces
            )
            snapshot = track.snapshot
            if snapshot is not None and not (
                points[0].timestamp <= snapshot.timestamp <= points[-1].timestamp
            ):
                snapshot = None
            part = _Open(
                tid,
                points=list(points),
                worn=worn,
                not_worn=not_worn,
                snapshot=snapshot,
                label=label,
            )
            out.append(self._tracklet(tid, part, part_faces))
        return out

    def _tracklet(self, tid: int, track: _Open, faces: tuple[FaceSample, ...]) -> Tracklet:
        """The tracklet of one track (or part of one) with its consistent faces."""
        check = consistent_faces(faces)
        if check.dropped:
            logger.info("camera %s track %d: %s", self.camera_id, tid, check.reason)
        points = track.points if self.post is None else clean_path(track.points, self.post)
        label = track.label
        if label is None:
            label = tid + SEGMENT_STRIDE * self._segments.get(tid, 0)
        return Tracklet(
            camera_id=self.camera_id,
            track_id=label,
            points=tuple(points),
            faces=check.kept,
            faces_dropped=len(check.dropped),
            mask_status=vote_mask(track.worn, track.not_worn),
            mask_votes=(track.worn, track.not_worn),
            snapshot=track.snapshot,
        )
