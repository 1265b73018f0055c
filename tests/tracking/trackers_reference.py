"""The ``trackers`` 2.6.1 ByteTrack as cctrace used it before it had its own (reference
for the equivalence test only; needs ``trackers`` and ``supervision``, installed by
``requirements-dev-nodeps.txt``).

This is the old ``cctrace.tracking.tracker`` wrapper, kept verbatim in what it did:
the library's ``ByteTrackTracker`` over ``supervision.Detections`` (rows mapped back to
input order) and the ``AppearanceByteTrack`` subclass that re-ranked the first round.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from cctrace.tracking.appearance import Descriptors, blend, distances
from cctrace.tracking.bytetrack import APPEARANCE_KEEP, assign


def make_reference(options: dict[str, Any]) -> Any:
    """The library tracker the old wrapper built for ``options`` (cctrace's defaults)."""
    from trackers import ByteTrackTracker

    class LibraryAppearanceByteTrack(ByteTrackTracker):  # type: ignore[misc]
        tracker_id = "cctrace-test-reference-appearance"
        search_space: ClassVar[dict[str, dict[str, Any]]] = {}

        def __init__(self, weight: float, **opts: Any) -> None:
            super().__init__(**opts)
            self.appearance_weight = weight
            self._descs: Descriptors | None = None
            self._round = 0
            self._last_confidences = np.zeros(0)

        def update_with(self, detections: Any, descriptors: Descriptors) -> Any:
            self._descs, self._round = descriptors, 0
            try:
                return self.update(detections)
            finally:
                self._descs = None

        def update(self, detections: Any, *args: Any, **kwargs: Any) -> Any:
            conf = detections.confidence
            self._last_confidences = np.ones(len(detections)) if conf is None else conf
            return super().update(detections, *args, **kwargs)

        def _get_associated_indices(self, similarity_matrix: Any, thresh: float) -> Any:
            descs = self._descs
            first = self._round == 0
            self._round += 1
            if descs is None or not first or similarity_matrix.size == 0:
                return super()._get_associated_indices(similarity_matrix, thresh)
            cols = np.nonzero(self._last_confidences >= self.high_conf_det_threshold)[0]
            adjusted = similarity_matrix.copy()
            for row, track in enumerate(self.tracks):
                ref = getattr(track, "appearance", None)
                if ref is not None:
                    adjusted[row] -= (
                        self.appearance_weight * distances(ref[None, :], descs[cols])[0]
                    )
            matched, lost, unmatched = assign(adjusted, similarity_matrix, thresh)
            for row, col in matched:
                track = self.tracks[row]
                new = descs[cols[col]]
                ref = getattr(track, "appearance", None)
                track.appearance = new if ref is None else blend(ref, new, APPEARANCE_KEEP)
            return matched, lost, unmatched

        def _spawn_new_tracks(
            self,
            boxes: Any,
            confidences: Any,
            unmatched: Any,
            high: Any,
            out_idx: Any,
            out_ids: Any,
        ) -> None:
            before = len(self.tracks)
            super()._spawn_new_tracks(boxes, confidences, unmatched, high, out_idx, out_ids)
            if self._descs is None:
                return
            spawned = [
                int(high[i])
                for i in unmatched
                if float(confidences[int(high[i])]) >= self.track_activation_threshold
            ]
            for track, row in zip(self.tracks[before:], spawned, strict=False):
                track.appearance = self._descs[row]

    options = dict(options)
    options.setdefault("track_activation_threshold", 0.4)
    options.setdefault("high_conf_det_threshold", 0.8)
    options.setdefault("minimum_consecutive_frames", 2)
    weight = float(options.pop("appearance_weight", 0.0))
    if weight > 0:
        return LibraryAppearanceByteTrack(weight, **options)
    return ByteTrackTracker(**options)


def reference_ids(
    tracker: Any, xyxy: np.ndarray, conf: np.ndarray, descriptors: Descriptors | None = None
) -> np.ndarray:
    """Ids of one frame's boxes in input order, as the old wrapper returned them."""
    import supervision as sv

    n = len(xyxy)
    if n == 0:
        sv_in = sv.Detections.empty()
    else:
        sv_in = sv.Detections(
            xyxy=xyxy.astype(np.float32),
            confidence=conf.astype(np.float32),
            class_id=np.zeros(n, int),
            data={"row": np.arange(n)},
        )
    if hasattr(tracker, "update_with") and descriptors is not None and n:
        out = tracker.update_with(sv_in, descriptors)
    else:
        out = tracker.update(sv_in)
    ids = np.full(n, -1, np.int64)
    if n and len(out):
        rows = np.asarray(out.data["row"], dtype=np.int64)
        ids[rows] = np.asarray(out.tracker_id, dtype=np.int64)
    return ids


def reference_drop_tracks(tracker: Any) -> None:
    """What the old wrapper's ``drop_tracks`` did."""
    tracker.tracks = []
    tracker._last_timestamp = None
