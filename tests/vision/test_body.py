"""Body appearance embedders on real PETS2009 ground-truth crops."""

from __future__ import annotations

import csv
import hashlib
from pathlib import Path

import numpy as np
import pytest

from cctrace.errors import ModelError
from cctrace.vision import build_body_embedder
from cctrace.vision.body import OnnxReidEmbedder, PartColourEmbedder, box_crop
from tests.vision.conftest import require_data, shared_data_dir

STEP = 40
MIN_HEIGHT = 60.0


@pytest.fixture(scope="module")
def gt_crops() -> tuple[list[np.ndarray], np.ndarray, np.ndarray]:
    """Person crops (every 40th frame, >= 60 px), their ids and frame indices."""
    import av

    pets = require_data("pets2009-s2l1")
    boxes: dict[int, list[tuple[int, tuple[float, ...]]]] = {}
    with (pets / "gt_mot.txt").open() as handle:
        for row in csv.reader(handle):
            frame, pid = int(row[0]) - 1, int(row[1])
            x, y, w, h = (float(v) for v in row[2:6])
            if frame % STEP == 0 and h >= MIN_HEIGHT:
                boxes.setdefault(frame, []).append((pid, (x, y, x + w, y + h)))
    crops, ids, frames = [], [], []
    with av.open(str(pets / "view001.mp4")) as container:
        for index, frame in enumerate(container.decode(video=0)):
            for pid, box in boxes.get(index, []):
                crop = box_crop(frame.to_ndarray(format="bgr24"), box)
                if crop is not None:
                    crops.append(np.ascontiguousarray(crop))
                    ids.append(pid)
                    frames.append(index)
    return crops, np.asarray(ids), np.asarray(frames)


def _embed_all(embedder: object, crops: list[np.ndarray]) -> np.ndarray:
    if isinstance(embedder, OnnxReidEmbedder):
        return embedder.embed_crops(crops)
    assert isinstance(embedder, PartColourEmbedder)
    return np.stack([embedder.embed(c, [(0, 0, c.shape[1], c.shape[0])])[0] for c in crops])


def _separation(emb: np.ndarray, ids: np.ndarray, frames: np.ndarray) -> tuple[float, float]:
    """(rank-1 over crops at least 50 frames apart, mean same - mean different cosine)."""
    sim = emb @ emb.T
    hits = []
    for q in range(len(ids)):
        gallery = np.abs(frames - frames[q]) >= 50
        if not ((ids == ids[q]) & gallery).any():
            continue
        best = np.flatnonzero(gallery)[int(np.argmax(sim[q, gallery]))]
        hits.append(ids[best] == ids[q])
    same = ids[:, None] == ids[None, :]
    off = ~np.eye(len(ids), dtype=bool)
    gap = float(sim[same & off].mean() - sim[~same].mean())
    return float(np.mean(hits)), gap


def test_part_colour_tells_people_apart_on_real_crops(gt_crops: tuple) -> None:
    crops, ids, frames = gt_crops
    assert len(crops) >= 80 and len(set(ids.tolist())) >= 10
    emb = _embed_all(PartColourEmbedder(), crops)
    assert emb.shape == (len(crops), PartColourEmbedder().dim)
    np.testing.assert_allclose(np.linalg.norm(emb, axis=1), 1.0, atol=1e-5)
    rank1, gap = _separation(emb, ids, frames)
    # 19 people: chance is about 0.05. Measured 0.5 on this subset's full-set bench.
    assert rank1 >= 0.3, rank1
    assert gap > 0.05, gap


def test_part_colour_holds_under_a_change_of_exposure(gt_crops: tuple) -> None:
    crops, _, _ = gt_crops
    embedder = PartColourEmbedder()
    for crop in crops[:20]:
        dark = (crop.astype(np.float32) * 0.6).astype(np.uint8)
        a, b = _embed_all(embedder, [crop, dark])
        assert float(a @ b) > 0.9


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"part_weights": {"arms": 1.0}}, "unknown body parts"),
        ({"part_weights": {"head": 0.0, "torso": 0.0, "legs": 0.0}}, "not all 0"),
        ({"part_weights": {"torso": -1.0}}, ">= 0"),
        ({"part_weights": {"torso": float("nan")}}, ">= 0"),
        ({"side_margin": 0.5}, "side_margin"),
    ],
)
def test_part_colour_bad_params_are_clear_errors(params: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        build_body_embedder("part-colour", **params)


def test_boxes_outside_the_image_give_zero_rows() -> None:
    image = np.full((100, 80, 3), 120, np.uint8)
    image[20:90, 20:60] = (0, 0, 200)
    emb = PartColourEmbedder().embed(image, [(20, 10, 60, 95), (200, 200, 260, 300)])
    assert emb.shape[0] == 2
    assert np.linalg.norm(emb[0]) == pytest.approx(1.0, abs=1e-5)
    assert not emb[1].any()


def test_unknown_body_embedder_type_names_the_choices() -> None:
    with pytest.raises(ValueError, match="part-colour"):
        build_body_embedder("resnet-9000")


def _osnet() -> Path:
    path = shared_data_dir().parent / "models" / "osnet_x0_25_msmt17.onnx"
    if not path.is_file():
        pytest.skip(f"evaluation-only re-ID model not found: {path}")
    return path


def test_onnx_reid_embeds_real_crops_with_a_pinned_model(gt_crops: tuple) -> None:
    path = _osnet()
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    embedder = build_body_embedder("onnx-reid", path=str(path), sha256=digest, threads=1)
    crops, ids, frames = gt_crops
    emb = _embed_all(embedder, crops)
    assert emb.shape == (len(crops), 512)
    np.testing.assert_allclose(np.linalg.norm(emb, axis=1), 1.0, atol=1e-4)
    rank1, gap = _separation(emb, ids, frames)
    assert rank1 >= 0.3 and gap > 0.05, (rank1, gap)


def test_onnx_reid_refuses_a_model_whose_hash_differs(tmp_path: Path) -> None:
    path = _osnet()
    embedder = OnnxReidEmbedder(path, "0" * 64)
    with pytest.raises(ModelError, match="does not match"):
        embedder.embed_crops([np.zeros((64, 32, 3), np.uint8)])
    missing = OnnxReidEmbedder(tmp_path / "nope.onnx", "0" * 64)
    with pytest.raises(ModelError, match="not found"):
        missing.embed_crops([np.zeros((64, 32, 3), np.uint8)])


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"sha256": "abc"}, "64 hex"),
        ({"sha256": "0" * 64, "input_height": 4}, "input size"),
        ({"sha256": "0" * 64, "batch": 0}, "batch"),
        ({"sha256": "0" * 64, "threads": 0}, "threads"),
    ],
)
def test_onnx_reid_bad_params_are_clear_errors(params: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        OnnxReidEmbedder("model.onnx", **params)
