"""Exceptions raised by cctrace. Each names what was expected and what was found."""

from __future__ import annotations


class CctraceError(Exception):
    """Base class for every error cctrace raises on purpose."""


class ConfigError(CctraceError):
    """A site or settings file is malformed; the message names the file and line."""


class FootageError(CctraceError):
    """A video file could not be opened, decoded or timed."""


class ModelError(CctraceError):
    """A model file is missing, corrupt (sha256 mismatch) or failed to load."""


class PhotoError(CctraceError):
    """A query photo is unreadable, or holds no face or more than one face."""


class StoreError(CctraceError):
    """The database or vector index is missing, inconsistent or unreachable."""


class NotFoundError(CctraceError):
    """A camera, case, tracklet or file asked for does not exist."""


class QueryError(CctraceError, ValueError):
    """A trace request is malformed: bad case id, window, distance or thresholds."""
