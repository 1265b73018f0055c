"""Shot cuts and recording gaps: where per-camera tracking must start afresh.

A tracker that carries its tracks over a hard cut (an edited clip, a PTZ preset jump,
a camera switched on a recorder's multiplexed output) gives one person's track to
someone else. :class:`CutDetector` compares each analysed frame with the one before:

* **picture**: both downscaled to a coarse grid of ``GRID`` cells (mean grey each)
  and to an HS colour histogram. People walking in a fixed camera change only the
  cells they stand in and barely move the histogram; a different shot changes
  almost every cell *and* the colour mix. A cut needs both: at least
  ``CELL_SHARE`` of the cells changed by more than ``CELL_DELTA`` grey levels, and
  a histogram (Hellinger) distance of at least ``HIST_DISTANCE``.
* **time**: analysed frames more than ``GAP_STEPS`` sampling steps apart (footage
  missing inside a file, a recorder gap) end every track too: nothing says who
  walked where in between.

The detector keeps only the last frame's small features, so its state
(:meth:`CutDetector.to_state`) is part of the camera's checkpoint.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar

import cv2
import numpy as np
import numpy.typing as npt

from cctrace.state import attrs_from_state, attrs_to_state

GRID = (16, 12)
"""Cells across and down of the coarse grey picture."""
CELL_DELTA = 24.0
"""A cell changed when its mean grey moved by more than this (0-255)."""
CELL_SHARE = 0.3
"""A cut changes at least this share of the cells. People walking in a fixed camera
changed at most 0.026 (PETS S2L1, S3-MF1, six CAVIAR clips, consecutive analysed
frames); a cut between those scenes changed 0.53-0.60."""
HIST_DISTANCE = 0.4
"""A cut moves the HS histogram at least this far (Hellinger distance, 0..1): at most
0.20 between consecutive frames of the same real clips, 0.69-0.73 across a cut between
them."""
HIST_BINS = (16, 8)
"""Hue and saturation bins of the colour histogram."""
HIST_SIZE = (96, 72)
"""The frame is shrunk to this size before its histogram is taken."""
GAP_STEPS = 4.0
"""Analysed frames further apart than this many sampling steps are a recording gap."""


class Break(enum.Enum):
    """Why tracking restarts at a frame."""

    NONE = "none"
    CUT = "cut"
    GAP = "gap"


@dataclass(frozen=True)
class FrameFeatures:
    """The few numbers of a frame that cut detection compares."""

    cells: npt.NDArray[np.float32]
    """Mean grey per grid cell, (rows, cols)."""
    hist: npt.NDArray[np.float32]
    """HS histogram, L1-normalised."""


@dataclass(frozen=True)
class Change:
    """How much the picture changed between two frames."""

    cell_share: float
    """Share of grid cells whose mean grey moved by more than ``CELL_DELTA``."""
    hist_distance: float
    """Hellinger distance of the HS histograms (0 same, 1 disjoint)."""

    @property
    def is_cut(self) -> bool:
        """Both the layout and the colours changed: a different shot."""
        return self.cell_share >= CELL_SHARE and self.hist_distance >= HIST_DISTANCE


def frame_features(image: npt.NDArray[np.uint8]) -> FrameFeatures:
    """Coarse grey grid and HS histogram of a BGR image (one shrink of the frame, then
    work on ``HIST_SIZE`` pixels only)."""
    small = cv2.resize(image, HIST_SIZE, interpolation=cv2.INTER_AREA)
    grey = cv2.cvtColor(small, cv2.COLOR_BGR2GRAY)
    cells = cv2.resize(grey, GRID, interpolation=cv2.INTER_AREA).astype(np.float32)
    hsv = cv2.cvtColor(small, cv2.COLOR_BGR2HSV)
    hist = cv2.calcHist([hsv], [0, 1], None, list(HIST_BINS), [0, 180, 0, 256])
    hist = hist.astype(np.float32).ravel()
    hist /= max(float(hist.sum()), 1.0)
    return FrameFeatures(cells=cells, hist=hist)


def compare(a: FrameFeatures, b: FrameFeatures) -> Change:
    """How far frame ``b`` is from frame ``a``."""
    changed = np.abs(a.cells - b.cells) > CELL_DELTA
    bc = float(np.sum(np.sqrt(a.hist * b.hist)))
    return Change(float(changed.mean()), float(np.sqrt(max(0.0, 1.0 - bc))))


class CutDetector:
    """Says, frame by frame, whether tracking must restart (a cut or a gap).

    ``step_s`` is the analysis sampling step; gaps longer than ``gap_steps`` of them
    count (and time running backwards). Both features are taken at a fixed size, so
    a frame size change alone is no cut.
    """

    def __init__(self, step_s: float, gap_steps: float = GAP_STEPS) -> None:
        if step_s <= 0:
            raise ValueError(f"step_s must be positive, got {step_s}")
        self.step_s = step_s
        self.gap_steps = gap_steps
        self._last: FrameFeatures | None = None
        self._last_time: datetime | None = None
        self.cuts = 0
        """Shot cuts found so far."""
        self.gaps = 0
        """Recording gaps found so far."""

    STATE: ClassVar[dict[str, Any]] = {
        "step_s": float,
        "gap_steps": float,
        "_last": FrameFeatures | None,
        "_last_time": datetime | None,
        "cuts": int,
        "gaps": int,
    }
    """What :meth:`to_state` holds (name -> type)."""

    def to_state(self) -> dict[str, Any]:
        """Plain numbers, text and arrays (:meth:`from_state` gives it back)."""
        return attrs_to_state(self, self.STATE)

    @classmethod
    def from_state(cls, state: Any) -> CutDetector:
        """The detector :meth:`to_state` described (:class:`~cctrace.state.StateError`)."""
        made = cls.__new__(cls)
        attrs_from_state(made, cls.STATE, state, "cut detector")
        return made

    def check(self, image: npt.NDArray[np.uint8], timestamp: datetime) -> Break:
        """Compare this frame with the last one checked, then remember it."""
        features = frame_features(image)
        result = Break.NONE
        if self._last is not None and self._last_time is not None:
            dt = (timestamp - self._last_time).total_seconds()
            if dt > self.gap_steps * self.step_s or dt < 0:
                result = Break.GAP
            elif compare(self._last, features).is_cut:
                result = Break.CUT
        self._last, self._last_time = features, timestamp
        if result is Break.CUT:
            self.cuts += 1
        elif result is Break.GAP:
            self.gaps += 1
        return result
