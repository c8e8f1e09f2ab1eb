"""A model entry whose base_url lists several endpoints of one deployment: calls spread over
them by fewest in flight, an endpoint that fails is rested while the run goes on, and since
the cache key names the deployment, not an endpoint, a finished run moved to other replicas
asks nothing again. The loopback servers answer from the request body alone, so any replica
gives the same reply and the results must equal a one-server run's."""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from typer.testing import CliRunner

from skillmix.cli import app
from skillmix.config import ModelEntry
from skillmix.errors import SkillmixError
from skillmix.models import create_backend
from skillmix.models.replicas import ReplicaBackend
from tests.helpers.configs import run_config, write_config
from tests.helpers.runs import results, start_eval, stored, wait_for_responses
from tests.helpers.wire_servers import ServerHandle, start_server

DEAD = "http://127.0.0.1:9"  # the discard port: connection refused
PER_REPLICA = 2


@pytest.fixture(scope="module")
def servers() -> Iterator[list[ServerHandle]]:
    handles = [start_server(latency_ms=20) for _ in range(3)]
    try:
        yield handles
    finally:
        for handle in handles:
            handle.stop()


def entry(urls: list[str] | str, **fields: Any) -> dict[str, Any]:
    return {
        "model": "openai/gpt-4o-mini",
        "base_url": urls,
        "max_concurrency": PER_REPLICA,
        "api_key_env": "SKILLMIX_TEST_KEY",
        "backoff_s": 0.01,
        "backoff_max_s": 0.05,
        **fields,
    }


def config(run_dir: Path, urls: list[str] | str) -> dict[str, Any]:
    model = entry(urls)
    return run_config(
        run_dir, seed=5, k=[1, 2], items_per_k=6, generations=2, students=[model], grader=model
    )


def urls(handles: list[ServerHandle]) -> list[str]:
    return [f"{h.base_url}/v1" for h in handles]


def evaluate(path: Path) -> None:
    result = CliRunner().invoke(app, ["eval", str(path), "--quiet"])
    assert result.exit_code == 0, result.output


def served(run_dir: Path) -> Counter[str]:
    return Counter(url for (url,) in stored(run_dir, "SELECT base_url FROM responses"))


@pytest.fixture(scope="module")
def single(servers: list[ServerHandle], tmp_path_factory: pytest.TempPathFactory) -> Path:
    os.environ.setdefault("SKILLMIX_TEST_KEY", "test")
    folder = tmp_path_factory.mktemp("single")
    evaluate(write_config(folder / "run.yaml", config(folder / "run", urls(servers)[0])))
    return folder / "run"


@pytest.fixture(scope="module")
def spread(servers: list[ServerHandle], tmp_path_factory: pytest.TempPathFactory) -> Path:
    os.environ.setdefault("SKILLMIX_TEST_KEY", "test")
    folder = tmp_path_factory.mktemp("spread")
    evaluate(write_config(folder / "run.yaml", config(folder / "run", urls(servers))))
    return folder / "run"


def test_calls_spread_over_the_replicas_and_results_equal_one_server(
    spread: Path, single: Path, servers: list[ServerHandle]
) -> None:
    counts = served(spread)
    assert set(counts) == set(urls(servers))  # each response names the endpoint that served it
    total = sum(counts.values())
    assert all(n >= total / 6 for n in counts.values()), counts  # fewest in flight spreads them
    pd.testing.assert_frame_equal(results(spread), results(single))


def test_a_finished_run_moved_to_other_replicas_asks_nothing(spread: Path, tmp_path: Path) -> None:
    others = [start_server(), start_server()]
    try:
        moved = write_config(tmp_path / "moved.yaml", config(spread, urls(others)))
        evaluate(moved)
        assert [h.stats()["requests_total"] for h in others] == [0, 0]
    finally:
        for handle in others:
            handle.stop()


def test_a_dead_replica_is_rested_and_the_run_completes(
    servers: list[ServerHandle], single: Path, tmp_path: Path
) -> None:
    path = write_config(tmp_path / "run.yaml", config(tmp_path / "run", [*urls(servers[:2]), DEAD]))
    evaluate(path)
    counts = served(tmp_path / "run")
    assert f"{DEAD}" not in counts and len(counts) == 2
    pd.testing.assert_frame_equal(results(tmp_path / "run"), results(single))


def test_a_replica_stopped_mid_run_leaves_the_run_to_the_others(
    single: Path, tmp_path: Path
) -> None:
    handles = [start_server(latency_ms=20) for _ in range(3)]
    try:
        path = write_config(tmp_path / "run.yaml", config(tmp_path / "run", urls(handles)))
        process = start_eval(path, env={**os.environ, "SKILLMIX_TEST_KEY": "test"})
        wait_for_responses(process, tmp_path / "run", 10)
        handles[1].stop()  # one replica goes away while calls are in flight
        assert process.wait(timeout=300) == 0
    finally:
        for handle in handles:
            handle.stop()
    pd.testing.assert_frame_equal(results(tmp_path / "run"), results(single))


def test_replica_urls_are_checked() -> None:
    with pytest.raises(ValueError, match="listed twice"):
        ModelEntry(model="openai/m", base_url=["http://127.0.0.1:1/v1"] * 2)
    with pytest.raises(ValueError, match="at least one URL"):
        ModelEntry(model="openai/m", base_url=[])
    with pytest.raises(ValueError, match="http:// or https://"):
        ModelEntry(model="openai/m", base_url=["http://127.0.0.1:1/v1", "ftp://x"])


def test_the_cache_key_names_the_deployment_not_an_endpoint() -> None:
    os.environ.setdefault("SKILLMIX_TEST_KEY", "test")
    first = ModelEntry(**entry(["http://127.0.0.1:1/v1", "http://127.0.0.1:2/v1"]))
    named = ModelEntry(**entry(["http://127.0.0.1:3/v1"], deployment="llama-70b"))
    backends = [create_backend(e.model, e.settings) for e in (first, named)]
    assert all(isinstance(b, ReplicaBackend) for b in backends)
    assert [b.base_url for b in backends] == [
        "deployment:openai/gpt-4o-mini",
        "deployment:llama-70b",
    ]
    assert backends[0].concurrency == 2 * PER_REPLICA  # each endpoint its own limit


def test_replicas_of_an_in_process_model_are_refused() -> None:
    local = ModelEntry(model="llamacpp/smollm2", base_url=["http://127.0.0.1:1/v1"])
    with pytest.raises(SkillmixError, match="runs in process"):
        create_backend(local.model, local.settings)
