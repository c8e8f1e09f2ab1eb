"""A run directory holds one run: a config that changes what its items or requests are is
refused in one line (store byte-identical), or set aside with --new-run; growing is fine."""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from skillmix.cli import app
from skillmix.models.scripted import scripted
from skillmix.run.store import DB_NAME
from tests.helpers.configs import model_entry, run_config, write_config
from tests.helpers.runs import stored
from tests.helpers.scripts import answering, awarding


@pytest.fixture(autouse=True)
def scripts() -> Iterator[None]:
    with (
        scripted("student", answering("Quiet bees work.")),
        scripted("grader", awarding(lambda c, a: 1)),
    ):
        yield


STUDENT = model_entry("scripted/student", name="s")
GRADER = model_entry("scripted/grader", name="judge")


def config(run_dir: Path, **fields: Any) -> dict[str, Any]:
    return run_config(run_dir, **{"students": [STUDENT], "grader": GRADER, **fields})


def evaluate(tmp_path: Path, data: dict[str, Any], *flags: str) -> Any:
    path = write_config(tmp_path / "c.yaml", data)
    return CliRunner().invoke(app, ["eval", str(path), "-q", *flags])


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"seed": 1}, "seed"),
        ({"common_skills": "keep"}, "common_skills"),
        ({"naming_penalty": "word"}, "naming_penalty"),
        ({"rubric_wording": "llama-2"}, "rubric_wording"),
        ({"answer_extraction": "official"}, "answer_extraction"),
        (
            {"students": [model_entry("scripted/student", name="s", params={"top_p": 0.5})]},
            "students (s)",
        ),
        (
            {"grader": model_entry("scripted/grader", name="judge", system_prompt="Be fair.")},
            "grader (judge)",
        ),
    ],
    ids=["seed", "common", "naming", "wording", "extraction", "student-params", "grader-prompt"],
)
def test_another_run_is_refused_and_the_store_left_untouched(
    tmp_path: Path, change: dict[str, Any], named: str
) -> None:
    run_dir = tmp_path / "run"
    assert evaluate(tmp_path, config(run_dir)).exit_code == 0
    before = digest(run_dir / DB_NAME)
    result = evaluate(tmp_path, {**config(run_dir), **change})
    assert result.exit_code == 2, result.output
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and "holds another run" in lines[0] and named in lines[0], lines
    assert digest(run_dir / DB_NAME) == before


def test_a_stored_config_this_version_refuses_is_one_line(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    assert evaluate(tmp_path, config(run_dir)).exit_code == 0
    with closing(sqlite3.connect(run_dir / DB_NAME)) as db, db:
        (text,) = db.execute("SELECT value FROM meta WHERE key = 'config'").fetchone()
        too_many = {**json.loads(text), "gradings": 1000}  # from before gradings had a bound
        db.execute("UPDATE meta SET value = ? WHERE key = 'config'", (json.dumps(too_many),))
    before = digest(run_dir / DB_NAME)
    result = evaluate(tmp_path, config(run_dir))
    assert result.exit_code == 2, result.output
    assert result.stderr.splitlines() == [
        f"error: {run_dir / DB_NAME}: gradings: the stored configuration is refused by this "
        "version of skillmix: Input should be less than or equal to 100"
    ]
    assert digest(run_dir / DB_NAME) == before


def test_other_prompts_are_another_run(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    assert evaluate(tmp_path, config(run_dir)).exit_code == 0
    turn1 = tmp_path / "turn1.txt"
    turn1.write_text("Write about {topic} showing {skills_str}.", encoding="utf-8")
    result = evaluate(tmp_path, config(run_dir, prompts={"student_turn1": str(turn1)}))
    assert result.exit_code == 2 and "prompts" in result.stderr


def test_growing_the_run_goes_on(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    assert evaluate(tmp_path, config(run_dir)).exit_code == 0
    students = [
        model_entry("scripted/student", name="s"),
        model_entry("scripted/student", name="t"),
    ]
    grown = config(run_dir, k=[1, 2], items_per_k=3, gradings=2, students=students)
    result = evaluate(tmp_path, grown)
    assert result.exit_code == 0, result.output
    assert stored(run_dir, "SELECT COUNT(*) FROM generations") == [(2 * 6,)]
    calls = stored(run_dir, "SELECT COUNT(*), COUNT(DISTINCT key) FROM calls")[0]
    assert calls[0] == calls[1]  # the first run's calls were not made again


def test_new_run_sets_the_old_one_aside(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    assert evaluate(tmp_path, config(run_dir)).exit_code == 0
    (old_id,) = stored(run_dir, "SELECT value FROM meta WHERE key = 'run_id'")[0]
    result = evaluate(tmp_path, config(run_dir, seed=5), "--new-run")
    assert result.exit_code == 0, result.output
    previous = run_dir / "previous" / old_id
    assert stored(previous, "SELECT value FROM meta WHERE key = 'run_id'") == [(old_id,)]
    assert stored(run_dir, "SELECT value FROM meta WHERE key = 'run_id'") != [(old_id,)]
    seeds = {r[0] for r in stored(run_dir, "SELECT value FROM meta WHERE key = 'config'")}
    assert all('"seed":5' in text for text in seeds)
    assert stored(run_dir, "SELECT COUNT(*) FROM generations") == [(2,)]
