"""JSON report: valid against the shipped schema, UTC times, no embeddings."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from cctrace.report import SCHEMA_ID, load_schema, trace_to_dict, write_json
from cctrace.tracing.result import TraceResult

REPO_ROOT = Path(__file__).resolve().parents[2]


def validate(doc: dict[str, Any]) -> None:
    schema = load_schema()
    jsonschema.Draft202012Validator(
        schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
    ).validate(doc)


def walk(node: Any) -> Iterator[tuple[str, Any]]:
    """Every (key, value) pair in a nested JSON document."""
    if isinstance(node, dict):
        for k, v in node.items():
            yield k, v
            yield from walk(v)
    elif isinstance(node, list):
        for v in node:
            yield from walk(v)


def test_schema_is_a_valid_json_schema() -> None:
    jsonschema.Draft202012Validator.check_schema(load_schema())


def test_every_schema_property_is_described_and_documented() -> None:
    schema = load_schema()
    docs = (REPO_ROOT / "docs" / "report-schema.md").read_text("utf-8")
    for key, value in walk(schema):
        if key == "properties":
            for name, spec in value.items():
                assert "description" in spec, f"{name} has no description"
                assert f"`{name}`" in docs, f"{name} is not in docs/report-schema.md"


def test_trace_validates(tmp_path: Path, trace: TraceResult) -> None:
    path = write_json(trace, tmp_path / "deep" / "case.json")
    doc = json.loads(path.read_text("utf-8"))
    validate(doc)
    assert doc["schema"] == SCHEMA_ID == "cctrace.trace/1"
    assert doc["case_id"] == "C-2024-0193"
    assert doc == json.loads(json.dumps(trace_to_dict(trace)))


def test_empty_trace_validates(empty: TraceResult) -> None:
    doc = trace_to_dict(empty)
    validate(doc)
    assert doc["sightings"] == doc["route"] == doc["contacts"] == []
    assert doc["summary"]["route_start"] is None


def test_summary_and_route(trace: TraceResult) -> None:
    doc = trace_to_dict(trace)
    s = doc["summary"]
    assert (s["sightings_total"], s["sightings_accepted"], s["sightings_needs_review"]) == (5, 4, 1)
    assert (s["contacts_total"], s["close_contacts"], s["encounters_total"]) == (3, 2, 4)
    assert s["route_cameras"] == 3
    starts = [r["start"] for r in doc["route"]]
    assert starts == sorted(starts)
    assert [r["order"] for r in doc["route"]] == [1, 2, 3, 4]
    by_id = {x["tracklet_id"]: x for x in doc["sightings"]}
    assert by_id[101]["route_order"] == 1
    assert by_id[233]["route_order"] is None  # needs review: not on the route
    assert doc["contacts"][1]["camera_ids"] == ["cam-atrium", "cam-food"]
    # Encounters come in time order; bands are a sorted list, not float keys.
    enc = doc["contacts"][1]["encounters"]
    assert [e["camera_id"] for e in enc] == ["cam-atrium", "cam-food"]
    assert [b["distance_m"] for b in enc[0]["seconds_by_band"]] == [1.0, 2.0, 3.0]


def test_times_are_utc_with_z(trace: TraceResult) -> None:
    doc = trace_to_dict(trace)
    times = [
        v
        for k, v in walk(doc)
        if k in {"start", "end", "t", "first_seen", "last_seen", "created_at", "min_distance_at"}
    ]
    assert times
    for t in times:
        assert t.endswith("Z")
        assert datetime.fromisoformat(t).utcoffset() == timedelta(0)


@pytest.mark.parametrize(
    ("created", "expected"),
    [
        (datetime(2024, 5, 3, 14, 2, 40), "2024-05-03T14:02:40.000Z"),  # naive = UTC
        (
            datetime(2024, 5, 3, 16, 2, 40, 123456, tzinfo=timezone(timedelta(hours=2))),
            "2024-05-03T14:02:40.123Z",
        ),
    ],
)
def test_times_are_converted_to_utc(trace: TraceResult, created: datetime, expected: str) -> None:
    doc = trace_to_dict(replace(trace, created_at=created))
    assert doc["created_at"] == expected
    validate(doc)


def test_no_embeddings_or_image_data(trace: TraceResult) -> None:
    doc = trace_to_dict(trace)
    for key, value in walk(doc):
        assert "embedding" not in key
        assert not (isinstance(value, str) and value.startswith("data:"))
        if isinstance(value, list) and value and all(isinstance(v, float) for v in value):
            raise AssertionError(f"{key} holds a vector")


def test_non_finite_numbers_become_null(tmp_path: Path, trace: TraceResult) -> None:
    contact = trace.contacts[0]
    bad = replace(contact, min_distance_m=math.inf)
    result = replace(trace, contacts=(bad, *trace.contacts[1:]))
    doc = json.loads(write_json(result, tmp_path / "x.json").read_text("utf-8"))
    assert doc["contacts"][0]["min_distance_m"] is None
    validate(doc)


def test_schema_rejects_a_wrong_document(trace: TraceResult) -> None:
    doc = trace_to_dict(trace)
    doc["sightings"][0]["status"] = "maybe"
    with pytest.raises(jsonschema.ValidationError):
        validate(doc)
    doc = trace_to_dict(trace)
    doc["created_at"] = "2024-05-03 14:02:40"
    with pytest.raises(jsonschema.ValidationError):
        validate(doc)
