"""The ``masks`` stage of ``cctrace eval``: metric helpers, data loading, a real run."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from cctrace.evaluation import masks as M
from cctrace.evaluation.metrics import EvalContext

# --------------------------------------------------------------------------- metric math


def test_rates_known_values() -> None:
    labels = np.array([1, 1, 1, 1, 0, 0])
    prob = np.array([0.9, 0.5, 0.2, 0.7, 0.1, 0.6])  # 3 of 4 masked, 1 of 2 bare right
    r = M.rates(prob, labels)
    assert r["accuracy"] == pytest.approx(4 / 6)
    assert r["recall masked"] == pytest.approx(0.75)
    assert r["recall bare"] == pytest.approx(0.5)
    assert r["balanced"] == pytest.approx(0.625)
    # p exactly at the threshold counts as worn; a higher threshold flips it
    assert M.rates(prob, labels, threshold=0.55)["recall masked"] == pytest.approx(0.5)


def test_rates_missing_class_is_nan_and_empty_is_nan() -> None:
    r = M.rates(np.array([0.9, 0.1]), np.array([1, 1]))
    assert r["accuracy"] == 0.5 and r["recall masked"] == 0.5
    assert math.isnan(r["recall bare"]) and math.isnan(r["balanced"])
    assert all(math.isnan(v) for v in M.rates(np.zeros(0), np.zeros(0)).values())


def test_rates_shape_mismatch_raises() -> None:
    with pytest.raises(ValueError):
        M.rates(np.zeros(3), np.zeros(2))


def test_wilson_interval() -> None:
    low, high = M.wilson_interval(95, 100)
    # textbook value for 95/100: 0.8882 .. 0.9785
    assert low == pytest.approx(0.8882, abs=1e-3) and high == pytest.approx(0.9785, abs=1e-3)
    low, high = M.wilson_interval(10, 10)
    assert high == 1.0 and 0.69 < low < 0.73
    assert all(math.isnan(v) for v in M.wilson_interval(0, 0))


# --------------------------------------------------------------------------- data handling


def _write_voc(folder: Path, name: str, objects: list[tuple[str, tuple[int, ...]]]) -> None:
    rows = "".join(
        f"<object><name>{label}</name><bndbox><xmin>{b[0]}</xmin><ymin>{b[1]}</ymin>"
        f"<xmax>{b[2]}</xmax><ymax>{b[3]}</ymax></bndbox></object>"
        for label, b in objects
    )
    xml = f"<annotation><filename>{name}.png</filename>{rows}</annotation>"
    (folder / "annotations" / f"{name}.xml").write_text(xml)


def test_load_samples_reads_boxes_and_skips_incorrect(tmp_path: Path) -> None:
    (tmp_path / "annotations").mkdir()
    _write_voc(
        tmp_path,
        "b",
        [("with_mask", (1, 2, 30, 40)), ("mask_weared_incorrect", (5, 5, 9, 9))],
    )
    _write_voc(tmp_path, "a", [("without_mask", (10, 20, 50, 70))])
    samples = M.load_samples(tmp_path)
    assert [(s.image.name, s.box, s.worn) for s in samples] == [
        ("a.png", (10.0, 20.0, 50.0, 70.0), 0),
        ("b.png", (1.0, 2.0, 30.0, 40.0), 1),
    ]


def test_split_halves_is_by_image_fixed_and_covers_everything() -> None:
    samples = [
        M.Sample(Path(f"/x/img{i // 3}.png"), (0.0, 0.0, 1.0, 1.0), i % 2) for i in range(300)
    ]
    halves = M.split_halves(samples)
    assert sorted(halves["A"] + halves["B"]) == list(range(300))
    for half in halves.values():  # every face of an image falls in the same half
        assert len(half) % 3 == 0
        assert {samples[i].image for i in half}.isdisjoint(
            {samples[i].image for i in set(range(300)) - set(half)}
        )
    assert 0.35 < len(halves["A"]) / 300 < 0.65
    # independent of order and of the folder; another seed gives another split
    assert M.split_halves(samples[::-1])["A"] == sorted(299 - i for i in halves["A"])
    assert M.image_half(Path("/a/img7.png")) == M.image_half(Path("/b/img7.png"))
    assert M.split_halves(samples, seed=1) != halves


def test_crop_box_expands_and_clips() -> None:
    image = np.arange(100 * 80 * 3, dtype=np.uint8).reshape(100, 80, 3)
    assert M.crop_box(image, (10, 20, 30, 60), 0.0).shape == (40, 20, 3)
    assert M.crop_box(image, (10, 20, 30, 60), 0.25).shape == (60, 30, 3)
    assert M.crop_box(image, (-5, -5, 200, 200), 0.0).shape == (100, 80, 3)
    assert M.crop_box(image, (90, 120, 95, 130), 0.0).shape[:2] == (1, 1)  # outside: 1 px


def test_degrade_resolution_keeps_size_and_loses_detail() -> None:
    rng = np.random.default_rng(0)
    crop = rng.integers(0, 256, (112, 112, 3), dtype=np.uint8)
    small = M.degrade_resolution(crop, 16)
    assert small.shape == crop.shape and small.dtype == np.uint8

    # fine noise averages away: far less variation between neighbouring pixels
    def roughness(img: np.ndarray) -> float:
        return float(np.abs(np.diff(img.astype(np.int16), axis=1)).mean())

    assert roughness(small) < roughness(crop) / 4
    flat = np.full((50, 40, 3), 77, np.uint8)
    assert np.array_equal(M.degrade_resolution(flat, 8), flat)


def test_build_crops_rejects_unknown_kind() -> None:
    with pytest.raises(ValueError, match="unknown crop kinds"):
        M.build_crops([], ["nope"])


# --------------------------------------------------------------------------- real run


# Measured (quick mode; every labelled face: 225, 214 found by the pipeline's YuNet; held-out
# half B: 94 found): mobilenetv2-head accuracy 0.972 (masked 0.969, bare 0.976), held-out
# 0.968 (0.981, 0.950), end-to-end 0.924; about 10 s on 2 cores.
@pytest.mark.slow
def test_quick_run_on_kaggle_masks(shared_data: Path, tmp_path: Path) -> None:
    if not (shared_data / "masks" / "kaggle-andrewmvd" / "annotations").is_dir():
        pytest.skip("masks/kaggle-andrewmvd not in the shared data")
    ctx = EvalContext(data_root=shared_data, workdir=tmp_path, quick=True, threads=1)
    metrics = {m.name: m for m in M.evaluate(ctx)}
    assert all(m.stage == "masks" for m in metrics.values())
    assert "accuracy mobilenetv2-avg" not in metrics  # full runs only
    acc = metrics["accuracy"]
    assert acc.target == 0.97 and acc.n == 214
    assert acc.value == pytest.approx(0.972, abs=0.015), acc
    assert metrics["recall masked"].value == pytest.approx(0.970, abs=0.025)
    assert metrics["recall masked"].n == 130
    assert metrics["recall bare"].value == pytest.approx(0.976, abs=0.025)
    held_out = metrics["accuracy held-out"]
    assert held_out.n == 94 and held_out.value == pytest.approx(0.968, abs=0.025)
    assert metrics["recall bare held-out"].n == 40
    assert metrics["faces detected"].value == pytest.approx(214 / 225)
    assert metrics["faces missed"].value == 11 and not metrics["faces missed"].higher_is_better
    # CCTV-sized faces: 0.949 (masked 0.932, bare 0.976); the old average scored 0.825
    assert metrics["accuracy 32 px"].value == pytest.approx(0.949, abs=0.025)
    assert metrics["recall bare 32 px"].value >= 0.93
    assert metrics["accuracy end-to-end"].n == 225
    assert not metrics["ms per face"].guarded  # timings depend on load, not on the code
