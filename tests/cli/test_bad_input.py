"""Bad input to `skillmix eval`: one `error: ` line naming file and field, exit 2, store untouched.

Every case here fails validation before any model is loaded or called, and before the run
store is opened: a store created beforehand must keep its exact bytes and mtime.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from skillmix.cli import app
from skillmix.run.store import RunStore
from tests.helpers.configs import model_entry, run_config, write_config

SKILLS: list[dict[str, Any]] = [
    {
        "name": "red herring",
        "category": "rhetorical",
        "definition": "Bringing up an irrelevant topic to pull attention away from the issue.",
        "example": "Asked about the budget, he praised the football team.",
    },
    {
        "name": "metaphor",
        "category": "literary",
        "definition": "Describing one thing as if it were another, unrelated thing.",
        "example": "The classroom was a zoo by noon.",
    },
    {
        "name": "modus ponens",
        "category": "logical",
        "definition": "From 'if P then Q' and 'P', concluding 'Q'.",
        "example": "If it rains the street is wet; it rains; so the street is wet.",
    },
]
TOPICS = ["Sewing", "Beekeeping", "Knots"]


def _snapshot(directory: Path) -> dict[str, tuple[str, int]]:
    """Every file in the run directory with its sha256 and mtime (catches new -wal/-shm files)."""
    return {
        path.name: (hashlib.sha256(path.read_bytes()).hexdigest(), path.stat().st_mtime_ns)
        for path in sorted(directory.iterdir())
    }


@dataclass
class Workspace:
    root: Path
    skills: Path
    topics: Path
    output_dir: Path
    config: Path

    def write_skills(self, skills: list[dict[str, Any]]) -> None:
        self.skills.write_text(yaml.safe_dump({"skills": skills}), encoding="utf-8")

    def base_config(self) -> dict[str, Any]:
        student = model_entry("llamacpp/smollm2", params={"temperature": 0.7, "max_tokens": 16})
        return run_config(
            self.output_dir,
            name="t",
            catalog={"skills": str(self.skills), "topics": str(self.topics)},
            k=[1, 2],
            students=[student],
            grader=model_entry("llamacpp/smollm2", params={"temperature": 0.0, "max_tokens": 16}),
        )

    def write_config(self, data: dict[str, Any] | None = None, **overrides: Any) -> Path:
        config = self.base_config() if data is None else data
        config.update(overrides)
        return write_config(self.config, config)


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    """A valid catalog and config, plus a run store with data already in it."""
    workspace = Workspace(
        root=tmp_path,
        skills=tmp_path / "my_skills.yaml",
        topics=tmp_path / "my_topics.yaml",
        output_dir=tmp_path / "run",
        config=tmp_path / "my_config.yaml",
    )
    workspace.write_skills(SKILLS)
    workspace.topics.write_text(yaml.safe_dump({"topics": TOPICS}), encoding="utf-8")
    workspace.write_config()
    store = RunStore(workspace.output_dir)
    store.set_meta("marker", "x")
    store.close()
    assert (workspace.output_dir / "run.sqlite").is_file()
    return workspace


RunBad = Callable[..., str]  # run_bad(config=None, *, file) -> the one error line
Mutation = Callable[[dict[str, Any]], None]


@pytest.fixture
def run_bad(ws: Workspace) -> RunBad:
    """Run `skillmix eval` on the workspace config and check the promises common to all cases.

    Returns the single stderr line for the case-specific checks.
    """

    def run(config: Path | None = None, *, file: Path) -> str:
        config = ws.config if config is None else config
        before = _snapshot(ws.output_dir)
        result = CliRunner().invoke(app, ["eval", str(config)])
        shown = f"exit {result.exit_code}\nstdout: {result.stdout!r}\nstderr: {result.stderr!r}"
        assert isinstance(result.exception, SystemExit), f"{result.exception!r}\n{shown}"
        assert result.exit_code == 2, shown
        assert "Traceback" not in result.stdout + result.stderr, shown
        assert result.stdout == "", shown
        lines = result.stderr.splitlines()
        assert len(lines) == 1, f"expected exactly one stderr line\n{shown}"
        line = lines[0]
        assert line.startswith("error: "), shown
        assert file.name in line, f"{file.name!r} not named\n{shown}"
        assert _snapshot(ws.output_dir) == before, "run store changed"
        return line

    return run


def test_config_file_missing(ws: Workspace, run_bad: RunBad) -> None:
    missing = ws.root / "no_such_config.yaml"
    line = run_bad(missing, file=missing)
    assert str(missing) in line


def test_config_yaml_syntax_error(ws: Workspace, run_bad: RunBad) -> None:
    text = ws.config.read_text(encoding="utf-8").splitlines()
    text.insert(3, "k: [1, 2")  # unclosed flow sequence on line 4
    ws.config.write_text("\n".join(text) + "\n", encoding="utf-8")
    line = run_bad(file=ws.config)
    assert "YAML" in line
    assert "line " in line
    number = line.split("line ", 1)[1].split(":", 1)[0]
    assert number.isdigit(), line


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda c: c.update(colour="red"), "colour"),
        (lambda c: c["students"][0].update(colour="red"), "students[0].colour"),
        (lambda c: c["grader"]["params"].update(temprature=0.1), "grader.params.temprature"),
    ],
    ids=["top-level", "student", "grader-params"],
)
def test_unknown_key(
    ws: Workspace, run_bad: RunBad, mutate: Callable[[dict[str, Any]], None], field: str
) -> None:
    config = ws.base_config()
    mutate(config)
    ws.write_config(config)
    line = run_bad(file=ws.config)
    assert field in line
    assert "unknown key" in line


@pytest.mark.parametrize(
    ("key", "value"),
    [("items_per_k", "many"), ("seed", [1]), ("generations", "twice"), ("k", "3")],
)
def test_wrong_type(ws: Workspace, run_bad: RunBad, key: str, value: Any) -> None:
    ws.write_config(**{key: value})
    line = run_bad(file=ws.config)
    assert f": {key}" in line


def test_k_larger_than_catalog(ws: Workspace, run_bad: RunBad) -> None:
    ws.write_config(k=[4])
    line = run_bad(file=ws.config)
    assert ": k: " in line
    assert "k=4" in line


@pytest.mark.parametrize("value", [0, -1])
def test_items_per_k_not_positive(ws: Workspace, run_bad: RunBad, value: int) -> None:
    ws.write_config(items_per_k=value)
    line = run_bad(file=ws.config)
    assert ": items_per_k: " in line


@pytest.mark.parametrize(
    ("value", "words"),
    [([], "at least 1 item"), ([0], "at least 1"), ([1, 0], "at least 1"), ([2, 2], "unique")],
    ids=["empty", "zero", "zero-later", "repeated"],
)
def test_bad_k_list(ws: Workspace, run_bad: RunBad, value: list[int], words: str) -> None:
    ws.write_config(k=value)
    line = run_bad(file=ws.config)
    assert ": k: " in line
    assert words in line


@pytest.mark.parametrize("role", ["student", "grader"])
def test_unknown_model_string(ws: Workspace, run_bad: RunBad, role: str) -> None:
    config = ws.base_config()
    entry = config["students"][0] if role == "student" else config["grader"]
    entry["model"] = "nosuch/model"
    ws.write_config(config)
    line = run_bad(file=ws.config)
    assert ("students[0].model" if role == "student" else "grader.model") in line
    assert "nosuch/model" in line


def test_duplicate_skill_name(ws: Workspace, run_bad: RunBad) -> None:
    duplicate = {**SKILLS[1], "name": "Metaphor", "definition": "Another definition."}
    ws.write_skills([*SKILLS, duplicate])
    line = run_bad(file=ws.skills)
    assert "duplicate" in line
    assert "skills[3]" in line


@pytest.mark.parametrize("definition", ["", "   "], ids=["empty", "blank"])
def test_empty_skill_definition(ws: Workspace, run_bad: RunBad, definition: str) -> None:
    ws.write_skills([SKILLS[0], {**SKILLS[1], "definition": definition}, SKILLS[2]])
    line = run_bad(file=ws.skills)
    assert "skills[1]" in line
    assert "definition" in line


def test_unknown_template_placeholder(ws: Workspace, run_bad: RunBad) -> None:
    template = ws.root / "my_grader.txt"
    template.write_text("Grade this: {student_answer} {nonsense}\n", encoding="utf-8")
    ws.write_config(prompts={"grader": str(template)})
    line = run_bad(file=template)
    assert "nonsense" in line


def test_template_file_missing(ws: Workspace, run_bad: RunBad) -> None:
    template = ws.root / "no_such_grader.txt"
    ws.write_config(prompts={"grader": str(template)})
    run_bad(file=template)


@pytest.mark.parametrize("which", ["skills", "topics"])
def test_catalog_file_missing(ws: Workspace, run_bad: RunBad, which: str) -> None:
    missing = ws.root / f"no_such_{which}.yaml"
    config = ws.base_config()
    config["catalog"][which] = str(missing)
    ws.write_config(config)
    line = run_bad(file=missing)
    assert str(missing) in line


def test_console_script_entry_point(ws: Workspace) -> None:
    """The installed `skillmix` script: exit 2, one line, no traceback, store untouched."""
    script = shutil.which("skillmix") or str(Path(sys.executable).parent / "skillmix")
    ws.write_config(items_per_k=0)
    before = _snapshot(ws.output_dir)
    env = {**os.environ, "COLUMNS": "80"}  # an ordinary terminal width: the line must not wrap
    result = subprocess.run(
        [script, "eval", str(ws.config)], capture_output=True, text=True, timeout=60, env=env
    )
    shown = f"exit {result.returncode}\nstdout: {result.stdout!r}\nstderr: {result.stderr!r}"
    assert result.returncode == 2, shown
    assert "Traceback" not in result.stdout + result.stderr, shown
    lines = result.stderr.splitlines()
    assert len(lines) == 1, shown
    assert lines[0].startswith("error: "), shown
    assert ws.config.name in lines[0], shown
    assert "items_per_k" in lines[0], shown
    assert _snapshot(ws.output_dir) == before, "run store changed"
