"""`cctrace eval --person-detector`: the evaluation stages ingest with another detector."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from cctrace import cli
from cctrace.config import ModelChoice, ModelsConfig, load_site
from cctrace.evaluation import runner
from cctrace.evaluation.face_scene import write_clip_site
from cctrace.evaluation.metrics import EvalContext, Metric
from cctrace.evaluation.pets import write_pets_site
from cctrace.evaluation.runner import EvalReport, compare_to_baseline, person_detector_choice

OTHER = ModelChoice(type="yolov3-tiny-onnx", params={"tiles": [2, 1], "nms_threshold": 0.5})
"""A registered detector other than the default that needs no opt-in install."""


def test_choice_from_the_command_line() -> None:
    default = ModelsConfig().person_detector
    assert person_detector_choice(None) is None
    # The default type alone, or with its own params, is the default run.
    assert person_detector_choice(default.type) is None
    assert person_detector_choice(default.type, json.dumps(default.params)) is None
    assert person_detector_choice("yolov8n-agpl") == ModelChoice(type="yolov8n-agpl")
    assert person_detector_choice(OTHER.type, json.dumps(OTHER.params)) == OTHER
    with pytest.raises(ValueError, match="needs --person-detector"):
        person_detector_choice(None, "{}")
    with pytest.raises(ValueError, match="not valid JSON"):
        person_detector_choice(OTHER.type, "{tiles")
    with pytest.raises(ValueError, match="JSON object"):
        person_detector_choice(OTHER.type, "[2, 1]")


def test_site_files_the_stages_write_carry_the_detector(tmp_path: Path) -> None:
    ctx = EvalContext(tmp_path, workdir=tmp_path / "w", person_detector=OTHER)
    assert EvalContext(tmp_path, workdir=tmp_path / "d").models_yaml() == ""
    clip = tmp_path / "clip.mp4"
    site = write_clip_site(
        tmp_path, "t", "cam", clip, datetime(2026, 1, 1, tzinfo=UTC), models_yaml=ctx.models_yaml()
    )
    assert load_site(site, check_files=False).models.person_detector == OTHER
    plain = write_clip_site(tmp_path, "t", "cam", clip, datetime(2026, 1, 1, tzinfo=UTC))
    assert load_site(plain, check_files=False).models == ModelsConfig()


def test_pets_site_carries_the_detector(pets_dir: Path, tmp_path: Path) -> None:
    ctx = EvalContext(pets_dir.parent, workdir=tmp_path, person_detector=OTHER)
    site = write_pets_site(pets_dir, tmp_path, models=ctx.models_yaml())
    loaded = load_site(site, check_files=False)
    assert loaded.models.person_detector == OTHER
    assert loaded.models.face_detector == ModelsConfig().face_detector


def test_run_records_the_detector_and_refuses_a_baseline_of_another(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[ModelChoice | None] = []

    def stage(ctx: EvalContext) -> list[Metric]:
        seen.append(ctx.person_detector)
        return [Metric("s", "m", 0.5)]

    monkeypatch.setattr(runner, "STAGES", {"s": "x:s"})
    monkeypatch.setattr(runner, "_load_stage", lambda spec: stage)
    other = runner.run_eval(tmp_path, quick=True, person_detector=OTHER)
    default = runner.run_eval(tmp_path, quick=True)
    assert seen == [OTHER, None]
    assert other.person_detector == 'yolov3-tiny-onnx {"nms_threshold": 0.5, "tiles": [2, 1]}'
    assert default.person_detector == ""
    assert "person detector `yolov3-tiny-onnx" in runner.markdown_table(other)
    assert "person detector" not in runner.markdown_table(default)
    assert EvalReport.from_dict(other.to_dict()).person_detector == other.person_detector
    with pytest.raises(ValueError, match="person detector"):
        compare_to_baseline(other, default)
    assert compare_to_baseline(default, default) == []
    with pytest.raises(ValueError, match="unknown"):
        runner.run_eval(tmp_path, person_detector=ModelChoice(type="no-such-detector"))


def test_cli_passes_the_detector_to_the_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    got: dict[str, Any] = {}

    def fake_run(*args: Any, **kwargs: Any) -> EvalReport:
        got.update(kwargs)
        return EvalReport([], "abc", "2026-12-01T00:00:00Z", True, "test")

    monkeypatch.setattr(runner, "run_eval", fake_run)
    monkeypatch.setattr(runner, "write_outputs", lambda r, out: {"json": out / "a.json"})
    base = ["eval", "--json", "--data", str(tmp_path), "--out", str(tmp_path / "e")]
    done = CliRunner().invoke(
        cli.app,
        [
            *base,
            "--person-detector",
            OTHER.type,
            "--person-detector-params",
            '{"tiles": [2, 1], "nms_threshold": 0.5}',
        ],
    )
    assert done.exit_code == 0, done.output
    assert got["person_detector"] == OTHER
    done = CliRunner().invoke(cli.app, [*base, "--person-detector-params", "{}"])
    assert done.exit_code != 0
    assert "needs --person-detector" in str(done.exception)  # main() prints CctraceErrors
