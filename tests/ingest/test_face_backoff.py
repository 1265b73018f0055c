"""Head-region face search back-off: who is searched on which head-search frame."""

from __future__ import annotations

import itertools

import pytest

from cctrace.ingest.face_backoff import HeadSearchBackoff

HEAD = (100, 100, 160, 180)


def _step(
    backoff: HeadSearchBackoff, regions: list[tuple[int, int, int, int]], found: bool
) -> list[bool]:
    plan = backoff.plan(regions)
    for region, search in zip(regions, plan, strict=True):
        if search:
            backoff.record(region, found)
    backoff.commit()
    return plan


def _moved(dx: int, grow: int = 0) -> tuple[int, int, int, int]:
    x0, y0, x1, y1 = HEAD
    return (x0 + dx, y0 - grow, x1 + dx, y1)


def test_a_head_without_a_face_is_searched_less_and_less_up_to_the_cap() -> None:
    backoff = HeadSearchBackoff(misses_before_backoff=2, max_interval=4)
    plans = [_step(backoff, [_moved(4 * i)], found=False)[0] for i in range(20)]
    # 2 misses at full cadence, then every 2nd, then every 4th (the cap).
    assert plans[:8] == [True, True, False, True, False, False, False, True]
    searched = [i for i, p in enumerate(plans) if p]
    gaps = [b - a for a, b in itertools.pairwise(searched)]
    assert max(gaps) == 4 and gaps[-1] == 4
    assert backoff.skipped == plans.count(False) > 8


def test_a_found_face_keeps_the_full_cadence() -> None:
    backoff = HeadSearchBackoff()
    assert all(_step(backoff, [_moved(3 * i)], found=True)[0] for i in range(10))


def test_a_new_head_or_a_grown_one_is_searched_at_once() -> None:
    backoff = HeadSearchBackoff(misses_before_backoff=1, max_interval=8)
    for i in range(4):
        _step(backoff, [_moved(2 * i)], found=False)
    assert _step(backoff, [_moved(8)], found=False) == [False]
    other = (400, 100, 460, 180)  # somebody else
    assert _step(backoff, [_moved(10), other], found=False) == [False, True]
    assert _step(backoff, [_moved(12, grow=20)], found=False) == [True]  # came closer


def test_a_head_not_seen_for_a_frame_is_forgotten() -> None:
    backoff = HeadSearchBackoff(misses_before_backoff=1)
    for _ in range(3):
        _step(backoff, [HEAD], found=False)
    _step(backoff, [], found=False)
    assert _step(backoff, [HEAD], found=False) == [True]


@pytest.mark.parametrize(("misses", "cap"), [(0, 4), (1, 0)])
def test_bad_settings_are_refused(misses: int, cap: int) -> None:
    with pytest.raises(ValueError, match=">= 1"):
        HeadSearchBackoff(misses, cap)


def test_backoff_memory_survives_a_checkpoint_round_trip() -> None:
    """A resumed ingest searches the same heads as one that never stopped."""
    from cctrace.ingest.face_backoff import HeadSearchBackoff

    live = HeadSearchBackoff()
    head = (100, 50, 130, 90)
    for _ in range(3):  # three misses: the head is now searched less often
        live.plan([head])
        live.record(head, False)
        live.commit()
    resumed = HeadSearchBackoff.from_state(live.to_state())
    assert resumed.to_state() == live.to_state()
    decisions = []
    for _ in range(6):
        planned = [b.plan([head]) for b in (live, resumed)]
        assert planned[0] == planned[1]
        decisions.append(planned[0][0])
        for b in (live, resumed):
            if planned[0][0]:
                b.record(head, False)
            b.commit()
    assert not all(decisions)  # the back-off was in force after the resume
