"""Close contacts from stored encounters: distance, cumulative time, grouping by person."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np

from cctrace.errors import QueryError
from cctrace.tracing.result import ContactSummary, EncounterResult
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


BY_FACE = "face"
"""Linked because their faces match (SFace cosine at the trace's accept threshold)."""
BY_MOTION = "motion continuity"
"""Linked because one tracklet continues the other in the same camera, unambiguously."""
BY_SHARED_PATH = "same ground path in overlapping cameras"
"""Linked because two calibrated cameras saw them walk the same path at the same time."""


@dataclass(frozen=True)
class PersonGroups:
    """Which contact tracklets are one person, and what joined them."""

    group_of: dict[int, int]
    """Tracklet id -> group id (the group's smallest tracklet id)."""
    linked_by: dict[int, tuple[str, ...]]
    """Group id -> the kinds of link that joined its tracklets (empty when alone)."""


@dataclass(frozen=True)
class Span:
    """Where and when a tracklet was seen: two spans of one camera that overlap in time
    are two people, whatever links say."""

    camera_id: str
    start: datetime
    end: datetime


def join_people(
    ids: Sequence[int],
    links: Sequence[tuple[int, int, str]],
    spans: dict[int, Span] | None = None,
) -> PersonGroups:
    """Union the tracklets ``ids`` along ``links`` (a, b, kind), in the given order.

    A link that would put two tracklets seen at the same time by the same camera into
    one person is skipped: one person is not two boxes in one picture. Give the surest
    links (faces) first.
    """
    spans = spans or {}
    members: dict[int, list[int]] = {i: [i] for i in ids}
    kinds: dict[int, set[str]] = {i: set() for i in ids}
    root: dict[int, int] = {i: i for i in ids}

    def clash(a: list[int], b: list[int]) -> bool:
        return any(
            (sa := spans.get(x)) is not None
            and (sb := spans.get(y)) is not None
            and sa.camera_id == sb.camera_id
            and sa.start < sb.end
            and sb.start < sa.end
            for x in a
            for y in b
        )

    for a, b, kind in links:
        if a not in root or b not in root:
            continue
        ra, rb = root[a], root[b]
        if ra == rb:
            kinds[ra].add(kind)
            continue
        if clash(members[ra], members[rb]):
            continue
        keep, gone = min(ra, rb), max(ra, rb)
        for t in members.pop(gone):
            root[t] = keep
            members[keep].append(t)
        kinds[keep] |= kinds.pop(gone) | {kind}
    return PersonGroups(
        group_of=dict(root),
        linked_by={g: tuple(sorted(k)) for g, k in kinds.items()},
    )


def group_contacts(
    encounters: Sequence[EncounterResult],
    same_person: dict[int, int] | PersonGroups,
    minutes: float,
) -> list[ContactSummary]:
    """Sum each contact person's encounters into a summary, longest first.

    ``same_person`` maps a contact tracklet id to a group id (tracklets of one
    person in several cameras share it), or is a :class:`PersonGroups` that also says
    what joined them; unknown ids are their own group.
    """
    linked_by: dict[int, tuple[str, ...]] = {}
    if isinstance(same_person, PersonGroups):
        linked_by = same_person.linked_by
        same_person = same_person.group_of
    groups: dict[int, list[EncounterResult]] = {}
    for enc in encounters:
        gid = same_person.get(enc.contact_tracklet_id, -enc.contact_tracklet_id - 1)
        groups.setdefault(gid, []).append(enc)
    summaries: list[ContactSummary] = []
    for gid, encs in groups.items():
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
                linked_by=linked_by.get(gid, ()),
            )
        )
    summaries.sort(key=lambda s: (-s.total_seconds_within, s.min_distance_m))
    return summaries


def _merge_overlaps(encs: Sequence[EncounterResult]) -> list[tuple[datetime, float]]:
    """(start, seconds) per stretch of time, overlapping encounters counted once.

    The same moment can be seen by two overlapping cameras (or against two fragments of
    the case). Within a stretch of overlapping encounters, an encounter adds only the
    share of its seconds that falls after the stretch so far (its seconds spread evenly
    over its span), and the stretch is never shorter than its longest encounter: one
    camera's view that continues where the other's ends adds, a repeat does not.
    """
    out: list[tuple[datetime, float]] = []
    cluster_end: datetime | None = None
    for enc in sorted(encs, key=lambda e: e.start):
        if cluster_end is not None and enc.start <= cluster_end:
            start, secs = out[-1]
            span = (enc.end - enc.start).total_seconds()
            beyond = (enc.end - cluster_end).total_seconds()
            added = enc.seconds_within * beyond / span if span > 0 and beyond > 0 else 0.0
            out[-1] = (start, max(secs + added, enc.seconds_within))
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
