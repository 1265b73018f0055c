"""Faces no tracked person holds (``loose_faces``): stored encrypted with their ingest
batch, idempotent on retry, searchable by time window, purged with retention."""

from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np
import pytest
from sqlalchemy import text

from cctrace.retention import purge_store
from cctrace.store import FootageStatus, InvalidInputError, Store
from cctrace.types import LooseFace
from tests.store.store_factories import T0, save, setup_footage, tracklet, unit_vectors


def loose(n: int, camera_id: str = "cam1", seed: int = 7, start: datetime = T0) -> list[LooseFace]:
    """``n`` loose faces one frame apart (5 fps), random unit embeddings."""
    vecs = unit_vectors(n, seed=seed)
    return [
        LooseFace(
            camera_id=camera_id,
            frame_index=100 + i,
            timestamp=start + timedelta(seconds=i / 5),
            xyxy=(10.0 + i, 20.123456, 42.5 + i, 60.0),
            score=0.8,
            quality=0.4,
            embedding=vecs[i],
            fate="ambiguous" if i % 2 else "no_person",
        )
        for i in range(n)
    ]


def _save(store: Store, footage_id: int, faces: list[LooseFace], offset: float = 10.0) -> None:
    store.tracklets.save_batch(
        footage_id, [], [], offset, b"state", FootageStatus.RUNNING, 0, 0, loose_faces=faces
    )


def test_round_trip_encrypted_at_rest(store: Store) -> None:
    footage = setup_footage(store)
    faces = loose(3)
    _save(store, footage.id, faces)
    got = store.faces.loose_in_window(None, None)
    assert [g.frame_index for g in got] == [100, 101, 102]
    for g, f in zip(got, faces, strict=True):
        assert g.camera_id == "cam1" and g.footage_id == footage.id
        assert g.timestamp == f.timestamp
        assert g.xyxy == pytest.approx(f.xyxy, abs=0.01)
        assert g.fate == f.fate and g.score == pytest.approx(0.8)
        np.testing.assert_array_equal(g.vector, f.embedding)
    with store.engine.connect() as con:
        raw = [bytes(r[0]) for r in con.execute(text("select vector from loose_faces"))]
    for blob, f in zip(raw, faces, strict=True):
        plain = np.ascontiguousarray(f.embedding, np.float32).tobytes()
        assert plain not in blob and plain[:16] not in blob  # no float bytes at rest
        assert blob.startswith(b"CCE1")


def test_window_and_camera_filter(store: Store) -> None:
    footage = setup_footage(store)
    _save(store, footage.id, loose(5))
    window = store.faces.loose_in_window(T0 + timedelta(seconds=0.3), T0 + timedelta(seconds=0.6))
    assert [g.frame_index for g in window] == [102, 103]
    assert store.faces.loose_in_window(None, None, camera_ids=["other"]) == []


def test_a_retried_batch_adds_nothing_twice(store: Store) -> None:
    """Resume after a crash replays the frames after the last checkpoint: a loose face
    stored before is skipped by (file, frame, box), the new ones are added."""
    footage = setup_footage(store)
    faces = loose(4)
    _save(store, footage.id, faces[:3])
    _save(store, footage.id, faces[1:])  # overlapping replay
    _save(store, footage.id, faces)
    assert store.faces.count_loose(footage.id) == 4
    assert sorted(g.frame_index for g in store.faces.loose_in_window(None, None)) == [
        100,
        101,
        102,
        103,
    ]


def test_a_bad_loose_face_stores_nothing_of_the_batch(store: Store) -> None:
    footage = setup_footage(store)
    bad = loose(1)[0]
    bad = LooseFace(**{**bad.__dict__, "embedding": bad.embedding * 3})  # not normalised
    with pytest.raises(InvalidInputError):
        store.tracklets.save_batch(
            footage.id, [tracklet(1)], [], 5.0, None, FootageStatus.RUNNING, 0, 0, loose_faces=[bad]
        )
    assert store.tracklets.count() == 0 and store.faces.count_loose() == 0
    assert store.footage.get(footage.id).progress_offset_s == 0.0


def test_deleting_the_footage_file_deletes_its_loose_faces(store: Store) -> None:
    footage = setup_footage(store)
    _save(store, footage.id, loose(2))
    with store.engine.begin() as con:
        if store.dialect == "sqlite":
            con.execute(text("PRAGMA foreign_keys = ON"))
        con.execute(text("delete from footage_files where id = :i"), {"i": footage.id})
    assert store.faces.count_loose() == 0


def test_retention_purge_removes_old_loose_faces(store: Store) -> None:
    from cctrace.config import RetentionConfig

    footage = setup_footage(store)
    save(store, footage.id, [tracklet(1)])
    _save(store, footage.id, loose(2, start=T0))
    fresh = [
        LooseFace(**{**f.__dict__, "frame_index": f.frame_index + 1000})
        for f in loose(2, seed=8, start=T0 + timedelta(days=30))
    ]
    _save(store, footage.id, fresh)
    now = T0 + timedelta(days=31)
    retention = RetentionConfig(days=28)
    dry = purge_store(store, retention, now=now, dry_run=True)
    assert dry.loose_faces == 2 and store.faces.count_loose() == 4
    done = purge_store(store, retention, now=now)
    assert done.loose_faces == 2 and done.counts()["loose_faces"] == 2
    left = store.faces.loose_in_window(None, None)
    assert len(left) == 2 and all(g.timestamp >= now - timedelta(days=28) for g in left)
    entry = store.audit.entries()[-1]
    assert entry.action == "purge" and entry.result["loose_faces"] == 2
