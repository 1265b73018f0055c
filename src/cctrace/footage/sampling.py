"""Uniform frame sampling by timestamp.

Sample times are the grid ``k / analysis_fps`` (k = 0, 1, 2, ...) measured from the
start of the file. A frame is kept when its offset reaches the next sample time, so
sampling stays uniform when the rates do not divide (7 fps out of 25 keeps frames
0, 4, 8, 11, 15, ...), and the grid is absolute, so a run resumed part-way keeps the
same frames as an uninterrupted one. All arithmetic is exact (``Fraction``).
"""

from __future__ import annotations

import math
from fractions import Fraction

_MAX_DENOMINATOR = 1_000_000


def as_fraction(value: float | Fraction) -> Fraction:
    """A rate or time as an exact fraction (floats rounded to 1e-6 precision)."""
    if isinstance(value, Fraction):
        return value
    return Fraction(value).limit_denominator(_MAX_DENOMINATOR)


def first_index_at(offset_s: float, fps: Fraction) -> int:
    """Index of the first frame whose offset ``index / fps`` is at or after ``offset_s``."""
    if offset_s <= 0:
        return 0
    exact = as_fraction(offset_s) * fps
    # Tolerate float noise: an offset computed as i / fps maps back to i, not i + 1.
    return max(0, math.ceil(exact - Fraction(1, _MAX_DENOMINATOR)))


class Sampler:
    """Decides which frames to keep for an analysis rate.

    ``source_fps`` is the rate that turns frame indices into seconds; ``first_index``
    is where a resumed run starts (frames before it were handled by an earlier run).
    Frames must be offered in increasing index order; missing indices (frames that
    were not decoded) are fine: a sample then lands on the next frame offered.
    """

    def __init__(self, source_fps: Fraction, analysis_fps: float, first_index: int = 0) -> None:
        if source_fps <= 0:
            raise ValueError(f"source fps must be > 0, got {source_fps}")
        if analysis_fps <= 0:
            raise ValueError(f"analysis fps must be > 0, got {analysis_fps}")
        self._ratio = as_fraction(analysis_fps) / source_fps
        """Samples per frame: frame i lies at sample-grid position i * ratio."""
        self.first_index = max(0, first_index)
        # The state an uninterrupted run has just before frame `first_index`.
        self._next_k = (
            0 if self.first_index == 0 else math.floor((self.first_index - 1) * self._ratio) + 1
        )

    def keep(self, index: int) -> bool:
        """True when the frame at ``index`` is the first one at or after the next sample time."""
        if index < self.first_index:
            return False
        position = index * self._ratio
        if position < self._next_k:
            return False
        self._next_k = math.floor(position) + 1
        return True
