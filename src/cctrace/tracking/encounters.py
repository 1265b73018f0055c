"""Encounters: how long each pair of co-present people spent within each distance band.

Accumulated frame by frame while a camera is ingested, so a trace only joins
stored rows and never rescans footage. Each analysed frame where both people
are seen adds the time since the previous analysed frame (capped by
``max_gap_s``; the nominal sampling step for the first frame) to every band
their ground distance falls within, so N frames at 7 fps count N/7 seconds.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import numpy as np

from cctrace.geometry import pairwise_distances
from cctrace.types import Encounter


@dataclass
class _PairState:
    start: datetime
    end: datetime
    seconds: list[float]
    min_distance: float
    min_at: datetime


class EncounterAccumulator:
    """Streams per-frame ground positions into per-pair encounter totals."""

    def __init__(
        self,
        camera_id: str,
        bands_m: tuple[float, ...] = (1.0, 2.0, 3.0),
        max_gap_s: float = 1.0,
        nominal_step_s: float = 1 / 7,
    ) -> None:
        if not bands_m or any(b <= 0 for b in bands_m):
            raise ValueError(f"distance bands must be positive metres, got {bands_m}")
        self.camera_id = camera_id
        self.bands_m = tuple(sorted(bands_m))
        self.max_gap_s = max_gap_s
        self.nominal_step_s = nominal_step_s
        self._pairs: dict[tuple[int, int], _PairState] = {}
        self._last_time: datetime | None = None

    def update(self, timestamp: datetime, track_ids: np.ndarray, ground_xy: np.ndarray) -> None:
        """Add one analysed frame: confirmed track ids and their (N, 2) ground metres."""
        dt = min(self.nominal_step_s, self.max_gap_s)
        if self._last_time is not None:
            dt = min(max((timestamp - self._last_time).total_seconds(), 0.0), self.max_gap_s)
        self._last_time = timestamp
        ids = np.asarray(track_ids, dtype=np.int64)
        if len(ids) < 2:
            return
        dist = pairwise_distances(ground_xy)
        widest = self.bands_m[-1]
        rows, cols = np.nonzero(np.triu(dist <= widest, k=1))
        for i, j in zip(rows.tolist(), cols.tolist(), strict=True):
            a, b = int(ids[i]), int(ids[j])
            key = (a, b) if a < b else (b, a)
            d = float(dist[i, j])
            state = self._pairs.get(key)
            if state is None:
                state = _PairState(timestamp, timestamp, [0.0] * len(self.bands_m), d, timestamp)
                self._pairs[key] = state
            state.end = timestamp
            for k, band in enumerate(self.bands_m):
                if d <= band:
                    state.seconds[k] += dt
            if d < state.min_distance:
                state.min_distance = d
                state.min_at = timestamp

    def close_tracks(self, finished: set[int]) -> list[Encounter]:
        """Remove and return every pair involving a finished track."""
        done = [key for key in self._pairs if key[0] in finished or key[1] in finished]
        return [self._to_encounter(key, self._pairs.pop(key)) for key in done]

    def close_all(self) -> list[Encounter]:
        """Remove and return every open pair (end of footage)."""
        done = [self._to_encounter(key, state) for key, state in self._pairs.items()]
        self._pairs.clear()
        return done

    def _to_encounter(self, key: tuple[int, int], state: _PairState) -> Encounter:
        return Encounter(
            camera_id=self.camera_id,
            track_a=key[0],
            track_b=key[1],
            start=state.start,
            end=state.end,
            seconds_within=dict(zip(self.bands_m, state.seconds, strict=True)),
            min_distance_m=state.min_distance,
            min_distance_at=state.min_at,
        )
