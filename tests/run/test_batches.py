"""Batch mode against the loopback server's OpenAI Batch API (tests/helpers/batch_wire.py),
through the real openai SDK: the same stored results as a realtime run at half the price, a
killed run that re-attaches to its batches and pays for nothing twice, a create whose reply
was lost found again instead of made twice, and expired batches whose unrun requests go into
the next batch."""

from __future__ import annotations

import asyncio
import logging
import os
import random
import re
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from openai import AsyncOpenAI
from typer.testing import CliRunner

from skillmix.cli import app
from skillmix.config import BatchSettings, ModelEntry
from skillmix.models.batch_api import LineFailed
from skillmix.models.openai_batch import OpenAIBatches
from skillmix.run.batch_store import BatchLedger
from skillmix.run.batches import Batcher
from skillmix.run.loop import run_async
from skillmix.run.opening import open_run
from skillmix.run.plan import build_plan
from skillmix.run.runner import Runner
from skillmix.run.store import RunStore
from tests.helpers.batch_wire import FLAKY_MODEL, REFUSED_MODEL
from tests.helpers.configs import run_config, write_config
from tests.helpers.runs import graded, results, start_eval, stored
from tests.helpers.wire_servers import ServerHandle, start_server

MODEL = "openai/gpt-4o-mini"
# provider -> its model and the path its SDK's base_url takes
PROVIDERS = {"openai": (MODEL, "/v1"), "anthropic": ("anthropic/claude-3-5-haiku", "")}
FAST = {"size": 20, "wait_s": 0.05, "poll_s": 0.02}
Batch = dict[str, Any] | None


def entry(server: ServerHandle, batch: Batch, provider: str = "openai") -> dict[str, Any]:
    model, path = PROVIDERS[provider]
    found: dict[str, Any] = {"model": model, "base_url": server.base_url + path}
    if provider == "anthropic":
        found["api_key_env"] = "SKILLMIX_TEST_KEY"
    if batch is not None:
        found["batch"] = batch
    return found


def config(
    run_dir: Path, server: ServerHandle, batch: Batch, provider: str = "openai"
) -> dict[str, Any]:
    model = entry(server, batch, provider)
    return run_config(run_dir, seed=3, k=[1, 2], items_per_k=10, students=[model], grader=model)


def evaluate(
    tmp_path: Path, name: str, server: ServerHandle, batch: Batch, provider: str = "openai"
) -> Path:
    run_dir = tmp_path / name
    path = write_config(tmp_path / f"{name}.yaml", config(run_dir, server, batch, provider))
    result = CliRunner().invoke(app, ["eval", str(path), "--quiet"])
    assert result.exit_code == 0, result.output
    return run_dir


@pytest.fixture(autouse=True)
def api_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SKILLMIX_TEST_KEY", "sk-test")  # the Anthropic SDK wants one


@pytest.fixture
def server() -> Iterator[ServerHandle]:
    with start_server() as handle:
        yield handle


def batches(server: ServerHandle) -> dict[str, int]:
    found: dict[str, int] = server.stats()["batches"]
    return found


def costs(run_dir: Path) -> list[tuple[Any, ...]]:
    return stored(run_dir, "SELECT key, cost_usd FROM responses ORDER BY key")


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_batch_run_stores_what_a_realtime_run_does_at_half_the_price(
    tmp_path: Path, server: ServerHandle, provider: str
) -> None:
    realtime = evaluate(tmp_path, "realtime", server, None, provider)
    assert batches(server)["batches_created"] == 0
    calls = server.stats()["completed"]
    batched = evaluate(tmp_path, "batched", server, FAST, provider)
    assert server.stats()["completed"] == calls  # not one realtime call
    made = batches(server)
    assert made["batches_created"] >= 3  # turn 1, turn 2, gradings, pipelined
    assert made["duplicate_submissions"] == 0 and made["billed_twice"] == 0
    assert made["lines_billed"] == calls
    assert graded(batched) == graded(realtime)
    assert results(batched).equals(results(realtime))
    cheap, full = dict(costs(batched)), dict(costs(realtime))
    assert cheap.keys() == full.keys() and all(cost > 0 for cost in full.values())
    assert all(cheap[key] == pytest.approx(full[key] / 2) for key in full)


def test_batches_are_split_at_the_bytes_an_input_file_may_hold(
    tmp_path: Path, server: ServerHandle, monkeypatch: pytest.MonkeyPatch
) -> None:
    whole = evaluate(tmp_path, "whole", server, {**FAST, "size": 1000, "wait_s": 0.5})
    unsplit = batches(server)["batches_created"]
    monkeypatch.setattr(OpenAIBatches, "max_bytes", 4000)
    split = evaluate(tmp_path, "split", server, {**FAST, "size": 1000, "wait_s": 0.5})
    assert batches(server)["batches_created"] - unsplit > 2 * unsplit
    assert graded(split) == graded(whole)


def test_the_progress_line_counts_the_batches(tmp_path: Path, server: ServerHandle) -> None:
    plan = build_plan(config(tmp_path / "run", server, FAST))
    store = open_run(plan)
    runner = Runner(plan, store)
    assert runner.calls.batch_line() == ("batches 0 made, 0 in flight, 0 ended, 0 requests queued")
    run_async(runner.run())
    store.close()
    made = batches(server)["batches_created"]
    assert runner.calls.batch_line() == (
        f"batches {made} made, 0 in flight, {made} ended, 0 requests queued"
    )


def test_a_running_batch_is_polled_less_and_less_often(tmp_path: Path) -> None:
    """Batches that take 1.5 s, polled from every 0.02 s: at a fixed interval that would be
    75 polls each; backing off to 8 x 0.02 s, about 15."""
    with start_server(batch_latency_s=1.5) as server:
        evaluate(tmp_path, "slow", server, FAST)
        made = batches(server)
    assert 5 <= made["most_polls"] <= 25, made


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_lost_create_reply_is_found_not_made_again(tmp_path: Path, provider: str) -> None:
    """OpenAI: by its tag; Anthropic (no metadata): by its time and number of requests."""
    with start_server(drop_creates=2) as server:
        reference = evaluate(tmp_path, "reference", server, None, provider)
        run_dir = evaluate(tmp_path, "dropped", server, FAST, provider)
        made = batches(server)
    assert made["creates_dropped"] == 2
    assert made["duplicate_submissions"] == 0 and made["billed_twice"] == 0
    assert graded(run_dir) == graded(reference)


@pytest.mark.parametrize("provider", PROVIDERS)
def test_expired_batches_send_what_they_did_not_run_into_the_next(
    tmp_path: Path, provider: str
) -> None:
    with start_server(expire_batches=2) as server:
        reference = evaluate(tmp_path, "reference", server, None, provider)
        calls = server.stats()["completed"]
        run_dir = evaluate(tmp_path, "expired", server, FAST, provider)
        made = batches(server)
    assert made["billed_twice"] == 0 and made["duplicate_submissions"] == 0
    assert made["lines_billed"] == calls  # every request paid for once
    assert graded(run_dir) == graded(reference)


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_request_that_failed_in_its_batch_is_sent_again_and_paid_once(
    tmp_path: Path, provider: str
) -> None:
    """Each request fails once (an HTTP 500 line; Anthropic: errored, api_error), then runs
    in a later batch: every item ends done, each request billed once."""
    with start_server() as server:
        flaky = {**entry(server, None, provider), "model": f"{provider}/{FLAKY_MODEL}"}
        reference_dir = tmp_path / "reference"
        path = write_config(
            tmp_path / "r.yaml",
            run_config(reference_dir, k=[1, 2], items_per_k=4, students=[flaky], grader=flaky),
        )
        assert CliRunner().invoke(app, ["eval", str(path), "--quiet"]).exit_code == 0
        calls = server.stats()["completed"]
        flaky["batch"] = FAST
        run_dir = tmp_path / "flaky"
        path = write_config(
            tmp_path / "f.yaml",
            run_config(run_dir, k=[1, 2], items_per_k=4, students=[flaky], grader=flaky),
        )
        result = CliRunner().invoke(app, ["eval", str(path), "--quiet"])
        assert result.exit_code == 0, result.output
        made = batches(server)
    assert made["lines_billed"] == calls and made["billed_twice"] == 0
    assert made["batches_created"] >= 6  # every phase twice
    assert graded(run_dir) == graded(reference_dir)
    assert stored(run_dir, "SELECT COUNT(*) FROM generations WHERE status = 'failed'") == [(0,)]


def test_a_batch_over_the_token_limit_is_sent_again_one_the_api_refuses_fails_its_calls(
    tmp_path: Path,
) -> None:
    with start_server(refuse_batches=2) as server:
        reference = evaluate(tmp_path, "reference", server, None)
        calls = server.stats()["completed"]
        run_dir = evaluate(tmp_path, "limited", server, FAST)
        made = batches(server)
        assert made["lines_billed"] == calls and made["billed_twice"] == 0
        assert graded(run_dir) == graded(reference)

        refused = tmp_path / "refused"
        student = {**entry(server, FAST), "model": f"openai/{REFUSED_MODEL}"}
        grader = entry(server, FAST)
        path = write_config(
            tmp_path / "refused.yaml",
            run_config(refused, k=[1], items_per_k=3, students=[student], grader=grader),
        )
        result = CliRunner().invoke(app, ["eval", str(path), "--quiet"])
        assert "3 calls failed; most common: LineFailed: batch refused: model_not_found" in (
            result.output
        )
        assert batches(server)["lines_billed"] == calls  # nothing run, nothing paid
    rows = stored(refused, "SELECT status, reason FROM generations")
    assert len(rows) == 3 and all(status == "failed" for status, _ in rows)
    assert all("batch refused: model_not_found" in reason for _, reason in rows)


@pytest.mark.parametrize("provider", PROVIDERS)
def test_stragglers_are_cancelled_and_what_did_not_run_goes_realtime_once(
    tmp_path: Path, provider: str
) -> None:
    """Batches that would take 60 s are cancelled after 0.3 s: the requests that ran while
    the cancel was pending are kept (and billed), the rest are called realtime, none twice."""
    with start_server(batch_latency_s=60) as server:
        reference = evaluate(tmp_path, "reference", server, None, provider)
        calls = server.stats()["completed"]
        straggling = {**FAST, "cancel_after_s": 0.3}
        run_dir = evaluate(tmp_path, "stragglers", server, straggling, provider)
        made, realtime = batches(server), server.stats()["completed"] - calls
    assert made["lines_billed"] > 0 and made["lines_billed"] + realtime == calls
    assert made["paid_twice"] == 0 and made["billed_twice"] == 0
    assert graded(run_dir) == graded(reference)


def killed_after(process: subprocess.Popen[Any], server: ServerHandle, pause: float) -> bool:
    """SIGKILL the run `pause` s after its first batch call (a create, a poll, a harvest);
    whether it was still running (False: it finished first)."""
    before, deadline = batches(server), time.monotonic() + 120
    while batches(server) == before and process.poll() is None:
        assert time.monotonic() < deadline, "no batch call in time"
        time.sleep(0.005)
    time.sleep(pause)
    running = process.poll() is None
    if running:
        os.kill(process.pid, signal.SIGKILL)
    process.wait()
    return running


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_run_killed_again_and_again_re_attaches_and_pays_for_nothing_twice(
    tmp_path: Path, provider: str
) -> None:
    """Kills soon after a batch call (a create before or after it returned, a poll, a
    harvest), at random, each followed by the same command."""
    slow = {"size": 4, "wait_s": 0.05, "poll_s": 0.1}
    pauses = random.Random(1).choices([0.0, 0.05, 0.1, 0.3], k=30)
    with start_server(drop_creates=1) as server:
        reference = evaluate(tmp_path, "reference", server, None, provider)
        calls = server.stats()["completed"]
        run_dir = tmp_path / "killed"
        path = write_config(tmp_path / "killed.yaml", config(run_dir, server, slow, provider))
        kills = 0
        for pause in pauses:
            process = start_eval(path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            kills += killed_after(process, server, pause)
            if kills == 6:
                break
        finished = start_eval(path, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        _, errors = finished.communicate(timeout=300)
        assert finished.returncode == 0, errors
        made = batches(server)
    assert kills >= 5
    assert made["duplicate_submissions"] == 0 and made["billed_twice"] == 0
    assert made["lines_billed"] == calls
    assert graded(run_dir) == graded(reference)


def test_a_server_without_a_batch_api_is_told_once_and_answered_realtime(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with start_server(batch_api=False) as server:
        reference = evaluate(tmp_path, "reference", server, None)
        calls = server.stats()["completed"]
        with caplog.at_level(logging.INFO, logger="skillmix.run.batches"):
            run_dir = evaluate(tmp_path, "plain", server, FAST)
        assert server.stats()["completed"] == 2 * calls  # realtime, every call
        requests = server.stats()["requests"]
        assert requests["/v1/batches"] == 1 and "/v1/files" not in requests  # asked once
    said = [r.getMessage() for r in caplog.records if "no batch API" in r.getMessage()]
    assert len(said) == 1, said
    assert graded(run_dir) == graded(reference)
    assert dict(costs(run_dir)) == dict(costs(reference))  # the realtime price


def test_a_dry_run_shows_batch_prices_beside_realtime_ones(
    tmp_path: Path, server: ServerHandle
) -> None:
    def dry_run(name: str, batch: dict[str, Any] | None) -> str:
        path = write_config(tmp_path / f"{name}.yaml", config(tmp_path / name, server, batch))
        result = CliRunner().invoke(app, ["eval", str(path), "--dry-run"])
        assert result.exit_code == 0, result.output
        return result.output

    def dollars(line: str) -> float:
        return float(re.findall(r"\$([0-9.]+)", line)[0])

    realtime, batched = dry_run("realtime", None), dry_run("batched", FAST)

    def line(output: str, start: str) -> str:
        return next(text for text in output.splitlines() if text.startswith(start))

    total = line(realtime, "estimated cost:")
    saving, batch_total = line(batched, "batch mode:"), line(batched, "estimated cost:")
    assert dollars(saving) == pytest.approx(dollars(total), abs=1e-4)
    assert dollars(batch_total) == pytest.approx(dollars(total) / 2, abs=1e-4)
    assert "student (batch)" in batched and "grader (batch)" in batched
    assert "(batch)" not in realtime and "batch mode" not in realtime


def test_batch_mode_is_refused_where_no_batch_api_exists() -> None:
    with pytest.raises(ValueError, match="batch: is for openai/ and anthropic/ models"):
        ModelEntry.model_validate({"model": "llamacpp/smollm2", "batch": True})
    with pytest.raises(ValueError, match="not a list of replicas"):
        ModelEntry.model_validate(
            {"model": MODEL, "base_url": ["http://a.test", "http://b.test"], "batch": True}
        )
    assert ModelEntry.model_validate({"model": MODEL, "batch": True}).batch is not None
    assert ModelEntry.model_validate({"model": MODEL, "batch": False}).batch is None


def test_calls_fail_once_the_batch_api_stays_unreachable(tmp_path: Path) -> None:
    """Round after round of refused connections: the waiting calls fail (and are recorded
    as failed) instead of waiting for ever; no batch was asked for, so the ledger holds none."""
    store = RunStore(tmp_path)
    client = AsyncOpenAI(api_key="k", base_url="http://127.0.0.1:9/v1", max_retries=0)
    settings = BatchSettings(wait_s=0, poll_s=0.001)
    batcher = Batcher(BatchLedger(store), MODEL, OpenAIBatches(client), settings)
    body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}

    async def ask() -> None:
        with pytest.raises(LineFailed, match="kept failing: APIConnectionError"):
            await asyncio.wait_for(batcher.generate("k" * 64, body), timeout=30)
        await batcher.aclose()

    asyncio.run(ask())
    assert BatchLedger(store).unfinished(MODEL) == []
    store.close()
