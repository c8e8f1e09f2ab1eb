"""The whole protocol on the bundled model, killed with SIGKILL part-way and resumed."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml
from conftest import ROOT

pytest.importorskip("llama_cpp")
pytestmark = pytest.mark.slow

RESULT_COLUMNS = ["model", "k", "metric", "value", "stderr", "n", "unscored", "failed", "pending"]


def write_config(tmp_path: Path, name: str) -> Path:
    config = {
        "name": name,
        "output_dir": str(tmp_path / name),
        "catalog": {
            "skills": str(ROOT / "data" / "skills.yaml"),
            "topics": str(ROOT / "data" / "topics.yaml"),
        },
        "seed": 7,
        "k": [1, 2],
        "items_per_k": 2,
        "generations": 1,
        "gradings": 2,
        "students": [
            {"model": "llamacpp/smollm2", "params": {"temperature": 0.7, "max_tokens": 40}}
        ],
        "grader": {"model": "llamacpp/smollm2", "params": {"temperature": 0.7, "max_tokens": 160}},
    }
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def eval_command(config: Path) -> list[str]:
    return [sys.executable, "-m", "skillmix", "eval", str(config), "--quiet"]


def stored(run_dir: Path, sql: str) -> list[tuple[object, ...]]:
    db = sqlite3.connect(run_dir / "run.sqlite")
    try:
        return db.execute(sql).fetchall()
    finally:
        db.close()


def count_responses(run_dir: Path) -> int:
    if not (run_dir / "run.sqlite").exists():
        return 0
    try:
        return int(stored(run_dir, "SELECT COUNT(*) FROM responses")[0][0])
    except sqlite3.OperationalError:  # schema not created yet
        return 0


def kill_after_responses(config: Path, run_dir: Path, responses: int) -> None:
    process = subprocess.Popen(eval_command(config), cwd=ROOT, stdout=subprocess.DEVNULL)
    deadline = time.monotonic() + 300
    while count_responses(run_dir) < responses:
        assert process.poll() is None, "the run ended before it could be killed"
        assert time.monotonic() < deadline
        time.sleep(0.05)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()


def results(run_dir: Path) -> pd.DataFrame:
    frame = pd.read_csv(run_dir / "leaderboard.csv")
    return frame[RESULT_COLUMNS].sort_values(["model", "k", "metric"]).reset_index(drop=True)


def graded(run_dir: Path) -> list[tuple[object, ...]]:
    return stored(
        run_dir,
        "SELECT g.item_id, g.gen, g.grading, g.status, g.points, n.answer FROM gradings g "
        "JOIN generations n USING (student, item_id, gen) ORDER BY 1, 2, 3",
    )


@pytest.fixture(scope="module")
def straight_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An uninterrupted run: the reference the resumed run must reproduce."""
    tmp_path = tmp_path_factory.mktemp("straight")
    config = write_config(tmp_path, "straight")
    subprocess.run(eval_command(config), cwd=ROOT, check=True, capture_output=True)
    return tmp_path / "straight"


def test_killed_run_resumes_without_repeating_calls_and_matches_uninterrupted(
    tmp_path: Path, straight_run: Path
) -> None:
    resumed = write_config(tmp_path, "resumed")
    run_dir = tmp_path / "resumed"
    kill_after_responses(resumed, run_dir, responses=7)
    before = {key for (key,) in stored(run_dir, "SELECT key FROM responses")}
    assert 7 <= len(before) < count_responses(straight_run)

    finished = subprocess.run(eval_command(resumed), cwd=ROOT, capture_output=True, text=True)
    assert finished.returncode == 0, finished.stderr

    calls = dict(stored(run_dir, "SELECT key, COUNT(*) FROM calls GROUP BY key"))
    repeated = [key for key in before if calls[key] != 1]
    assert not repeated, f"{len(repeated)} stored responses were requested again"
    assert results(run_dir).equals(results(straight_run))
    assert graded(run_dir) == graded(straight_run)
    # every generation and grading slot of the plan is accounted for
    assert len(stored(run_dir, "SELECT * FROM generations")) == 4
    assert len(graded(run_dir)) == 4 * 2


def test_rerunning_a_finished_run_calls_no_model(straight_run: Path) -> None:
    calls = stored(straight_run, "SELECT COUNT(*) FROM calls")[0][0]
    config = straight_run.parent / "straight.yaml"
    subprocess.run(eval_command(config), cwd=ROOT, check=True, capture_output=True)
    assert stored(straight_run, "SELECT COUNT(*) FROM calls")[0][0] == calls
    assert (straight_run / "leaderboard.csv").is_file()


def test_ctrl_c_stops_cleanly_and_the_run_resumes(tmp_path: Path, straight_run: Path) -> None:
    config = write_config(tmp_path, "interrupted")
    run_dir = tmp_path / "interrupted"
    process = subprocess.Popen(
        eval_command(config), cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    deadline = time.monotonic() + 300
    while count_responses(run_dir) < 3:
        assert process.poll() is None and time.monotonic() < deadline
        time.sleep(0.05)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 130, stderr
    assert "interrupted" in stderr and "Traceback" not in stderr
    finished = subprocess.run(eval_command(config), cwd=ROOT, capture_output=True, text=True)
    assert finished.returncode == 0, finished.stderr
    assert results(run_dir).equals(results(straight_run))
