"""`skillmix export-sft`: a graded teacher run's full-mark answers become chat-format
fine-tuning examples (turn-1 prompt as the student got it -> graded final answer), with their
metadata and a manifest; a train/held_out split keeps held-out skills and topics out."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from skillmix.catalog import load_catalog
from skillmix.catalog.splits import SplitConfig, SplitPart, held_out_skills, held_out_topics
from skillmix.cli import app
from skillmix.models import ModelRequest
from skillmix.models.provenance import TrainingData, manifest_path
from skillmix.models.scripted import Script, scripted
from tests.helpers.configs import model_entry, run_config, write_config
from tests.helpers.paths import BUNDLED_CATALOG
from tests.helpers.scripts import answering, awarding, is_turn2

GOOD, POOR = "Quiet bees work at dawn.", "Loud ants rest."
SPLIT = {"held_out_categories": ["logical", "theory of mind"], "held_out_topic_fraction": 0.5}


def teacher_reply(request: ModelRequest) -> str:
    """The good teacher drafts, then answers GOOD; the grader fails every POOR answer."""
    return f"Answer: {GOOD}" if is_turn2(request) else "A first draft."


@pytest.fixture(scope="module")
def scripts() -> Iterator[dict[str, Script]]:
    with (
        scripted("teacher", teacher_reply) as teacher,
        scripted("weak", answering(POOR)),
        scripted("judge", awarding(lambda criterion, answer: int(answer == GOOD))),
    ):
        yield {"teacher": teacher}


def cli(*args: str) -> Any:
    return CliRunner().invoke(app, list(args))


@pytest.fixture(scope="module")
def teacher_run(scripts: dict[str, Script], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """k = 1..3, 6 items each, G = 2, two students: one always full marks, one never."""
    folder = tmp_path_factory.mktemp("teacher")
    data = run_config(
        folder / "run",
        k=[1, 2, 3],
        items_per_k=6,
        generations=2,
        students=[
            model_entry("scripted/teacher", name="teacher", system_prompt="Be concise."),
            model_entry("scripted/weak", name="weak"),
        ],
        grader=model_entry("scripted/judge", name="judge"),
    )
    result = cli("eval", str(write_config(folder / "c.yaml", data)), "-q")
    assert result.exit_code == 0, result.output
    return folder / "run"


def lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def split_file(tmp_path: Path, **fields: Any) -> Path:
    path = tmp_path / "split.yaml"
    path.write_text(yaml.safe_dump({**SPLIT, **fields}), encoding="utf-8")
    return path


def test_full_mark_answers_become_examples_with_their_prompt_as_sent(
    teacher_run: Path, scripts: dict[str, Script], tmp_path: Path
) -> None:
    out = tmp_path / "sft.jsonl"
    result = cli("export-sft", str(teacher_run), "--out", str(out))
    assert result.exit_code == 0, result.output
    examples, meta = lines(out), lines(tmp_path / "sft.meta.jsonl")
    assert len(examples) == len(meta) == 3 * 6 * 2  # every teacher generation, no weak one
    assert all(set(e) == {"messages"} for e in examples)  # the OpenAI format, nothing else
    assert {m["student"] for m in meta} == {"teacher"}
    sent = [r.messages for r in scripts["teacher"].requests if not is_turn2(r)]
    for example, info in zip(examples, meta, strict=True):
        *prompt, answer = example["messages"]
        assert answer == {"role": "assistant", "content": GOOD}
        assert prompt[0] == {"role": "system", "content": "Be concise."}
        assert prompt in sent
        assert info["full_marks"] == 1.0 and info["k"] == len(info["skills"])
        assert all(skill in prompt[1]["content"] for skill in info["skills"])
    manifest = TrainingData.model_validate_json(manifest_path(out).read_text(encoding="utf-8"))
    assert manifest.examples == 36 and manifest.left_out["not full_marks"] == 36
    assert manifest.split is None and len(manifest.runs) == 1
    assert manifest.skills == sorted({s for m in meta for s in m["skills"]})
    assert "wrote 36 examples" in result.output


def test_the_k_and_student_filters_select(teacher_run: Path, tmp_path: Path) -> None:
    out = tmp_path / "k23.jsonl"
    result = cli("export-sft", str(teacher_run), "--out", str(out), "--k", "2,3")
    assert result.exit_code == 0, result.output
    assert sorted({m["k"] for m in lines(tmp_path / "k23.meta.jsonl")}) == [2, 3]
    assert len(lines(out)) == 24
    result = cli("export-sft", str(teacher_run), "--out", str(out), "--student", "weak")
    assert result.exit_code == 2
    assert "selects no example" in result.output and "--only" in result.output


def test_held_out_skills_and_topics_never_leak(teacher_run: Path, tmp_path: Path) -> None:
    path = split_file(tmp_path)
    out = tmp_path / "train.jsonl"
    result = cli("export-sft", str(teacher_run), "--out", str(out), "--split-file", str(path))
    assert result.exit_code == 0, result.output
    catalog = load_catalog(Path(BUNDLED_CATALOG["skills"]), Path(BUNDLED_CATALOG["topics"]))
    split = SplitConfig.model_validate({"file": str(path), "part": "train"})
    skills, topics = held_out_skills(catalog, split), held_out_topics(catalog, split)
    assert len(topics) == round(0.5 * len(catalog.topics))
    meta = lines(tmp_path / "train.meta.jsonl")
    assert meta, "the split should leave some items to train on"
    for info in meta:
        assert not set(info["skills"]) & skills and info["topic"] not in topics
    manifest = TrainingData.model_validate_json(manifest_path(out).read_text(encoding="utf-8"))
    assert manifest.left_out["held-out skill or topic"] == 36 - len(meta)
    assert manifest.split is not None and manifest.split["part"] == "train"
    assert manifest.split["source"] == str(path)
    assert "held_out_categories" in manifest.split
    # told otherwise, the held-out items come through
    every = tmp_path / "every.jsonl"
    args = ["--split-file", str(path), "--include-held-out"]
    assert cli("export-sft", str(teacher_run), "--out", str(every), *args).exit_code == 0
    leaked = [m for m in lines(tmp_path / "every.meta.jsonl") if set(m["skills"]) & skills]
    assert leaked and len(lines(every)) == 36


def test_an_evaluation_names_the_same_split_and_samples_only_held_out_items(
    scripts: dict[str, Script], tmp_path: Path
) -> None:
    path = split_file(tmp_path)
    catalog = load_catalog(Path(BUNDLED_CATALOG["skills"]), Path(BUNDLED_CATALOG["topics"]))
    split = SplitConfig.model_validate({"file": str(path), "part": SplitPart.HELD_OUT})
    skills, topics = held_out_skills(catalog, split), held_out_topics(catalog, split)
    data = run_config(
        tmp_path / "held",
        k=[2, 3],
        items_per_k=5,
        catalog={**BUNDLED_CATALOG, "split": {"file": str(path), "part": "held_out"}},
        students=[model_entry("scripted/teacher", name="teacher")],
        grader=model_entry("scripted/judge", name="judge"),
    )
    result = cli("eval", str(write_config(tmp_path / "c.yaml", data)), "-q")
    assert result.exit_code == 0, result.output
    stored = json.loads(_config(tmp_path / "held"))
    assert stored["catalog"]["split"]["held_out_categories"] == SPLIT["held_out_categories"]
    report = cli("report", str(tmp_path / "held"))
    assert report.exit_code == 0, report.output
    assert f"split {split.definition_hash()}" in " ".join(report.output.split())
    html = tmp_path / "held.html"
    assert cli("report", str(tmp_path / "held"), "--html", str(html)).exit_code == 0
    assert f"split {split.definition_hash()}" in html.read_text(encoding="utf-8")
    board = pd.read_csv(tmp_path / "held" / "leaderboard.csv")
    assert set(board["split"]) == {f"held_out:{split.definition_hash()}"}
    from skillmix.api import load_results

    for item in load_results(tmp_path / "held").items:
        assert set(item.skills) <= skills and item.topic in topics


def _config(run_dir: Path) -> str:
    import sqlite3

    db = sqlite3.connect(run_dir / "run.sqlite")
    try:
        return str(db.execute("SELECT value FROM meta WHERE key = 'config'").fetchone()[0])
    finally:
        db.close()


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (["--only", "best"], "--only"),
        (["--k", "2,x"], "--k"),
        (["--k", "7"], "--k"),
        (["--split", "train"], "--split"),
    ],
)
def test_bad_export_options_are_one_line(
    teacher_run: Path, tmp_path: Path, args: list[str], named: str
) -> None:
    out = tmp_path / "x.jsonl"
    result = cli("export-sft", str(teacher_run), "--out", str(out), *args)
    assert result.exit_code == 2, result.output
    assert named in result.output and len(result.output.strip().splitlines()) == 1
    assert not out.exists()


@pytest.mark.parametrize(
    ("fields", "named"),
    [
        ({"held_out_categories": ["nonsense"]}, "unknown categories"),
        ({"held_out_topics": ["no such topic"]}, "held_out_topics"),
        ({"colour": 1}, "unknown keys"),
    ],
)
def test_bad_split_files_are_one_line(
    teacher_run: Path, tmp_path: Path, fields: dict[str, Any], named: str
) -> None:
    path = split_file(tmp_path, **fields)
    result = cli(
        "export-sft",
        str(teacher_run),
        "--out",
        str(tmp_path / "x.jsonl"),
        "--split-file",
        str(path),
    )
    assert result.exit_code == 2, result.output
    assert named in result.output and len(result.output.strip().splitlines()) == 1


def test_a_split_that_leaves_no_held_out_skill_is_one_line(tmp_path: Path) -> None:
    catalog = tmp_path / "skills.yaml"
    every = yaml.safe_load(Path(BUNDLED_CATALOG["skills"]).read_text(encoding="utf-8"))
    kept = [s for s in every["skills"] if s["category"] != "logical"]
    catalog.write_text(yaml.safe_dump({**every, "skills": kept}), encoding="utf-8")
    data = run_config(
        tmp_path / "run",
        k=[2],
        catalog={
            "skills": str(catalog),
            "topics": BUNDLED_CATALOG["topics"],
            "split": {"part": "held_out", "held_out_categories": ["logical"]},
        },
        students=[model_entry("scripted/teacher", name="teacher")],
        grader=model_entry("scripted/judge", name="judge"),
    )
    result = cli("eval", str(write_config(tmp_path / "c.yaml", data)), "-q")
    assert result.exit_code == 2
    assert "catalog.split.held_out_categories" in result.output
    assert "no held-out skill" in result.output


def test_the_export_round_trips_through_datasets_and_trl_chat_formatting(
    teacher_run: Path, tmp_path: Path
) -> None:
    datasets = pytest.importorskip("datasets")
    data_utils = pytest.importorskip("trl.data_utils")
    from transformers import AutoTokenizer

    from skillmix.models.folders import model_folder

    out, folder = tmp_path / "sft.jsonl", tmp_path / "sft-dataset"
    args = ["--k", "2", "--hf-dataset", str(folder)]
    assert cli("export-sft", str(teacher_run), "--out", str(out), *args).exit_code == 0
    written = lines(out)
    loaded = datasets.load_dataset("json", data_files=str(out), split="train")
    assert loaded.num_rows == len(written) == 12
    assert [row["messages"] for row in loaded] == [e["messages"] for e in written]
    saved = datasets.load_from_disk(str(folder))
    assert saved["item_id"] == [m["item_id"] for m in lines(tmp_path / "sft.meta.jsonl")]
    assert json.loads(saved[0]["points"])["topic"] == 1
    tokenizer = AutoTokenizer.from_pretrained(model_folder("hf", "smollm2"), local_files_only=True)
    row = written[0]["messages"]
    pair = {"prompt": row[:-1], "completion": row[-1:]}
    text = data_utils.apply_chat_template(pair, tokenizer)  # warnings fail the test
    assert text["prompt"].endswith("<|im_start|>assistant\n")
    assert text["completion"].startswith(GOOD)


def test_an_imported_official_run_exports_the_prompts_its_records_hold(tmp_path: Path) -> None:
    import csv

    from skillmix.official.run_import import import_official_run
    from tests.helpers.paths import FIXTURES

    source = FIXTURES / "official_run"
    import_official_run([source], tmp_path / "imported")
    out = tmp_path / "official.jsonl"
    result = cli("export-sft", str(tmp_path / "imported"), "--out", str(out))
    assert result.exit_code == 0, result.output
    examples, meta = lines(out), lines(tmp_path / "official.meta.jsonl")
    assert [m["student"] for m in meta] == ["imported/tiny-chat", "imported/tiny-student"]
    records = source / "k2_s7_vdefault_r1" / "tiny-chat" / "records.csv"
    with records.open(encoding="utf-8", newline="") as file:
        first = next(csv.DictReader(file))
    system, user, answer = examples[0]["messages"]
    assert system == {"role": "system", "content": first["system prompt"]}
    assert user == {"role": "user", "content": first["user_0"]}
    assert answer["role"] == "assistant" and "lighthouse" in answer["content"].lower()
