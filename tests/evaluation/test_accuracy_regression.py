"""The regression guard: ``cctrace eval --quick`` against the stored baseline.

Runs every stage's CI subset on ../shared/data through the real command line and fails
when any metric falls more than its tolerance below ``bench/results/accuracy-quick.json``
(2 points for fractions; see :mod:`cctrace.evaluation.runner`). Refresh the baseline with
``python bench/accuracy.py --quick`` when a change is meant to move a number, and say so
in the commit.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from cctrace.evaluation.runner import EvalReport, compare_to_baseline

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
BASELINE = REPO / "bench" / "results" / "accuracy-quick.json"


@pytest.mark.timeout(1800)
def test_quick_eval_has_no_regressions(shared_data: Path, tmp_path: Path) -> None:
    assert BASELINE.is_file(), f"missing baseline {BASELINE}: run python bench/accuracy.py --quick"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "cctrace.cli",
            "eval",
            "--quick",
            "--data",
            str(shared_data),
            "--out",
            str(tmp_path),
            "--baseline",
            str(BASELINE),
        ],
        capture_output=True,
        text=True,
        timeout=1500,
    )
    report = EvalReport.load(tmp_path / "accuracy.json")
    assert not report.errors, report.errors
    regressions = compare_to_baseline(report, EvalReport.load(BASELINE))
    assert not regressions, "\n".join(map(str, regressions)) + "\n" + proc.stderr[-3000:]
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    baseline_keys = {m["key"] for m in json.loads(BASELINE.read_text())["metrics"]}
    assert baseline_keys <= {m.key for m in report.metrics}
    assert (tmp_path / "accuracy.png").stat().st_size > 1000
