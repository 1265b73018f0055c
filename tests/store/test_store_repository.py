"""Store: cameras, footage, save_batch round trips, idempotence, atomicity, UTC, queries."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import cv2
import numpy as np
import pytest
from sqlalchemy import func, select

from cctrace.errors import NotFoundError, StoreError
from cctrace.store import FootageStatus, InvalidInputError, Store
from cctrace.store import files as store_files
from cctrace.store.schema import EncounterRow, FaceEmbeddingRow, TrackletRow, TrackPointRow
from cctrace.types import MaskStatus, Tracklet, TrackPoint
from tests.store.store_factories import SHA, T0, encounter, save, setup_footage, tracklet


def counts(store: Store) -> dict[str, int]:
    with store.engine.connect() as c:
        return {
            row.__tablename__: int(c.execute(select(func.count()).select_from(row)).scalar_one())
            for row in (TrackletRow, TrackPointRow, FaceEmbeddingRow, EncounterRow)
        }


def files_under(root: Path) -> set[Path]:
    return {p for p in root.rglob("*.jpg*")}


# ---- cameras -------------------------------------------------------------------------


def test_camera_upsert_round_trip(store: Store) -> None:
    h = np.arange(9, dtype=float).reshape(3, 3)
    store.cameras.upsert("cam1", "Lobby", lat=1.3, lon=103.8, homography=h, config={"fps": 5})
    cam = store.cameras.get("cam1")
    assert cam.name == "Lobby" and cam.lat == 1.3 and cam.config == {"fps": 5}
    assert cam.homography == ((0.0, 1.0, 2.0), (3.0, 4.0, 5.0), (6.0, 7.0, 8.0))
    store.cameras.upsert("cam1", "Lobby east", x_m=3.0)
    cam = store.cameras.get("cam1")
    assert (cam.name, cam.lat, cam.x_m, cam.homography) == ("Lobby east", None, 3.0, None)
    store.cameras.upsert("cam0")
    assert [c.id for c in store.cameras.all()] == ["cam0", "cam1"]


def test_unknown_camera_raises(store: Store) -> None:
    with pytest.raises(NotFoundError, match="nope"):
        store.cameras.get("nope")


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"camera_id": ""}, "camera id"),
        ({"camera_id": "x" * 200}, "camera id"),
        ({"camera_id": "c", "lat": 91.0}, "lat"),
        ({"camera_id": "c", "lon": float("nan")}, "lon"),
        ({"camera_id": "c", "homography": [[1, 0], [0, 1]]}, "homography"),
        (
            {"camera_id": "c", "homography": [[1, 0, 0], [0, 1, 0], [0, 0, float("inf")]]},
            "homography",
        ),
    ],
)
def test_bad_camera_inputs(sqlite_store: Store, kwargs: dict[str, Any], match: str) -> None:
    with pytest.raises(InvalidInputError, match=match):
        sqlite_store.cameras.upsert(**kwargs)


# ---- footage -------------------------------------------------------------------------


def test_footage_get_or_create_is_idempotent(store: Store) -> None:
    first = setup_footage(store)
    assert first.status is FootageStatus.PENDING and first.progress_offset_s == 0.0
    again = store.footage.get_or_create("cam1", "/moved/file.mp4", SHA.upper(), 1000, T0, 60, 25)
    assert again.id == first.id and again.path == first.path
    other = store.footage.get_or_create("cam1", "/videos/b.mp4", "cd" * 32, 5, T0, 1, 25)
    assert other.id != first.id
    assert [f.id for f in store.footage.files("cam1")] == sorted([first.id, other.id])


@pytest.mark.parametrize(
    ("changes", "error"),
    [
        ({"sha256": "xyz"}, InvalidInputError),
        ({"size": -1}, InvalidInputError),
        ({"start_time": datetime(2024, 1, 1)}, InvalidInputError),  # naive
        ({"fps": 0.0}, InvalidInputError),
        ({"duration_s": float("nan")}, InvalidInputError),
        ({"camera_id": "ghost"}, NotFoundError),
    ],
)
def test_bad_footage_inputs(sqlite_store: Store, changes: dict[str, Any], error: type) -> None:
    sqlite_store.cameras.upsert("cam1")
    args: dict[str, Any] = {
        "camera_id": "cam1",
        "path": "/v.mp4",
        "sha256": SHA,
        "size": 10,
        "start_time": T0,
        "duration_s": 1.0,
        "fps": 25.0,
    }
    with pytest.raises(error):
        sqlite_store.footage.get_or_create(**(args | changes))


def test_mark_footage(store: Store) -> None:
    f = setup_footage(store)
    rec = store.footage.mark(
        f.id, "failed", "decoder exploded", progress_offset_s=3.5, checkpoint_state=b"\x00\x01"
    )
    assert rec.status is FootageStatus.FAILED and rec.error == "decoder exploded"
    assert rec.checkpoint_state == b"\x00\x01" and rec.progress_offset_s == 3.5
    rec = store.footage.mark(f.id, FootageStatus.DONE, clear_checkpoint=True)
    assert rec.checkpoint_state is None and rec.error is None and rec.progress_offset_s == 3.5
    assert [r.id for r in store.footage.files(status="done")] == [f.id]
    with pytest.raises(InvalidInputError, match="footage status"):
        store.footage.mark(f.id, "finished")
    with pytest.raises(NotFoundError):
        store.footage.mark(999, "done")


# ---- save_batch ----------------------------------------------------------------------


def test_save_batch_round_trip(store: Store) -> None:
    f = setup_footage(store)
    t1, t2, t3 = tracklet(7), tracklet(3, start=T0 + timedelta(seconds=2)), tracklet(5)
    ids = store.tracklets.save_batch(
        f.id,
        [t1, t2, t3],
        [encounter(7, 3), encounter(5, 7)],
        12.5,
        b"state",
        FootageStatus.RUNNING,
        250,
        2,
    )
    assert len(set(ids)) == 3
    recs = store.tracklets.get_many(ids)
    assert [r.track_id for r in recs] == [7, 3, 5]
    r1 = recs[0]
    assert (r1.camera_id, r1.footage_id, r1.n_points) == ("cam1", f.id, 5)
    assert (r1.start, r1.end) == (t1.start, t1.end)
    assert r1.mask_status is MaskStatus.WORN and r1.mask_votes == (2, 1)
    assert r1.best_face_quality == pytest.approx(0.6)
    assert r1.snapshot_path is not None
    snap = cv2.imread(r1.snapshot_path)
    assert snap is not None and snap.shape == t1.snapshot.image.shape  # type: ignore[union-attr]

    assert store.tracklets.points(ids[0]) == t1.points

    faces = store.faces.embeddings_of([ids[0]])
    assert [e.quality for e in faces] == pytest.approx([0.6, 0.5])  # best first
    by_frame = {e.frame_index: e for e in faces}
    for sample in t1.faces:
        got = by_frame[sample.frame_index]
        np.testing.assert_array_equal(got.vector, sample.embedding)
        assert got.timestamp == sample.timestamp
        assert got.mask_probability == sample.mask_probability
        assert got.crop_path is not None
        crop = cv2.imdecode(np.frombuffer(store.faces.read_crop(got.crop_path), np.uint8), 1)
        assert crop is not None and crop.shape == sample.crop.shape  # type: ignore[union-attr]

    footage = store.footage.get(f.id)
    assert (footage.progress_offset_s, footage.checkpoint_state, footage.status) == (
        12.5,
        b"state",
        FootageStatus.RUNNING,
    )
    assert (footage.frames_decoded, footage.frames_failed) == (250, 2)

    encs = store.tracklets.encounters_for([ids[0]])
    assert sorted(e.other_tracklet_id for e in encs) == sorted([ids[1], ids[2]])
    assert all(e.tracklet_id == ids[0] for e in encs)
    e = encs[0]
    assert e.seconds_within == {1.0: 0.4, 1.5: 0.6, 2.0: 0.8, 3.0: 1.0}
    assert e.min_distance_m == 0.7 and e.min_distance_at == T0 + timedelta(seconds=0.2)
    with store.engine.connect() as c:
        pairs = c.execute(select(EncounterRow.tracklet_a_id, EncounterRow.tracklet_b_id)).all()
        assert all(a < b for a, b in pairs)
        assert c.execute(select(EncounterRow.seconds_within_2m)).scalars().all() == [0.8, 0.8]
    # both sides asked about -> the encounter appears once from each side
    both = store.tracklets.encounters_for([ids[0], ids[1]])
    assert len(both) == 3
    assert {(x.tracklet_id, x.other_tracklet_id) for x in both} >= {
        (ids[0], ids[1]),
        (ids[1], ids[0]),
    }


def test_save_batch_is_idempotent(store: Store) -> None:
    f = setup_footage(store)
    batch, encs = [tracklet(1), tracklet(2)], [encounter(1, 2)]
    ids = save(store, f.id, batch, encs)
    before, files = counts(store), files_under(store.data_dir)
    assert save(store, f.id, batch, encs) == ids
    assert counts(store) == before and files_under(store.data_dir) == files
    # a mixed retry: one stored, one new, encounter refers to an earlier batch's track
    ids2 = save(store, f.id, [tracklet(2), tracklet(9)], [encounter(9, 1)])
    assert ids2[0] == ids[1] and ids2[1] not in ids
    assert counts(store)["tracklets"] == 3 and counts(store)["encounters"] == 2


def test_same_track_id_in_another_footage_is_new(store: Store) -> None:
    f1 = setup_footage(store)
    f2 = store.footage.get_or_create("cam1", "/v2.mp4", "cd" * 32, 1, T0, 1.0, 25.0)
    (a,) = save(store, f1.id, [tracklet(1)])
    (b,) = save(store, f2.id, [tracklet(1)])
    assert a != b
    with pytest.raises(InvalidInputError, match="expected tracks stored"):
        save(store, f2.id, [], [encounter(1, 2)])  # track 2 exists nowhere


def _fail_on_call(n: int, real: Any) -> Any:
    calls = {"n": 0}

    def write(path: Path, data: bytes) -> None:
        calls["n"] += 1
        if calls["n"] == n:
            raise OSError("disk full (simulated)")
        real(path, data)

    return write


@pytest.mark.parametrize("failing_write", [1, 4, 9])
def test_file_write_failure_leaves_nothing(
    store: Store, monkeypatch: pytest.MonkeyPatch, failing_write: int
) -> None:
    f = setup_footage(store)
    save(store, f.id, [tracklet(1)], offset=5.0)
    before, files = counts(store), files_under(store.data_dir)
    monkeypatch.setattr(
        store_files,
        "write_file_atomic",
        _fail_on_call(failing_write, store_files.write_file_atomic),
    )
    with pytest.raises(OSError, match="disk full"):
        save(store, f.id, [tracklet(2), tracklet(3), tracklet(4)], [encounter(1, 2)], offset=9.0)
    assert counts(store) == before
    assert files_under(store.data_dir) == files  # the batch's new files were removed
    assert store.footage.get(f.id).progress_offset_s == 5.0


def test_bad_encounter_reference_leaves_nothing(store: Store) -> None:
    f = setup_footage(store)
    save(store, f.id, [tracklet(1)], offset=5.0)
    before, files = counts(store), files_under(store.data_dir)
    with pytest.raises(InvalidInputError, match=r"\[42\]"):
        save(store, f.id, [tracklet(2), tracklet(3)], [encounter(2, 3), encounter(3, 42)])
    assert counts(store) == before and files_under(store.data_dir) == files
    assert store.footage.get(f.id).progress_offset_s == 5.0
    save(store, f.id, [tracklet(2), tracklet(3)], [encounter(2, 3)])  # the fixed batch goes in
    assert counts(store)["tracklets"] == 3


def test_database_failure_mid_batch_rolls_back(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    f = setup_footage(store)

    def boom(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("crash after the tracklets were flushed")

    monkeypatch.setattr(store.tracklets, "_insert_encounters", boom)
    with pytest.raises(RuntimeError):
        save(store, f.id, [tracklet(1), tracklet(2)], [encounter(1, 2)])
    assert counts(store) == {
        "tracklets": 0,
        "track_points": 0,
        "face_embeddings": 0,
        "encounters": 0,
    }
    assert store.footage.get(f.id).status is FootageStatus.PENDING


def _with_points(t: Tracklet, points: tuple[TrackPoint, ...]) -> Tracklet:
    return Tracklet(
        t.camera_id, t.track_id, points, t.faces, t.mask_status, t.mask_votes, t.snapshot
    )


def _bad_batches() -> list[Any]:
    t = tracklet(1)
    p = t.points[0]
    naive = TrackPoint(
        p.frame_index, p.timestamp.replace(tzinfo=None), p.xyxy, p.ground_xy, p.confidence
    )
    nan_box = TrackPoint(p.frame_index, p.timestamp, (math.nan, 0, 1, 1), p.ground_xy, 1.0)
    bad_face = type(t.faces[0])(0, T0, np.ones(128, np.float32), 0.5, None, t.faces[0].crop)
    return [
        pytest.param([tracklet(1, camera_id="cam2")], "expected camera", id="wrong-camera"),
        pytest.param([tracklet(1), tracklet(1)], "distinct track ids", id="dup-track"),
        pytest.param([_with_points(t, ())], "at least one point", id="no-points"),
        pytest.param([_with_points(t, (p, p))], "distinct frame", id="dup-frame"),
        pytest.param([_with_points(t, (naive,))], "timezone-aware", id="naive-time"),
        pytest.param([_with_points(t, (nan_box,))], "finite", id="nan-box"),
        pytest.param([_with_points(t, tuple(reversed(t.points)))], "time order", id="reversed"),
        pytest.param(
            [Tracklet("cam1", 1, t.points, (bad_face,))], "L2-normalised", id="unnormalised-face"
        ),
    ]


@pytest.mark.parametrize(("batch", "match"), _bad_batches())
def test_bad_batches_raise(sqlite_store: Store, batch: list[Tracklet], match: str) -> None:
    f = setup_footage(sqlite_store)
    with pytest.raises(InvalidInputError, match=match):
        save(sqlite_store, f.id, batch)
    assert counts(sqlite_store)["tracklets"] == 0


def test_save_batch_unknown_footage_and_status(sqlite_store: Store) -> None:
    with pytest.raises(NotFoundError):
        save(sqlite_store, 12345, [tracklet(1)])
    f = setup_footage(sqlite_store)
    with pytest.raises(InvalidInputError, match="footage status"):
        sqlite_store.tracklets.save_batch(f.id, [], [], 1.0, None, "bogus", 0, 0)


# ---- time ----------------------------------------------------------------------------


def test_utc_round_trip(store: Store) -> None:
    ist = timezone(timedelta(hours=5, minutes=30))
    local_start = datetime(2024, 3, 1, 14, 30, 0, 250000, tzinfo=ist)  # 09:00:00.25 UTC
    f = setup_footage(store)
    (tid,) = save(store, f.id, [tracklet(1, start=local_start)])
    rec = store.tracklets.get(tid)
    assert rec.start == local_start and rec.start.tzinfo is UTC
    assert rec.start == datetime(2024, 3, 1, 9, 0, 0, 250000, tzinfo=UTC)
    pts = store.tracklets.points(tid)
    assert all(p.timestamp.tzinfo is UTC for p in pts)
    assert store.footage.get(f.id).start_time.tzinfo is UTC
    # windows given in another zone select by instant, not by wall clock
    hit = store.tracklets.in_window(local_start - timedelta(seconds=1), local_start)
    assert [r.id for r in hit] == [tid]
    with pytest.raises(InvalidInputError, match="timezone-aware"):
        store.tracklets.in_window(datetime(2024, 3, 1), datetime(2024, 3, 2))


@pytest.mark.parametrize(
    ("from_s", "to_s", "expected"),
    [
        (-10, -1, []),  # before everything
        (-10, 0, ["a"]),  # touches a's start (inclusive)
        (0.5, 0.6, ["a"]),  # inside a
        (0.8, 10.0, ["a", "b"]),  # a's end and b
        (10.1, 11, ["b"]),  # b only (b spans 10..10.8)
        (11, 20, []),
    ],
)
def test_tracklets_in_window(
    sqlite_store: Store, from_s: float, to_s: float, expected: list[str]
) -> None:
    s = sqlite_store
    f = setup_footage(s)
    s.cameras.upsert("cam2")
    f2 = s.footage.get_or_create("cam2", "/c2.mp4", "ef" * 32, 1, T0, 1.0, 25.0)
    (a,) = save(s, f.id, [tracklet(1)])  # T0 .. T0+0.8 s
    (b,) = save(s, f2.id, [tracklet(1, camera_id="cam2", start=T0 + timedelta(seconds=10))])
    names = {a: "a", b: "b"}
    got = s.tracklets.in_window(T0 + timedelta(seconds=from_s), T0 + timedelta(seconds=to_s))
    assert [names[r.id] for r in got] == expected
    only_cam2 = s.tracklets.in_window(T0 - timedelta(days=1), T0 + timedelta(days=1), ["cam2"])
    assert [r.id for r in only_cam2] == [b]


def test_encounter_time_filter(store: Store) -> None:
    f = setup_footage(store)
    ids = save(
        store,
        f.id,
        [tracklet(1), tracklet(2)],
        [encounter(1, 2), encounter(1, 2, start=T0 + timedelta(minutes=5))],
    )
    assert len(store.tracklets.encounters_for([ids[0]])) == 2
    late = store.tracklets.encounters_for([ids[0]], t_from=T0 + timedelta(minutes=1))
    assert [e.start for e in late] == [T0 + timedelta(minutes=5)]
    early = store.tracklets.encounters_for([ids[1]], t_to=T0 + timedelta(minutes=1))
    assert [e.start for e in early] == [T0] and early[0].other_tracklet_id == ids[0]


# ---- other queries -------------------------------------------------------------------


def test_get_tracklets_order_and_missing(store: Store) -> None:
    f = setup_footage(store)
    ids = save(store, f.id, [tracklet(1), tracklet(2), tracklet(3)])
    got = store.tracklets.get_many([ids[2], 999, ids[0], ids[2]])
    assert [r.id for r in got] == [ids[2], ids[0]]
    with pytest.raises(NotFoundError):
        store.tracklets.points(999)
    with pytest.raises(NotFoundError):
        store.tracklets.get(999)
    pts = store.tracklets.points_of(ids)
    assert set(pts) == set(ids) and all(len(v) == 5 for v in pts.values())


def test_nan_ground_point_round_trips(store: Store) -> None:
    f = setup_footage(store)
    t = tracklet(1)
    p = t.points[0]
    unmapped = TrackPoint(p.frame_index, p.timestamp, p.xyxy, (math.nan, math.nan), 0.5)
    (tid,) = save(store, f.id, [_with_points(t, (unmapped, *t.points[1:]))])
    got = store.tracklets.points(tid)
    assert math.isnan(got[0].ground_xy[0]) and got[1].ground_xy == t.points[1].ground_xy


def test_mot_rows(store: Store) -> None:
    f = setup_footage(store)
    ids = save(store, f.id, [tracklet(1, n_points=2), tracklet(2, n_points=2, first_frame=1)])
    rows = store.tracklets.mot_rows("cam1")
    assert [(r.frame_index, r.track_id) for r in rows] == [
        (0, ids[0]),
        (1, ids[0]),
        (1, ids[1]),
        (2, ids[1]),
    ]
    r = rows[0]
    assert (r.x, r.y, r.w, r.h) == (10.0, 20.0, 40.0, 100.0) and r.confidence == 0.9
    assert store.tracklets.mot_rows("cam1", footage_id=f.id + 1) == []
    frame, track, *_ = rows[-1]  # unpacks like report.mot's tuples
    assert (frame, track) == (2, ids[1])
    assert store.tracklets.count() == 2 and store.tracklets.count(f.id + 1) == 0


def test_purge_expired(store: Store) -> None:
    f = setup_footage(store)
    old, new = tracklet(1), tracklet(2, start=T0 + timedelta(days=30))
    ids = save(store, f.id, [old, new], [encounter(1, 2)])
    old_files = {e.crop_path for e in store.faces.embeddings_of([ids[0]])}
    old_files.add(store.tracklets.get(ids[0]).snapshot_path)
    dry = store.retention.purge_expired(T0 + timedelta(days=1), T0, dry_run=True)
    assert counts(store)["tracklets"] == 2
    outcome = store.retention.purge_expired(T0 + timedelta(days=1), T0)
    assert outcome == dry
    assert (outcome.tracklets, outcome.track_points, len(outcome.embedding_ids)) == (1, 5, 2)
    assert outcome.encounters == 1 and len(outcome.files) == 3
    assert counts(store) == {
        "tracklets": 1,
        "track_points": 5,
        "face_embeddings": 2,
        "encounters": 0,
    }
    assert store.faces.embeddings_of([ids[0]]) == []
    assert len(store.faces.embeddings_of([ids[1]])) == 2
    assert {store.abspath(p) for p in outcome.files} == old_files
    with pytest.raises(InvalidInputError):
        store.retention.purge_expired(datetime(2024, 1, 1), T0)


def test_camera_ids_are_safe_folder_names(sqlite_store: Store) -> None:
    s = sqlite_store
    s.cameras.upsert("../etc/cam 1")
    f = s.footage.get_or_create("../etc/cam 1", "/v.mp4", SHA, 1, T0, 1.0, 25.0)
    (tid,) = save(s, f.id, [tracklet(1, camera_id="../etc/cam 1")])
    snap = s.tracklets.get(tid).snapshot_path
    assert snap is not None and Path(snap).resolve().is_relative_to(s.data_dir)


def test_store_errors_are_store_errors(tmp_path: Path) -> None:
    with pytest.raises(StoreError):
        Store(tmp_path, url="notadb://x")
    bad = tmp_path / "not-a-db"
    bad.mkdir()
    (bad / "cctrace.db").write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StoreError):
        Store(bad)


def test_for_site_uses_storage_section(tmp_path: Path) -> None:
    site = SimpleNamespace(
        storage=SimpleNamespace(data_dir=tmp_path / "site", database_url=None, pool=None),
        audit=SimpleNamespace(anchor_path=None, syslog=False),
    )
    with Store.for_site(site) as s:  # type: ignore[arg-type]
        assert s.dialect == "sqlite" and (tmp_path / "site" / "cctrace.db").exists()
