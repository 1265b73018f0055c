"""Close-contact arithmetic: distance bands, 24 h cumulative time, overlaps, grouping."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from cctrace.errors import QueryError
from cctrace.tracing.contacts import (
    BY_FACE,
    BY_MOTION,
    BY_SHARED_PATH,
    Span,
    group_contacts,
    join_people,
    link_same_person,
    max_cumulative_seconds,
    seconds_at_distance,
)
from cctrace.tracing.result import EncounterResult
from cctrace.types import MaskStatus

T0 = datetime(2026, 3, 15, 8, 0, tzinfo=UTC)
BANDS = {1.0: 10.0, 2.0: 30.0, 3.0: 50.0}


@pytest.mark.parametrize(
    ("distance", "seconds", "interpolated"),
    [(1.0, 10.0, False), (2.0, 30.0, False), (1.5, 20.0, True), (0.5, 5.0, True)],
)
def test_seconds_at_distance(distance: float, seconds: float, interpolated: bool) -> None:
    assert seconds_at_distance(BANDS, distance) == (pytest.approx(seconds), interpolated)


def test_distance_beyond_widest_band_is_an_error() -> None:
    with pytest.raises(QueryError, match="widest band"):
        seconds_at_distance(BANDS, 5.0)


def test_cumulative_time_uses_a_24_hour_window() -> None:
    day = timedelta(hours=24)
    items = [(T0, 300.0), (T0 + timedelta(hours=3), 400.0), (T0 + day + timedelta(hours=4), 500.0)]
    assert max_cumulative_seconds(items) == pytest.approx(700.0)  # 300 + 400; 500 is 25 h on


def _enc(contact: int, case: int, start_s: float, end_s: float, secs: float) -> EncounterResult:
    return EncounterResult(
        contact_tracklet_id=contact,
        case_tracklet_id=case,
        camera_id=f"cam{case}",
        start=T0 + timedelta(seconds=start_s),
        end=T0 + timedelta(seconds=end_s),
        seconds_within=secs,
        min_distance_m=0.8,
        min_distance_at=T0,
        case_mask=MaskStatus.UNKNOWN,
        contact_mask=MaskStatus.NOT_WORN,
        snapshot_path=None,
    )


def test_overlapping_cameras_count_once_and_threshold_applies() -> None:
    # The same 10 minutes seen by two overlapping cameras, then 3 more minutes later.
    encounters = [_enc(5, 1, 0, 600, 600), _enc(6, 2, 10, 590, 560), _enc(5, 1, 900, 1080, 180)]
    (person,) = group_contacts(encounters, {5: 0, 6: 0}, minutes=12)
    assert person.total_seconds_within == pytest.approx(780)
    assert person.is_close_contact
    assert person.contact_tracklet_ids == (5, 6)
    (alone,) = group_contacts(encounters[:1], {}, minutes=12)
    assert not alone.is_close_contact


def test_link_same_person_by_face() -> None:
    a = np.array([[1.0, 0.0]], np.float32)
    b = np.array([[0.9, np.sqrt(1 - 0.81)]], np.float32)
    c = np.array([[0.0, 1.0]], np.float32)
    groups = link_same_person({1: a, 2: b, 3: c, 4: np.zeros((0, 2), np.float32)}, 0.5)
    assert groups[1] == groups[2] and groups[3] != groups[1] and groups[4] not in (groups[1],)


def test_a_view_that_continues_where_the_other_ends_adds_its_time() -> None:
    # West sees the pair for 0-10 s (8 s close), east for 8-20 s (10 s close): one
    # stretch of about 18 s, not the longer camera's 10 s and not 8 + 10 counted twice.
    encounters = [_enc(5, 1, 0, 10, 8), _enc(6, 2, 8, 20, 10)]
    (person,) = group_contacts(encounters, {5: 0, 6: 0}, minutes=0.25)
    assert person.total_seconds_within == pytest.approx(8 + 10 * 10 / 12)
    # A view wholly inside the other adds nothing.
    (inside,) = group_contacts([_enc(5, 1, 0, 10, 8), _enc(6, 2, 2, 6, 4)], {5: 0, 6: 0}, 1)
    assert inside.total_seconds_within == pytest.approx(8)


def test_join_people_records_how_and_refuses_two_boxes_in_one_picture() -> None:
    spans = {
        1: Span("west", T0, T0 + timedelta(seconds=10)),
        2: Span("east", T0 + timedelta(seconds=5), T0 + timedelta(seconds=15)),
        3: Span("west", T0 + timedelta(seconds=11), T0 + timedelta(seconds=20)),
        4: Span("west", T0 + timedelta(seconds=12), T0 + timedelta(seconds=18)),
    }
    links = [(1, 2, BY_FACE), (2, 3, BY_SHARED_PATH), (3, 4, BY_MOTION)]
    groups = join_people([1, 2, 3, 4], links, spans)
    assert groups.group_of[1] == groups.group_of[2] == groups.group_of[3] == 1
    # 4 is in the west picture at the same time as 3: another person, whatever the link.
    assert groups.group_of[4] == 4
    assert groups.linked_by[1] == (BY_FACE, BY_SHARED_PATH)
    assert groups.linked_by[4] == ()
    encounters = [_enc(1, 9, 0, 10, 4), _enc(2, 9, 5, 15, 4), _enc(4, 9, 12, 18, 6)]
    people = group_contacts(encounters, groups, minutes=0.1)
    joined = next(p for p in people if p.contact_tracklet_ids == (1, 2))
    assert joined.linked_by == (BY_FACE, BY_SHARED_PATH)
    assert next(p for p in people if p.contact_tracklet_ids == (4,)).linked_by == ()
