"""`items: FILE` runs exactly a file's items, `skillmix sample --out` writes such a file, and
a bad row is one line naming the file and line, before any model is called."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from skillmix.catalog import load_catalog
from skillmix.cli import app
from skillmix.models.scripted import Script, scripted
from skillmix.protocol.item_files import read_items
from skillmix.protocol.sampler import CommonSkills, sample_items
from skillmix.run.store import DB_NAME, RunStore
from tests.helpers.configs import model_entry, run_config, write_config
from tests.helpers.paths import BUNDLED_CATALOG, ROOT
from tests.helpers.scripts import answering, awarding, is_turn2

CATALOG = load_catalog(ROOT / "data" / "skills.yaml", ROOT / "data" / "topics.yaml")
CATALOG_OPTIONS = ["--skills", BUNDLED_CATALOG["skills"], "--topics", BUNDLED_CATALOG["topics"]]
STUDENT = model_entry("scripted/student", name="s")
GRADER = model_entry("scripted/grader", name="judge")
ROWS = [
    '{"skills": ["red herring"], "topic": "Sewing"}',
    '{"skills": ["Straw man", "tu quoque"], "topic": "dueling", "k": 2}',
    '{"skills": ["ad hominem"], "topic": "Urbanism"}',
    '{"skills": ["false dilemma", "begging the question"], "topic": "Knots"}',
]


@pytest.fixture
def student() -> Iterator[Script]:
    with (
        scripted("student", answering("Quiet bees work.")) as script,
        scripted("grader", awarding(lambda c, a: 1)),
    ):
        yield script


def evaluate(tmp_path: Path, items: Path, run_dir: Path, **fields: Any) -> Any:
    data = run_config(
        run_dir, students=[STUDENT], grader=GRADER, items=str(items), k=[1, 2], **fields
    )
    return CliRunner().invoke(app, ["eval", str(write_config(tmp_path / "c.yaml", data)), "-q"])


def items_file(path: Path, lines: list[str]) -> Path:
    path.write_text("".join(f"{line}\n" for line in lines), encoding="utf-8")
    return path


@pytest.mark.parametrize("suffix", [".jsonl", ".csv"])
def test_sample_out_writes_the_items_a_seed_gives(tmp_path: Path, suffix: str) -> None:
    out = tmp_path / f"x{suffix}"
    command = ["sample", "--k", "3", "-n", "5", "--seed", "7", "--out", str(out)]
    result = CliRunner().invoke(app, [*command, *CATALOG_OPTIONS])
    assert result.exit_code == 0, result.output
    assert result.stdout == f"5 items -> {out}\n"
    sampled = sample_items(CATALOG, seed=7, ks=[3], items_per_k=5, common=CommonSkills.SCORING)
    read = read_items(out, CATALOG, ks=[3], items_per_k=5, common=CommonSkills.SCORING)
    assert read == sampled


def test_sample_out_refuses_another_suffix(tmp_path: Path) -> None:
    out = tmp_path / "x.txt"
    result = CliRunner().invoke(app, ["sample", "--out", str(out), *CATALOG_OPTIONS])
    assert result.exit_code == 2
    assert result.stderr.splitlines() == [f"error: {out}: an items file is .jsonl or .csv"]
    assert not out.exists()


def test_a_run_with_items_runs_exactly_those(tmp_path: Path, student: Script) -> None:
    items = items_file(tmp_path / "items.jsonl", ROWS)
    run_dir = tmp_path / "run"
    result = evaluate(tmp_path, items, run_dir)
    assert result.exit_code == 0, result.output
    store = RunStore.open_for_reading(run_dir)
    try:
        stored = [(i.item_id, i.skills, i.topic) for i in store.items()]
    finally:
        store.close()
    assert stored == [
        ("k1-00000", ("red herring",), "Sewing"),
        ("k1-00001", ("ad hominem",), "Urbanism"),
        ("k2-00000", ("straw man", "tu quoque"), "Dueling"),
        ("k2-00001", ("false dilemma", "begging the question"), "Knots"),
    ]
    turn1 = [r.messages[-1]["content"] for r in student.requests if not is_turn2(r)]
    assert len(turn1) == len(stored)
    for _, skills, topic in stored:
        assert [p for p in turn1 if topic in p and all(s in p for s in skills)], (skills, topic)


def test_another_runs_export_replays_its_items(tmp_path: Path, student: Script) -> None:
    first, replay = tmp_path / "first", tmp_path / "replay"
    data = run_config(first, students=[STUDENT], grader=GRADER, k=[1, 2], seed=3)
    result = CliRunner().invoke(app, ["eval", str(write_config(tmp_path / "a.yaml", data)), "-q"])
    assert result.exit_code == 0, result.output
    export = tmp_path / "export.jsonl"
    result = CliRunner().invoke(app, ["export", str(first), "--jsonl", str(export)])
    assert result.exit_code == 0, result.output
    assert evaluate(tmp_path, export, replay).exit_code == 0
    assert _stored_items(replay) == _stored_items(first)


def _stored_items(run_dir: Path) -> list[Any]:
    store = RunStore.open_for_reading(run_dir)
    try:
        return store.items()
    finally:
        store.close()


def test_another_items_file_is_another_run(tmp_path: Path, student: Script) -> None:
    run_dir = tmp_path / "run"
    assert evaluate(tmp_path, items_file(tmp_path / "a.jsonl", ROWS), run_dir).exit_code == 0
    assert evaluate(tmp_path, tmp_path / "a.jsonl", run_dir).exit_code == 0  # the same: resumed
    other = items_file(tmp_path / "b.jsonl", [ROWS[2], ROWS[0], *ROWS[1:2], *ROWS[3:]])
    result = evaluate(tmp_path, other, run_dir)
    assert result.exit_code == 2, result.output
    (line,) = result.stderr.splitlines()
    assert "holds another run" in line and "the items (k1-00000, k1-00001)" in line


GOOD_JSONL = ROWS[0]
GOOD_CSV = "red herring,Sewing"
CASES: list[tuple[str, list[str], int, str]] = [
    (".jsonl", ['{"skills": ["juggling"], "topic": "Sewing"}'], 2, "unknown skill 'juggling'"),
    (".jsonl", ['{"skills": ["ad hominem"], "topic": "Chess"}'], 2, "unknown topic 'Chess'"),
    (".jsonl", ['{"skills": ["ad hominem"], "topic": " "}'], 2, "the topic is empty"),
    (".jsonl", ['{"skills": [], "topic": "Sewing"}'], 2, "no skills"),
    (
        ".jsonl",
        ['{"skills": ["straw man", "Straw  Man"], "topic": "Sewing"}'],
        2,
        "skill 'straw man' is named twice",
    ),
    (
        ".jsonl",
        ['{"skills": ["straw man", "tu quoque"], "topic": "Sewing", "k": 3}'],
        2,
        "k is 3 but the row names 2 skills",
    ),
    (
        ".jsonl",
        ['{"skills": ["straw man", "tu quoque", "ad hominem"], "topic": "Sewing"}'],
        2,
        "k=3 is not among the config's k values (1, 2)",
    ),
    (
        ".jsonl",
        ['{"skills": ["simile"], "topic": "Sewing"}'],
        2,
        "'simile' is a common skill, and common_skills is sampling",
    ),
    (".jsonl", ['{"skills": ["ad hominem"], "topic": "Sewing"'], 2, "malformed JSON"),
    (".jsonl", ["", '{"skills": ["ad hominem"]}'], 3, "missing key 'topic'"),
    (".jsonl", ['{"topic": "Sewing"}'], 2, "missing key 'skills'"),
    (".jsonl", ['["ad hominem", "Sewing"]'], 2, "expected a JSON object"),
    (".jsonl", ['{"skills": "ad hominem", "topic": "Sewing"}'], 2, "skills must be a list"),
    (".csv", ['"straw man, \ntu quoque",Sewing', "ad hominem,Chess"], 5, "unknown topic"),
    (".csv", ["ad hominem,"], 3, "the topic is empty"),
    (".csv", [",Sewing"], 3, "no skills"),
    (".csv", ['"straw man, tu quoque",Sewing,1'], 3, "k is 1 but the row names 2 skills"),
    (".csv", ["ad hominem,Sewing,one"], 3, "k 'one' is not a number"),
]


@pytest.mark.parametrize(("suffix", "lines", "line", "message"), CASES)
def test_a_bad_row_is_one_line_before_any_call(
    tmp_path: Path, student: Script, suffix: str, lines: list[str], line: int, message: str
) -> None:
    good, header = (GOOD_CSV, ["skills,topic,k"]) if suffix == ".csv" else (GOOD_JSONL, [])
    path = items_file(tmp_path / f"items{suffix}", [*header, good, *lines])
    common = "sampling" if "common" in message else "scoring"
    run_dir = tmp_path / "run"
    stderr = _refused(evaluate(tmp_path, path, run_dir, common_skills=common), student, run_dir)
    assert stderr.startswith(f"error: {path}: line {line}: {message}"), stderr


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("items.csv", "skill,topic\nad hominem,Sewing\n", "line 1: missing column skills"),
        ("items.txt", GOOD_JSONL, "an items file is .jsonl or .csv"),
        ("items.jsonl", GOOD_JSONL, "items_per_k is 1 but the file has 0 with k=2"),
        ("items.jsonl", "", "items_per_k is 1 but the file has 0 with k=1"),
        ("items.csv", "just some text\n", "line 1: missing column skills, topic"),
    ],
    ids=["column", "suffix", "fewer", "empty", "no-header"],
)
def test_a_bad_file_is_one_line_before_any_call(
    tmp_path: Path, student: Script, name: str, text: str, message: str
) -> None:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    run_dir = tmp_path / "run"
    stderr = _refused(evaluate(tmp_path, path, run_dir, items_per_k=1), student, run_dir)
    assert stderr == f"error: {path}: {message}"


def test_an_items_file_that_is_not_text_is_one_line(tmp_path: Path, student: Script) -> None:
    path = tmp_path / "items.csv"
    path.write_bytes(b"skills,topic\n\xff,Sewing\n")
    run_dir = tmp_path / "run"
    stderr = _refused(evaluate(tmp_path, path, run_dir), student, run_dir)
    assert stderr.startswith(f"error: {path}: not UTF-8 text"), stderr


def _refused(result: Any, student: Script, run_dir: Path) -> str:
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    assert student.requests == []
    assert not (run_dir / DB_NAME).exists()
    (line,) = result.stderr.splitlines()
    return str(line)
