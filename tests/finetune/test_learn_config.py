"""`skillmix learn` configs: bad input is one line naming the file and field, before anything
is trained or called; the shipped example config is valid and derives its step configs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from skillmix.cli import app
from skillmix.config import parse_config
from skillmix.finetune.experiment import BASE, FINETUNED, load_experiment
from skillmix.finetune.settings import parse_settings
from tests.helpers.paths import ROOT

GOOD: dict[str, Any] = {
    "name": "exp",
    "teacher": "runs/none",
    "split": str(ROOT / "configs" / "splits" / "composition.yaml"),
    "finetune": {"model": "smollm2"},
    "evaluate": {"k": [2], "items_per_k": 1, "grader": {"model": "openai/gpt-4o"}},
}


def learn(tmp_path: Path, config: dict[str, Any]) -> Any:
    path = tmp_path / "learn.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return CliRunner().invoke(app, ["learn", str(path), "-q"])


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"colour": "red"}, "colour"),
        ({"name": ""}, "name"),
        ({"export": {"only": "best"}}, "export.only"),
        ({"finetune": {"model": "smollm2", "data": "x.jsonl"}}, "finetune: set by the experiment"),
        ({"evaluate": {"students": []}}, "evaluate: set by the experiment"),
        ({"evaluate": {"backend": "llamacpp"}}, "evaluate.backend"),
        ({"split": "no/such/split.yaml"}, "split file not found"),
        ({"finetune": {"model": "smollm2", "learning_rate": 0}}, "finetune.learning_rate"),
        ({"finetune": {"model": "smollm2", "lora": {"r": 0}}}, "finetune.lora.r"),
    ],
)
def test_bad_experiment_configs_are_one_line(
    tmp_path: Path, change: dict[str, Any], named: str
) -> None:
    result = learn(tmp_path, {**GOOD, "work_dir": str(tmp_path / "work"), **change})
    assert result.exit_code == 2, result.output
    assert named in result.output and len(result.output.strip().splitlines()) == 1
    assert not (tmp_path / "work" / "model").exists()


def test_a_teacher_that_is_not_a_run_is_one_line(tmp_path: Path) -> None:
    config = {**GOOD, "work_dir": str(tmp_path / "work"), "teacher": str(tmp_path)}
    result = learn(tmp_path, config)
    assert result.exit_code == 2 and "no run store" in result.output


def test_the_shipped_experiment_derives_valid_step_configs() -> None:
    experiment = load_experiment(ROOT / "configs" / "learn-composition.yaml")
    assert experiment.teacher_is_config
    settings = parse_settings(experiment.finetune_config(), Path("<experiment>"))
    assert settings.data == (Path.cwd() / experiment.data_file).resolve()
    assert settings.lora is not None
    evaluation = parse_config(experiment.eval_config({"skills": "data/skills.yaml"}), "<eval>")
    assert [s.label for s in evaluation.students] == [BASE, FINETUNED]
    assert evaluation.catalog.split is not None
    assert evaluation.catalog.split.part.value == "held_out"
    assert len(evaluation.graders) == 1  # graded twice: grader and a second family
