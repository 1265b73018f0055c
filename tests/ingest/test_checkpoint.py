"""Ingest checkpoints are versioned and authenticated: nothing a database writer plants
(a bare pickle, an altered or moved checkpoint, another version) is ever unpickled."""

from __future__ import annotations

import pickle
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from cctrace.config import load_site
from cctrace.ingest.camera import CameraProcessor
from cctrace.ingest.checkpoint import (
    HEADER,
    MAC_BYTES,
    MAGIC,
    CheckpointError,
    _mac,
    decode_checkpoint,
    encode_checkpoint,
)
from cctrace.store.records import FootageRecord, FootageStatus

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


def test_a_checkpoint_round_trips(processor: CameraProcessor, footage: FootageRecord) -> None:
    # numpy arrays (pickled out of band with protocol 5) are part of real tracker state.
    processor.probe = np.arange(6, dtype=np.float32).reshape(2, 3)  # type: ignore[attr-defined]
    blob = encode_checkpoint(processor, footage, KEY)
    assert blob.startswith(MAGIC)
    back = decode_checkpoint(blob, footage, KEY)
    assert isinstance(back, CameraProcessor) and back.camera == processor.camera
    assert type(back.tracker.__dict__) is dict  # the tracker came back
    assert np.array_equal(back.probe, processor.probe)  # type: ignore[attr-defined]


def test_planted_or_moved_checkpoints_are_refused(
    processor: CameraProcessor, footage: FootageRecord
) -> None:
    blob = encode_checkpoint(processor, footage, KEY)
    with pytest.raises(CheckpointError, match="not a versioned checkpoint"):
        decode_checkpoint(pickle.dumps(processor), footage, KEY)  # a bare pickle
    altered = blob[:-1] + bytes([blob[-1] ^ 1])
    with pytest.raises(CheckpointError, match="failed authentication"):
        decode_checkpoint(altered, footage, KEY)
    with pytest.raises(CheckpointError, match="failed authentication"):
        decode_checkpoint(blob, replace(footage, id=8), KEY)  # another file's
    with pytest.raises(CheckpointError, match="failed authentication"):
        decode_checkpoint(blob, footage, bytes(32))  # another data key
    future = HEADER.pack(MAGIC, 2) + blob[HEADER.size :]
    with pytest.raises(CheckpointError, match="version 2"):
        decode_checkpoint(future, footage, KEY)


class Evil:
    def __reduce__(self) -> tuple[object, tuple[str]]:
        import os

        return (os.system, ("echo pwned",))


def test_an_authentic_payload_still_only_loads_allowed_classes(footage: FootageRecord) -> None:
    # Even with the key, the unpickler resolves no function outside the allowed modules.
    payload = pickle.dumps(Evil())
    header = HEADER.pack(MAGIC, 1)
    blob = header + _mac(KEY, header, footage, payload) + payload
    assert len(blob) > HEADER.size + MAC_BYTES
    with pytest.raises(CheckpointError, match="may not hold"):
        decode_checkpoint(blob, footage, KEY)
