"""The paper-protocol preset states the paper's settings and prices the run in a dry run."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from skillmix.cli import app
from skillmix.config import parse_config
from tests.helpers.configs import write_config
from tests.helpers.paths import ROOT

PRESET = ROOT / "configs" / "paper-gpt4.yaml"


def test_the_preset_states_the_paper_protocol() -> None:
    config = parse_config(yaml.safe_load(PRESET.read_text(encoding="utf-8")), PRESET)
    assert (config.k, config.items_per_k, config.generations, config.gradings) == (
        [2, 3, 4, 5, 6],
        100,
        3,
        3,
    )
    student = config.students[0]
    assert student.system_prompt == "You are a helpful assistant."
    assert student.params.temperature is None and student.params.max_tokens == 512
    assert (config.common_skills, config.sentence_splitter, config.naming_penalty) == (
        "scoring",
        "official",
        "substring",
    )
    assert (config.rubric_wording, config.answer_extraction) == ("gpt-4", "official")
    assert config.catalog.skills.suffix == ".csv"  # the official file, read as written


def test_its_dry_run_counts_the_paper_calls(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, reference_dir: Path
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "test")
    data = yaml.safe_load(PRESET.read_text(encoding="utf-8"))
    official = reference_dir / "skill-mix-official"
    data["prompts"] = {
        "student": str(official / "prompts" / "generation" / "default.json"),
        "grader": str(official / "prompts" / "grade" / "gpt.json"),
    }
    data["catalog"] = {
        "skills": str(official / "skills.csv"),
        "topics": str(official / "topics.txt"),
    }
    data["output_dir"] = str(tmp_path / "run")
    result = CliRunner().invoke(
        app, ["eval", str(write_config(tmp_path / "p.yaml", data)), "--dry-run"]
    )
    assert result.exit_code == 0, result.output
    assert "3,000" in result.stdout and "4,500" in result.stdout  # 5 k x 100 x 3 x (2 | 3)
    assert "estimated cost: $" in result.stdout
    assert not (tmp_path / "run").exists()
