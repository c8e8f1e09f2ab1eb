"""load_run: a run as DataFrames, from its store or its JSONL export (round trip)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

import skillmix
from skillmix.cli import app
from skillmix.config import RunConfig
from skillmix.results.frames import FRAME_BUILDERS
from tests.helpers.runs import evaluate_two_students


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    out = tmp_path_factory.mktemp("frames") / "run"
    evaluate_two_students(out, "frames", items_per_k=5, students=["a", "b"])
    yield out


def test_frames_hold_every_record(run_dir: Path) -> None:
    frames = skillmix.load_run(run_dir)
    assert len(frames.items) == 15
    assert len(frames.generations) == 2 * 15 * 2  # students x items x G
    assert len(frames.gradings) == 2 * 15 * 2 * 3
    assert set(frames.scores["status"]) == {"scored"}
    assert len(frames.points) == 2 * 2 * 5 * sum(k + 3 for k in (1, 2, 3))


def test_scores_reproduce_the_leaderboard(run_dir: Path) -> None:
    frames = skillmix.load_run(run_dir)
    board = skillmix.results_frame(skillmix.load_results(run_dir))
    counted = frames.scores[frames.scores["counted"]]
    means = counted.groupby(["student", "k"])[["full_marks", "all_skills", "skill_fraction"]].mean()
    for row in board.itertuples():
        mean = means.loc[(row.model, row.k), row.metric]  # type: ignore[index]
        assert mean == pytest.approx(row.value, nan_ok=True)


def test_jsonl_export_round_trips_every_item(run_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "run.jsonl"
    result = CliRunner().invoke(app, ["export", str(run_dir), "--jsonl", str(out)])
    assert result.exit_code == 0, result.output
    stored, exported = skillmix.load_run(run_dir), skillmix.load_run(out)
    for name in ("items", "generations", "gradings", "scores", "points"):
        pd.testing.assert_frame_equal(getattr(stored, name), getattr(exported, name), obj=name)
    assert stored.config == exported.config
    lines = pd.read_json(out, lines=True)  # plain pandas reads it too
    assert set(lines["table"]) == {"config", "item", "generation", "grading"}


def test_parquet_export_holds_the_frames_of_load_run(run_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "frames"
    result = CliRunner().invoke(app, ["export", str(run_dir), "--parquet", str(out)])
    assert result.exit_code == 0, result.output
    stored = skillmix.load_run(run_dir)
    assert sorted(p.name for p in out.iterdir()) == [
        "config.json",
        *sorted(f"{name}.parquet" for name in FRAME_BUILDERS),
    ]
    for name in ("generations", "scores", "points"):
        read = pd.read_parquet(out / f"{name}.parquet")
        pd.testing.assert_frame_equal(getattr(stored, name), read, obj=name, check_dtype=False)
    items = pd.read_parquet(out / "items.parquet")
    assert [list(s) for s in items["skills"]] == list(stored.items["skills"])
    gradings = pd.read_parquet(out / "gradings.parquet")
    assert [None if p is None else json.loads(p) for p in gradings["points"]] == list(
        stored.gradings["points"]
    )
    assert RunConfig.model_validate_json((out / "config.json").read_text()) == stored.config
    assert f"scores {len(stored.scores)}" in result.stdout


def test_frames_without_texts_hold_the_same_results(run_dir: Path) -> None:
    full, lean = skillmix.load_run(run_dir), skillmix.load_run(run_dir, texts=False)
    for name in ("items", "scores", "points"):
        pd.testing.assert_frame_equal(getattr(full, name), getattr(lean, name), obj=name)
    texts = {"generations": ["answer", "turn2_key"], "gradings": ["reply", "grader_points"]}
    for name, columns in texts.items():
        full_frame, lean_frame = getattr(full, name), getattr(lean, name)
        assert list(full_frame.columns) == list(lean_frame.columns)
        assert full_frame[columns].notna().any().all()  # the run has them ...
        assert lean_frame[columns].isna().all().all()  # ... and they were left out
        left_out = {"reason", "turn1_key", "turn2_key", "response_key", *columns}
        kept = [c for c in full_frame.columns if c not in left_out]
        pd.testing.assert_frame_equal(full_frame[kept], lean_frame[kept], obj=name)


def test_compare_command_on_a_run(run_dir: Path) -> None:
    result = CliRunner().invoke(app, ["compare", str(run_dir), "--a", "a", "--b", "b"])
    assert result.exit_code == 0, result.output
    assert "a vs b on full_marks" in result.stdout and "exact" in result.stdout
    missing = CliRunner().invoke(app, ["compare", str(run_dir), "--a", "a", "--b", "zz"])
    assert missing.exit_code == 2 and "no scored items for model 'zz'" in missing.stderr
