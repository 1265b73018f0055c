"""FaceIndex: exact search vs numpy, time filter, persistence, and sync with the store."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import delete

from cctrace.errors import StoreError
from cctrace.store import FaceIndex, InvalidInputError, Store
from cctrace.store import vector_index as vi
from cctrace.store.schema import FaceEmbeddingRow
from tests.store.store_factories import T0, save, setup_footage, tracklet, unit_vectors

N, DIM = 3000, 128


@pytest.fixture
def data() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(1)
    ids = np.arange(1, N + 1, dtype=np.int64)
    tids = rng.integers(1, 400, N).astype(np.int64)
    ts = rng.uniform(0, 10_000, N)  # not in time order, like ids from many cameras
    return ids, tids, ts, unit_vectors(N, seed=2)


def _filled(tmp_path: Path, data: tuple[np.ndarray, ...], batches: int = 7) -> FaceIndex:
    index = FaceIndex(tmp_path / "index")
    ids, tids, ts, vecs = data
    for part in np.array_split(np.arange(N), batches):
        index.add(ids[part], tids[part], ts[part], vecs[part])
    return index


def _exact(
    data: tuple[np.ndarray, ...], q: np.ndarray, k: int, lo: float = -np.inf, hi: float = np.inf
) -> list[list[int]]:
    ids, _, ts, vecs = data
    keep = (ts >= lo) & (ts <= hi)
    scores = q @ vecs[keep].T
    return [list(ids[keep][np.argsort(-row, kind="stable")[:k]]) for row in scores]


@pytest.mark.parametrize("merge_at", [10, 1_000_000])  # all merged / all in the tail
@pytest.mark.parametrize("k", [1, 10, N + 5])
def test_search_matches_exact_numpy(
    tmp_path: Path,
    data: tuple[np.ndarray, ...],
    monkeypatch: pytest.MonkeyPatch,
    merge_at: int,
    k: int,
) -> None:
    monkeypatch.setattr(vi, "MIN_TAIL_MERGE", merge_at)
    index = _filled(tmp_path, data)
    queries = unit_vectors(5, seed=9)
    hits = index.search(queries, k)
    expected = _exact(data, queries, k)
    assert [[h.embedding_id for h in row] for row in hits] == expected
    ids, tids, _, vecs = data
    lookup = dict(zip(ids.tolist(), tids.tolist(), strict=True))
    for row, q in zip(hits, queries, strict=True):
        assert all(lookup[h.embedding_id] == h.tracklet_id for h in row)
        assert row[0].score == pytest.approx(float(vecs[row[0].embedding_id - 1] @ q), abs=1e-5)
        assert [h.score for h in row] == sorted((h.score for h in row), reverse=True)


@pytest.mark.parametrize(
    ("lo", "hi"),
    [(0, 10_000), (2500.0, 2600.0), (9999.9, 20_000), (-5, -1), (5000, 5000)],
)
@pytest.mark.parametrize("merge_at", [10, 1_000_000])
def test_time_window(
    tmp_path: Path,
    data: tuple[np.ndarray, ...],
    monkeypatch: pytest.MonkeyPatch,
    lo: float,
    hi: float,
    merge_at: int,
) -> None:
    monkeypatch.setattr(vi, "MIN_TAIL_MERGE", merge_at)
    index = _filled(tmp_path, data)
    q = unit_vectors(2, seed=4)
    got = index.search(q, 20, t_from=lo, t_to=hi)
    assert [[h.embedding_id for h in row] for row in got] == _exact(data, q, 20, lo, hi)


def test_datetime_window_and_single_query(tmp_path: Path) -> None:
    index = FaceIndex(tmp_path)
    vecs = unit_vectors(3)
    times = [T0 + timedelta(hours=h) for h in (0, 1, 2)]
    index.add([1, 2, 3], [10, 20, 30], [t.timestamp() for t in times], vecs)
    (hits,) = index.search(vecs[1], 3, t_from=times[1], t_to=times[2])
    assert hits[0].embedding_id == 2 and hits[0].score == pytest.approx(1.0)
    assert {h.embedding_id for h in hits} == {2, 3}
    with pytest.raises(InvalidInputError, match="timezone-aware"):
        index.search(vecs[0], 1, t_from=datetime(2024, 3, 1))


def test_min_score_and_per_tracklet(tmp_path: Path) -> None:
    index = FaceIndex(tmp_path)
    base = unit_vectors(1, seed=5)[0]
    noise = unit_vectors(40, seed=6) * 0.3
    near = (base + noise) / np.linalg.norm(base + noise, axis=1, keepdims=True)
    far = unit_vectors(20, seed=7)
    vecs = np.vstack([near, far]).astype(np.float32)
    tids = np.array([1] * 30 + [2] * 5 + [3] * 5 + list(range(10, 30)))
    index.add(np.arange(1, 61), tids, np.zeros(60), vecs)
    (plain,) = index.search(base, 10)
    assert {h.tracklet_id for h in plain} <= {1, 2, 3}
    (distinct,) = index.search(base, 3, per_tracklet=True)
    assert sorted(h.tracklet_id for h in distinct) == [1, 2, 3]
    best_by_tracklet = {t: float(np.max(vecs[tids == t] @ base)) for t in (1, 2, 3)}
    assert all(h.score == pytest.approx(best_by_tracklet[h.tracklet_id]) for h in distinct)
    (strong,) = index.search(base, 60, min_score=0.8)
    assert strong and all(h.score >= 0.8 for h in strong)
    assert len(strong) == int(np.sum(vecs @ base >= 0.8))


def test_empty_index_and_bad_inputs(tmp_path: Path) -> None:
    index = FaceIndex(tmp_path)
    assert index.search(unit_vectors(2), 5) == [[], []]
    index.add([5], [1], [0.0], unit_vectors(1))
    bad = [
        (
            {"ids": [6], "tracklet_ids": [1], "timestamps": [0.0], "vectors": np.ones((1, 64))},
            "vectors",
        ),
        (
            {
                "ids": [7, 7],
                "tracklet_ids": [1, 1],
                "timestamps": [0.0, 0.0],
                "vectors": unit_vectors(2),
            },
            "distinct",
        ),
        (
            {"ids": [5], "tracklet_ids": [1], "timestamps": [0.0], "vectors": unit_vectors(1)},
            "above 5",
        ),
        (
            {"ids": [8], "tracklet_ids": [1], "timestamps": [np.nan], "vectors": unit_vectors(1)},
            "finite",
        ),
        (
            {
                "ids": [8, 9],
                "tracklet_ids": [1],
                "timestamps": [0.0, 0.0],
                "vectors": unit_vectors(2),
            },
            "equal lengths",
        ),
    ]
    for kwargs, match in bad:
        with pytest.raises(InvalidInputError, match=match):
            index.add(**kwargs)
    with pytest.raises(InvalidInputError, match="queries"):
        index.search(np.ones((1, 3)), 1)
    with pytest.raises(InvalidInputError, match="non-zero"):
        index.search(np.zeros(128), 1)
    assert index.search(unit_vectors(1) * 7, 1)[0][0].score <= 1.0 + 1e-6
    with pytest.raises(InvalidInputError, match="k"):
        index.search(unit_vectors(1), 0)
    assert len(index) == 1


def test_save_load_round_trip(tmp_path: Path, data: tuple[np.ndarray, ...]) -> None:
    index = _filled(tmp_path, data)
    q = unit_vectors(3, seed=11)
    before = index.search(q, 7, t_from=100, t_to=9000)
    index.save()
    index.save()  # a second generation replaces the first
    assert [p.name for p in (tmp_path / "index").glob("gen-*")] == ["gen-000002"]
    loaded = FaceIndex(tmp_path / "index")
    assert loaded.load() is True
    assert len(loaded) == N and loaded.max_id == N
    assert loaded.search(q, 7, t_from=100, t_to=9000) == before
    assert FaceIndex(tmp_path / "nothing").load() is False


@pytest.mark.parametrize("damage", ["truncate-vectors", "missing-meta", "bad-current"])
def test_load_corrupt_raises(tmp_path: Path, data: tuple[np.ndarray, ...], damage: str) -> None:
    index = _filled(tmp_path, data)
    index.save()
    gen = tmp_path / "index" / "gen-000001"
    if damage == "truncate-vectors":
        raw = (gen / "vectors.npy").read_bytes()
        (gen / "vectors.npy").write_bytes(raw[: len(raw) // 2])
    elif damage == "missing-meta":
        (gen / "meta.npz").unlink()
    else:
        (tmp_path / "index" / "CURRENT").write_text("../../etc")
    with pytest.raises(StoreError):
        FaceIndex(tmp_path / "index").load()


# ---- sync with the store -------------------------------------------------------------


def _faces_in_db(store: Store, n_tracklets: int, first_track: int = 0) -> list[int]:
    f = setup_footage(store)
    batch = [
        tracklet(first_track + i, start=T0 + timedelta(minutes=i), n_faces=3)
        for i in range(n_tracklets)
    ]
    return save(store, f.id, batch)


def test_sync_appends_and_searches(sqlite_store: Store, tmp_path: Path) -> None:
    ids = _faces_in_db(sqlite_store, 4)
    index = FaceIndex(tmp_path / "idx")
    assert index.sync(sqlite_store) == 12
    assert index.sync(sqlite_store) == 0
    faces = sqlite_store.faces.embeddings_of(ids)
    target = faces[5]
    (hits,) = index.search(target.vector, 1)
    assert (hits[0].embedding_id, hits[0].tracklet_id) == (target.id, target.tracklet_id)
    # time filter in the index agrees with the database timestamps
    (window,) = index.search(
        target.vector,
        50,
        t_from=T0 + timedelta(minutes=2),
        t_to=T0 + timedelta(minutes=2, seconds=59),
    )
    assert {h.tracklet_id for h in window} == {ids[2]}
    # more faces arrive; a fresh process loads the saved index and appends only those
    f = sqlite_store.footage.files()[0]
    save(sqlite_store, f.id, [tracklet(100, n_faces=2)])
    reopened = FaceIndex(tmp_path / "idx")
    assert reopened.sync(sqlite_store) == 2 and len(reopened) == 14


def test_sync_rebuilds_after_purge_or_crash(sqlite_store: Store, tmp_path: Path) -> None:
    _faces_in_db(sqlite_store, 3)
    index = FaceIndex(tmp_path / "idx")
    index.sync(sqlite_store)
    assert len(index) == 9
    # the database lost rows the index still holds (crash before commit, restore, purge)
    with sqlite_store.engine.begin() as c:
        c.execute(delete(FaceEmbeddingRow).where(FaceEmbeddingRow.id.in_([2, 9])))
    fresh = FaceIndex(tmp_path / "idx")
    assert fresh.sync(sqlite_store) == 7
    assert len(fresh) == 7 and fresh.max_id == 8
    assert 9 not in {h.embedding_id for h in fresh.search(unit_vectors(1), 20)[0]}
    # the rebuilt index was saved
    again = FaceIndex(tmp_path / "idx", cipher=sqlite_store.cipher)
    assert again.load() and len(again) == 7


def test_sync_rebuilds_for_another_database(tmp_path: Path) -> None:
    with Store(tmp_path / "a") as a, Store(tmp_path / "b") as b:
        _faces_in_db(a, 2)
        _faces_in_db(b, 2, first_track=50)  # same ids, different vectors
        index = FaceIndex(tmp_path / "idx")
        index.sync(a)
        assert index.instance_id == a.instance_id
        assert index.sync(b) == 6 and index.instance_id == b.instance_id
        v = b.faces.embeddings_of([1])[0]
        assert index.search(v.vector, 1)[0][0].score == pytest.approx(1.0)


def test_sync_recovers_from_corrupt_files(sqlite_store: Store, tmp_path: Path) -> None:
    _faces_in_db(sqlite_store, 2)
    FaceIndex(tmp_path / "idx").sync(sqlite_store)
    shutil.rmtree(tmp_path / "idx" / "gen-000001")
    index = FaceIndex(tmp_path / "idx")
    assert index.sync(sqlite_store) == 6


def test_sync_after_retention_purge(sqlite_store: Store, tmp_path: Path) -> None:
    _faces_in_db(sqlite_store, 3)
    index = FaceIndex(tmp_path / "idx")
    index.sync(sqlite_store)
    sqlite_store.retention.purge_expired(T0 + timedelta(minutes=1), T0)
    index.sync(sqlite_store)
    assert len(index) == 6
    window = index.search(unit_vectors(1), 100, t_to=datetime(2024, 3, 1, 9, 0, 30, tzinfo=UTC))
    assert window == [[]]
