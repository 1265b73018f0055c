"""Decode single frames of stored footage files, by frame index, for evidence images.

Frame indices are the ones ingest stored (``TrackPoint.frame_index``): presentation
indices from pts and the container rate (see :mod:`cctrace.footage.reader`). A frame
is found by seeking to the keyframe before it and decoding forward, every frame
(no non-reference skipping), so the exact frame the tracker saw comes back.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from pathlib import Path

from cctrace.errors import FootageError
from cctrace.footage.reader import iter_frames
from cctrace.store.records import FootageRecord
from cctrace.types import Image

logger = logging.getLogger(__name__)

CACHE_FRAMES = 16
"""Decoded frames a :class:`FrameSource` keeps (an export revisits a few frames)."""


class FrameUnavailableError(FootageError):
    """The footage file is gone, unreadable, or has no frame at that index."""


def decode_frame(footage: FootageRecord, frame_index: int) -> Image:
    """The BGR frame ``frame_index`` of a stored footage file.

    Raises:
        FrameUnavailableError: the file is missing or unreadable, or the frame is not
            in it (the file was replaced or truncated since ingest).
    """
    path = Path(footage.path)
    if frame_index < 0:
        raise FrameUnavailableError(f"frame index must be >= 0, got {frame_index}")
    if not path.is_file():
        raise FrameUnavailableError(f"footage file {path} is no longer there")
    fps = footage.fps
    try:
        frames = iter_frames(
            path,
            footage.camera_id,
            start_time=footage.start_time,
            analysis_fps=fps,
            source_fps=fps,
            start_offset_s=frame_index / fps,
            skip_nonref=False,
        )
        for frame in frames:
            if frame.frame_index == frame_index:
                return frame.image
            if frame.frame_index > frame_index:
                break
    except FootageError as exc:
        raise FrameUnavailableError(f"{path}: {exc}") from exc
    raise FrameUnavailableError(f"{path}: frame {frame_index} could not be decoded")


class FrameSource:
    """Decodes frames on demand and keeps the last few (least recently used out)."""

    def __init__(self, capacity: int = CACHE_FRAMES) -> None:
        self.capacity = max(1, capacity)
        self._cache: OrderedDict[tuple[int, int], Image] = OrderedDict()

    def frame(self, footage: FootageRecord, frame_index: int) -> Image:
        """Frame ``frame_index`` of ``footage`` (see :func:`decode_frame`); do not mutate it."""
        key = (footage.id, frame_index)
        cached = self._cache.get(key)
        if cached is not None:
            self._cache.move_to_end(key)
            return cached
        image = decode_frame(footage, frame_index)
        self._cache[key] = image
        while len(self._cache) > self.capacity:
            self._cache.popitem(last=False)
        logger.debug("decoded frame %d of footage %d", frame_index, footage.id)
        return image
