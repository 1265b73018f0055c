"""bench/vs_face_recognition.py: scoring found frames against the known frames."""

from __future__ import annotations

import importlib.util
import math
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import ModuleType


def _bench() -> ModuleType:
    path = Path(__file__).resolve().parents[2] / "bench" / "vs_face_recognition.py"
    spec = importlib.util.spec_from_file_location("bench_vs_face_recognition", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def test_truth_frames_are_the_frames_inside_the_spans() -> None:
    bench = _bench()
    assert bench.truth_frames([(1.0, 1.5)], 10, 100) == set(range(10, 16))
    assert bench.truth_frames([(0.0, 0.2), (9.95, 20.0)], 10, 100) == {0, 1, 2}
    assert bench.truth_frames([], 10, 100) == set()


def test_intervals_cover_frames_with_half_a_frame_of_slack() -> None:
    bench = _bench()
    # A sighting from 1.06 s to 1.34 s covers frames 11-13 and, within 0.05 s, not 10/14.
    assert bench.frames_in_intervals([(1.06, 1.34)], 10, 100) == {11, 12, 13}
    assert bench.frames_in_intervals([(1.05, 1.35)], 10, 100) == {10, 11, 12, 13, 14}


def test_score_counts_hits_false_frames_and_appearances() -> None:
    bench = _bench()
    found = {10, 11, 12, 50}
    out = bench.score(found, [(1.0, 1.9), (3.0, 3.9)], 10, 100)
    assert (out.true_frames, out.hit_frames, out.false_frames) == (20, 3, 1)
    assert out.frame_recall == 3 / 20
    assert (out.appearances_found, out.appearances) == (1, 2)
    assert "1/2 appearances" in out.summary
    assert math.isnan(bench.score(set(), [], 10, 100).frame_recall)


def test_accepted_intervals_keep_accepted_sightings_in_clip_seconds() -> None:
    bench = _bench()
    start = datetime(2026, 3, 15, 8, 0, tzinfo=UTC)

    def iso(s: float) -> str:
        return (start + timedelta(seconds=s)).isoformat().replace("+00:00", "Z")

    trace = {
        "trace": {
            "sightings": [
                {"status": "accepted", "start": iso(33.1), "end": iso(37.0)},
                {"status": "review", "start": iso(20.0), "end": iso(21.0)},
                {"status": "accepted", "start": iso(9.1), "end": iso(13.0)},
            ]
        }
    }
    got = bench.accepted_intervals(trace, start)
    assert [(round(a, 3), round(b, 3)) for a, b in got] == [(9.1, 13.0), (33.1, 37.0)]
