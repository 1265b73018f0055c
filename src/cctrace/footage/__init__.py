"""Footage: video files in, sampled and timed frames out.

- :mod:`~cctrace.footage.reader`: ``probe`` and ``iter_frames`` (PyAV), ``DecodeReport``.
- :mod:`~cctrace.footage.timing`: a file's start time (config, file name, container) and
  ``sha256_file``.
- :mod:`~cctrace.footage.sources`: a camera's files, folders and globs -> video files.
- :mod:`~cctrace.footage.demo`: the PETS2009 demo clip from Debian's opencv-doc.
"""

from cctrace.footage.decode_report import DecodeReport
from cctrace.footage.reader import NONREF_MIN_RATIO, FootageInfo, iter_frames, probe
from cctrace.footage.sources import (
    VIDEO_EXTENSIONS,
    expand_footage,
    expand_sources,
    is_video_file,
)
from cctrace.footage.timing import (
    StartTime,
    parse_filename_time,
    resolve_start,
    resolve_start_time,
    sha256_file,
)

__all__ = [
    "NONREF_MIN_RATIO",
    "VIDEO_EXTENSIONS",
    "DecodeReport",
    "FootageInfo",
    "StartTime",
    "expand_footage",
    "expand_sources",
    "is_video_file",
    "iter_frames",
    "parse_filename_time",
    "probe",
    "resolve_start",
    "resolve_start_time",
    "sha256_file",
]
