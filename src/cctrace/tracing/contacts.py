"""Close contacts from stored encounters: distance, cumulative time, grouping by person."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np

from cctrace.errors import QueryError
from cctrace.tracing.result import ContactResult, ContactSummary
from cctrace.types import MaskStatus

CONTACT_WINDOW = timedelta(hours=24)
"""Cumulative contact time is summed within this sliding window (KDCA practice)."""


def seconds_at_distance(bands: dict[float, float], distance_m: float) -> tuple[float, bool]:
    """Seconds within ``distance_m`` from the stored bands: (seconds, interpolated?).

    An exact band is used when stored; otherwise seconds are interpolated
    linearly between the neighbouring bands (0 s at 0 m); a distance beyond the widest
    band raises ``QueryError``.
    """
    if not bands:
        return 0.0, False
    for band, secs in bands.items():
        if abs(band - distance_m) < 1e-9:
            return secs, False
    if distance_m > max(bands):
        raise QueryError(
            f"distance {distance_m:g} m is beyond the widest band measured at ingest "
            f"({max(bands):g} m); widen ingest.distance_bands_m and re-ingest to use it"
        )
    xs = [0.0, *sorted(bands)]
    ys = [0.0, *(bands[b] for b in sorted(bands))]
    return float(np.interp(distance_m, xs, ys)), True


def max_cumulative_seconds(
    intervals: Sequence[tuple[datetime, float]], window: timedelta = CONTACT_WINDOW
) -> float:
    """Largest sum of seconds over encounters starting within any ``window``."""
    items = sorted(intervals, key=lambda it: it[0])
    best = 0.0
    total = 0.0
    left = 0
    for right, (start, secs) in enumerate(items):
        total += secs
        while start - items[left][0] > window:
            total -= items[left][1]
            left += 1
        best = max(best, total)
        _ = right
    return best


@dataclass(frozen=True)
class ContactPerson:
    """A contact's tracklets believed to be one person, with their mask status."""

    tracklet_ids: tuple[int, ...]
    mask: MaskStatus


def group_contacts(
    encounters: Sequence[ContactResult],
    same_person: dict[int, int],
    minutes: float,
) -> list[ContactSummary]:
    """Sum each contact person's encounters into a summary, longest first.

    ``same_person`` maps a contact tracklet id to a group id (tracklets of one
    person in several cameras share it); unknown ids are their own group.
    """
    groups: dict[int, list[ContactResult]] = {}
    for enc in encounters:
        gid = same_person.get(enc.contact_tracklet_id, -enc.contact_tracklet_id - 1)
        groups.setdefault(gid, []).append(enc)
    summaries: list[ContactSummary] = []
    for encs in groups.values():
        encs = sorted(encs, key=lambda e: e.start)
        total = max_cumulative_seconds(_merge_overlaps(encs))
        masks = [e.contact_mask for e in encs if e.contact_mask != MaskStatus.UNKNOWN]
        summaries.append(
            ContactSummary(
                contact_tracklet_ids=tuple(sorted({e.contact_tracklet_id for e in encs})),
                total_seconds_within=total,
                min_distance_m=min(e.min_distance_m for e in encs),
                first_seen=encs[0].start,
                last_seen=max(e.end for e in encs),
                contact_mask=masks[0] if masks and len(set(masks)) == 1 else MaskStatus.UNKNOWN,
                is_close_contact=total >= minutes * 60.0 and total > 0,
                encounters=tuple(encs),
            )
        )
    summaries.sort(key=lambda s: (-s.total_seconds_within, s.min_distance_m))
    return summaries


def _merge_overlaps(encs: Sequence[ContactResult]) -> list[tuple[datetime, float]]:
    """(start, seconds) per stretch of time, overlapping encounters counted once.

    The same moment can be seen by two overlapping cameras (or against two
    fragments of the case); within a stretch of overlapping encounters the
    longest one counts, not their sum.
    """
    out: list[tuple[datetime, float]] = []
    cluster_end: datetime | None = None
    for enc in sorted(encs, key=lambda e: e.start):
        if cluster_end is not None and enc.start <= cluster_end:
            start, secs = out[-1]
            out[-1] = (start, max(secs, enc.seconds_within))
            cluster_end = max(cluster_end, enc.end)
        else:
            out.append((enc.start, enc.seconds_within))
            cluster_end = enc.end
    return out


def link_same_person(embeddings: dict[int, np.ndarray], threshold: float) -> dict[int, int]:
    """Group tracklets whose best face embeddings match above ``threshold``.

    ``embeddings`` maps tracklet id -> (K, D) normalised face embeddings; the
    result maps each tracklet id to a group id (union-find over matching pairs).
    """
    ids = sorted(embeddings)
    parent = {i: i for i in ids}

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for a_pos, a in enumerate(ids):
        ea = embeddings[a]
        if len(ea) == 0:
            continue
        for b in ids[a_pos + 1 :]:
            eb = embeddings[b]
            if len(eb) and float((ea @ eb.T).max()) >= threshold:
                parent[find(b)] = find(a)
    return {i: find(i) for i in ids}
