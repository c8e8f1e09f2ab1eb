"""OpenAI and Anthropic backends through the real SDKs against loopback wire-format servers."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from skillmix.cli import app
from tests.helpers.configs import model_entry, run_config, write_config
from tests.helpers.runs import graded, stored
from tests.helpers.wire_servers import ServerHandle, running_server

runner = CliRunner()
SECRET = "sk-test-DO-NOT-LEAK-4242"


@pytest.fixture(autouse=True)
def api_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    monkeypatch.setenv("ANTHROPIC_API_KEY", SECRET)


@pytest.fixture(scope="module")
def clean_server() -> Iterator[ServerHandle]:
    with running_server() as server:
        yield server


@pytest.fixture(scope="module")
def faulty_server() -> Iterator[ServerHandle]:
    with running_server(fault_rate=0.3, seed=11, slow_seconds=1.5) as server:
        yield server


def config(tmp_path: Path, server: ServerHandle, name: str, **overrides: Any) -> Path:
    fast_retries = {"retries": 6, "backoff_s": 0.01, "backoff_max_s": 0.1, "timeout_s": 0.75}
    students = [
        model_entry(
            "openai/gpt-4o-mini",
            base_url=f"{server.base_url}/v1",
            params={"temperature": 0.5, "max_tokens": 100},
            **fast_retries,
        ),
        model_entry(
            "anthropic/claude-3-5-haiku",
            base_url=server.base_url,
            system_prompt="You are a helpful assistant.",
            params={"max_tokens": 100},
            **fast_retries,
        ),
    ]
    grader = model_entry(
        "anthropic/claude-sonnet-4",
        base_url=server.base_url,
        params={"temperature": 0, "max_tokens": 200},
        **fast_retries,
    )
    data = run_config(
        tmp_path / name,
        seed=3,
        k=[2, 3],
        items_per_k=6,
        generations=2,
        gradings=2,
        students=students,
        grader=grader,
    )
    data.update(overrides)
    return write_config(tmp_path / f"{name}.yaml", data)


def test_faulted_run_completes_and_equals_fault_free_run(
    tmp_path: Path, clean_server: ServerHandle, faulty_server: ServerHandle
) -> None:
    clean = runner.invoke(app, ["eval", str(config(tmp_path, clean_server, "clean")), "-q"])
    assert clean.exit_code == 0, clean.output
    faulty = runner.invoke(app, ["eval", str(config(tmp_path, faulty_server, "faulty")), "-q"])
    assert faulty.exit_code == 0, faulty.output

    faults = faulty_server.stats()["faults"]
    assert sum(faults.values()) > 0.2 * faulty_server.stats()["requests_total"]
    assert all(count > 0 for count in faults.values()), faults  # every kind was injected
    expected = 2 * 12 * 2 * 2  # students x items x G x R
    assert len(graded(tmp_path / "faulty")) == expected
    assert stored(tmp_path / "faulty", "SELECT COUNT(*) FROM generations WHERE status != 'ok'") == [
        (0,)
    ]
    # base_url differs between the two servers, so compare what the models said, not keys
    assert graded(tmp_path / "faulty") == graded(tmp_path / "clean")
    board = pd.read_csv(tmp_path / "faulty" / "leaderboard.csv")
    assert board["failed"].sum() == 0 and board["unscored"].sum() == 0
    assert (board["student_cost_usd"] > 0).all() and (board["grader_cost_usd"] > 0).all()


def test_client_errors_are_recorded_against_items_and_not_retried(
    tmp_path: Path, clean_server: ServerHandle
) -> None:
    path = config(tmp_path, clean_server, "bad", k=[2], items_per_k=2, generations=1, gradings=1)
    data = yaml.safe_load(path.read_text())
    data["students"][0]["model"] = "openai/no-such-model"
    path.write_text(yaml.safe_dump(data))
    result = runner.invoke(app, ["eval", str(path), "-q"])
    assert result.exit_code == 0, result.output
    failed = stored(
        tmp_path / "bad", "SELECT student, reason FROM generations WHERE status = 'failed'"
    )
    assert len(failed) == 2 and all(s == "openai/no-such-model" for s, _ in failed)
    assert all("NotFoundError" in reason and "404" in reason for _, reason in failed)
    calls = stored(
        tmp_path / "bad",
        "SELECT COUNT(*) FROM calls c WHERE c.key NOT IN (SELECT key FROM responses)",
    )
    assert calls == [(2,)]  # one attempt each: a 404 is not retried
    board = pd.read_csv(tmp_path / "bad" / "leaderboard.csv")
    mine = board[board["model"] == "openai/no-such-model"]
    assert (mine["failed"] == 2).all() and (mine["n"] == 0).all()
    other = board[board["model"] == "anthropic/claude-3-5-haiku"]
    assert (other["n"] == 2).all()  # the run went on


def test_budget_stops_cleanly_and_resumes(tmp_path: Path, clean_server: ServerHandle) -> None:
    prices = {"openai/gpt-4o-mini": {"input": 1000.0, "output": 1000.0}}
    path = config(
        tmp_path,
        clean_server,
        "budget",
        k=[2],
        items_per_k=4,
        generations=1,
        gradings=1,
        prices=prices,
        budget_usd=0.5,
    )
    stopped = runner.invoke(app, ["eval", str(path), "-q"])
    assert stopped.exit_code == 0, stopped.output
    assert "budget reached" in stopped.stderr
    board = pd.read_csv(tmp_path / "budget" / "leaderboard.csv")
    assert board["pending"].sum() > 0
    spent_before = {key for (key,) in stored(tmp_path / "budget", "SELECT key FROM responses")}

    data = yaml.safe_load(path.read_text())
    data["budget_usd"] = 10_000.0
    path.write_text(yaml.safe_dump(data))
    resumed = runner.invoke(app, ["eval", str(path), "-q"])
    assert resumed.exit_code == 0, resumed.output
    board = pd.read_csv(tmp_path / "budget" / "leaderboard.csv")
    assert board["pending"].sum() == 0 and board["failed"].sum() == 0
    calls = dict(stored(tmp_path / "budget", "SELECT key, COUNT(*) FROM calls GROUP BY key"))
    assert all(calls[key] == 1 for key in spent_before)


def test_dry_run_prices_the_run(tmp_path: Path, clean_server: ServerHandle) -> None:
    result = runner.invoke(app, ["eval", str(config(tmp_path, clean_server, "dry")), "--dry-run"])
    assert result.exit_code == 0, result.output
    assert "estimated cost: $" in result.stdout and "unknown" not in result.stdout
    assert not (tmp_path / "dry").exists()


def test_missing_key_is_bad_input_and_keys_never_stored(
    tmp_path: Path, clean_server: ServerHandle, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = config(tmp_path, clean_server, "keys", k=[2], items_per_k=2, generations=1, gradings=1)
    done = runner.invoke(app, ["eval", str(path)])
    assert done.exit_code == 0, done.output
    for file in (tmp_path / "keys").iterdir():
        assert SECRET.encode() not in file.read_bytes(), file
    assert SECRET not in done.output

    seen = clean_server.stats()["last_headers"]
    assert seen["/v1/chat/completions"]["authorization"] == "<redacted>"  # the key was sent
    assert seen["/v1/messages"]["authorization"] == "<redacted>"

    monkeypatch.delenv("ANTHROPIC_API_KEY")
    missing = runner.invoke(app, ["eval", str(path)])
    assert missing.exit_code == 2
    assert missing.stderr.strip() == (
        f"error: {path}: students[1]: anthropic/claude-3-5-haiku needs an API key in "
        "$ANTHROPIC_API_KEY"
    )
