"""The CLI around a real (tiny) run: dry run, sample, report, export, unscored grader replies."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from typer.testing import CliRunner

from skillmix.cli import app
from skillmix.results.leaderboard import EXPORT_COLUMNS
from tests.helpers.configs import model_entry, run_config, write_config
from tests.helpers.paths import ROOT

runner = CliRunner()
SKILLS, TOPICS = ROOT / "data" / "skills.yaml", ROOT / "data" / "topics.yaml"


def tiny_config(tmp_path: Path, **overrides: Any) -> Path:
    defaults = {
        "name": "tiny",
        "students": [model_entry("llamacpp/smollm2", params={"max_tokens": 24})],
        "grader": model_entry("llamacpp/smollm2", params={"max_tokens": 120}),
    }
    config = run_config(tmp_path / "run", **{**defaults, **overrides})
    return write_config(tmp_path / "tiny.yaml", config)


def test_dry_run_prints_calls_and_touches_nothing(tmp_path: Path) -> None:
    result = runner.invoke(app, ["eval", str(tiny_config(tmp_path, gradings=3)), "--dry-run"])
    assert result.exit_code == 0, result.output
    rows = [line.split("│") for line in result.stdout.splitlines() if "│" in line]
    calls = {
        cells[2].strip(): cells[3].strip() for cells in rows if len(cells) > 4 and cells[2].strip()
    }
    assert calls == {"student": "4", "grader": "6"}  # 2 items x 2 turns; 2 answers x R = 3
    assert "estimated cost: $0.0000" in result.stdout
    assert "Answer:" in result.stdout  # the first request is shown
    assert not (tmp_path / "run").exists()


def test_sample_prints_the_same_items_as_a_run_would() -> None:
    def sample(seed: int) -> str:
        args = [
            "sample",
            "--k",
            "3",
            "-n",
            "5",
            "--seed",
            str(seed),
            "--skills",
            str(SKILLS),
            "--topics",
            str(TOPICS),
        ]
        result = runner.invoke(app, args)
        assert result.exit_code == 0, result.output
        return result.stdout

    first = sample(0)
    lines = first.strip().splitlines()
    assert len(lines) == 5 and lines[0].startswith("k3-00000  ")
    assert sample(0) == first and sample(1) != first


def test_catalog_validate_accepts_shipped_and_rejects_conflicts(tmp_path: Path) -> None:
    ok = runner.invoke(app, ["catalog", "validate", str(SKILLS), str(TOPICS)])
    assert ok.exit_code == 0 and "101 skills OK" in ok.stdout and "100 topics OK" in ok.stdout
    bad = tmp_path / "skills.yaml"
    bad.write_text(
        "skills:\n"
        "  - {name: irony, category: literary, definition: d., example: e.}\n"
        "  - {name: dramatic irony, category: literary, definition: d2., example: e2.}\n"
    )
    result = runner.invoke(app, ["catalog", "validate", str(bad)])
    assert result.exit_code == 2
    assert "'irony' inside 'dramatic irony'" in result.stderr


@pytest.mark.slow
def test_unparseable_grader_replies_count_against_the_student(tmp_path: Path) -> None:
    pytest.importorskip("llama_cpp")
    config = tiny_config(
        tmp_path,
        common_skills="keep",  # score both items whatever their skills
        structured_grading=False,  # free text from a 135M model, cut at 8 tokens: no table
        grader_retries=1,
        grader={"model": "llamacpp/smollm2", "params": {"max_tokens": 8}},
    )
    result = runner.invoke(app, ["eval", str(config), "--quiet"])
    assert result.exit_code == 0, result.output
    db = sqlite3.connect(tmp_path / "run" / "run.sqlite")
    rows = db.execute("SELECT status, points, reason, reply, attempts FROM gradings").fetchall()
    assert rows and all(status == "unscored" and points is None for status, points, *_ in rows)
    assert all(reason.startswith("no points found") and reply for _, _, reason, reply, _ in rows)
    assert all(attempts == 2 for *_, attempts in rows)
    board = pd.read_csv(tmp_path / "run" / "leaderboard.csv")
    assert list(board.columns) == EXPORT_COLUMNS
    assert (board["unscored"] == 2).all() and (board["n"] == 2).all()
    assert (board["value"] == 0).all()  # counted against the student, and reported as unscored

    out = tmp_path / "board.csv"
    exported = runner.invoke(app, ["export", str(tmp_path / "run"), "--csv", str(out)])
    assert exported.exit_code == 0, exported.output
    frame = pd.read_csv(out)
    assert set(frame["metric"]) == {"full_marks", "all_skills", "skill_fraction"}
    assert (frame["model"] == "llamacpp/smollm2").all() and (frame["k"] == 1).all()
    report = runner.invoke(app, ["report", str(tmp_path / "run")])
    assert report.exit_code == 0 and "unscored 2" in report.stdout


def test_report_on_a_directory_without_a_run(tmp_path: Path) -> None:
    result = runner.invoke(app, ["report", str(tmp_path)])
    assert result.exit_code == 2 and "no run store" in result.stderr


def test_import_official_then_report_compare_and_refuse_eval(tmp_path: Path) -> None:
    source = ROOT / "tests" / "fixtures" / "official_run"
    out = tmp_path / "imported"
    result = runner.invoke(app, ["import-official", str(source), "--out", str(out)])
    assert result.exit_code == 0, result.output
    board = pd.read_csv(out / "leaderboard.csv")
    assert "imported/tiny-student" in set(board["model"]) and "2 students" in result.stdout
    html = runner.invoke(app, ["report", str(out), "--html", str(tmp_path / "r.html")])
    assert html.exit_code == 0, html.output
    again = runner.invoke(app, ["import-official", str(source), "--out", str(out)])
    assert again.exit_code == 2 and "run.sqlite" in again.stderr
    config = tiny_config(tmp_path, output_dir=str(out))
    refused = runner.invoke(app, ["eval", str(config)])
    assert refused.exit_code == 2 and "imported official run" in refused.stderr
