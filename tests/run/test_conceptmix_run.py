"""A ConceptMix run end to end: official-format fixture items, the loopback Images API and a
vision grader answering from a verdict script, then the report files. The scripted full-mark
rates come back exactly, and a SIGKILLed run resumed with the same command asks no stored
image or question again and ends with an uninterrupted run's results."""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from typer.testing import CliRunner

import skillmix
from skillmix.cli import app
from skillmix.records import VerdictRecord
from skillmix.results.conceptmix.export import compare_conceptmix
from skillmix.run.conceptmix.store import ConceptStore, ImageFiles
from skillmix.run.store import RunStore
from tests.helpers.configs import write_config
from tests.helpers.paths import ROOT
from tests.helpers.runs import evaluate_two_students, kill_after_responses, stored
from tests.helpers.wire_servers import ServerHandle, running_server

FIXTURES = ROOT / "tests" / "fixtures" / "conceptmix"
ITEMS = FIXTURES / "sentence_collection"
MODELS = ("gpt-image-1", "gpt-image-1-mini")
GRADER = "gpt-4o"
# what the loopback grader answers: a question holding a key gets its verdict, any other "Yes"
VERDICTS: dict[str, str | float] = {"gray": "No", "fluffy": "No", "red": "No", "heart": 0.6}
KS = (1, 2, 3)


def fixture_questions() -> dict[int, list[list[str]]]:
    """The fixture's non-empty questions per item, per k, read straight from its JSON."""
    found: dict[int, list[list[str]]] = {}
    for k in KS:
        entries = json.loads((ITEMS / f"300_sentences_k={k}.json").read_text("utf-8"))
        found[k] = [[q for q in entry["question"] if q.strip()] for entry in entries]
    return found


def scripted_yes(question: str) -> bool:
    keys = [key for key in VERDICTS if key in question]
    if not keys:
        return True
    value = VERDICTS[max(keys, key=len)]
    return value == "Yes" or (isinstance(value, float) and value >= 0.5)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerHandle]:
    folder = tmp_path_factory.mktemp("grader")
    script = folder / "verdicts.json"
    script.write_text(json.dumps(VERDICTS), encoding="utf-8")
    with running_server(latency_ms=40, verdicts=script) as handle:
        yield handle


def config_for(run_dir: Path, server: ServerHandle, **grading: Any) -> dict[str, Any]:
    url = f"{server.base_url}/v1"
    models = [
        {"model": f"openai-images/{model}", "base_url": url, "options": {"size": "64x64"}}
        for model in MODELS
    ]
    return {
        "name": run_dir.name,
        "suite": "conceptmix",
        "output_dir": str(run_dir),
        "items": {"official": str(ITEMS)},
        "k": list(KS),
        "seed": 3,
        "models": models,
        "grader": {"model": f"openai/{GRADER}", "base_url": url, "max_concurrency": 4},
        "grading": {"logprobs": True, **grading},
    }


def evaluate(config: Path) -> None:
    result = CliRunner().invoke(app, ["eval", str(config), "--quiet"])
    assert result.exit_code == 0, result.output


@pytest.fixture(scope="module")
def straight(server: ServerHandle, tmp_path_factory: pytest.TempPathFactory) -> Path:
    os.environ.setdefault("OPENAI_API_KEY", "test")
    folder = tmp_path_factory.mktemp("straight")
    evaluate(write_config(folder / "run.yaml", config_for(folder / "run", server)))
    return folder / "run"


def images(run_dir: Path) -> list[tuple[Any, ...]]:
    return stored(run_dir, "SELECT * FROM images ORDER BY model, item_id, image")


def verdicts(run_dir: Path) -> list[tuple[Any, ...]]:
    return stored(run_dir, "SELECT * FROM verdicts ORDER BY model, item_id, image, question")


def test_the_scripted_full_mark_rates_come_back_exactly(straight: Path) -> None:
    questions = fixture_questions()
    frame = pd.read_csv(straight / "results.csv")
    assert sorted(frame["model"].unique()) == sorted(f"openai-images/{m}" for m in MODELS)
    for k in KS:
        items = questions[k]
        full = sum(all(scripted_yes(q) for q in item) for item in items)
        asked = [q for item in items for q in item]
        rows = frame[frame["k"] == k]
        assert list(rows["images"]) == [len(items)] * len(MODELS)
        assert list(rows["full_mark"]) == pytest.approx([full / len(items)] * len(MODELS))
        micro = sum(map(scripted_yes, asked)) / len(asked)
        assert list(rows["concept_fraction_micro"]) == pytest.approx([micro] * len(MODELS))
    by_hand = {1: 3 / 4, 2: 2 / 4, 3: 2 / 4}  # gray; fluffy, red; fluffy, red fail an item
    assert frame.groupby("k")["full_mark"].max().to_dict() == pytest.approx(by_hand)
    board = pd.read_csv(straight / "leaderboard.csv", dtype=str)
    assert list(board.columns) == ["Model", "k=1", "k=2", "k=3"]
    assert (straight / "report.html").exists()


def test_every_image_is_stored_whole_and_every_question_asked(straight: Path) -> None:
    questions = fixture_questions()
    per_model = sum(len(item) for k in KS for item in questions[k])
    rows = verdicts(straight)
    assert len(rows) == per_model * len(MODELS)
    assert {row[5] for row in rows} == {"yes", "no"}  # every question graded
    p_yes = {round(row[6], 3) for row in rows}
    assert p_yes == {0.9, 0.1, 0.6}  # the script's P(Yes), read back from the logprobs
    files = ImageFiles(straight)
    drawn = images(straight)
    assert len(drawn) == 12 * len(MODELS)
    for row in drawn:
        assert row[3] == "ok" and (row[6], row[7]) == (64, 64)
        assert len(files.read(row[4], row[5])) > 0  # read checks the bytes against the sha256


def test_a_finished_run_rerun_asks_nothing(straight: Path, server: ServerHandle) -> None:
    before = server.stats()
    evaluate(straight.parent / "run.yaml")
    after = server.stats()
    assert after["image_requests"] == before["image_requests"]
    assert after["vision_requests"] == before["vision_requests"]


def test_a_killed_run_resumes_and_equals_an_uninterrupted_one(
    straight: Path, server: ServerHandle, tmp_path: Path
) -> None:
    run_dir = tmp_path / "killed"
    config = write_config(tmp_path / "run.yaml", config_for(run_dir, server))
    kill_after_responses(config, run_dir, 10, table="verdicts")
    kept = {key for (key,) in stored(run_dir, "SELECT key FROM responses")}
    assert 10 <= len(verdicts(run_dir)) < len(verdicts(straight))  # killed part-way
    evaluate(config)
    calls = dict(stored(run_dir, "SELECT key, COUNT(*) FROM calls GROUP BY key"))
    assert not [key for key in kept if calls[key] != 1], "a stored response was asked again"
    assert images(run_dir) == images(straight)
    assert verdicts(run_dir) == verdicts(straight)
    for name in ("results.csv", "leaderboard.csv"):
        pd.testing.assert_frame_equal(
            pd.read_csv(run_dir / name), pd.read_csv(straight / name), check_like=True
        )


def test_a_batch_run_grades_through_the_batch_api_alike_at_half_the_price(
    straight: Path, server: ServerHandle, tmp_path: Path
) -> None:
    """`batch:` for the run reaches the grader (an image model has no batch API here)."""
    run_dir = tmp_path / "batched"
    data = {**config_for(run_dir, server), "batch": {"size": 50, "wait_s": 0.05, "poll_s": 0.02}}
    before = server.stats()
    evaluate(write_config(tmp_path / "run.yaml", data))
    after = server.stats()
    assert after["vision_requests"] == before["vision_requests"]  # no grading in realtime
    assert after["batches"]["batches_created"] > before["batches"]["batches_created"]
    assert images(run_dir) == images(straight)
    cheap_verdicts, full_verdicts = verdicts(run_dir), verdicts(straight)
    assert [row[:-1] for row in cheap_verdicts] == [row[:-1] for row in full_verdicts]
    assert [row[-1] for row in cheap_verdicts] == pytest.approx(
        [row[-1] / 2 for row in full_verdicts]  # each verdict's cost
    )
    query = "SELECT key, cost_usd FROM responses WHERE backend = 'openai'"
    cheap, full = dict(stored(run_dir, query)), dict(stored(straight, query))
    assert cheap.keys() == full.keys() and len(full) > 0
    assert all(cheap[key] == pytest.approx(full[key] / 2) for key in full)


def test_report_shows_the_official_table_beside_the_run(straight: Path, tmp_path: Path) -> None:
    table = tmp_path / "performance_table.csv"
    table.write_text("Model,k=1,k=2,k=3\nPaper model,0.40 ±0.05,0.20 ±0.04,\n", encoding="utf-8")
    result = CliRunner().invoke(app, ["report", str(straight), "--official-table", str(table)])
    assert result.exit_code == 0, result.output
    lines = [
        line for line in result.stdout.splitlines() if "this run" in line or "official" in line
    ]
    ours = [line for line in lines if f"openai-images/{MODELS[0]}" in line]
    full = pd.read_csv(straight / "results.csv").set_index(["model", "k"])["full_mark"]
    assert ours and f"{full[(f'openai-images/{MODELS[0]}', 1)]:.2f} ±" in ours[0]
    assert any("Paper model" in line and "0.40 ±0.05" in line for line in lines)


def test_a_bad_official_table_is_one_line_and_leaves_the_run_alone(
    straight: Path, tmp_path: Path
) -> None:
    table = tmp_path / "performance_table.csv"
    table.write_text("Model,k=1\nPaper model,about half\n", encoding="utf-8")
    before = (straight / "run.sqlite").read_bytes()
    result = CliRunner().invoke(app, ["report", str(straight), "--official-table", str(table)])
    assert result.exit_code == 2
    assert result.stderr.strip().splitlines() == [
        f"error: {table}: row 2 (Paper model), column k=1: 'about half' is not '<number> ±<number>'"
    ]
    assert (straight / "run.sqlite").read_bytes() == before


def test_export_jsonl_holds_every_record(straight: Path, tmp_path: Path) -> None:
    out = tmp_path / "run.jsonl"
    result = CliRunner().invoke(app, ["export", str(straight), "--jsonl", str(out)])
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in out.read_text("utf-8").splitlines()]
    tables = Counter(line["table"] for line in lines)
    assert tables == {"config": 1, "item": 12, "image": 24, "verdict": len(verdicts(straight))}
    assert lines[0]["suite"] == "conceptmix"
    exported = [
        VerdictRecord.model_validate({k: v for k, v in line.items() if k != "table"})
        for line in lines
        if line["table"] == "verdict"
    ]
    store = RunStore.open_for_reading(straight)
    try:
        assert exported == ConceptStore(store).verdicts()
    finally:
        store.close()


def test_export_csv_is_the_results_of_each_run(straight: Path, tmp_path: Path) -> None:
    out = tmp_path / "results.csv"
    result = CliRunner().invoke(app, ["export", str(straight), str(straight), "--csv", str(out)])
    assert result.exit_code == 0, result.output
    frame = pd.read_csv(out)
    ours = pd.read_csv(straight / "results.csv")
    assert list(frame["run"].unique()) == [straight.name]
    pd.testing.assert_frame_equal(frame.drop(columns="run").iloc[: len(ours)], ours)
    assert len(frame) == 2 * len(ours)


@pytest.mark.parametrize(("metric", "column"), [
    ("full_marks", "full_mark"), ("concept_fraction", "concept_fraction_macro"),
])  # fmt: skip
def test_compare_pairs_the_two_models_image_by_image(
    straight: Path, metric: str, column: str
) -> None:
    a, b = (f"openai-images/{m}" for m in MODELS)
    args = ["compare", str(straight), "--a", a, "--b", b, "--metric", metric]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    table = compare_conceptmix(skillmix.load_conceptmix(straight), a, b, metric=metric)
    written = pd.read_csv(straight / "results.csv")
    ours = written[written["model"] == a]
    rates = dict(zip(ours["k"], ours[column], strict=True))
    for row in table.to_dict("records"):
        assert row["n"] == 4  # the fixture's items per k, each drawn by both models
        assert row["difference"] == 0  # the grader answers by question, not by image
        assert (row["a_only_full"], row["b_only_full"]) == (0, 0)
        assert row[a] == pytest.approx(rates[row["k"]])
    assert "McNemar's test on full marks" in " ".join(result.stdout.split())


def test_exporting_both_suites_at_once_is_refused(straight: Path, tmp_path: Path) -> None:
    other = tmp_path / "skill-mix"
    evaluate_two_students(other, "sm", 1, ["first", "second"])
    out = tmp_path / "both.csv"
    result = CliRunner().invoke(app, ["export", str(straight), str(other), "--csv", str(out)])
    assert result.exit_code == 2
    assert result.stderr.splitlines() == [
        f"error: {other}: mixes ConceptMix and Skill-Mix runs: export each suite on its own"
    ]
    assert not out.exists()


def test_parquet_export_of_a_conceptmix_run_is_refused_in_one_line(
    straight: Path, tmp_path: Path
) -> None:
    out = tmp_path / "frames"
    result = CliRunner().invoke(app, ["export", str(straight), "--parquet", str(out)])
    assert result.exit_code == 2
    [line] = result.stderr.splitlines()
    assert line.startswith(f"error: {straight}/run.sqlite: holds a ConceptMix run")
    assert not out.exists()


def test_load_conceptmix_gives_the_report_s_figures(straight: Path) -> None:
    import skillmix

    with pytest.raises(skillmix.SkillmixError, match="load_conceptmix"):
        skillmix.load_run(straight)
    results = skillmix.load_conceptmix(straight)
    frame = results.frame()
    written = pd.read_csv(straight / "results.csv")
    assert set(results.models) == {f"openai-images/{m}" for m in MODELS}
    pairs = set(zip(written["model"], written["k"], strict=True))
    assert set(zip(frame["model"], frame["k"], strict=True)) == pairs
    assert len(pairs) == len(MODELS) * len(KS)
