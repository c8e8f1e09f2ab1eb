"""Batch mode beyond one entry's batches (tests/run/test_batches.py): `batch:` for a whole
run, stragglers cancelled once nearly done and finished realtime or on OpenAI's flex tier
(priced from the tier the reply names, waiting longer), a batch list that lags a create, an
Anthropic batch of someone else's not taken for a lost create, an endpoint without a batch
API told once, and re-grading and calibration through the batch API, all against the
loopback server through the real SDKs."""

from __future__ import annotations

import asyncio
import shutil
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import openai
import pytest
from anthropic import AsyncAnthropic
from typer.testing import CliRunner

from skillmix.cli import app
from skillmix.config import BatchSettings, ExtraGrader, ModelEntry, RunConfig, parse_config
from skillmix.errors import SkillmixError
from skillmix.models import (
    BackendSettings,
    ChatMessage,
    GenerationParams,
    ModelBackend,
    ModelOutput,
    ModelRequest,
    create_backend,
)
from skillmix.models.anthropic_batch import AnthropicBatches
from skillmix.models.batch_api import NotYetKnown
from skillmix.run import batches as batch_module
from skillmix.run.batch_store import BatchLedger
from skillmix.run.batches import Batcher
from skillmix.run.loop import run_async
from skillmix.run.regrade import Regrader, RunFiles, open_for_regrade, record_grader, regrade_plan
from skillmix.run.store import RunStore
from tests.helpers.configs import run_config, write_config
from tests.helpers.runs import graded, stored
from tests.helpers.wire_servers import ServerHandle, start_server

MODEL, CLAUDE = "openai/gpt-4o-mini", "anthropic/claude-3-5-haiku"
PROVIDERS = {"openai": (MODEL, "/v1"), "anthropic": (CLAUDE, "")}
FAST = {"size": 20, "wait_s": 0.05, "poll_s": 0.02}


@pytest.fixture(autouse=True)
def api_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SKILLMIX_TEST_KEY", "sk-test")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")


def entry(server: ServerHandle, provider: str = "openai", **fields: Any) -> dict[str, Any]:
    model, path = PROVIDERS[provider]
    found: dict[str, Any] = {"model": model, "base_url": server.base_url + path, **fields}
    if provider == "anthropic":
        found["api_key_env"] = "SKILLMIX_TEST_KEY"
    return found


def evaluate(tmp_path: Path, name: str, server: ServerHandle, provider: str, **run: Any) -> Path:
    model = entry(server, provider)
    run_dir = tmp_path / name
    data = run_config(run_dir, seed=3, k=[1, 2], items_per_k=10, students=[model], grader=model)
    path = write_config(tmp_path / f"{name}.yaml", {**data, **run})
    result = CliRunner().invoke(app, ["eval", str(path), "--quiet"])
    assert result.exit_code == 0, result.output
    return run_dir


def batch_stats(server: ServerHandle) -> dict[str, int]:
    found: dict[str, int] = server.stats()["batches"]
    return found


def costs(run_dir: Path) -> dict[str, float]:
    return dict(stored(run_dir, "SELECT key, cost_usd FROM responses"))


def anthropic_client(server: ServerHandle) -> AsyncAnthropic:
    return AsyncAnthropic(api_key="sk-test", base_url=server.base_url, max_retries=0)


def config_of(**run: Any) -> RunConfig:
    return parse_config(run_config(Path("out"), **run), "run.yaml")


def test_a_run_level_batch_reaches_each_entry_that_can_batch_and_sets_none() -> None:
    openai = {"model": MODEL}
    config = config_of(
        students=[
            openai,
            {"model": CLAUDE},
            {"model": "llamacpp/smollm2"},
            {"model": MODEL, "name": "realtime", "batch": False},
            {"model": MODEL, "name": "own", "batch": {"size": 7}},
            {"model": MODEL, "name": "replicas", "base_url": ["http://a.test", "http://b.test"]},
        ],
        grader=openai,
        graders=[{"model": CLAUDE, "name": "second"}],
        batch={"size": 5, "stragglers": "flex", "cancel_done_share": 0.9},
    )
    batched = [s.batch for s in config.students]
    assert batched[0] is not None and batched[0].size == 5 and batched[0].stragglers == "flex"
    assert batched[1] is not None and batched[1].stragglers == "realtime"  # flex is OpenAI's
    assert batched[2] is None and batched[3] is None and batched[5] is None
    assert batched[4] is not None and batched[4].size == 7 and batched[4].stragglers == "realtime"
    assert config.grader.batch == batched[0]
    assert config.graders[0].batch is not None and config.graders[0].batch.size == 5
    assert config_of(students=[openai], batch=True).students[0].batch is not None
    assert config_of(students=[openai], batch=False).students[0].batch is None


def test_bad_batch_settings_name_their_field() -> None:
    with pytest.raises(SkillmixError, match=r"batch\.size.*greater than or equal to 1"):
        config_of(students=[{"model": MODEL}], batch={"size": 0})
    with pytest.raises(SkillmixError, match=r"batch\.cancel_done_share.*less than 1"):
        config_of(students=[{"model": MODEL}], batch={"cancel_done_share": 1})
    with pytest.raises(ValueError, match="flex is OpenAI's tier"):
        ModelEntry.model_validate({"model": CLAUDE, "batch": {"stragglers": "flex"}})


@pytest.fixture
def straggling() -> Iterator[ServerHandle]:
    """Every batch shows all lines but one done for 10,000 polls."""
    with start_server(straggle_polls=10_000) as server:
        yield server


@pytest.mark.parametrize(
    ("provider", "stragglers"),
    [("openai", "flex"), ("openai", "realtime"), ("anthropic", "realtime")],
)
def test_a_nearly_done_batch_is_cancelled_and_its_last_calls_finish_once(
    tmp_path: Path, straggling: ServerHandle, provider: str, stragglers: str
) -> None:
    """Batches of 20 with 19 done are cancelled (cancel_done_share 0.9): the 19 are kept and
    billed at batch prices, the last goes realtime, or on flex at the same price; none is
    paid twice, and the results are a realtime run's."""
    reference = evaluate(tmp_path, "reference", straggling, provider)
    calls = straggling.stats()["completed"]
    settings = {**FAST, "cancel_done_share": 0.9, "stragglers": stragglers}
    run_dir = evaluate(tmp_path, "stragglers", straggling, provider, batch=settings)
    made = batch_stats(straggling)
    late = straggling.stats()["completed"] - calls
    assert made["batches_created"] >= 3 and late >= made["batches_created"]
    assert made["lines_billed"] + late == calls
    assert made["paid_twice"] == 0 and made["billed_twice"] == 0
    assert graded(run_dir) == graded(reference)
    assert straggling.stats()["flex_requests"] == (late if stragglers == "flex" else 0)
    cheap, full = costs(run_dir), costs(reference)
    halved = sum(cheap[key] == pytest.approx(full[key] / 2) for key in full)
    assert halved == (calls if stragglers == "flex" else calls - late)


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_lost_create_is_looked_for_again_while_the_batch_list_lags(
    tmp_path: Path, provider: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two creates' replies lost, each new batch missing from its first two lists: found on
    a later look, not sent again; looking once only sends them again (a duplicate)."""
    with start_server(drop_creates=2, list_lag=2) as server:
        reference = evaluate(tmp_path, "reference", server, provider)
        run_dir = evaluate(tmp_path, "lagging", server, provider, batch=FAST)
        made = batch_stats(server)
        assert made["creates_dropped"] == 2 and made["duplicate_submissions"] == 0
        assert made["billed_twice"] == 0
        assert graded(run_dir) == graded(reference)
    monkeypatch.setattr(batch_module, "LOOKS", 1)
    with start_server(drop_creates=1, list_lag=2) as server:
        evaluate(tmp_path, "hasty", server, provider, batch=FAST)
        assert batch_stats(server)["duplicate_submissions"] > 0


def regrade(run_dir: Path, grader: dict[str, Any]) -> None:
    """A re-grade through the Python API (the CLI's `--batch` takes the default settings,
    whose minute-long waits are too slow for a test)."""
    chosen = ExtraGrader(entry=ModelEntry.model_validate(grader), gradings=1)
    store = open_for_regrade(run_dir)
    try:
        record_grader(store, chosen)
        run_async(Regrader(regrade_plan(store, chosen, RunFiles()), store).run())
    finally:
        store.close()


def test_a_regrade_goes_through_the_batch_api_at_half_the_price(tmp_path: Path) -> None:
    with start_server() as server:
        finished = evaluate(tmp_path, "run", server, "openai")
        own = set(costs(finished))
        copy = tmp_path / "copy"
        shutil.copytree(finished, copy)
        grader = {"model": "openai/gpt-4o", "base_url": server.base_url + "/v1"}
        regrade(finished, grader)
        realtime = server.stats()["completed"]
        regrade(copy, {**grader, "batch": FAST})
        made = batch_stats(server)
        assert server.stats()["completed"] == realtime and made["batches_created"] >= 1
        assert made["lines_billed"] == 20  # one grading of each of the 20 answers
    query = "SELECT grader, item_id, points FROM gradings ORDER BY 1, 2"
    assert stored(copy, query) == stored(finished, query)
    cheap, full = costs(copy), costs(finished)
    assert cheap.keys() == full.keys() and len(full) == len(own) + 20
    assert all(cheap[key] == full[key] for key in own)
    assert all(cheap[key] == pytest.approx(full[key] / 2) for key in full.keys() - own)


def test_regrade_batch_sends_the_grader_s_calls_to_its_batch_api(tmp_path: Path) -> None:
    """`regrade --batch` against a server without a batch API: said once, graded realtime;
    on a grader with no batch API at all, one line naming --grader."""
    with start_server(batch_api=False) as server:
        finished = evaluate(tmp_path, "run", server, "openai")
        url = server.base_url + "/v1"
        command = ["regrade", str(finished), "--grader", "openai/gpt-4o", "--base-url", url]
        result = CliRunner().invoke(app, [*command, "--batch", "--quiet"])
        assert result.exit_code == 0, result.output
        assert server.stats()["requests"]["/v1/batches"] == 1  # asked once
    said = f"openai/gpt-4o@{url}: the endpoint has no batch API; its calls went realtime"
    assert result.output.count(said) == 1, result.output
    assert stored(finished, "SELECT COUNT(*) FROM gradings WHERE grader = 'openai/gpt-4o'") == [
        (20,)
    ]
    failed = CliRunner().invoke(app, ["regrade", str(finished), "--grader", "hf/x", "--batch"])
    assert failed.exit_code != 0 and "--grader" in failed.output
    assert "batch: is for openai/ and anthropic/ models" in failed.output


def test_calibrate_batch_sends_the_grader_s_calls_to_its_batch_api(tmp_path: Path) -> None:
    with start_server(batch_api=False) as server:
        url = server.base_url + "/v1"
        command = ["calibrate", "--grader", "openai/gpt-4o", "--base-url", url, "--batch"]
        result = CliRunner().invoke(app, [*command, "--out", str(tmp_path / "c"), "-q"])
        assert result.exit_code == 0, result.output
        assert server.stats()["requests"]["/v1/batches"] == 1
        assert server.stats()["completed"] == 72  # every labelled answer, realtime
    said = f"openai/gpt-4o@{url}: the endpoint has no batch API; its calls went realtime"
    assert result.output.count(said) == 1, result.output


def test_a_server_without_a_batch_api_is_named_once_at_the_end_of_the_run(
    tmp_path: Path,
) -> None:
    with start_server(batch_api=False) as server:
        model = entry(server, batch=FAST)
        data = run_config(tmp_path / "run", k=[1, 2], items_per_k=3, students=[model])
        path = write_config(tmp_path / "run.yaml", data)
        result = CliRunner().invoke(app, ["eval", str(path), "--quiet"])
    assert result.exit_code == 0, result.output
    said = f"{MODEL}@{server.base_url}/v1: the endpoint has no batch API; its calls went realtime"
    assert result.output.count(said) == 1, result.output


def test_another_client_s_anthropic_batch_is_not_taken_for_a_lost_create() -> None:
    """A message batch has no metadata: a lost create is matched by time and size, and
    confirmed by the custom_ids a candidate answered once it has ended (waiting while one
    runs), so a batch of the same size that someone else made is not taken for it."""
    hello = [{"role": "user", "content": "hi"}]
    body: dict[str, Any] = {"model": "claude-3-5-haiku", "max_tokens": 16, "messages": hello}
    keys = tuple(str(i) * 64 for i in range(3))

    async def look(server: ServerHandle) -> None:
        async with anthropic_client(server) as client:
            await check(AnthropicBatches(client))

    async def check(api: AnthropicBatches) -> None:
        since = time.time()
        theirs = await api.create("other", [api.line(f"theirs-{i}", body) for i in range(3)])
        while not (await api.state(theirs)).ended:  # each retrieve moves it a step
            pass
        assert await api.find("ours", keys, since, set()) is None
        ours = await api.create("ours", [api.line(key, body) for key in keys])
        with pytest.raises(NotYetKnown):  # running: it may be ours, or someone else's
            await api.find("ours", keys, since, set())
        while not (await api.state(ours)).ended:
            pass
        assert await api.find("ours", keys, since, set()) == ours

    with start_server() as server:
        asyncio.run(look(server))


def test_a_flex_call_waits_longer_than_the_entry_s_timeout() -> None:
    """Flex replies come slower: a flex call waits at least FLEX_TIMEOUT_S, where the same
    call on the default tier times out at the entry's 0.3 s."""
    hello: list[ChatMessage] = [{"role": "user", "content": "hi"}]
    request = ModelRequest(messages=hello, params=GenerationParams(), seed=0)

    async def ask(backend: ModelBackend) -> None:
        output = await backend.generate(replace(request, service_tier="flex"))
        assert output.service_tier == "flex" and output.text
        with pytest.raises(openai.APITimeoutError):
            await backend.generate(request)
        await backend.aclose()

    with start_server(latency_ms=600) as server:
        settings = BackendSettings(base_url=server.base_url + "/v1", timeout_s=0.3)
        asyncio.run(ask(create_backend(MODEL, settings)))


def test_two_lost_anthropic_creates_of_one_size_each_find_their_own_batch(tmp_path: Path) -> None:
    """Two jobs of 3 calls whose batches were made but whose ids were never stored (killed
    before the creates returned): while both batches run either could be either job's, so
    each waits, then takes the one that answered its custom_ids. Nothing is sent again."""
    hello = [{"role": "user", "content": "hi"}]
    body: dict[str, Any] = {"model": "claude-3-5-haiku", "max_tokens": 16, "messages": hello}
    jobs = [tuple(f"{name}{i}".ljust(64, "0") for i in range(3)) for name in "ab"]
    store = RunStore(tmp_path)
    ledger = BatchLedger(store)

    async def re_attach(server: ServerHandle) -> list[ModelOutput]:
        async with anthropic_client(server) as client:
            return await made_and_found(AnthropicBatches(client))

    async def made_and_found(api: AnthropicBatches) -> list[ModelOutput]:
        for keys in jobs:
            job = ledger.open_job(CLAUDE, list(keys))
            await api.create(job, [api.line(key, body) for key in keys])
        batcher = Batcher(ledger, CLAUDE, api, BatchSettings(wait_s=0, poll_s=0.01))
        outputs = await asyncio.gather(*(batcher.generate(k, body) for k in jobs[0] + jobs[1]))
        await batcher.aclose()
        return outputs

    with start_server() as server:
        outputs = asyncio.run(re_attach(server))
        made = batch_stats(server)
    assert made["batches_created"] == 2 and made["duplicate_submissions"] == 0
    assert len(outputs) == 6 and all(output.text for output in outputs)
    assert len(ledger.batch_ids(CLAUDE)) == 2
    store.close()
