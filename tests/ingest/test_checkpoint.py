"""Ingest checkpoints are versioned, authenticated, explicit state: nothing a database
writer plants (a bare pickle, an old pickle checkpoint, an altered or moved checkpoint,
another version) is ever loaded, and nothing in the checkpoint path unpickles."""

from __future__ import annotations

import inspect
import io
import json
import pickle
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

import cctrace.ingest.checkpoint as checkpoint_module
import cctrace.state as state_module
from cctrace.config import load_site
from cctrace.ingest.camera import CameraProcessor, GroundMapper
from cctrace.ingest.checkpoint import (
    HEADER,
    MAC_BYTES,
    MAGIC,
    CheckpointError,
    _mac,
    decode_checkpoint,
    encode_checkpoint,
)
from cctrace.state import StateError, pack, unpack
from cctrace.store.records import FootageRecord, FootageStatus
from cctrace.types import Detections, FaceSample, Frame, Snapshot, TrackPoint

KEY = bytes(range(32))


@pytest.fixture
def processor(tmp_path: Path) -> CameraProcessor:
    (tmp_path / "site.yaml").write_text(
        "name: t\ncameras:\n  - id: cam1\n    location: {x_m: 0, y_m: 0}\n"
        "    footage: [clip.mp4]\n    start_time: 2026-03-15T08:00:00Z\n"
    )
    site = load_site(tmp_path / "site.yaml", check_files=False)
    return CameraProcessor(site.cameras[0], site.ingest, source_fps=10.0)


@pytest.fixture
def footage() -> FootageRecord:
    when = datetime(2026, 3, 15, 8, tzinfo=UTC)
    return FootageRecord(
        id=7, camera_id="cam1", path="/f.mp4", sha256="a" * 64, size=1, start_time=when,
        duration_s=60.0, fps=10.0, status=FootageStatus.RUNNING, progress_offset_s=10.0,
        checkpoint_state=None, error=None, frames_decoded=100, frames_failed=0,
        created_at=when, updated_at=when,
    )  # fmt: skip


def _busy(processor: CameraProcessor) -> None:
    """Give the processor real state: tracks, an open tracklet with a face and a
    snapshot, a cut detector that saw a frame, a ground mapper."""
    t0 = datetime(2026, 3, 15, 8, 0, 1, 123456, tzinfo=UTC)
    image = np.random.default_rng(0).integers(0, 255, (120, 160, 3), dtype=np.uint8)
    frame = Frame("cam1", 3, t0, 0.3, image)
    processor._end_tracks_at_break(frame)
    for i in range(3):
        dets = Detections.create([[10 + i, 10, 40 + i, 100], [90, 5, 120, 110]], [0.9, 0.85])
        processor.tracker.update(dets, image)
    processor.builder.add_point(0, TrackPoint(3, t0, (1.0, 2.0, 3.5, 4.25), (0.1, 0.2), 0.9))
    processor.builder.add_face(
        0, FaceSample(3, t0, np.ones(128, np.float32), 0.7, None, np.zeros((4, 4, 3), np.uint8))
    )
    processor.builder.set_snapshot(0, Snapshot(3, t0, image[:20, :20], (1.0, 2.0, 3.0, 4.0)), 5.0)
    processor._mapper = GroundMapper(processor.camera, 160)
    processor._frames_seen = 4
    processor._face_counts = {"assigned": 2}


def test_a_checkpoint_round_trips(processor: CameraProcessor, footage: FootageRecord) -> None:
    _busy(processor)
    blob = encode_checkpoint(processor, footage, KEY)
    assert blob.startswith(MAGIC)
    assert b"\x80\x04" not in blob[: HEADER.size + MAC_BYTES + 4]  # not a pickle
    back = decode_checkpoint(blob, footage, KEY)
    assert isinstance(back, CameraProcessor)
    assert back.camera == processor.camera and back.config == processor.config
    again = back.to_state()
    want = processor.to_state()
    assert _same(again, want)
    # the tracker goes on with the same ids
    dets = Detections.create([[13, 10, 43, 100], [90, 5, 120, 110]], [0.9, 0.85])
    assert back.tracker.update(dets).tracker_id.tolist() == (
        processor.tracker.update(dets).tracker_id.tolist()
    )


def _same(a: object, b: object) -> bool:
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return (
            isinstance(a, np.ndarray)
            and isinstance(b, np.ndarray)
            and a.dtype == b.dtype
            and np.array_equal(a, b)
        )
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list | tuple) and isinstance(b, list | tuple):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return a == b


def test_planted_or_moved_checkpoints_are_refused(
    processor: CameraProcessor, footage: FootageRecord
) -> None:
    blob = encode_checkpoint(processor, footage, KEY)
    with pytest.raises(CheckpointError, match="not a versioned checkpoint"):
        decode_checkpoint(pickle.dumps({"a": 1}), footage, KEY)  # a bare pickle
    altered = blob[:-1] + bytes([blob[-1] ^ 1])
    with pytest.raises(CheckpointError, match="failed authentication"):
        decode_checkpoint(altered, footage, KEY)
    with pytest.raises(CheckpointError, match="failed authentication"):
        decode_checkpoint(blob, replace(footage, id=8), KEY)  # another file's
    with pytest.raises(CheckpointError, match="failed authentication"):
        decode_checkpoint(blob, footage, bytes(32))  # another data key
    future = HEADER.pack(MAGIC, 3) + blob[HEADER.size :]
    with pytest.raises(CheckpointError, match="version 3"):
        decode_checkpoint(future, footage, KEY)


def test_an_old_pickle_checkpoint_is_refused_unread(footage: FootageRecord) -> None:
    """Version 1 (cctrace before explicit state: an authenticated pickle) is refused
    before anything is parsed, even with the right key."""

    class Evil:
        def __reduce__(self) -> tuple[object, tuple[str]]:
            import os

            return (os.system, ("echo pwned",))

    payload = pickle.dumps(Evil())
    header = HEADER.pack(MAGIC, 1)
    blob = header + _mac(KEY, header, footage, payload) + payload
    with pytest.raises(CheckpointError, match=r"older cctrace.*never loads pickles"):
        decode_checkpoint(blob, footage, KEY)


def test_an_authentic_payload_that_is_not_state_is_refused(footage: FootageRecord) -> None:
    header = HEADER.pack(MAGIC, 2)
    for payload in (
        pickle.dumps({"processor": 1}),  # a pickle under the new version: not parsed as one
        pack({"processor": {"camera": {}}}),  # state of the wrong shape
        _object_array_payload(),  # an npz holding a pickled object array
    ):
        blob = header + _mac(KEY, header, footage, payload) + payload
        with pytest.raises(CheckpointError, match="cannot be read"):
            decode_checkpoint(blob, footage, KEY)


def _object_array_payload() -> bytes:
    document = json.dumps({"processor": {"$array": "a0"}}).encode()
    buffer = io.BytesIO()
    np.savez(buffer, a0=np.array([{"x": 1}], dtype=object), allow_pickle=True)
    return len(document).to_bytes(4, "big") + document + buffer.getvalue()


def test_no_pickle_in_the_checkpoint_path() -> None:
    for module in (checkpoint_module, state_module):
        source = inspect.getsource(module)
        assert "import pickle" not in source and "allow_pickle=True" not in source


def test_state_packing_is_exact() -> None:
    tree = {
        "x": [0.1, 1e-300, float("inf"), -0.0, 2**62, True, None, "é"],
        "a": np.arange(6, dtype=np.float32).reshape(2, 3),
        "nested": [{"b": np.array([1, 2], np.int64)}],
    }
    back = unpack(pack(tree))
    assert back["x"][:2] == [0.1, 1e-300] and back["x"][2] == float("inf")
    assert back["x"][3:] == [-0.0, 2**62, True, None, "é"]
    assert back["a"].dtype == np.float32 and np.array_equal(back["a"], tree["a"])
    assert back["nested"][0]["b"].tolist() == [1, 2]
    with pytest.raises(StateError):
        pack({"o": np.array([object()])})
    with pytest.raises(StateError):
        unpack(b"\x00\x00\x00\x09{}")
