"""Reading ``cctrace.trace/1`` back: every field of a realistic trace round-trips, bad
documents fail naming the field, and the latest result a case keeps is that JSON
(never a pickle) with approvals bound to its canonical digest."""

from __future__ import annotations

import json
import math
from dataclasses import fields, is_dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from cctrace.casework import (
    LATEST_RESULT,
    LEGACY_LATEST_RESULT,
    latest_result_digest,
    load_latest_result,
    save_latest_result,
)
from cctrace.config import load_site
from cctrace.errors import NotFoundError
from cctrace.report import load_schema, trace_to_dict
from cctrace.report.json_load import TraceFormatError, canonical_digest, loads, trace_from_dict
from cctrace.report.json_report import dumps
from cctrace.tracing.result import (
    CameraLinkEvidence,
    ContactSummary,
    LooseFaceResult,
    SightingResult,
    TraceResult,
)
from cctrace.types import MaskStatus, SightingStatus


def full_trace(trace: TraceResult) -> TraceResult:
    """``trace`` with every optional field set: a start tracklet, a sighting suggested
    from another camera (link), a contact joined from two tracklets (linked_by), loose
    faces; encounters in time order, as the JSON keeps them."""
    first = trace.sightings[0]
    linked = SightingResult(
        tracklet_id=411, camera_id="cam-food", start=first.end + timedelta(seconds=41.25),
        end=first.end + timedelta(seconds=80.5), score=0.83,
        status=SightingStatus.NEEDS_REVIEW, mask_status=MaskStatus.UNKNOWN,
        snapshot_path=None, path=first.path[:3],
        link=CameraLinkEvidence(
            from_tracklet_id=first.tracklet_id, from_camera_id=first.camera_id,
            direction="after", gap_s=41.25, window_s=(20.0, 95.5), window_source="learned",
            distance_m=None, body_similarity=0.83, case_height_m=1.74,
            candidate_height_m=1.71, exit_cos=0.93, entry_cos=-0.25, score=1.5,
        ),
    )  # fmt: skip
    contacts = tuple(
        replace(
            c,
            encounters=tuple(sorted(c.encounters, key=lambda e: e.start)),
            linked_by=("face", "motion continuity") if len(c.contact_tracklet_ids) > 1 else (),
        )
        for c in trace.contacts
    )
    loose = (
        LooseFaceResult(9001, "cam-atrium", first.start + timedelta(milliseconds=125), 4411,
                        (10.5, 20.0, 42.25, 61.0), 0.47, "ambiguous"),
        LooseFaceResult(9002, "cam-food", first.start + timedelta(seconds=3), 12, (0, 0, 8, 9),
                        0.41, "no_person"),
    )  # fmt: skip
    return replace(
        trace,
        query=replace(trace.query, start_tracklet_id=101),
        sightings=(*trace.sightings, linked),
        contacts=contacts,
        loose_faces=loose,
    )


def to_ms(value: Any) -> Any:
    """``value`` with every datetime inside cut to the millisecond (what JSON keeps)."""
    if isinstance(value, datetime):
        return value.replace(microsecond=value.microsecond // 1000 * 1000)
    if is_dataclass(value) and not isinstance(value, type):
        return replace(value, **{f.name: to_ms(getattr(value, f.name)) for f in fields(value)})
    if isinstance(value, tuple):
        return tuple(to_ms(v) for v in value)
    return value


def test_every_field_round_trips(trace: TraceResult) -> None:
    full = full_trace(trace)
    assert full.sightings[-1].link is not None
    assert any(c.linked_by for c in full.contacts) and full.loose_faces
    assert full.query.start_tracklet_id is not None
    document = json.loads(dumps(full))
    jsonschema.Draft202012Validator(
        load_schema(), format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
    ).validate(document)
    back = trace_from_dict(document)
    assert any(p.timestamp.microsecond % 1000 for s in full.sightings for p in s.path)
    assert back == to_ms(full)
    assert back.route == to_ms(full).route
    assert loads(dumps(back)) == back


def test_a_report_from_before_height_and_direction_still_loads(trace: TraceResult) -> None:
    document = json.loads(dumps(full_trace(trace)))
    link = document["sightings"][-1]["link"]
    for key in ("case_height_m", "candidate_height_m", "exit_cos", "entry_cos", "score"):
        del link[key]
    back = trace_from_dict(document).sightings[-1].link
    assert back is not None and back.body_similarity == pytest.approx(0.83)
    assert (back.case_height_m, back.exit_cos, back.entry_cos, back.score) == (None, None, None, 0)


def test_what_json_does_not_keep(trace: TraceResult) -> None:
    sub_ms = replace(trace, created_at=trace.created_at + timedelta(microseconds=1500))
    assert loads(dumps(sub_ms)).created_at == trace.created_at + timedelta(milliseconds=1)
    s = trace.sightings[0]
    nan = replace(trace, sightings=(replace(s, score=math.nan), *trace.sightings[1:]))
    assert math.isnan(loads(dumps(nan)).sightings[0].score)
    c = trace.contacts[1]
    back = loads(dumps(trace)).contacts[1]
    assert back.encounters == tuple(sorted(c.encounters, key=lambda e: e.start))


def _broken(trace: TraceResult, change: Any) -> dict[str, Any]:
    document = trace_to_dict(trace)
    change(document)
    return document


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d.update(schema="cctrace.trace/2"), "trace.schema: expected"),
        (lambda d: d.pop("actor"), "trace.actor: missing"),
        (lambda d: d["sightings"][1].update(status="maybe"), r"trace.sightings\[1\].status"),
        (lambda d: d["sightings"][0].update(tracklet_id="7"), "expected an integer, got str"),
        (lambda d: d["sightings"][0].update(tracklet_id=True), "expected an integer, got bool"),
        (lambda d: d["contacts"][0]["encounters"][0].update(start="yesterday"), "ISO time"),
        (
            lambda d: d["contacts"][0]["encounters"][0].update(start="2024-05-01T09:00:00"),
            "expected a UTC time",
        ),
        (
            lambda d: d["contacts"][0].update(contact_tracklet_ids=[1, "x"]),
            r"contact_tracklet_ids\[1\]",
        ),
        (lambda d: d["query"].update(photos="a.jpg"), "trace.query.photos: expected a list"),
        (lambda d: d.update(loose_faces=[{"loose_face_id": 1}]), r"loose_faces\[0\]\.box: missing"),
    ],
)
def test_bad_documents_name_the_field(trace: TraceResult, change: Any, message: str) -> None:
    with pytest.raises(TraceFormatError, match=message):
        trace_from_dict(_broken(trace, change))


@pytest.mark.parametrize("text", [b"", b"[]", b"\xff", b'{"x": NaN}'])
def test_text_that_is_not_a_trace_object_is_refused(text: bytes) -> None:
    with pytest.raises(TraceFormatError):
        loads(text)


def test_the_latest_result_is_the_json_and_approvals_bind_to_its_digest(
    tmp_path: Path, trace: TraceResult
) -> None:
    (tmp_path / "site.yaml").write_text(
        "name: t\ncameras:\n  - id: cam1\n    location: {x_m: 0, y_m: 0}\n"
        "    footage: [clip.mp4]\n    start_time: 2026-03-15T08:00:00Z\n"
        "storage:\n  data_dir: data\n"
    )
    site = load_site(tmp_path / "site.yaml", check_files=False)
    case = trace.query.case_id
    folder = site.storage.data_dir / "reports" / case
    folder.mkdir(parents=True)
    (folder / LEGACY_LATEST_RESULT).write_bytes(b"\x80\x04 never unpickled")
    with pytest.raises(NotFoundError, match="older cctrace is not read"):
        load_latest_result(site, case)
    assert latest_result_digest(site, case) is None
    full = full_trace(trace)
    path = save_latest_result(site, full)
    assert path == folder / LATEST_RESULT
    assert load_latest_result(site, case) == to_ms(full)
    digest = latest_result_digest(site, case)
    assert digest == canonical_digest(trace_to_dict(full))
    # The binding is to the content: the same document re-indented keeps it, any change
    # of the result breaks it.
    path.write_text(json.dumps(json.loads(path.read_text()), indent=None))
    assert latest_result_digest(site, case) == digest
    changed = replace(full, contacts=full.contacts[:1])
    save_latest_result(site, changed)
    assert latest_result_digest(site, case) not in (None, digest)
    path.write_text('{"schema": "cctrace.trace/1"}')
    with pytest.raises(TraceFormatError):
        load_latest_result(site, case)


def test_contact_summaries_keep_their_order(trace: TraceResult) -> None:
    back = loads(dumps(trace))
    assert [c.contact_tracklet_ids for c in back.contacts] == [
        c.contact_tracklet_ids for c in trace.contacts
    ]
    assert all(isinstance(c, ContactSummary) for c in back.contacts)
