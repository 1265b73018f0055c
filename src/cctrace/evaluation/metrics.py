"""Metric records and the shared evaluation context."""

from __future__ import annotations

import json
import math
import os
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from cctrace.config import ModelChoice


@dataclass(frozen=True)
class Metric:
    """One measured number with its target.

    Attributes:
        stage: pipeline stage (``faces``, ``face-detection``, ``masks``, ``mot``,
            ``contacts``, ``trace``).
        name: metric name, unique within its stage (e.g. ``tar@far1e-3 masked``).
        value: the measured value (fractions as 0..1, durations in seconds).
        target: the value to reach, or None when the metric is reported only.
        higher_is_better: direction of the target and of the regression guard.
        unit: ``""`` for fractions shown as %, else a unit such as ``s`` or ``ms``.
        n: how many samples the value was computed over (pairs, faces, boxes, ...).
        condition: what the value was measured under, in words.
        guarded: whether the regression guard checks it (off for timings, which depend
            on the machine's load rather than on the code).
        slack_samples: extra samples of tolerance the guard allows, for a value measured
            on a scene that varies between identical runs (see ``evaluation.trace``).
    """

    stage: str
    name: str
    value: float
    target: float | None = None
    higher_is_better: bool = True
    unit: str = ""
    n: int = 0
    condition: str = ""
    guarded: bool = True
    slack_samples: int = 0

    @property
    def key(self) -> str:
        """``stage/name``: the identity used by the regression baseline."""
        return f"{self.stage}/{self.name}"

    @property
    def passed(self) -> bool | None:
        """True/False against the target; None when there is no target."""
        if self.target is None or math.isnan(self.value):
            return None if self.target is None else False
        if self.higher_is_better:
            return self.value >= self.target
        return self.value <= self.target

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (NaN written as None)."""
        out = asdict(self)
        if math.isnan(self.value):
            out["value"] = None
        out["key"] = self.key
        out["passed"] = self.passed
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Metric:
        """Inverse of :meth:`to_dict`."""
        value = data.get("value")
        return cls(
            stage=str(data["stage"]),
            name=str(data["name"]),
            value=float("nan") if value is None else float(value),
            target=None if data.get("target") is None else float(data["target"]),
            higher_is_better=bool(data.get("higher_is_better", True)),
            unit=str(data.get("unit", "")),
            n=int(data.get("n", 0)),
            condition=str(data.get("condition", "")),
            guarded=bool(data.get("guarded", True)),
            slack_samples=int(data.get("slack_samples", 0)),
        )


def default_shared_data() -> Path:
    """``$CCTRACE_SHARED_DATA``, else ``../shared/data`` beside the current directory."""
    env = os.environ.get("CCTRACE_SHARED_DATA")
    if env:
        return Path(env)
    for base in (Path.cwd(), Path(__file__).resolve().parents[3]):
        candidate = base.parent / "shared" / "data"
        if candidate.is_dir():
            return candidate
    return Path.cwd().parent / "shared" / "data"


@dataclass
class EvalContext:
    """What every stage gets: where the data is, a scratch folder, and the run mode.

    Attributes:
        data_root: the reference data folder (``../shared/data``).
        workdir: scratch space for ingests and crops; removed by the runner.
        quick: the CI subset (fewer frames / pairs) instead of the full run.
        threads: CPU threads a stage may use for inference.
        cache: per-run memo shared by stages (e.g. one PETS ingest for ``mot`` and
            ``contacts``).
        person_detector: replaces ``models.person_detector`` in every site file a stage
            writes (``cctrace eval --person-detector``); None keeps cctrace's default,
            so the figures are what a user gets.
    """

    data_root: Path
    workdir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="cctrace-eval-")))
    quick: bool = False
    threads: int = 2
    cache: dict[str, Any] = field(default_factory=dict)
    person_detector: ModelChoice | None = None

    def __post_init__(self) -> None:
        self.data_root = Path(self.data_root).resolve()
        self.workdir = Path(self.workdir).resolve()

    def dataset(self, *parts: str) -> Path:
        """A folder under the data root; raises FileNotFoundError naming it when absent."""
        path = self.data_root.joinpath(*parts)
        if not path.exists():
            raise FileNotFoundError(f"reference data not found: {path}")
        return path

    def models_yaml(self) -> str:
        """The top-level ``models:`` section of the site files the stages write: empty for
        cctrace's defaults, else the chosen person detector (a JSON flow mapping)."""
        if self.person_detector is None:
            return ""
        choice = {"type": self.person_detector.type, "params": self.person_detector.params}
        return f"models:\n  person_detector: {json.dumps(choice, sort_keys=True)}\n"
