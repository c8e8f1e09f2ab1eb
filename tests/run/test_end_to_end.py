"""The whole protocol on the bundled model, killed with SIGKILL part-way and resumed."""

from __future__ import annotations

import signal
import subprocess
from pathlib import Path

import pytest

from tests.helpers import configs
from tests.helpers.configs import model_entry
from tests.helpers.paths import ROOT
from tests.helpers.runs import (
    count_responses,
    eval_command,
    graded,
    kill_after_responses,
    results,
    start_eval,
    stored,
    wait_for_responses,
)

pytest.importorskip("llama_cpp")
pytestmark = pytest.mark.slow


def write_config(tmp_path: Path, name: str) -> Path:
    config = configs.run_config(
        tmp_path / name,
        seed=7,
        k=[1, 2],
        gradings=2,
        students=[model_entry("llamacpp/smollm2", params={"temperature": 0.7, "max_tokens": 40})],
        grader=model_entry("llamacpp/smollm2", params={"temperature": 0.7, "max_tokens": 160}),
    )
    return configs.write_config(tmp_path / f"{name}.yaml", config)


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
    process = start_eval(config, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    wait_for_responses(process, run_dir, responses=3)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 130, stderr
    assert "interrupted" in stderr and "Traceback" not in stderr
    finished = subprocess.run(eval_command(config), cwd=ROOT, capture_output=True, text=True)
    assert finished.returncode == 0, finished.stderr
    assert results(run_dir).equals(results(straight_run))
