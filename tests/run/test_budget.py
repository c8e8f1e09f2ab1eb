"""budget_usd bounds what is spent: each call reserves its cost bound before it starts, so the
run overshoots by at most what the calls in flight spend beyond their bounds."""

from __future__ import annotations

from pathlib import Path

import pytest

import skillmix
from tests.helpers.configs import model_entry, run_config
from tests.helpers.runs import stored
from tests.helpers.wire_servers import running_server

CONCURRENCY = 8
MAX_TOKENS = 100
PRICE_PER_OUTPUT_TOKEN = 1e-3  # $1000 per million output tokens, input free: a call <= $0.10


@pytest.mark.parametrize("budget", [0.35, 1.0, 2.5])
def test_sixty_items_at_concurrency_eight_stay_within_budget(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, budget: float
) -> None:
    monkeypatch.setenv("SKILLMIX_TEST_KEY", "test")
    with running_server(latency_ms=40) as server:
        entry = model_entry(
            "openai/gpt-4o-mini",
            base_url=f"{server.base_url}/v1",
            api_key_env="SKILLMIX_TEST_KEY",
            max_concurrency=CONCURRENCY,
            params={"max_tokens": MAX_TOKENS},
        )
        config = run_config(
            tmp_path / "run",
            items_per_k=60,
            students=[entry],
            grader=entry,
            structured_grading=False,
            prices={"openai/gpt-4o-mini": {"input": 0, "output": PRICE_PER_OUTPUT_TOKEN * 1e6}},
            budget_usd=budget,
        )
        skillmix.evaluate(config)
    costs = [cost for (cost,) in stored(tmp_path / "run", "SELECT cost_usd FROM responses")]
    spent = sum(costs)
    bound = MAX_TOKENS * PRICE_PER_OUTPUT_TOKEN
    assert max(costs) <= bound  # the bound holds for each call ...
    assert spent <= budget  # ... so the run stays within budget
    assert spent > budget - CONCURRENCY * bound  # and it used the budget, not stopped early
    calls = stored(tmp_path / "run", "SELECT COUNT(*), COUNT(DISTINCT key) FROM calls")[0]
    assert calls[0] == calls[1] == len(costs)  # nothing asked twice, nothing unpaid
