"""ShardedFaceIndex (storage.index.type: ivf): recall against exact search, time-window and
camera filters, day/district shards, shard drop on purge, encryption at rest, sync with
the store and the site setting."""

from __future__ import annotations

import hashlib
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from cctrace.config import IndexConfig, RetentionConfig, StorageConfig, load_site
from cctrace.errors import ConfigError, StoreError
from cctrace.privacy.crypto import DataCipher
from cctrace.retention import purge_store
from cctrace.store import InvalidInputError, Store
from tests.store.store_factories import T0, save, setup_footage, tracklet

pytest.importorskip("faiss", reason="the city-scale index needs FAISS: pip install cctrace[city]")

from cctrace.store.face_indexes import (
    IVF_DIR,
    forget_open_indexes,
    open_face_index,
)
from cctrace.store.sharded_index import DAY_S, ShardedFaceIndex, nlist_for

DIM = 128
DAY0 = 19_700  # an epoch day in 2023


def clustered(n: int, seed: int = 0, per_id: int = 10) -> tuple[np.ndarray, np.ndarray]:
    """Unit vectors around identity centres (same-person cosine ~0.75, others ~0.12, as
    SFace gives on real photos), and one fresh query per identity of the first ten."""
    rng = np.random.default_rng(seed)
    mu = rng.standard_normal(DIM)
    centres = rng.standard_normal((max(1, n // per_id), DIM))
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)

    def draw(labels: np.ndarray) -> np.ndarray:
        noise = rng.standard_normal((len(labels), DIM))
        noise /= np.linalg.norm(noise, axis=1, keepdims=True)
        v = 0.35 * mu / np.linalg.norm(mu) + 0.79 * centres[labels] + 0.5 * noise
        return (v / np.linalg.norm(v, axis=1, keepdims=True)).astype(np.float32)

    return draw(rng.integers(0, len(centres), n)), draw(np.arange(10))


@pytest.fixture(scope="module")
def world() -> dict[str, np.ndarray]:
    n = 30_000
    vecs, queries = clustered(n)
    rng = np.random.default_rng(3)
    return {
        "ids": np.arange(1, n + 1, dtype=np.int64),
        "tids": (np.arange(n) // 3 + 1).astype(np.int64),
        "ts": DAY0 * DAY_S + rng.uniform(0, 3 * DAY_S, n),  # three days
        "cams": np.array([f"cam{i}" for i in rng.integers(0, 6, n)]),
        "vecs": vecs,
        "queries": queries,
    }


def _index(tmp_path: Path, w: dict[str, np.ndarray], **kw: object) -> ShardedFaceIndex:
    index = ShardedFaceIndex(tmp_path / "ivf", flat_below=2_000, **kw)  # type: ignore[arg-type]
    for part in np.array_split(np.arange(len(w["ids"])), 4):
        index.add(w["ids"][part], w["tids"][part], w["ts"][part], w["vecs"][part], w["cams"][part])
    index.settle()
    return index


def _exact(w: dict[str, np.ndarray], k: int, keep: np.ndarray | None = None) -> list[set[int]]:
    keep = np.ones(len(w["ids"]), bool) if keep is None else keep
    scores = w["queries"] @ w["vecs"][keep].T
    return [set(w["ids"][keep][np.argsort(-row)[:k]].tolist()) for row in scores]


def _recall(hits: list[list[object]], truth: list[set[int]], k: int) -> float:
    got = [{h.embedding_id for h in row} for row in hits]  # type: ignore[attr-defined]
    return float(np.mean([len(g & t) / k for g, t in zip(got, truth, strict=True)]))


def test_recall_against_exact_and_day_shards(tmp_path: Path, world: dict[str, np.ndarray]) -> None:
    index = _index(tmp_path, world, nprobe=64)
    assert index.shard_keys() == ["20231209", "20231210", "20231211"]
    assert len(index) == len(world["ids"])
    assert all(s.ann is not None for s in index._shards.values())  # IVF, not flat
    hits = index.search(world["queries"], 10)
    assert _recall(hits, _exact(world, 10), 10) >= 0.95
    # scores are the SQ8 approximation of the cosine: close to exact
    best = hits[0][0]
    exact = float(world["queries"][0] @ world["vecs"][best.embedding_id - 1])
    assert best.score == pytest.approx(exact, abs=0.02)


def test_time_window_and_camera_filters(tmp_path: Path, world: dict[str, np.ndarray]) -> None:
    index = _index(tmp_path, world, nprobe=64)
    lo, hi = (DAY0 + 0.75) * DAY_S, (DAY0 + 1.25) * DAY_S  # half a day, two shards cut
    hits = index.search(world["queries"], 10, t_from=lo, t_to=hi)
    keep = (world["ts"] >= lo) & (world["ts"] <= hi)
    assert _recall(hits, _exact(world, 10, keep), 10) >= 0.95
    assert all(lo <= world["ts"][h.embedding_id - 1] <= hi for row in hits for h in row)
    when = datetime.fromtimestamp(lo, UTC), datetime.fromtimestamp(hi, UTC)
    assert index.search(world["queries"], 10, *when) == hits  # datetimes too
    # camera set, and both at once
    cams = ["cam1", "cam4"]
    hits = index.search(world["queries"], 10, cameras=cams)
    keep_c = np.isin(world["cams"], cams)
    assert _recall(hits, _exact(world, 10, keep_c), 10) >= 0.95
    assert {str(world["cams"][h.embedding_id - 1]) for row in hits for h in row} <= set(cams)
    both = index.search(world["queries"], 10, t_from=lo, t_to=hi, cameras=["cam2"])
    keep_b = keep & (world["cams"] == "cam2")
    assert _recall(both, _exact(world, 10, keep_b), 10) >= 0.95
    assert index.search(world["queries"], 10, cameras=["nowhere"]) == [[]] * 10
    assert index.search(world["queries"], 10, t_to=DAY0 * DAY_S - 1) == [[]] * 10


def test_min_score_per_tracklet_and_bad_input(tmp_path: Path, world: dict[str, np.ndarray]) -> None:
    index = _index(tmp_path, world, nprobe=64)
    hits = index.search(world["queries"][:2], 40, per_tracklet=True, min_score=0.3)
    for row in hits:
        tids = [h.tracklet_id for h in row]
        assert len(tids) == len(set(tids)) == 40
        assert all(h.score >= 0.3 for h in row)
        assert [h.score for h in row] == sorted((h.score for h in row), reverse=True)
    with pytest.raises(InvalidInputError):
        index.search(np.zeros((1, DIM)), 5)
    with pytest.raises(InvalidInputError):
        index.add([1], [1], [0.0], np.ones((1, DIM)))  # id not above max_id


def test_growing_shard_stays_exact_then_retrains(tmp_path: Path) -> None:
    n = 40_000
    vecs, queries = clustered(n, seed=5)
    index = ShardedFaceIndex(tmp_path / "ivf", flat_below=1_500, fold_rows=1_000, nprobe=64)
    seen_flat = seen_small = False
    for i, part in enumerate(np.array_split(np.arange(n), 40)):
        index.add(part + 1, part // 3 + 1, np.full(len(part), DAY0 * DAY_S + i), vecs[part])
        (shard,) = index._shards.values()
        seen_flat |= shard.ann is None  # exact while small
        seen_small |= shard.ann is not None and int(shard.ann.nlist) == 64
    assert seen_flat and seen_small
    assert int(shard.ann.nlist) == nlist_for(n) == 256  # retrained with 4x the lists
    assert int(shard.ann.ntotal) + shard.n_flat == n
    scores = queries @ vecs.T
    truth = [set((np.argsort(-row)[:10] + 1).tolist()) for row in scores]
    assert _recall(index.search(queries, 10), truth, 10) >= 0.95


def test_purge_drops_whole_shards_and_files(tmp_path: Path, world: dict[str, np.ndarray]) -> None:
    index = _index(tmp_path, world, nprobe=64)
    index.save()
    files = sorted(p.name for p in (tmp_path / "ivf").glob("shard-*.bin"))
    assert len(files) == 3
    first_day = world["ts"] < (DAY0 + 1) * DAY_S
    kept = world["ids"][first_day][:5]  # evidence of a case: kept past retention
    gone = np.setdiff1d(world["ids"][first_day], kept)
    assert index.remove(gone) == len(gone)
    assert index.shard_keys() == ["20231209", "20231210", "20231211"]
    assert index.remove(kept) == 5
    assert index.shard_keys() == ["20231210", "20231211"]
    index.save()
    left = sorted(p.name for p in (tmp_path / "ivf").glob("shard-*.bin"))
    assert left == files[1:]  # the unchanged shards were not rewritten
    reopened = ShardedFaceIndex(tmp_path / "ivf")
    assert reopened.load() and len(reopened) == int((~first_day).sum())
    assert all(
        h.embedding_id not in set(gone)
        for row in reopened.search(world["queries"], 50)
        for h in row
    )


def test_districts_split_shards(tmp_path: Path, world: dict[str, np.ndarray]) -> None:
    index = _index(tmp_path, world, nprobe=64, districts={"cam0": "north", "cam1": "north"})
    assert index.shard_keys() == [
        "20231209", "20231209.north", "20231210", "20231210.north", "20231211", "20231211.north"
    ]  # fmt: skip
    hits = index.search(world["queries"], 10, cameras=["cam0"])
    assert {str(world["cams"][h.embedding_id - 1]) for row in hits for h in row} == {"cam0"}


def test_encrypted_at_rest(tmp_path: Path, world: dict[str, np.ndarray]) -> None:
    cipher = DataCipher(os.urandom(32))
    index = _index(tmp_path, world, nprobe=64, cipher=cipher)
    # a small, exact (float32) shard too: the case where raw vectors sit in the file
    index.add([10**6], [10**6], [(DAY0 + 5) * DAY_S], world["vecs"][:1], ["cam0"])
    index.save()
    blob = b"".join(p.read_bytes() for p in (tmp_path / "ivf").glob("shard-*.bin"))
    for v in world["vecs"][::997]:
        assert v[:4].tobytes() not in blob
    assert world["ids"][:3].tobytes() not in blob
    again = ShardedFaceIndex(tmp_path / "ivf", cipher=cipher, nprobe=64)
    assert again.load() and len(again) == len(world["ids"]) + 1
    assert again.search(world["queries"], 10) == index.search(world["queries"], 10)
    with pytest.raises(StoreError, match="no data key"):
        ShardedFaceIndex(tmp_path / "ivf").load()
    with pytest.raises(StoreError, match="data key does not match"):
        ShardedFaceIndex(tmp_path / "ivf", cipher=DataCipher(os.urandom(32))).load()
    # a shard file moved under another name does not decrypt
    names = sorted((tmp_path / "ivf").glob("shard-*.bin"))
    names[0].write_bytes(names[1].read_bytes())
    with pytest.raises(StoreError, match="altered, corrupted or moved"):
        ShardedFaceIndex(tmp_path / "ivf", cipher=cipher).load()


def _faces_in_db(store: Store, n: int, camera: str = "cam1", days_ago: int = 0) -> list[int]:
    f = setup_footage(store, camera, sha=hashlib.sha256(camera.encode()).hexdigest())
    start = T0 + timedelta(days=days_ago)
    return save(
        store,
        f.id,
        [tracklet(i, camera, start=start + timedelta(minutes=i), n_faces=3) for i in range(n)],
    )


def test_sync_with_store_and_purge(tmp_path: Path) -> None:
    forget_open_indexes()
    settings = IndexConfig(type="ivf", nprobe=8)
    with Store(tmp_path / "data") as store:
        old = _faces_in_db(store, 3, "cam1")
        new = _faces_in_db(store, 2, "cam2", days_ago=40)
        index = open_face_index(store.data_dir, settings)
        assert isinstance(index, ShardedFaceIndex)
        assert open_face_index(store.data_dir, settings) is index  # one per process
        assert index.sync(store) == 15 and index.sync(store) == 0
        assert index.cipher is store.cipher
        assert len(index.shard_keys()) == 2
        v = store.faces.embeddings_of([new[0]])[0]
        (hits,) = index.search(v.vector, 1, cameras=["cam2"])
        assert hits[0].tracklet_id == new[0] and hits[0].score == pytest.approx(1.0, abs=0.02)
        assert index.search(v.vector, 5, cameras=["cam1"])[0][0].tracklet_id in old
        # retention: the old day's faces go, and with them its shard file
        purge_store(store, RetentionConfig(days=28), now=T0 + timedelta(days=50))
        assert len(index.shard_keys()) == 1 and len(index) == 6
        assert len(list((store.data_dir / IVF_DIR).glob("shard-*.bin"))) == 1
        # another process (no shared instance) sees the same, encrypted
        forget_open_indexes()
        fresh = open_face_index(store.data_dir, settings)
        assert fresh is not index and fresh.sync(store) == 0 and len(fresh) == 6
    forget_open_indexes()


def test_exact_stays_the_default(tmp_path: Path) -> None:
    from cctrace.store import FaceIndex

    assert StorageConfig().index.type == "exact"
    assert isinstance(open_face_index(tmp_path, StorageConfig().index), FaceIndex)


def test_index_setting_validation() -> None:
    assert IndexConfig(
        type="ivf", nprobe=64, districts={"north": ["a", "b"]}
    ).camera_districts() == {
        "a": "north",
        "b": "north",
    }
    with pytest.raises(ValueError, match="type"):
        IndexConfig(type="hnsw")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="nprobe"):
        IndexConfig(type="ivf", nprobe=0)
    with pytest.raises(ValueError, match="districts"):
        IndexConfig(districts={"north": ["a"], "south": ["a"]})
    with pytest.raises(ValueError, match="district name"):
        IndexConfig(districts={"no/slash": ["a"]})
    with pytest.raises(ValueError, match="Extra inputs"):
        IndexConfig(kind="ivf")  # type: ignore[call-arg]


SITE = """\
cameras:
  - id: cam1
    location: {x_m: 0, y_m: 0}
    footage: [clip.mp4]
storage:
  index:
    type: ivf
    nprobe: 128
    districts: {north: [cam1]}
"""


def test_index_setting_in_the_site_file(tmp_path: Path) -> None:
    (tmp_path / "clip.mp4").write_bytes(b"\0")
    path = tmp_path / "site.yaml"
    path.write_text(SITE)
    site = load_site(path)
    assert site.storage.index.type == "ivf" and site.storage.index.nprobe == 128
    assert site.storage.index.camera_districts() == {"cam1": "north"}
    path.write_text(SITE.replace("[cam1]}", "[cam1, cam9]}"))
    with pytest.raises(ConfigError, match="unknown cameras cam9"):
        load_site(path)
    path.write_text(SITE.replace("type: ivf", "type: annoy"))
    with pytest.raises(ConfigError, match=r"site.yaml:7:.*'exact' or 'ivf'"):
        load_site(path)


def test_trace_searches_the_sharded_index_and_purge_drops_the_old_day(tmp_path: Path) -> None:
    from cctrace.config import CameraConfig, SiteConfig, SitePosition
    from cctrace.ingest.models import ModelSet
    from cctrace.retention import purge
    from cctrace.tracing.service import TraceRequest, trace_in_store

    forget_open_indexes()
    camera = CameraConfig(id="cam1", location=SitePosition(x_m=0, y_m=0), footage=[Path("a.mp4")])
    site = SiteConfig(
        cameras=[camera],
        storage=StorageConfig(data_dir=tmp_path / "data", index=IndexConfig(type="ivf")),
    )
    now = T0 + timedelta(days=60)
    with Store.for_site(site) as store:
        f = setup_footage(store)
        old, new = save(
            store,
            f.id,
            [tracklet(1, start=T0, seed=100), tracklet(2, start=T0 + timedelta(days=50), seed=100)],
        )
        index = open_face_index(site.storage.data_dir, site.storage.index)
        assert isinstance(index, ShardedFaceIndex) and index.sync(store) == 4
        vector = store.faces.embeddings_of([new])[0].vector
        hits = index.search(vector, 10, min_score=0.99, per_tracklet=True)[0]
        assert {h.tracklet_id for h in hits} == {old, new}  # same face, 50 days apart
        assert len(index.shard_keys()) == 2
    purge(site, now=now)  # another Store, as `cctrace purge` would
    with Store.for_site(site) as store:
        store.cases.create("C-2", "alice", "IDCPA Art. 76-2")
        request = TraceRequest(case_id="C-2", actor="alice", tracklet_id=new)
        after = trace_in_store(site, store, request, ModelSet(site.models))
        assert new in {s.tracklet_id for s in after.sightings}
        assert old not in {s.tracklet_id for s in after.sightings}
        assert len(index.shard_keys()) == 1  # the same in-process index, old day dropped
    forget_open_indexes()


def test_sync_rebuilds_when_the_database_lost_faces(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sqlalchemy import delete

    from cctrace.store import sharded_index
    from cctrace.store.schema import FaceEmbeddingRow

    with Store(tmp_path / "data") as store:
        _faces_in_db(store, 3)
        index = ShardedFaceIndex(tmp_path / "ivf")
        assert index.sync(store) == 9
        with store.engine.begin() as c:  # a restore or a crash, not a cctrace purge
            c.execute(delete(FaceEmbeddingRow).where(FaceEmbeddingRow.id.in_([2, 9])))
        assert index.sync(store) == 0 and len(index) == 9  # checked every STALE_CHECK_S
        monkeypatch.setattr(sharded_index, "STALE_CHECK_S", 0.0)
        assert index.sync(store) == 7 and len(index) == 7
        assert ShardedFaceIndex(tmp_path / "ivf", cipher=store.cipher).load()


def test_sync_saves_every_million_faces_not_every_trace(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from cctrace.store import sharded_index

    with Store(tmp_path / "data") as store:
        _faces_in_db(store, 2)
        index = ShardedFaceIndex(tmp_path / "ivf")
        assert index.sync(store) == 6 and index.generation == 1  # first sync saves
        save(store, store.footage.files()[0].id, [tracklet(50, n_faces=3)])
        assert index.sync(store) == 3 and index.generation == 1  # not yet
        reopened = ShardedFaceIndex(tmp_path / "ivf")
        assert reopened.sync(store) == 3 and len(reopened) == 9  # the rest from the database
        monkeypatch.setattr(sharded_index, "SAVE_EVERY", 3)
        save(store, store.footage.files()[0].id, [tracklet(51, n_faces=3)])
        assert index.sync(store) == 3 and index.generation == 2


def test_a_newer_saved_generation_wins(tmp_path: Path, world: dict[str, np.ndarray]) -> None:
    a = _index(tmp_path, world, nprobe=64)
    a.save()
    b = ShardedFaceIndex(tmp_path / "ivf", nprobe=64)
    assert b.load()
    first_day = world["ts"] < (DAY0 + 1) * DAY_S
    b.remove(world["ids"][first_day])  # a purge in another process
    b.save()
    a.add([10**6], [10**6], [(DAY0 + 2) * DAY_S], world["vecs"][:1])
    a.save()  # does not overwrite the purge
    fresh = ShardedFaceIndex(tmp_path / "ivf")
    assert fresh.load() and len(fresh) == int((~first_day).sum())
    assert fresh.generation == b.generation == 2
