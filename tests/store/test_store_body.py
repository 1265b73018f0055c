"""Body appearance embeddings: stored encrypted with their tracklet, read back, purged."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

import numpy as np
from sqlalchemy import select

from cctrace.store import FootageStatus, Store
from cctrace.store.schema import BodyEmbeddingRow
from cctrace.types import BodyAppearance
from tests.store.store_factories import T0, setup_footage, tracklet, unit_vectors


def test_body_embeddings_round_trip_encrypted_and_by_model(store: Store) -> None:
    f = setup_footage(store)
    vectors = unit_vectors(2, dim=72, seed=3)
    with_body = [
        dataclasses.replace(tracklet(1), body=BodyAppearance("part-colour", vectors[0], 4)),
        dataclasses.replace(
            tracklet(2, start=T0 + timedelta(seconds=3)),
            body=BodyAppearance("onnx-reid", vectors[1], 2),
        ),
        tracklet(3),
    ]
    ids = store.tracklets.save_batch(f.id, with_body, [], 5.0, b"", FootageStatus.DONE, 50, 0)
    got = store.tracklets.body_embeddings(ids)
    assert set(got) == {ids[0], ids[1]}
    np.testing.assert_array_equal(got[ids[0]], vectors[0])
    assert not got[ids[0]].flags.writeable
    assert set(store.tracklets.body_embeddings(ids, model="part-colour")) == {ids[0]}
    with store.engine.connect() as c:
        blobs = [bytes(r) for r in c.execute(select(BodyEmbeddingRow.vector)).scalars()]
    # Encrypted at rest: the raw float bytes are nowhere in the database.
    assert blobs and all(vectors[0].tobytes() not in b for b in blobs)


def test_body_embeddings_go_with_their_tracklet(store: Store) -> None:
    f = setup_footage(store)
    body = BodyAppearance("part-colour", unit_vectors(1, dim=72)[0])
    ids = store.tracklets.save_batch(
        f.id,
        [dataclasses.replace(tracklet(1), body=body)],
        [],
        5.0,
        b"",
        FootageStatus.DONE,
        50,
        0,
    )
    assert store.tracklets.body_embeddings(ids)
    later = T0 + timedelta(days=365)
    outcome = store.retention.purge_expired(later, later)
    assert outcome.tracklets == 1
    assert store.tracklets.body_embeddings(ids) == {}
    with store.engine.connect() as c:
        assert c.execute(select(BodyEmbeddingRow)).first() is None
