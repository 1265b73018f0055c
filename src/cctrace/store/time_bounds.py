"""The longest stored tracklet, so a time-window query can bound both ends of its
index range.

"Tracklets overlapping [from, to]" is ``end >= from AND start <= to``. With only those
two conditions an index on ``start_time`` is a range over every earlier day: a query
for day 28 reads the index entries of days 1-27 too. A tracklet is at most
``longest`` seconds long, so ``start >= from - longest`` holds for every overlapping
one, and the range then covers the asked window plus ``longest`` only: a city-day
query touches its day, however many days are stored.

The longest duration lives in ``store_meta`` (key :data:`LONGEST_KEY`), raised in the
same transaction that inserts tracklets. It never decreases (a purge leaves it), so
the bound is always safe.
"""

from __future__ import annotations

from sqlalchemy import Float, cast, func, select, update
from sqlalchemy.orm import Session

from .schema import StoreMetaRow, TrackletRow

LONGEST_KEY = "longest_tracklet_s"
MARGIN_S = 1.0
"""Added to the stored longest duration (rounding of stored times)."""


def longest_tracklet_s(s: Session) -> float:
    """Seconds of the longest tracklet ever stored (0.0 for an empty store)."""
    row = s.get(StoreMetaRow, LONGEST_KEY)
    return float(row.value) if row is not None else measure_longest(s)


def raise_longest(s: Session, seconds: float) -> None:
    """Record ``seconds`` as the longest duration if it is longer than the stored one
    (the key is created when the store opens: :func:`measure_longest`).

    Concurrent writers are safe: the conditional UPDATE is re-checked against the row
    another transaction committed (PostgreSQL row lock; SQLite writers are serialised).
    """
    s.execute(
        update(StoreMetaRow)
        .where(StoreMetaRow.key == LONGEST_KEY, cast(StoreMetaRow.value, Float) < float(seconds))
        .values(value=repr(float(seconds)))
        .execution_options(synchronize_session=False)
    )


def measure_longest(s: Session) -> float:
    """The longest tracklet now in the table, in seconds (for a database from before
    :data:`LONGEST_KEY` existed)."""
    if s.get_bind().dialect.name == "sqlite":
        days = select(
            func.max(func.julianday(TrackletRow.end_time) - func.julianday(TrackletRow.start_time))
        )
        value = s.scalar(days)
        return 0.0 if value is None else max(0.0, float(value) * 86_400.0)
    longest = s.scalar(select(func.max(TrackletRow.end_time - TrackletRow.start_time)))
    return 0.0 if longest is None else max(0.0, float(longest.total_seconds()))
