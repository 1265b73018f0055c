"""Run the evaluation stages, print one table, write JSON / Markdown / chart, and compare
against a stored baseline (the regression guard)."""

from __future__ import annotations

import dataclasses
import importlib
import json
import math
import platform
import shutil
import subprocess
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cctrace.evaluation.metrics import EvalContext, Metric

if TYPE_CHECKING:
    from cctrace.config import ModelChoice

STAGES: dict[str, str] = {
    "faces": "cctrace.evaluation.faces:evaluate_verification",
    "face-detection": "cctrace.evaluation.faces:evaluate_detection",
    "masks": "cctrace.evaluation.masks:evaluate",
    "mot": "cctrace.evaluation.mot:evaluate",
    "contacts": "cctrace.evaluation.contacts:evaluate",
    "trace": "cctrace.evaluation.trace:evaluate",
    "trace-photo": "cctrace.evaluation.face_trace:evaluate",
    "cross-camera": "cctrace.evaluation.cross_camera:evaluate",
}
"""Stage name -> ``module:function`` taking an :class:`EvalContext`."""

STAGE_PACKAGES: dict[str, tuple[str, ...]] = {
    "faces": ("insightface",),
    "face-detection": ("insightface",),
    "mot": ("motmetrics", "trackeval"),
}
"""Evaluation-only distributions a stage needs (installed by ``scripts/setup.sh --dev``)."""


def missing_packages(stage: str) -> list[str]:
    """The distributions ``stage`` needs that are not installed."""
    from importlib.metadata import PackageNotFoundError, distribution

    missing = []
    for name in STAGE_PACKAGES.get(stage, ()):
        try:
            distribution(name)
        except PackageNotFoundError:
            missing.append(name)
    return missing


FRACTION_TOLERANCE = 0.02
"""A fraction metric regresses when it falls more than 2 points below the baseline, or
more than one sample's worth (1/n) where n is small."""
ERROR_TOLERANCE = 0.03
"""A lower-is-better fraction (an error) regresses when it rises more than 3 points."""
RELATIVE_TOLERANCE = 0.10
"""A metric with a unit (counts, seconds) regresses when it worsens by more than 10%
(and at least one unit)."""
STRICT_RATE_TARGET = 0.01
"""Lower-is-better rates with a target at or below this (false accepts) may not rise at
all: one more false accept than the baseline is a regression."""

SCHEMA = "cctrace.accuracy/1"


@dataclass
class EvalReport:
    """What one evaluation run measured, where and when.

    ``person_detector`` is "" for cctrace's default detector, else the ``type`` and
    params the run replaced it with (``cctrace eval --person-detector``).
    """

    metrics: list[Metric]
    commit: str
    started: str
    quick: bool
    machine: str
    stage_seconds: dict[str, float] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    person_detector: str = ""

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (schema ``cctrace.accuracy/1``)."""
        return {
            "schema": SCHEMA,
            "commit": self.commit,
            "started": self.started,
            "quick": self.quick,
            "machine": self.machine,
            "person_detector": self.person_detector,
            "stage_seconds": {k: round(v, 1) for k, v in self.stage_seconds.items()},
            "errors": self.errors,
            "metrics": [m.to_dict() for m in self.metrics],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> EvalReport:
        """Inverse of :meth:`to_dict`."""
        if data.get("schema") != SCHEMA:
            raise ValueError(f"expected schema {SCHEMA!r}, found {data.get('schema')!r}")
        return cls(
            metrics=[Metric.from_dict(m) for m in data["metrics"]],
            commit=str(data.get("commit", "")),
            started=str(data.get("started", "")),
            quick=bool(data.get("quick", False)),
            machine=str(data.get("machine", "")),
            person_detector=str(data.get("person_detector", "")),
            stage_seconds=dict(data.get("stage_seconds", {})),
            errors=dict(data.get("errors", {})),
        )

    @classmethod
    def load(cls, path: Path) -> EvalReport:
        """Read a report written by :func:`write_outputs`."""
        return cls.from_dict(json.loads(path.read_text()))


def git_commit(cwd: Path | None = None) -> str:
    """Short commit hash of the working tree (``+dirty`` when modified), or ``unknown``."""
    where = cwd or Path(__file__).resolve().parent
    try:
        rev = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=where, capture_output=True, text=True
        )
        if rev.returncode != 0:
            return "unknown"
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=where,
            capture_output=True,
            text=True,
        )
        return rev.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")
    except OSError:
        return "unknown"


def machine_description() -> str:
    """CPU count and platform, for the record."""
    import os

    return (
        f"{os.cpu_count()} CPUs, {platform.machine()}, {platform.system()}, "
        f"Python {platform.python_version()}"
    )


def _load_stage(spec: str) -> Callable[[EvalContext], list[Metric]]:
    module, func = spec.split(":")
    fn: Callable[[EvalContext], list[Metric]] = getattr(importlib.import_module(module), func)
    return fn


def describe_detector(choice: ModelChoice | None) -> str:
    """``type {params}`` of a person detector choice, "" for the default (None)."""
    if choice is None:
        return ""
    return f"{choice.type} {json.dumps(choice.params, sort_keys=True)}"


def person_detector_choice(type_: str | None, params_json: str | None = None) -> ModelChoice | None:
    """The person detector ``cctrace eval --person-detector TYPE [--person-detector-params
    JSON]`` asks for; None means cctrace's default (its type and tiling params).

    Without params, a type other than the default's gets its adapter's own defaults (e.g.
    ``yolov8n-agpl``: one 384 px whole-frame pass), and the default type keeps its
    default params. Raises ValueError for params without a type or that are not a JSON
    object.
    """
    from cctrace.config import ModelChoice, ModelsConfig

    if type_ is None:
        if params_json is not None:
            raise ValueError("--person-detector-params needs --person-detector TYPE")
        return None
    default = ModelsConfig().person_detector
    if params_json is None:
        return None if type_ == default.type else ModelChoice(type=type_)
    try:
        params = json.loads(params_json)
    except json.JSONDecodeError as exc:
        raise ValueError(f"--person-detector-params is not valid JSON: {exc}") from exc
    if not isinstance(params, dict):
        raise ValueError('--person-detector-params must be a JSON object, e.g. {"tiles": [2, 1]}')
    choice = ModelChoice(type=type_, params=params)
    return None if choice == default else choice


def run_eval(
    data_root: Path,
    stages: Sequence[str] | None = None,
    quick: bool = False,
    threads: int = 2,
    workdir: Path | None = None,
    progress: Callable[[str], None] | None = None,
    person_detector: ModelChoice | None = None,
) -> EvalReport:
    """Run ``stages`` (default: all) and collect their metrics.

    A stage that fails is recorded in ``errors`` and the others still run. The scratch
    folder is removed afterwards unless ``workdir`` was given. ``person_detector``
    replaces the default person detector in every site the stages ingest (None: the
    default); it is checked before any stage runs (ValueError or ModelError).
    """
    chosen = list(stages or STAGES)
    unknown = [s for s in chosen if s not in STAGES]
    if unknown:
        raise ValueError(f"unknown stage(s) {unknown}; choose from {sorted(STAGES)}")
    if not data_root.is_dir():
        raise FileNotFoundError(f"reference data not found at {data_root}")
    if person_detector is not None:
        from cctrace.config import check_model_choice

        check_model_choice("person_detector", person_detector)
    options: dict[str, Any] = {
        "quick": quick,
        "threads": threads,
        "person_detector": person_detector,
    }
    if workdir is not None:
        workdir.mkdir(parents=True, exist_ok=True)
        ctx = EvalContext(data_root, workdir=workdir, **options)
    else:
        ctx = EvalContext(data_root, **options)
    report = EvalReport(
        metrics=[],
        commit=git_commit(),
        started=datetime.now(UTC).replace(microsecond=0).isoformat(),
        quick=quick,
        machine=machine_description(),
        person_detector=describe_detector(person_detector),
    )
    try:
        for stage in chosen:
            if progress:
                progress(stage)
            begin = time.perf_counter()
            missing = missing_packages(stage)
            if missing:
                report.errors[stage] = (
                    f"needs {', '.join(missing)} (evaluation-only packages): run "
                    "`bash scripts/setup.sh --dev` or `pip install --no-deps -r "
                    "requirements-dev-nodeps.txt`"
                )
                report.stage_seconds[stage] = 0.0
                continue
            try:
                report.metrics.extend(_load_stage(STAGES[stage])(ctx))
            except Exception as exc:  # one stage's failure must not hide the others
                report.errors[stage] = f"{type(exc).__name__}: {exc}"
                traceback.print_exc()
            report.stage_seconds[stage] = time.perf_counter() - begin
    finally:
        if workdir is None:
            shutil.rmtree(ctx.workdir, ignore_errors=True)
    return report


@dataclass(frozen=True)
class Regression:
    """A metric that got worse than the baseline by more than its tolerance."""

    key: str
    baseline: float
    value: float
    tolerance: float

    def __str__(self) -> str:
        return (
            f"{self.key}: {self.value:.4g} vs baseline {self.baseline:.4g} "
            f"(tolerance {self.tolerance:.3g})"
        )


def tolerance_for(metric: Metric) -> float:
    """How far ``metric`` may fall (or rise, if lower is better) before it regresses."""
    if not metric.guarded:
        return math.inf
    if metric.unit:
        return max(abs(metric.value) * RELATIVE_TOLERANCE, 1.0)
    one_sample = 1.01 / metric.n if metric.n > 0 else 0.0
    if metric.higher_is_better:
        return max(FRACTION_TOLERANCE, one_sample * (1 + metric.slack_samples))
    if metric.target is not None and metric.target <= STRICT_RATE_TARGET:
        return 0.5 / metric.n if metric.n > 0 else 0.0
    return ERROR_TOLERANCE


def compare_to_baseline(current: EvalReport, baseline: EvalReport) -> list[Regression]:
    """Metrics of ``current`` worse than ``baseline`` beyond tolerance; a baseline metric
    that is missing or NaN now counts as a regression (a stage that stopped measuring).

    Raises ValueError when one is a quick run and the other a full one (their samples
    differ, so their values are not comparable), or when they ran different person
    detectors (``--person-detector``: a comparison of detectors, not a regression).
    """
    if current.quick != baseline.quick:
        kinds = {True: "quick", False: "full"}
        raise ValueError(
            f"cannot compare a {kinds[current.quick]} run with a {kinds[baseline.quick]} "
            "baseline: use the baseline of the same mode"
        )
    if current.person_detector != baseline.person_detector:
        raise ValueError(
            f"cannot compare a run with person detector "
            f"{current.person_detector or 'default'!r} with a baseline of "
            f"{baseline.person_detector or 'default'!r}"
        )
    now = {m.key: m for m in current.metrics}
    out = []
    for base in baseline.metrics:
        if math.isnan(base.value):
            continue
        stage = base.stage
        measured = now.get(base.key)
        if measured is None and stage in current.errors:
            out.append(Regression(base.key, base.value, float("nan"), 0.0))
            continue
        if measured is None:
            if any(m.stage == stage for m in current.metrics):
                out.append(Regression(base.key, base.value, float("nan"), 0.0))
            continue  # stage not run this time
        # The slack of a varying scene may be declared by the code now or the baseline.
        slack = max(base.slack_samples, measured.slack_samples)
        tol = tolerance_for(dataclasses.replace(base, slack_samples=slack))
        worse = (
            base.value - measured.value if base.higher_is_better else measured.value - base.value
        )
        if math.isnan(measured.value) or worse > tol + 1e-12:
            out.append(Regression(base.key, base.value, measured.value, tol))
    return out


def format_value(metric: Metric, value: float | None = None) -> str:
    """A metric value for people: fractions as %, others with their unit."""
    v = metric.value if value is None else value
    if math.isnan(v):
        return "n/a"
    if metric.unit:
        return f"{v:.3g} {metric.unit}"
    return f"{100 * v:.1f}%"


def _verdict(metric: Metric) -> str:
    return {True: "pass", False: "FAIL", None: "-"}[metric.passed]


def markdown_table(report: EvalReport) -> str:
    """The table as Markdown (for the README and ``accuracy.md``)."""
    lines = [
        f"Commit `{report.commit}`, {report.started}, {report.machine}"
        + (", quick subset" if report.quick else "")
        + (f", person detector `{report.person_detector}`" if report.person_detector else ""),
        "",
        "| stage | metric | value | target | result | n | measured on |",
        "|---|---|---|---|---|---|---|",
    ]
    for m in report.metrics:
        target = (
            ""
            if m.target is None
            else ("≥ " if m.higher_is_better else "≤ ") + format_value(m, m.target)
        )
        lines.append(
            f"| {m.stage} | {m.name} | {format_value(m)} | {target} | {_verdict(m)} | {m.n} "
            f"| {m.condition} |"
        )
    for stage, err in report.errors.items():
        lines.append(f"| {stage} | (stage failed) | | | FAIL | | {err} |")
    return "\n".join(lines) + "\n"


def print_table(report: EvalReport) -> None:
    """Print the table to the terminal with rich."""
    from rich.console import Console
    from rich.table import Table

    table = Table(
        title=f"cctrace accuracy — commit {report.commit}"
        + (" (quick)" if report.quick else "")
        + (f", person detector {report.person_detector}" if report.person_detector else "")
    )
    for col in ("stage", "metric", "value", "target", "result", "n"):
        table.add_column(col, justify="right" if col in ("value", "target", "n") else "left")
    for m in report.metrics:
        target = (
            ""
            if m.target is None
            else ("≥ " if m.higher_is_better else "≤ ") + format_value(m, m.target)
        )
        style = {True: "green", False: "red", None: ""}[m.passed]
        table.add_row(
            m.stage,
            m.name,
            format_value(m),
            target,
            f"[{style}]{_verdict(m)}[/]" if style else "-",
            str(m.n),
        )
    console = Console()
    console.print(table)
    for stage, err in report.errors.items():
        console.print(f"[red]stage {stage} failed:[/red] {err}")


def write_chart(report: EvalReport, path: Path) -> None:
    """A horizontal bar chart of every fraction metric that has a target, target marked
    (the full table has the report-only metrics)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [
        m for m in report.metrics if not m.unit and not math.isnan(m.value) and m.target is not None
    ]
    height = max(3.0, 0.28 * len(rows) + 1.2)
    fig, ax = plt.subplots(figsize=(9, height))
    colours = {True: "#2e7d32", False: "#c62828", None: "#607d8b"}
    labels = [f"{m.stage}: {m.name}" for m in rows]
    ys = list(range(len(rows)))[::-1]
    ax.barh(ys, [m.value for m in rows], color=[colours[m.passed] for m in rows])
    for y, m in zip(ys, rows, strict=True):
        if m.target is not None:
            ax.plot([m.target, m.target], [y - 0.4, y + 0.4], color="black", linewidth=2)
        ax.text(min(m.value, 0.98) + 0.01, y, format_value(m), va="center", fontsize=7)
    ax.set_yticks(ys, labels, fontsize=7)
    ax.set_xlim(0, 1.12)
    ax.set_xlabel("value (black tick: target; green: target met, red: not met)")
    ax.set_title(f"cctrace accuracy on real labelled data — commit {report.commit}", fontsize=9)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_outputs(report: EvalReport, out_dir: Path, stem: str = "accuracy") -> dict[str, Path]:
    """Write ``<stem>.json``, ``<stem>.md`` and ``<stem>.png`` under ``out_dir``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {
        "json": out_dir / f"{stem}.json",
        "markdown": out_dir / f"{stem}.md",
        "chart": out_dir / f"{stem}.png",
    }
    paths["json"].write_text(json.dumps(report.to_dict(), indent=2) + "\n")
    paths["markdown"].write_text(markdown_table(report))
    write_chart(report, paths["chart"])
    return paths
