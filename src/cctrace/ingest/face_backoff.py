"""Fewer face searches where nothing new appeared: head-region back-off.

On the frames where ingest searches head regions for faces, a region that is the same
head as one searched before (it overlaps the earlier region and is about as tall) and
that gave no face several times in a row is searched less often: after
``misses_before_backoff`` misses, every 2nd head-search frame, then every 4th, up to
``max_interval`` head-search frames (with the defaults, face_every_n_frames 2 at 7 fps:
at least once every 8 analysed frames, about 1.1 s). A head that grew (the person
came closer: a larger, better face may now show) or a new head is searched at once;
a search that finds a face resets the count. On PETS S2L1 (people seen from behind or
too far away for a face most of the time) this skips most searches; close-up cameras,
where faces are found, keep the full cadence.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

Region = tuple[int, int, int, int]

SAME_HEAD_IOU = 0.15
"""A region overlapping an earlier one this much (IoU) and about as tall
(:data:`SAME_HEAD_HEIGHT`) is the same head: people walk up to about half a head region's
width between two head-search frames at 7 fps."""
SAME_HEAD_HEIGHT = 1.3
"""Same head: heights within this ratio of each other."""
GROWTH_RESETS = 1.15
"""A head region this much taller than when it was last searched is searched again."""


@dataclass
class _Memory:
    region: Region
    searched_height: int
    misses: int
    skipped: int


def _iou(a: Region, b: Region) -> float:
    ix = max(0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


class HeadSearchBackoff:
    """Decides, per head region, whether this head-search frame searches it.

    Use: ``plan(regions)`` -> which to search; then ``record(region, found)`` for each
    region searched; regions not searched are carried over by ``plan`` itself.
    """

    def __init__(self, misses_before_backoff: int = 2, max_interval: int = 4) -> None:
        if misses_before_backoff < 1 or max_interval < 1:
            raise ValueError("misses_before_backoff and max_interval must be >= 1")
        self.misses_before_backoff = misses_before_backoff
        self.max_interval = max_interval
        self._memory: list[_Memory] = []
        self._next: list[_Memory] = []
        self.searched = 0
        self.skipped = 0

    def to_state(self) -> dict[str, Any]:
        """The back-off's memory as plain data (for ingest checkpoints)."""
        return {
            "misses_before_backoff": self.misses_before_backoff,
            "max_interval": self.max_interval,
            "memory": [[*m.region, m.searched_height, m.misses, m.skipped] for m in self._memory],
            "searched": self.searched,
            "skipped": self.skipped,
        }

    @classmethod
    def from_state(cls, state: Any) -> HeadSearchBackoff:
        """The back-off :meth:`to_state` described (``ValueError`` when it does not fit)."""
        if not isinstance(state, dict):
            raise ValueError("head-search back-off: expected a dict")
        made = cls(int(state["misses_before_backoff"]), int(state["max_interval"]))
        for row in state["memory"]:
            x0, y0, x1, y1, height, misses, skipped = (int(v) for v in row)
            made._memory.append(_Memory((x0, y0, x1, y1), height, misses, skipped))
        made.searched = int(state["searched"])
        made.skipped = int(state["skipped"])
        return made

    def _interval(self, misses: int) -> int:
        """Head-search frames between searches of a head that missed ``misses`` times."""
        if misses < self.misses_before_backoff:
            return 1
        return int(min(self.max_interval, 2 ** (misses - self.misses_before_backoff + 1)))

    def plan(self, regions: list[Region]) -> list[bool]:
        """For each region of this frame: True to search it now."""
        decisions: list[bool] = []
        self._next = []
        for region in regions:
            height = region[3] - region[1]
            best, best_iou = None, SAME_HEAD_IOU
            for memory in self._memory:
                other = memory.region[3] - memory.region[1]
                if max(height, other) > SAME_HEAD_HEIGHT * max(min(height, other), 1):
                    continue
                overlap = _iou(region, memory.region)
                if overlap >= best_iou:
                    best, best_iou = memory, overlap
            if best is not None:
                self._memory.remove(best)  # one region, one memory
            search = (
                best is None
                or height >= GROWTH_RESETS * best.searched_height
                or best.skipped + 1 >= self._interval(best.misses)
            )
            if search:
                decisions.append(True)
                misses = 0 if best is None else best.misses
                self._next.append(_Memory(region, height, misses, 0))
                self.searched += 1
            else:
                assert best is not None  # search is True when no memory matched
                decisions.append(False)
                self._next.append(
                    _Memory(region, best.searched_height, best.misses, best.skipped + 1)
                )
                self.skipped += 1
        return decisions

    def record(self, region: Region, found_face: bool) -> None:
        """The outcome of searching ``region`` (planned this frame)."""
        for memory in self._next:
            if memory.region == region and memory.skipped == 0:
                memory.misses = 0 if found_face else memory.misses + 1
                break

    def commit(self) -> None:
        """End of the frame: what was planned becomes the memory (heads not seen this
        frame are forgotten)."""
        self._memory = self._next
        self._next = []


__all__ = ["HeadSearchBackoff"]
