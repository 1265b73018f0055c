"""MOTChallenge files: 1-based frames, readable by motmetrics, MOTA 1 against itself."""

from __future__ import annotations

import os
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

from cctrace.report.mot import MotRow, format_mot, read_mot, write_mot

ROWS: list[MotRow] = [
    (0, 1, 10.0, 20.0, 30.0, 60.0, 0.9),
    (0, 2, 100.5, 40.25, 28.0, 58.0, 0.8),
    (1, 1, 12.0, 21.0, 30.0, 60.0, 0.91),
    (1, 2, 102.0, 41.0, 28.0, 58.0, 0.75),
    (2, 1, 14.0, 22.0, 30.0, 60.0, 0.88),
    (4, 3, 300.0, 200.0, 40.0, 90.0, 0.6),  # frame 3 has no boxes
]


def test_round_trip_and_one_based_frames(tmp_path: Path) -> None:
    path = write_mot(reversed(ROWS), tmp_path / "sub" / "tracks.txt")
    lines = path.read_text().splitlines()
    assert lines[0] == "1,1,10,20,30,60,0.9,-1,-1,-1"
    assert lines[1] == "1,2,100.5,40.25,28,58,0.8,-1,-1,-1"
    assert lines[-1].startswith("5,3,")
    assert all(len(line.split(",")) == 10 for line in lines)
    assert read_mot(path) == ROWS


def test_empty_rows_write_an_empty_file(tmp_path: Path) -> None:
    path = write_mot([], tmp_path / "empty.txt")
    assert path.read_text() == ""
    assert read_mot(path) == []


@pytest.mark.parametrize(
    "row",
    [
        (-1, 1, 0.0, 0.0, 10.0, 10.0, 1.0),
        (0, 1, 0.0, 0.0, 0.0, 10.0, 1.0),
        (0, 1, 0.0, 0.0, 10.0, -1.0, 1.0),
        (0, 1, float("nan"), 0.0, 10.0, 10.0, 1.0),
        (0, 1, 0.0, 0.0, 10.0, 10.0, float("inf")),
    ],
)
def test_bad_rows_raise(row: MotRow) -> None:
    with pytest.raises(ValueError):
        format_mot([row])


def test_malformed_file_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.txt"
    path.write_text("1,1,0,0,10,10,1,-1,-1,-1\n2,1,oops\n")
    with pytest.raises(ValueError, match=r"bad.txt:2"):
        read_mot(path)


def _motmetrics() -> ModuleType:
    if not hasattr(np, "asfarray"):  # motmetrics 1.4.0 predates NumPy 2
        np.asfarray = lambda a, dtype=float: np.asarray(a, dtype=dtype)  # type: ignore[attr-defined]
    return pytest.importorskip("motmetrics", reason="motmetrics is a dev dependency")


def test_motmetrics_loads_it_and_scores_mota_one(tmp_path: Path) -> None:
    mm = _motmetrics()
    path = write_mot(ROWS, tmp_path / "tracks.txt")
    df = mm.io.loadtxt(str(path), fmt="mot15-2D")
    assert len(df) == len(ROWS)
    assert sorted(df.index.get_level_values("FrameId").unique()) == [1, 2, 3, 5]
    acc = mm.utils.compare_to_groundtruth(df, df, "iou", distth=0.5)
    summary = mm.metrics.create().compute(acc, metrics=["mota", "num_switches"], name="self")
    assert summary.loc["self", "mota"] == pytest.approx(1.0)
    assert summary.loc["self", "num_switches"] == 0


def test_reads_the_pets_ground_truth(shared_data: Path) -> None:
    gt = shared_data / "pets2009-s2l1" / "gt_mot.txt"
    if not gt.is_file():
        pytest.skip(f"{gt} not found")
    rows = read_mot(gt)
    assert len(rows) == 4650
    assert len({r[1] for r in rows}) == 19
    assert min(r[0] for r in rows) >= 0


def test_write_to_a_stream_path(tmp_path: Path) -> None:
    # The CLI writes to /dev/stdout; any existing file path must work.
    target = tmp_path / "fifo_like.txt"
    target.touch()
    write_mot(ROWS[:1], os.fspath(target))
    assert read_mot(target) == ROWS[:1]
