"""The evaluation runner: baseline comparison, outputs, stage failures, contact scoring."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from cctrace.evaluation import runner
from cctrace.evaluation.contacts import score_pairs
from cctrace.evaluation.metrics import EvalContext, Metric
from cctrace.evaluation.runner import EvalReport, compare_to_baseline


def _report(*metrics: Metric, errors: dict[str, str] | None = None) -> EvalReport:
    return EvalReport(
        metrics=list(metrics),
        commit="abc1234",
        started="2026-11-26T00:00:00+00:00",
        quick=True,
        machine="test",
        errors=errors or {},
    )


def test_metric_pass_fail_follows_direction() -> None:
    assert Metric("s", "recall", 0.96, 0.95).passed is True
    assert Metric("s", "recall", 0.94, 0.95).passed is False
    assert Metric("s", "error", 0.10, 0.15, higher_is_better=False).passed is True
    assert Metric("s", "error", 0.20, 0.15, higher_is_better=False).passed is False
    assert Metric("s", "info", 0.5).passed is None
    assert Metric("s", "nan", float("nan"), 0.5).passed is False


def test_report_round_trips_through_json(tmp_path: Path) -> None:
    report = _report(Metric("a", "x", 0.5, 0.4, n=3, condition="c"), Metric("a", "y", math.nan))
    paths = runner.write_outputs(report, tmp_path)
    loaded = EvalReport.load(paths["json"])
    assert [m.key for m in loaded.metrics] == ["a/x", "a/y"]
    assert loaded.metrics[0] == report.metrics[0]
    assert math.isnan(loaded.metrics[1].value)
    assert paths["chart"].stat().st_size > 1000
    md = paths["markdown"].read_text()
    assert "| a | x | 50.0% | ≥ 40.0% | pass | 3 | c |" in md
    assert "abc1234" in md


def test_wrong_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "a.json"
    path.write_text(json.dumps({"schema": "other", "metrics": []}))
    with pytest.raises(ValueError, match="schema"):
        EvalReport.load(path)


def test_drop_beyond_tolerance_is_a_regression() -> None:
    base = _report(Metric("a", "recall", 0.90), Metric("a", "err", 0.10, higher_is_better=False))
    ok = _report(Metric("a", "recall", 0.885), Metric("a", "err", 0.12, higher_is_better=False))
    assert compare_to_baseline(ok, base) == []
    bad = _report(Metric("a", "recall", 0.87), Metric("a", "err", 0.14, higher_is_better=False))
    assert [r.key for r in compare_to_baseline(bad, base)] == ["a/recall", "a/err"]


def test_slack_samples_widen_the_tolerance_of_a_varying_scene() -> None:
    base = _report(Metric("trace", "recall", 0.724, n=16))
    drop = _report(Metric("trace", "recall", 0.660, n=16))  # one sample is 0.063
    assert [r.key for r in compare_to_baseline(drop, base)] == ["trace/recall"]
    slack_base = _report(Metric("trace", "recall", 0.724, n=16, slack_samples=1))
    assert compare_to_baseline(drop, slack_base) == []
    too_far = _report(Metric("trace", "recall", 0.590, n=16, slack_samples=1))
    assert compare_to_baseline(too_far, slack_base)  # two samples is 0.126


def test_improvement_is_not_a_regression() -> None:
    base = _report(Metric("a", "recall", 0.80))
    assert compare_to_baseline(_report(Metric("a", "recall", 0.99)), base) == []


def test_unit_metrics_use_relative_tolerance() -> None:
    base = _report(Metric("a", "ms", 100.0, higher_is_better=False, unit="ms"))
    assert compare_to_baseline(_report(Metric("a", "ms", 109.0, False, unit="ms")), base) == []
    assert compare_to_baseline(_report(Metric("a", "ms", 111.0, False, unit="ms")), base)


def test_missing_metric_or_failed_stage_is_a_regression() -> None:
    base = _report(Metric("a", "x", 0.5), Metric("a", "y", 0.5), Metric("b", "z", 0.5))
    missing = _report(Metric("a", "x", 0.5))  # a/y vanished; stage b not run at all
    assert [r.key for r in compare_to_baseline(missing, base)] == ["a/y"]
    failed = _report(Metric("a", "x", 0.5), Metric("a", "y", 0.5), errors={"b": "boom"})
    assert [r.key for r in compare_to_baseline(failed, base)] == ["b/z"]
    nan_now = _report(Metric("a", "x", math.nan), Metric("a", "y", 0.5))
    assert [r.key for r in compare_to_baseline(nan_now, base)] == ["a/x"]


def test_failing_stage_is_recorded_and_others_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def good(ctx: EvalContext) -> list[Metric]:
        assert ctx.quick
        return [Metric("good", "m", 1.0)]

    def bad(ctx: EvalContext) -> list[Metric]:
        raise FileNotFoundError("no data here")

    monkeypatch.setattr(runner, "STAGES", {"bad": "x:bad", "good": "x:good"})
    monkeypatch.setattr(runner, "_load_stage", lambda spec: {"x:bad": bad, "x:good": good}[spec])
    report = runner.run_eval(tmp_path, quick=True)
    assert [m.key for m in report.metrics] == ["good/m"]
    assert "no data here" in report.errors["bad"]
    assert set(report.stage_seconds) == {"bad", "good"}


def test_unknown_stage_and_missing_data_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown stage"):
        runner.run_eval(tmp_path, stages=["nope"])
    with pytest.raises(FileNotFoundError, match="reference data"):
        runner.run_eval(tmp_path / "absent", stages=["faces"])


def test_contact_pair_scoring_half_threshold_rule() -> None:
    truth = {(1, 2): 10.0, (3, 4): 6.0, (5, 6): 3.0, (7, 8): 1.0}
    measured = {(1, 2): 9.0, (3, 4): 2.0, (5, 6): 5.5, (7, 8): 5.0}
    strict = score_pairs(truth, measured, min_seconds=5.0)
    assert strict.recalled == ((1, 2),) and strict.correct == ((1, 2),)
    assert strict.precision == pytest.approx(1 / 3)
    scores = score_pairs(truth, measured, min_seconds=5.0, slack=0.5)
    assert scores.true_pairs == ((1, 2), (3, 4))
    assert scores.found_pairs == ((1, 2), (5, 6), (7, 8))
    assert scores.recalled == ((1, 2),)  # (3, 4) measured 2.0 < 2.5
    assert scores.correct == ((1, 2), (5, 6))  # (5, 6) truth 3.0 >= 2.5; (7, 8) is false
    assert scores.recall == 0.5
    assert scores.precision == pytest.approx(2 / 3)
    assert scores.median_error == pytest.approx((0.1 + 4 / 6) / 2)


def test_contact_scoring_rejects_bad_slack() -> None:
    with pytest.raises(ValueError, match="slack"):
        score_pairs({}, {}, 5.0, slack=0.0)


def test_quick_and_full_reports_are_not_compared() -> None:
    full = _report(Metric("a", "x", 0.5))
    full.quick = False
    with pytest.raises(ValueError, match="quick"):
        compare_to_baseline(_report(Metric("a", "x", 0.5)), full)


def test_small_samples_allow_one_flip_but_false_accepts_none() -> None:
    base = _report(Metric("a", "recall", 7 / 8, n=8), Metric("a", "far", 0.0, 0.001, False, n=380))
    one_flip = _report(
        Metric("a", "recall", 6 / 8, n=8), Metric("a", "far", 0.0, 0.001, False, n=380)
    )
    assert compare_to_baseline(one_flip, base) == []
    two_flips = _report(
        Metric("a", "recall", 5 / 8, n=8), Metric("a", "far", 1 / 380, 0.001, False, n=380)
    )
    assert [r.key for r in compare_to_baseline(two_flips, base)] == ["a/recall", "a/far"]


def test_unguarded_metrics_never_regress() -> None:
    base = _report(Metric("a", "ms", 10.0, higher_is_better=False, unit="ms", guarded=False))
    assert compare_to_baseline(_report(Metric("a", "ms", 99.0, False, unit="ms")), base) == []


def test_stage_missing_its_packages_is_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(runner.STAGE_PACKAGES, "mot", ("no-such-dist-cctrace",))
    report = runner.run_eval(tmp_path, stages=["mot"])
    assert "no-such-dist-cctrace" in report.errors["mot"]
    assert "setup.sh --dev" in report.errors["mot"]
    assert report.metrics == []


def test_contact_scoring_counts_missed_pairs_as_full_error() -> None:
    scores = score_pairs({(1, 2): 8.0}, {}, min_seconds=5.0)
    assert scores.relative_errors == (1.0,)
    assert math.isnan(scores.precision)
