"""`skillmix regrade`: a finished run's answers graded again by another grader, on a loopback
OpenAI server that logs what it receives: no student is called, the run's own gradings stay
as they were, a SIGKILLed re-grade resumes without asking a stored grading again, and the
report, the leaderboard and `compare` show the results per grader."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from typer.testing import CliRunner

import skillmix
from skillmix.cli import app
from tests.helpers.configs import model_entry, run_config, write_config
from tests.helpers.paths import ROOT
from tests.helpers.runs import stored
from tests.helpers.wire_servers import ServerHandle, running_server

STUDENT, JUDGE, SECOND = "student-model", "judge-a", "judge-b"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServerHandle, Path]]:
    log = tmp_path_factory.mktemp("server") / "received.jsonl"
    with running_server(record=log, latency_ms=20) as handle:
        yield handle, log


def models_received(log: Path) -> Counter[str]:
    lines = log.read_text("utf-8").splitlines() if log.exists() else []
    return Counter(json.loads(line)["model"] for line in lines)


@pytest.fixture(scope="module")
def finished(server: tuple[ServerHandle, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A run of 6 items (k = 1, 2), R = 2, graded by judge-a."""
    handle, _ = server
    os.environ.setdefault("OPENAI_API_KEY", "test")
    url = f"{handle.base_url}/v1"
    folder = tmp_path_factory.mktemp("finished")
    data = run_config(
        folder / "run",
        k=[1, 2],
        items_per_k=3,
        gradings=2,
        students=[model_entry(f"openai/{STUDENT}", base_url=url)],
        grader=model_entry(f"openai/{JUDGE}", base_url=url, max_concurrency=2),
    )
    result = CliRunner().invoke(app, ["eval", str(write_config(folder / "c.yaml", data)), "-q"])
    assert result.exit_code == 0, result.output
    return folder / "run"


def regrade_args(run_dir: Path, handle: ServerHandle) -> list[str]:
    url = f"{handle.base_url}/v1"
    return ["regrade", str(run_dir), "--grader", f"openai/{SECOND}", "--base-url", url, "-q"]


def gradings_by(run_dir: Path, grader: str) -> list[tuple[Any, ...]]:
    return stored(
        run_dir,
        "SELECT student, item_id, gen, grading, status, points, reply FROM gradings "
        f"WHERE grader = '{grader}' ORDER BY 1, 2, 3, 4",
    )


def test_regrading_calls_no_student_and_keeps_the_run_s_gradings(
    finished: Path, server: tuple[ServerHandle, Path], tmp_path: Path
) -> None:
    handle, log = server
    run_dir = Path(shutil.copytree(finished, tmp_path / "run"))
    own = gradings_by(run_dir, f"openai/{JUDGE}")
    before = models_received(log)
    result = CliRunner().invoke(app, regrade_args(run_dir, handle))
    assert result.exit_code == 0, result.output
    sent = models_received(log) - before
    assert sent == {SECOND: 6 * 2}  # every answer, R = 2 times; no student, no judge-a
    assert gradings_by(run_dir, f"openai/{JUDGE}") == own  # untouched
    assert len(gradings_by(run_dir, f"openai/{SECOND}")) == 12
    assert f"grader openai/{JUDGE}" in result.stdout and f"grader openai/{SECOND}" in result.stdout
    assert f"Agreement with openai/{JUDGE}" in result.stdout
    page = tmp_path / "report.html"
    html = CliRunner().invoke(app, ["report", str(run_dir), "--html", str(page)])
    assert html.exit_code == 0, html.output
    text = page.read_text(encoding="utf-8")
    assert f"Graded by openai/{SECOND}" in text and f"Agreement with openai/{JUDGE}" in text
    assert "Answer length vs skill fraction (Spearman), per grader" in result.stdout
    board = pd.read_csv(run_dir / "leaderboard.csv")
    rows = 2 * 3  # one student x k = 1, 2 x three metrics, per grader
    assert board.groupby("grader").size().to_dict() == {
        f"openai/{JUDGE}": rows,
        f"openai/{SECOND}": rows,
    }

    again = CliRunner().invoke(app, regrade_args(run_dir, handle))
    assert again.exit_code == 0, again.output
    assert models_received(log) - before == sent  # all stored: nothing asked again


def test_compare_and_frames_take_a_grader(
    finished: Path, server: tuple[ServerHandle, Path], tmp_path: Path
) -> None:
    handle, _ = server
    run_dir = Path(shutil.copytree(finished, tmp_path / "run"))
    assert CliRunner().invoke(app, regrade_args(run_dir, handle)).exit_code == 0
    own, second = skillmix.load_run(run_dir), skillmix.load_run(run_dir, f"openai/{SECOND}")
    assert own.config.grader.label == f"openai/{JUDGE}"
    assert second.config.grader.label == f"openai/{SECOND}" and second.config.gradings == 2
    exported = tmp_path / "run.jsonl"
    assert (
        CliRunner().invoke(app, ["export", str(run_dir), "--jsonl", str(exported)]).exit_code == 0
    )
    from_export = skillmix.load_run(exported, f"openai/{SECOND}")
    pd.testing.assert_frame_equal(from_export.points, second.points)  # the graders travel too
    unknown = CliRunner().invoke(
        app,
        ["compare", str(run_dir), "--a", "x", "--b", "y", "--grader", "nobody"],
    )
    assert unknown.exit_code == 2 and "no grader 'nobody'" in unknown.stderr


@pytest.mark.parametrize(
    ("extra", "named"),
    [
        (["--name", f"openai/{JUDGE}"], "the run's own grader"),
        (["--gradings", "0"], "--gradings"),
    ],
)
def test_bad_regrades_are_one_line(
    finished: Path,
    server: tuple[ServerHandle, Path],
    tmp_path: Path,
    extra: list[str],
    named: str,
) -> None:
    handle, _ = server
    run_dir = Path(shutil.copytree(finished, tmp_path / "run"))
    result = CliRunner().invoke(app, [*regrade_args(run_dir, handle), *extra])
    assert result.exit_code == 2, result.output
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and named in lines[0], lines


def test_a_label_taken_by_another_grader_is_refused(
    finished: Path, server: tuple[ServerHandle, Path], tmp_path: Path
) -> None:
    handle, _ = server
    run_dir = Path(shutil.copytree(finished, tmp_path / "run"))
    assert CliRunner().invoke(app, [*regrade_args(run_dir, handle), "--name", "B"]).exit_code == 0
    other = [*regrade_args(run_dir, handle), "--name", "B", "--system-prompt", "Be strict."]
    result = CliRunner().invoke(app, other)
    assert result.exit_code == 2 and "already names another grader" in result.stderr


@pytest.fixture
def slow_server() -> Iterator[ServerHandle]:
    with running_server(latency_ms=150) as handle:
        yield handle


def test_a_killed_regrade_resumes_and_equals_an_uninterrupted_one(
    finished: Path, slow_server: ServerHandle, tmp_path: Path
) -> None:
    slow = [*regrade_args(finished, slow_server)[2:], "--max-concurrency", "2"]
    straight = Path(shutil.copytree(finished, tmp_path / "straight"))
    assert CliRunner().invoke(app, ["regrade", str(straight), *slow]).exit_code == 0
    killed = Path(shutil.copytree(finished, tmp_path / "killed"))
    command = [sys.executable, "-m", "skillmix", "regrade", str(killed), *slow]
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while len(gradings_by(killed, f"openai/{SECOND}")) < 3:
            assert process.poll() is None, "the re-grade ended before it could be killed"
            assert time.monotonic() < deadline
            time.sleep(0.02)
    finally:
        os.kill(process.pid, signal.SIGKILL)
        process.wait()
    kept = {key for (key,) in stored(killed, "SELECT key FROM responses")}
    assert len(gradings_by(killed, f"openai/{SECOND}")) < 12  # killed part-way
    resumed = CliRunner().invoke(app, ["regrade", str(killed), *slow])
    assert resumed.exit_code == 0, resumed.output
    calls = dict(stored(killed, "SELECT key, COUNT(*) FROM calls GROUP BY key"))
    assert not [key for key in kept if calls[key] != 1], "a stored response was asked again"
    assert gradings_by(killed, f"openai/{SECOND}") == gradings_by(straight, f"openai/{SECOND}")
    pd.testing.assert_frame_equal(
        pd.read_csv(killed / "leaderboard.csv").drop(columns=["run_id"]),
        pd.read_csv(straight / "leaderboard.csv").drop(columns=["run_id"]),
    )


def test_an_imported_official_run_is_regraded_with_its_catalog(
    reference_dir: Path, server: tuple[ServerHandle, Path], tmp_path: Path
) -> None:
    handle, log = server
    official = reference_dir / "skill-mix-official"
    run_dir = tmp_path / "imported"
    rounds = [official / "test" / f"k3_s10_vdefault_r{r}" for r in (2, 3)]
    imported = CliRunner().invoke(
        app, ["import-official", *map(str, rounds), "--out", str(run_dir)]
    )
    assert imported.exit_code == 0, imported.output
    files = ["--skills", str(official / "skills.csv"), "--topics", str(official / "topics.txt")]
    prompt = ["--grader-prompt", str(official / "prompts" / "grade" / "gpt.json")]
    before = models_received(log)
    missing = CliRunner().invoke(app, regrade_args(run_dir, handle))  # the bundled catalog
    assert missing.exit_code == 2 and "does not have" in missing.stderr
    result = CliRunner().invoke(app, [*regrade_args(run_dir, handle), *files, *prompt])
    assert result.exit_code == 0, result.output
    answers = len(stored(run_dir, "SELECT * FROM generations WHERE status = 'ok'"))
    assert models_received(log) - before == {SECOND: answers * 3}  # the official R = 3
    sent = [json.loads(line) for line in log.read_text("utf-8").splitlines()][-1]
    assert "Correctly illustrates" in sent["messages"][-1]["content"]  # the official wording
    graders = set(pd.read_csv(run_dir / "leaderboard.csv")["grader"])
    assert graders == {"imported/gpt-4", f"openai/{SECOND}"}  # the official grader's, and ours


def test_report_adds_the_jury_of_the_run_s_graders(
    finished: Path, server: tuple[ServerHandle, Path], tmp_path: Path
) -> None:
    handle, _ = server
    run_dir = Path(shutil.copytree(finished, tmp_path / "run"))
    assert CliRunner().invoke(app, regrade_args(run_dir, handle)).exit_code == 0
    result = CliRunner().invoke(app, ["report", str(run_dir), "--jury", "unanimous"])
    assert result.exit_code == 0, result.output
    jury = f"jury (unanimous: openai/{JUDGE}, openai/{SECOND})"
    assert set(pd.read_csv(run_dir / "leaderboard.csv")["grader"]) == {
        f"openai/{JUDGE}",
        f"openai/{SECOND}",
        jury,
    }
    one_grader = Path(shutil.copytree(finished, tmp_path / "one-grader"))
    alone = CliRunner().invoke(app, ["report", str(one_grader), "--jury", "majority"])
    assert alone.exit_code == 0 and alone.stderr.startswith("warning: --jury needs two graders")
    bad = CliRunner().invoke(app, ["report", str(run_dir), "--jury", "loudest"])
    assert bad.exit_code == 2 and "'loudest'" in bad.stderr and len(bad.stderr.splitlines()) == 1


def test_a_config_s_graders_grade_every_answer_and_its_jury_is_reported(
    server: tuple[ServerHandle, Path], tmp_path: Path
) -> None:
    handle, log = server
    url = f"{handle.base_url}/v1"
    data = run_config(
        tmp_path / "run",
        k=[1],
        items_per_k=3,
        gradings=2,
        students=[model_entry(f"openai/{STUDENT}", base_url=url)],
        grader=model_entry(f"openai/{JUDGE}", base_url=url),
        graders=[model_entry(f"openai/{SECOND}", base_url=url)],
        jury="majority",
    )
    config = write_config(tmp_path / "c.yaml", data)
    before = models_received(log)
    result = CliRunner().invoke(app, ["eval", str(config), "-q"])
    assert result.exit_code == 0, result.output
    assert models_received(log) - before == {STUDENT: 3 * 2, JUDGE: 3 * 2, SECOND: 3 * 2}
    jury = f"jury (majority: openai/{JUDGE}, openai/{SECOND})"
    graders = set(pd.read_csv(tmp_path / "run" / "leaderboard.csv")["grader"])
    assert graders == {f"openai/{JUDGE}", f"openai/{SECOND}", jury}
    twice = CliRunner().invoke(app, ["eval", str(config), "-q"])
    assert twice.exit_code == 0 and models_received(log) - before == {
        STUDENT: 6,
        JUDGE: 6,
        SECOND: 6,
    }  # all stored: a rerun calls nothing


def test_two_graders_of_one_label_are_refused(tmp_path: Path) -> None:
    same = model_entry("openai/x", base_url="http://127.0.0.1:9/v1")
    data = run_config(tmp_path / "run", grader=same, graders=[same])
    result = CliRunner().invoke(app, ["eval", str(write_config(tmp_path / "c.yaml", data))])
    assert result.exit_code == 2 and "two graders share a label" in result.stderr
