"""Read a ``cctrace.trace/1`` document back into a :class:`TraceResult`.

The inverse of :func:`cctrace.report.json_report.trace_to_dict`, and strict: every field
the result holds is checked for its type (and enums for their values) and an error
names the first bad field by its path (``sightings[3].link.gap_s``). Derived fields
(``summary``, ``route``, ``route_order``, ``duration_s``, ``contact_no``,
``camera_ids``, ``generator``) are not read. What the JSON form does not keep:

* times are kept to the millisecond;
* a contact's encounters and a sighting's path come back in time order;
* numbers that were not finite (written as null) come back as NaN, or as None where
  the field is optional;
* distance bands whose distance or seconds were not finite are dropped.

:func:`canonical_digest` is the sha256 of a document in canonical form (sorted keys,
no whitespace): what export approvals are bound to.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeVar

from cctrace.errors import CctraceError
from cctrace.report.json_report import SCHEMA_ID
from cctrace.tracing.result import (
    CameraInfo,
    CameraLinkEvidence,
    ContactSummary,
    EncounterResult,
    LooseFaceResult,
    PathPoint,
    SightingResult,
    TraceQuery,
    TraceResult,
)
from cctrace.types import MaskStatus, SightingStatus

T = TypeVar("T")


class TraceFormatError(CctraceError, ValueError):
    """A document that is not a readable ``cctrace.trace/1`` trace."""


class _Obj:
    """A JSON object and where it sits in the document, with typed field readers."""

    def __init__(self, value: Any, where: str):
        if not isinstance(value, dict):
            raise TraceFormatError(f"{where}: expected an object, got {_kind(value)}")
        self.value: dict[str, Any] = value
        self.where = where

    def get(self, key: str) -> Any:
        if key not in self.value:
            raise TraceFormatError(f"{self.where}.{key}: missing")
        return self.value[key]

    def _fail(self, key: str, expected: str, got: Any) -> TraceFormatError:
        return TraceFormatError(f"{self.where}.{key}: expected {expected}, got {_kind(got)}")

    def text(self, key: str) -> str:
        value = self.get(key)
        if not isinstance(value, str):
            raise self._fail(key, "a string", value)
        return value

    def opt_text(self, key: str) -> str | None:
        return None if self.get(key) is None else self.text(key)

    def integer(self, key: str) -> int:
        value = self.get(key)
        if isinstance(value, bool) or not isinstance(value, int):
            raise self._fail(key, "an integer", value)
        return value

    def opt_integer(self, key: str) -> int | None:
        return None if self.get(key) is None else self.integer(key)

    def flag(self, key: str) -> bool:
        value = self.get(key)
        if not isinstance(value, bool):
            raise self._fail(key, "true or false", value)
        return value

    def opt_number(self, key: str) -> float | None:
        value = self.get(key)
        if value is None:
            return None
        return _number(value, f"{self.where}.{key}")

    def number(self, key: str) -> float:
        """A number; null (a non-finite number when written) reads as NaN."""
        value = self.opt_number(key)
        return math.nan if value is None else value

    def when(self, key: str) -> datetime:
        value = self.text(key)
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError as exc:
            raise TraceFormatError(
                f"{self.where}.{key}: expected an ISO time, got {value!r}"
            ) from exc
        if parsed.tzinfo is None:
            raise TraceFormatError(f"{self.where}.{key}: expected a UTC time, got {value!r}")
        return parsed

    def opt_when(self, key: str) -> datetime | None:
        return None if self.get(key) is None else self.when(key)

    def items(self, key: str) -> list[Any]:
        value = self.get(key)
        if not isinstance(value, list):
            raise self._fail(key, "a list", value)
        return value

    def objects(self, key: str, read: Callable[[_Obj], T]) -> tuple[T, ...]:
        return tuple(
            read(_Obj(item, f"{self.where}.{key}[{i}]")) for i, item in enumerate(self.items(key))
        )

    def strs(self, key: str) -> tuple[str, ...]:
        items = self.items(key)
        for i, item in enumerate(items):
            if not isinstance(item, str):
                raise TraceFormatError(f"{self.where}.{key}[{i}]: expected a string")
        return tuple(items)

    def integers(self, key: str) -> tuple[int, ...]:
        items = self.items(key)
        for i, item in enumerate(items):
            if isinstance(item, bool) or not isinstance(item, int):
                raise TraceFormatError(f"{self.where}.{key}[{i}]: expected an integer")
        return tuple(items)

    def numbers(self, key: str, count: int) -> tuple[float, ...]:
        items = self.items(key)
        if len(items) != count:
            raise TraceFormatError(f"{self.where}.{key}: expected {count} numbers")
        return tuple(
            math.nan if v is None else _number(v, f"{self.where}.{key}[{i}]")
            for i, v in enumerate(items)
        )

    def choice(self, key: str, options: tuple[str, ...]) -> str:
        value = self.text(key)
        if value not in options:
            raise TraceFormatError(f"{self.where}.{key}: expected one of {options}, got {value!r}")
        return value


def _kind(value: Any) -> str:
    return "null" if value is None else type(value).__name__


def _number(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TraceFormatError(f"{where}: expected a number, got {_kind(value)}")
    return float(value)


MASKS = tuple(m.value for m in MaskStatus)
STATUSES = tuple(s.value for s in SightingStatus)


def _query(o: _Obj) -> TraceQuery:
    return TraceQuery(
        case_id=o.text("case_id"),
        photos=o.strs("photos"),
        start_tracklet_id=o.opt_integer("start_tracklet_id"),
        window_from=o.opt_when("window_from"),
        window_to=o.opt_when("window_to"),
        distance_m=o.number("distance_m"),
        minutes=o.number("minutes"),
        accept_threshold=o.number("accept_threshold"),
        review_threshold=o.number("review_threshold"),
    )


def _camera(o: _Obj) -> CameraInfo:
    return CameraInfo(
        camera_id=o.text("camera_id"),
        name=o.text("name"),
        x_m=o.opt_number("x_m"),
        y_m=o.opt_number("y_m"),
        lat=o.opt_number("lat"),
        lon=o.opt_number("lon"),
    )


def _point(o: _Obj) -> PathPoint:
    return PathPoint(o.when("t"), o.number("x_m"), o.number("y_m"))


def _link(o: _Obj) -> CameraLinkEvidence:
    low, high = o.numbers("window_s", 2)
    direction = o.choice("direction", ("after", "before"))
    return CameraLinkEvidence(
        from_tracklet_id=o.integer("from_tracklet_id"),
        from_camera_id=o.text("from_camera_id"),
        direction="after" if direction == "after" else "before",
        gap_s=o.number("gap_s"),
        window_s=(low, high),
        window_source=o.text("window_source"),
        distance_m=o.opt_number("distance_m"),
        body_similarity=o.number("body_similarity"),
        # Added later (height and walking direction): absent from older reports.
        case_height_m=_later(o, "case_height_m"),
        candidate_height_m=_later(o, "candidate_height_m"),
        exit_cos=_later(o, "exit_cos"),
        entry_cos=_later(o, "entry_cos"),
        score=_later(o, "score") or 0.0,
    )


def _later(o: _Obj, key: str) -> float | None:
    """An optional number a report written before it existed does not have."""
    return o.opt_number(key) if key in o.value else None


def _sighting(o: _Obj) -> SightingResult:
    link = o.get("link")
    return SightingResult(
        tracklet_id=o.integer("tracklet_id"),
        camera_id=o.text("camera_id"),
        start=o.when("start"),
        end=o.when("end"),
        score=o.number("score"),
        status=SightingStatus(o.choice("status", STATUSES)),
        mask_status=MaskStatus(o.choice("mask_status", MASKS)),
        snapshot_path=o.opt_text("snapshot"),
        path=o.objects("path", _point),
        link=None if link is None else _link(_Obj(link, f"{o.where}.link")),
    )


def _loose_face(o: _Obj) -> LooseFaceResult:
    x1, y1, x2, y2 = o.numbers("box", 4)
    return LooseFaceResult(
        loose_face_id=o.integer("loose_face_id"),
        camera_id=o.text("camera_id"),
        timestamp=o.when("time"),
        frame_index=o.integer("frame_index"),
        xyxy=(x1, y1, x2, y2),
        score=o.number("score"),
        fate=o.text("fate"),
    )


def _band(o: _Obj) -> tuple[float, float]:
    return o.number("distance_m"), o.number("seconds")


def _encounter(o: _Obj) -> EncounterResult:
    return EncounterResult(
        contact_tracklet_id=o.integer("contact_tracklet_id"),
        case_tracklet_id=o.integer("case_tracklet_id"),
        camera_id=o.text("camera_id"),
        start=o.when("start"),
        end=o.when("end"),
        seconds_within=o.number("seconds_within"),
        min_distance_m=o.number("min_distance_m"),
        min_distance_at=o.when("min_distance_at"),
        case_mask=MaskStatus(o.choice("case_mask", MASKS)),
        contact_mask=MaskStatus(o.choice("contact_mask", MASKS)),
        snapshot_path=o.opt_text("snapshot"),
        seconds_by_band=dict(o.objects("seconds_by_band", _band)),
    )


def _contact(o: _Obj) -> ContactSummary:
    return ContactSummary(
        contact_tracklet_ids=o.integers("contact_tracklet_ids"),
        total_seconds_within=o.number("total_seconds_within"),
        min_distance_m=o.number("min_distance_m"),
        first_seen=o.when("first_seen"),
        last_seen=o.when("last_seen"),
        contact_mask=MaskStatus(o.choice("contact_mask", MASKS)),
        is_close_contact=o.flag("is_close_contact"),
        encounters=o.objects("encounters", _encounter),
        linked_by=o.strs("linked_by"),
    )


def trace_from_dict(document: Any) -> TraceResult:
    """The :class:`TraceResult` a ``cctrace.trace/1`` document describes.

    Raises :class:`TraceFormatError` naming the first field that is missing or of the
    wrong type, or when ``schema`` is not ``cctrace.trace/1``.
    """
    root = _Obj(document, "trace")
    schema = root.value.get("schema")
    if schema != SCHEMA_ID:
        raise TraceFormatError(f"trace.schema: expected {SCHEMA_ID!r}, got {schema!r}")
    return TraceResult(
        query=_query(_Obj(root.get("query"), "trace.query")),
        created_at=root.when("created_at"),
        actor=root.text("actor"),
        cameras=root.objects("cameras", _camera),
        sightings=root.objects("sightings", _sighting),
        contacts=root.objects("contacts", _contact),
        notes=root.strs("notes"),
        loose_faces=root.objects("loose_faces", _loose_face),
    )


def parse_document(text: str | bytes) -> dict[str, Any]:
    """A JSON document as a dict (:class:`TraceFormatError` if it is not JSON or not an
    object; NaN and Infinity are refused, as the writer never emits them)."""

    def refuse(token: str) -> float:
        raise TraceFormatError(f"trace: {token} is not allowed")

    try:
        document = json.loads(text, parse_constant=refuse)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise TraceFormatError(f"trace: not JSON: {exc}") from exc
    if not isinstance(document, dict):
        raise TraceFormatError(f"trace: expected an object, got {_kind(document)}")
    return document


def loads(text: str | bytes) -> TraceResult:
    """:func:`trace_from_dict` of a JSON text."""
    return trace_from_dict(parse_document(text))


def canonical_digest(document: dict[str, Any]) -> str:
    """sha256 (hex) of ``document`` in canonical JSON: sorted keys, no whitespace, UTF-8."""
    canonical = json.dumps(
        document, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    )
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()
