"""Whole runs on the scripted backend: a student and a grader answered by in-process handlers.

4 items (k = 1 and 2, 2 each, no common skills), G = R = 1: 8 student calls and 4 gradings.
The student answers "Quiet bees work." (one sentence, naming no skill); the grader awards every
criterion except a second skill, so k = 1 scores 1 on every metric and k = 2 scores
full_marks 0, all_skills 0, skill_fraction 1/2.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import skillmix
from skillmix.errors import BackendError
from skillmix.models import BackendSettings, GenerationParams, ModelRequest, create_backend
from skillmix.models.scripted import (
    RateLimited,
    Reply,
    Script,
    ScriptedBackend,
    TransientError,
    register_script,
    scripted,
)
from skillmix.records import GenerationStatus, GradingStatus, message_text
from skillmix.results.build import RunResults
from tests.helpers.configs import model_entry, run_config
from tests.helpers.runs import stored
from tests.helpers.scripts import answering, criteria, reply_of

ANSWER = "Quiet bees work."
STUDENT_CALLS, GRADINGS = 8, 4
FAST_RETRIES = {"retries": 2, "backoff_s": 0.0, "backoff_max_s": 0.0}


student = answering(ANSWER)


def grader(request: ModelRequest) -> str:
    """Every criterion but a second skill."""
    names = criteria(request)
    skills = [name for name in names if name.startswith("Correctly illustrates")]
    return reply_of(request, {name: int(name not in skills[1:]) for name in names})


@pytest.fixture
def scripts() -> Iterator[tuple[Script, Script]]:
    with scripted("student", student) as s, scripted("grader", grader) as g:
        yield s, g


def config(tmp_path: Path, name: str = "run", **fields: Any) -> dict[str, Any]:
    entry: dict[str, Any] = fields.pop("student_entry", {})
    grader_entry: dict[str, Any] = fields.pop("grader_entry", {})
    return run_config(
        tmp_path / name,
        k=[1, 2],
        common_skills="sampling",
        students=[model_entry("scripted/student", **FAST_RETRIES, **entry)],
        grader=model_entry("scripted/grader", **FAST_RETRIES, **grader_entry),
        **fields,
    )


def board(results: RunResults) -> dict[tuple[int, str], tuple[float, int, int, int, int]]:
    frame = skillmix.results_frame(results)
    columns = ["value", "n", "unscored", "failed", "pending"]
    return {
        (int(row.k), str(row.metric)): tuple(row[c] for c in columns) for _, row in frame.iterrows()
    }


EXPECTED = {
    (1, "full_marks"): (1.0, 2, 0, 0, 0),
    (1, "all_skills"): (1.0, 2, 0, 0, 0),
    (1, "skill_fraction"): (1.0, 2, 0, 0, 0),
    (2, "full_marks"): (0.0, 2, 0, 0, 0),
    (2, "all_skills"): (0.0, 2, 0, 0, 0),
    (2, "skill_fraction"): (0.5, 2, 0, 0, 0),
}


@pytest.mark.parametrize("structured", [True, False], ids=["json", "table"])
def test_leaderboard_of_a_scripted_run(
    tmp_path: Path, scripts: tuple[Script, Script], structured: bool
) -> None:
    options = {"supports_json_schema": structured}
    results = skillmix.evaluate(config(tmp_path, grader_entry={"options": options}))
    assert board(results) == EXPECTED
    student_script, grader_script = scripts
    assert len(student_script.requests) == STUDENT_CALLS
    assert len(grader_script.requests) == GRADINGS
    assert all((r.json_schema is not None) is structured for r in grader_script.requests)
    assert {g.answer for g in results.generations} == {ANSWER}


def test_transient_failures_are_retried(tmp_path: Path, scripts: tuple[Script, Script]) -> None:
    """Each call fails once (a rate limit for the student, a dropped call for the grader)."""
    seen: Counter[int] = Counter()

    def flaky(answer: Any, error: Exception) -> Any:
        def handler(request: ModelRequest) -> Reply:
            seen[request.seed] += 1
            return error if seen[request.seed] == 1 else answer(request)

        return handler

    s = register_script("student", flaky(student, RateLimited(wait_s=0.0)))
    g = register_script("grader", flaky(grader, TransientError("connection reset")))
    results = skillmix.evaluate(config(tmp_path))
    assert board(results) == EXPECTED
    assert len(s.requests) == 2 * STUDENT_CALLS and len(g.requests) == 2 * GRADINGS
    assert set(seen.values()) == {2}


def test_a_failed_call_fails_its_item_and_the_run_goes_on(
    tmp_path: Path, scripts: tuple[Script, Script]
) -> None:
    failed: list[int] = []

    def failing_once(request: ModelRequest) -> Reply:
        if not failed:
            failed.append(request.seed)
            return BackendError("the model refused")
        return student(request)

    s = register_script("student", failing_once)
    results = skillmix.evaluate(config(tmp_path))
    statuses = Counter(g.status for g in results.generations)
    assert statuses == {GenerationStatus.FAILED: 1, GenerationStatus.OK: 3}
    [reason] = [g.reason for g in results.generations if g.status == GenerationStatus.FAILED]
    assert reason == "BackendError: the model refused"
    assert [r.seed for r in s.requests].count(failed[0]) == 1  # not retried
    assert len(s.requests) == STUDENT_CALLS - 1  # the failed item has no turn 2
    assert sum(row[3] for row in board(results).values()) == 3  # 3 metrics of one k
    assert len(results.gradings) == 3


def test_unparseable_grader_replies_are_reasked_then_stored_unscored(
    tmp_path: Path, scripts: tuple[Script, Script]
) -> None:
    """k = 1: garbage once, then points (scored at attempt 2); k = 2: garbage every time."""
    asked: Counter[str] = Counter()

    def confused(request: ModelRequest) -> Reply:
        prompt = message_text(request.messages[-1])
        asked[prompt] += 1
        two_skills = sum(c.startswith("Correctly") for c in criteria(request)) == 2
        return "I would rather not." if two_skills or asked[prompt] == 1 else grader(request)

    g = register_script("grader", confused)
    results = skillmix.evaluate(config(tmp_path, grader_retries=2))
    by_k = {item.item_id: item.k for item in results.items}
    attempts = sorted((by_k[r.item_id], r.status, r.attempts) for r in results.gradings)
    scored, unscored = GradingStatus.SCORED, GradingStatus.UNSCORED
    assert attempts == [(1, scored, 2), (1, scored, 2), (2, unscored, 3), (2, unscored, 3)]
    assert len(g.requests) == 2 * 2 + 2 * 3
    assert board(results)[(2, "full_marks")] == (0.0, 2, 2, 0, 0)  # counted at 0, unscored 2
    assert board(results)[(1, "full_marks")] == EXPECTED[(1, "full_marks")]


def test_budget_stops_new_calls_and_a_larger_budget_finishes_without_repeats(
    tmp_path: Path, scripts: tuple[Script, Script]
) -> None:
    student_script, _ = scripts
    # $1 per output token; a reply of 3 or 4 words (tokens, here) within max_tokens 8
    prices = {"scripted/student": {"input": 0.0, "output": 1e6}}
    bounded = {"params": {"max_tokens": 8}}
    first = skillmix.evaluate(
        config(tmp_path, prices=prices, budget_usd=10.0, student_entry=bounded)
    )
    made = len(student_script.requests)
    assert 0 < made < STUDENT_CALLS
    assert sum(row[4] for key, row in board(first).items() if key[1] == "full_marks") > 0
    run_dir = tmp_path / "run"
    spent_before_each_start = stored(
        run_dir,
        "SELECT (SELECT COALESCE(SUM(cost_usd), 0) FROM responses WHERE created < c.started) "
        "FROM calls c",
    )
    assert max(spent for (spent,) in spent_before_each_start) < 10.0

    student_script.requests.clear()
    second = skillmix.evaluate(
        config(tmp_path, prices=prices, budget_usd=1000.0, student_entry=bounded)
    )
    assert board(second) == EXPECTED
    assert len(student_script.requests) == STUDENT_CALLS - made
    calls = stored(run_dir, "SELECT key, COUNT(*) FROM calls GROUP BY key")
    assert len(calls) == STUDENT_CALLS + GRADINGS
    assert {count for _, count in calls} == {1}  # no call made twice


def test_a_second_evaluate_calls_no_handler(tmp_path: Path, scripts: tuple[Script, Script]) -> None:
    student_script, grader_script = scripts
    first = skillmix.evaluate(config(tmp_path))
    again = skillmix.evaluate(config(tmp_path))
    assert len(student_script.requests) == STUDENT_CALLS
    assert len(grader_script.requests) == GRADINGS
    assert board(again) == board(first) == EXPECTED


def test_async_handlers_and_options(scripts: tuple[Script, Script]) -> None:
    async def later(request: ModelRequest) -> Reply:
        await asyncio.sleep(0)
        return "later"

    settings = BackendSettings(options={"supports_json_schema": False, "concurrency": 3})
    with scripted("async", later) as script:
        backend = create_backend("scripted/async", settings)
        assert isinstance(backend, ScriptedBackend)
        request = ModelRequest([{"role": "user", "content": "a b c"}], GenerationParams(), 0)
        output = asyncio.run(backend.generate(request))
    assert (output.text, output.usage.input_tokens, output.usage.output_tokens) == ("later", 3, 1)
    assert script.requests == [request]
    assert backend.resolved_model == "scripted:async"
    assert not backend.supports_json_schema and backend.concurrency == 3
