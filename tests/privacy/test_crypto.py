"""Encryption at rest: face embeddings, face crops and the vector index are never on
disk in plaintext, read back correctly with the key, fail clearly with another key, and
data written before encryption still reads."""

from __future__ import annotations

import base64
import logging
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest
from sqlalchemy import select, update

from cctrace.errors import ConfigError, NotFoundError, StoreError
from cctrace.privacy.crypto import (
    KEY_ENV,
    KEY_FILE_ENV,
    MAGIC,
    DataCipher,
    is_encrypted,
    load_data_cipher,
)
from cctrace.store import FaceIndex, Store
from cctrace.store.schema import FaceEmbeddingRow, FootageRow
from tests.store.store_factories import save, setup_footage, tracklet


def new_key() -> str:
    return base64.urlsafe_b64encode(os.urandom(32)).decode()


@pytest.fixture(autouse=True)
def no_key_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test starts without a key in the environment."""
    monkeypatch.delenv(KEY_ENV, raising=False)
    monkeypatch.delenv(KEY_FILE_ENV, raising=False)


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Store]:
    monkeypatch.setenv(KEY_ENV, new_key())
    with Store(tmp_path / "data") as s:
        yield s


def ingest_one(store: Store) -> tuple[list[int], list[np.ndarray], list[np.ndarray]]:
    """Two tracklets with faces and crops; returns ids, their vectors and crop images."""
    f = setup_footage(store)
    tracks = [tracklet(1), tracklet(2)]
    ids = save(store, f.id, tracks)
    vectors = [np.asarray(face.embedding, np.float32) for t in tracks for face in t.faces]
    crops = [np.asarray(face.crop) for t in tracks for face in t.faces]
    return ids, vectors, crops


# ---- the cipher ------------------------------------------------------------------------


def test_round_trip_and_format() -> None:
    cipher = DataCipher(os.urandom(32))
    data = b"\x00\x01 face vector bytes" * 10
    blob = cipher.encrypt(data, "embedding", "7")
    assert blob.startswith(MAGIC) and is_encrypted(blob) and data not in blob
    assert len(blob) == len(data) + 4 + 4 + 12 + 16
    assert cipher.decrypt(blob, "embedding", "7") == data
    assert cipher.encrypt(data, "embedding", "7") != blob  # random nonce
    assert cipher.decrypt(data, "crop") == data  # not encrypted: returned as is


def test_blob_is_bound_to_its_kind_context_and_content() -> None:
    cipher = DataCipher(os.urandom(32))
    blob = cipher.encrypt(b"x" * 64, "embedding", "7")
    with pytest.raises(StoreError, match="altered"):
        cipher.decrypt(blob, "crop", "7")
    with pytest.raises(StoreError, match="altered"):
        cipher.decrypt(blob, "embedding", "8")  # moved to another tracklet
    flipped = bytearray(blob)
    flipped[-1] ^= 1
    with pytest.raises(StoreError, match="altered"):
        cipher.decrypt(bytes(flipped), "embedding", "7")
    with pytest.raises(StoreError, match="truncated"):
        cipher.decrypt(blob[:20], "embedding", "7")


def test_wrong_key_says_the_key_changed() -> None:
    blob = DataCipher(os.urandom(32)).encrypt(b"vector", "embedding")
    with pytest.raises(StoreError, match=r"data key does not match.*CCTRACE_DATA_KEY changed"):
        DataCipher(os.urandom(32)).decrypt(blob, "embedding")


# ---- the key ---------------------------------------------------------------------------


def test_key_from_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    key = new_key()
    monkeypatch.setenv(KEY_ENV, key)
    blob = load_data_cipher(tmp_path).encrypt(b"abc", "crop")
    assert DataCipher(base64.urlsafe_b64decode(key)).decrypt(blob, "crop") == b"abc"
    assert not (tmp_path / "keys").exists()  # no key file when the variable is set
    monkeypatch.setenv(KEY_ENV, key.rstrip("="))  # unpadded (secrets.token_urlsafe) works
    assert load_data_cipher(tmp_path).decrypt(blob, "crop") == b"abc"


@pytest.mark.parametrize(
    "value, message",
    [
        ("changeme-changeme-changeme-changeme-changeme", "placeholder"),
        ("<your data key here, 32 random bytes in base64>", "placeholder"),
        ("short", "characters long"),
        (base64.urlsafe_b64encode(os.urandom(33)).decode(), "exactly 32"),
        ("!" * 20 + "abcdefghijklmnopqrstuvwx", "exactly 32"),
    ],
)
def test_bad_keys_are_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, value: str, message: str
) -> None:
    monkeypatch.setenv(KEY_ENV, value)
    with pytest.raises(ConfigError, match=message) as err:
        load_data_cipher(tmp_path)
    assert KEY_ENV in str(err.value) and "os.urandom(32)" in str(err.value)
    with pytest.raises(ConfigError):
        Store(tmp_path / "data")  # a store never opens with a bad key


def test_bad_length_error_shows_how_to_make_a_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(KEY_ENV, base64.urlsafe_b64encode(os.urandom(30)).decode() + "Qx7_kP2m")
    with pytest.raises(ConfigError, match=r"base64\.urlsafe_b64encode\(os\.urandom\(32\)\)"):
        load_data_cipher(tmp_path)


def test_key_file_is_created_private_and_reused(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="cctrace.privacy.crypto"):
        first = load_data_cipher(tmp_path)
        second = load_data_cipher(tmp_path)
    key_file = tmp_path / "keys" / "data.key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert stat.S_IMODE(key_file.parent.stat().st_mode) == 0o700
    assert first.key_id == second.key_id
    warnings = [r for r in caplog.records if "beside the data" in r.getMessage()]
    assert len(warnings) == 1 and KEY_ENV in warnings[0].getMessage()  # once


def test_key_file_variable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    key_file = tmp_path / "elsewhere.key"
    key_file.write_text(new_key() + "\n")
    monkeypatch.setenv(KEY_FILE_ENV, str(key_file))
    blob = load_data_cipher(tmp_path / "data").encrypt(b"abc", "index")
    assert not (tmp_path / "data" / "keys").exists()
    assert load_data_cipher(tmp_path / "other").decrypt(blob, "index") == b"abc"
    monkeypatch.setenv(KEY_FILE_ENV, str(tmp_path / "missing.key"))
    with pytest.raises(ConfigError, match=KEY_FILE_ENV):
        load_data_cipher(tmp_path)


# ---- the store -------------------------------------------------------------------------


def test_embeddings_are_encrypted_in_the_database(store: Store) -> None:
    ids, vectors, _ = ingest_one(store)
    with store.engine.connect() as c:
        stored = [bytes(b) for b in c.execute(select(FaceEmbeddingRow.vector)).scalars()]
    assert len(stored) == len(vectors) == 4
    for blob in stored:
        assert blob.startswith(MAGIC)
        for v in vectors:
            assert v.tobytes() not in blob and v[:4].tobytes() not in blob
    db_bytes = b"".join(p.read_bytes() for p in store.data_dir.glob("cctrace.db*"))
    assert not any(v[:8].tobytes() in db_bytes for v in vectors)
    got = sorted(store.faces.embeddings_of(ids), key=lambda e: e.id)
    for record, v in zip(got, vectors, strict=True):
        np.testing.assert_array_equal(record.vector, v)
    (batch,) = store.faces.iter_embedding_batches()
    np.testing.assert_array_equal(batch.vectors, np.stack(vectors))


def test_crop_files_are_encrypted_and_read_back(store: Store) -> None:
    ids, _, crops = ingest_one(store)
    records = sorted(store.faces.embeddings_of(ids), key=lambda e: e.id)
    for record, crop in zip(records, crops, strict=True):
        assert record.crop_path is not None
        raw = Path(record.crop_path).read_bytes()
        assert raw.startswith(MAGIC) and not raw.startswith(b"\xff\xd8")
        assert b"\xff\xd8\xff" not in raw[:64]
        assert cv2.imread(record.crop_path) is None  # not an image without the key
        jpeg = store.faces.read_crop(record.crop_path)
        assert jpeg.startswith(b"\xff\xd8")
        image = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
        assert image.shape == crop.shape
        assert np.abs(image.astype(int) - crop.astype(int)).mean() < 8  # JPEG loss only
    # snapshots are redacted at ingest and stay plain JPEG
    snap = store.tracklets.get(ids[0]).snapshot_path
    assert snap is not None and Path(snap).read_bytes().startswith(b"\xff\xd8")


def test_read_crop_stays_inside_the_data_dir(store: Store, tmp_path: Path) -> None:
    outside = tmp_path / "outside.jpg"
    outside.write_bytes(b"\xff\xd8 not ours")
    with pytest.raises(NotFoundError, match="inside"):
        store.faces.read_crop(outside)


def test_index_files_hold_no_plaintext(store: Store, tmp_path: Path) -> None:
    ids, vectors, _ = ingest_one(store)
    index = FaceIndex(tmp_path / "index")
    assert index.sync(store) == 4
    assert index.cipher is store.cipher  # adopted from the store
    saved = [p for p in (tmp_path / "index").rglob("*") if p.is_file()]
    assert any(p.name == "vectors.enc" for p in saved)
    assert not any(p.name == "vectors.npy" for p in saved)
    blob = b"".join(p.read_bytes() for p in saved)
    for v in vectors:
        assert v[:4].tobytes() not in blob
    fresh = FaceIndex(tmp_path / "index", cipher=store.cipher)
    assert fresh.load() and len(fresh) == 4
    (hits,) = fresh.search(vectors[2], 1)
    assert hits[0].tracklet_id == ids[1] and hits[0].score == pytest.approx(1.0)
    with pytest.raises(StoreError, match="no data key"):
        FaceIndex(tmp_path / "index").load()
    with pytest.raises(StoreError, match="data key does not match"):
        FaceIndex(tmp_path / "index", cipher=DataCipher(os.urandom(32))).load()


def test_large_index_is_written_in_chunks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import cctrace.store.vector_index as vi

    monkeypatch.setattr(vi, "ENCRYPTED_CHUNK_BYTES", 1000)
    cipher = DataCipher(os.urandom(32))
    index = FaceIndex(tmp_path, dim=8, cipher=cipher)
    rng = np.random.default_rng(0)
    vecs = rng.standard_normal((50, 8)).astype(np.float32)
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    index.add(np.arange(1, 51), np.arange(1, 51), np.arange(50.0), vecs)
    index.save()
    loaded = FaceIndex(tmp_path, dim=8, cipher=cipher)
    assert loaded.load()
    (hits,) = loaded.search(vecs[17], 1)
    assert hits[0].embedding_id == 18
    gen = next(tmp_path.glob("gen-*"))
    data = (gen / "vectors.enc").read_bytes()
    (gen / "vectors.enc").write_bytes(data[: len(data) // 2])  # a chunk lost
    with pytest.raises(StoreError):
        FaceIndex(tmp_path, dim=8, cipher=cipher).load()


def test_wrong_key_is_a_clear_store_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(KEY_ENV, new_key())
    with Store(tmp_path / "data") as s:
        ids, _, _ = ingest_one(s)
        crop = s.faces.embeddings_of(ids)[0].crop_path
    monkeypatch.setenv(KEY_ENV, new_key())
    with Store(tmp_path / "data") as s:
        with pytest.raises(StoreError, match=r"data key does not match.*CCTRACE_DATA_KEY"):
            s.faces.embeddings_of(ids)
        with pytest.raises(StoreError, match="data key does not match"):
            list(s.faces.iter_embedding_batches())
        assert crop is not None
        with pytest.raises(StoreError, match="data key does not match"):
            s.faces.read_crop(crop)


def test_legacy_plaintext_rows_files_and_index_still_read(store: Store, tmp_path: Path) -> None:
    ids, vectors, crops = ingest_one(store)
    # rewrite the first row and its crop as a pre-encryption version wrote them
    first = min(e.id for e in store.faces.embeddings_of(ids))
    with store.engine.begin() as c:
        c.execute(
            update(FaceEmbeddingRow)
            .where(FaceEmbeddingRow.id == first)
            .values(vector=vectors[0].tobytes())
        )
    record = next(e for e in store.faces.embeddings_of(ids) if e.id == first)
    np.testing.assert_array_equal(record.vector, vectors[0])
    assert record.crop_path is not None
    plain_jpeg = cv2.imencode(".jpg", crops[0])[1].tobytes()
    Path(record.crop_path).write_bytes(plain_jpeg)
    assert store.faces.read_crop(record.crop_path) == plain_jpeg
    # an index saved before encryption loads, and is re-saved encrypted at the next sync
    plain = FaceIndex(tmp_path / "index")
    plain.sync(_PlainSource(store))
    assert any((tmp_path / "index").rglob("vectors.npy"))
    index = FaceIndex(tmp_path / "index")
    assert index.sync(store) == 0 and len(index) == 4
    assert not any((tmp_path / "index").rglob("vectors.npy"))
    assert any((tmp_path / "index").rglob("vectors.enc"))


class _PlainSource:
    """A store seen without its cipher (as an index saved before encryption was)."""

    def __init__(self, store: Store) -> None:
        self.instance_id = store.instance_id
        self.faces = store.faces


def test_checkpoint_state_is_encrypted(store: Store) -> None:
    f = setup_footage(store)
    state = b"pickled tracker state with face vectors" * 4
    save(store, f.id, [tracklet(1)])
    store.tracklets.save_batch(f.id, [], [], 20.0, state, "running", 200, 1)
    with store.engine.connect() as c:
        (raw,) = c.execute(select(FootageRow.checkpoint_state)).scalars()
    assert bytes(raw).startswith(MAGIC) and state not in bytes(raw)
    assert store.footage.get(f.id).checkpoint_state == state
    store.footage.mark(f.id, "running", checkpoint_state=b"other state")
    assert store.footage.files()[0].checkpoint_state == b"other state"


def test_child_processes_of_the_command_do_not_warn_again(tmp_path: Path) -> None:
    import subprocess
    import sys

    load_data_cipher(tmp_path)  # warns here (or already did in this process)
    code = (
        "import logging, sys; logging.basicConfig(stream=sys.stdout, level=logging.WARNING); "
        "from cctrace.privacy.crypto import load_data_cipher; "
        f"load_data_cipher({str(tmp_path)!r}); "
        f"load_data_cipher({str(tmp_path / 'other')!r})"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=os.environ
    ).stdout
    # The same data folder: quiet in the child; another folder still warns.
    assert out.count("beside the data") == 1 and "other" in out
