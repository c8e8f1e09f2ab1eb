"""Every request a run would send, built as the runner builds them, without calling a model.

Turn 1 and its seed are exactly what the run sends. Turn 2 and the grader's requests depend on
the student's replies: they are built with a stand-in reply and answer (marked `stand_in`).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from skillmix.config import ModelEntry
from skillmix.models import ChatMessage, ModelBackend, ModelRequest
from skillmix.protocol.grading import points_schema
from skillmix.protocol.student import turn1_messages, turn2_messages
from skillmix.records import Item
from skillmix.run.calls import Call, derived_seed
from skillmix.run.plan import RunPlan

STAND_IN_REPLY = "[the student's reply to turn 1]"
STAND_IN_ANSWER = "[the student's answer]"


def _row(
    plan: RunPlan,
    entry: ModelEntry,
    backend: ModelBackend,
    call: Call,
    messages: list[ChatMessage],
    schema: dict[str, Any] | None = None,
) -> dict[str, Any]:
    seed = derived_seed(plan.config.seed, call)
    request = ModelRequest(messages=messages, params=entry.params, seed=seed, json_schema=schema)
    return {
        "model": entry.label,
        "item_id": call.item.item_id,
        "gen": call.gen,
        "slot": call.slot,
        "stand_in": call.slot != "turn1",
        "body": backend.wire_body(request),
    }


def student_requests(plan: RunPlan, reply: str = STAND_IN_REPLY) -> Iterator[dict[str, Any]]:
    config = plan.config
    for entry, backend in zip(config.students, plan.student_backends, strict=True):
        for item in plan.items:
            first = turn1_messages(item, plan.catalog, plan.prompts, entry.system_prompt)
            second = turn2_messages(first, reply, item, plan.catalog, plan.prompts)
            for gen in range(config.generations):
                yield _row(plan, entry, backend, Call(item, gen, "turn1"), first)
                yield _row(plan, entry, backend, Call(item, gen, "turn2"), second)


def grader_requests(plan: RunPlan, answer: str = STAND_IN_ANSWER) -> Iterator[dict[str, Any]]:
    """One grader request per item, generation and grading (its first attempt): with a
    stand-in answer, the same for every student."""
    grader, structured = plan.config.grader, plan.structured_grading
    for item in plan.items:
        rubric = plan.rubric(item)
        messages = plan.grader_messages(item, answer, rubric, structured)
        schema = points_schema(rubric) if structured else None
        for call in _grading_calls(plan, item):
            yield _row(plan, grader, plan.grader_backend, call, messages, schema)


def _grading_calls(plan: RunPlan, item: Item) -> Iterator[Call]:
    config = plan.config
    for gen in range(config.generations):
        for r in range(config.gradings):
            yield Call(item, gen, f"grade:{r}:0")
