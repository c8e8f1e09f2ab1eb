"""Runs a plan: student turns, gradings, all through the store, a bounded number in flight.

Rerunning the same plan walks the same steps; every call whose response is stored is
answered from the store, so a killed run resumes where it stopped.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from dataclasses import dataclass, field
from typing import Any

from skillmix.config import ModelEntry
from skillmix.costs import BudgetReached, PriceTable
from skillmix.grader import GradingPolicy, final_points, grader_messages, points_schema
from skillmix.models import ChatMessage, ModelBackend, ModelOutput, ModelRequest, RetryAdvice
from skillmix.models.limits import AdaptiveLimiter
from skillmix.models.retry import generate_with_retries
from skillmix.plan import RunPlan
from skillmix.rubric import UnparseableReply, build_rubric, parse_reply
from skillmix.sampler import Item
from skillmix.store import GenerationRecord, GradingRecord, RunStore, Spend
from skillmix.student import extract_answer, turn1_messages, turn2_messages


@dataclass
class RunStats:
    """Live counters for the progress display."""

    total: int = 0
    done: int = 0
    in_flight: int = 0
    calls: int = 0
    cached: int = 0
    retries: int = 0  # transport retries (rate limits, 5xx, timeouts)
    reasks: int = 0  # grader re-asks after unparseable replies
    unscored: int = 0
    failed: int = 0
    tokens: int = 0
    spent_usd: float = 0.0
    budget_reached: bool = False
    concurrency: dict[str, int] = field(default_factory=dict)


class CallFailed(Exception):
    """A model call failed for good (after retries); recorded against its item."""

    def __init__(self, error: Exception):
        super().__init__(f"{type(error).__name__}: {error}")


@dataclass(frozen=True)
class Call:
    """Where a request sits in the protocol; part of its content key."""

    item: Item
    gen: int
    slot: str  # "turn1", "turn2", "grade:<r>:<attempt>"


def derived_seed(run_seed: int, call: Call) -> int:
    text = f"skillmix-request|{run_seed}|{call.item.item_id}|{call.gen}|{call.slot}"
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:4], "big") >> 1


def content_key(entry: ModelEntry, backend: ModelBackend, request: ModelRequest, call: Call) -> str:
    payload = {
        "backend": backend.prefix,
        "model": entry.model,
        "resolved_model": backend.resolved_model,
        "base_url": backend.base_url,
        "request": request.as_dict(),
        "item": call.item.item_id,
        "gen": call.gen,
        "slot": call.slot,
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


class Runner:
    def __init__(self, plan: RunPlan, store: RunStore):
        self.plan = plan
        self.store = store
        self.stats = RunStats(spent_usd=store.spent_usd())
        config = plan.config
        self.prices = PriceTable.with_overrides(config.prices)
        self.policy = GradingPolicy(config.sentence_splitter, config.naming_penalty)
        grader = plan.grader_backend
        supported = grader.supports_json_schema
        self.structured = (
            supported if config.structured_grading is None else config.structured_grading
        )
        self.limiters: dict[int, AdaptiveLimiter] = {}
        for entry, backend in self.entries():
            ceiling = entry.max_concurrency or backend.default_concurrency
            known = self.limiters.get(id(backend))
            if known is None or ceiling < known.ceiling:
                self.limiters[id(backend)] = AdaptiveLimiter(ceiling)

    def entries(self) -> list[tuple[ModelEntry, ModelBackend]]:
        config = self.plan.config
        students = list(zip(config.students, self.plan.student_backends, strict=True))
        return [*students, (config.grader, self.plan.grader_backend)]

    def concurrency(self) -> dict[str, int]:
        return {
            entry.label: self.limiters[id(backend)].current for entry, backend in self.entries()
        }

    def _check_budget(self) -> None:
        budget = self.plan.config.budget_usd
        if budget is not None and self.stats.spent_usd >= budget:
            self.stats.budget_reached = True
            raise BudgetReached(f"spent ${self.stats.spent_usd:.4f} of budget_usd ${budget:.4f}")

    async def call(
        self,
        entry: ModelEntry,
        backend: ModelBackend,
        request: ModelRequest,
        call: Call,
        spend: Spend,
    ) -> tuple[str, ModelOutput]:
        """The response to a request: from the store, or from the model and then stored."""
        key = content_key(entry, backend, request, call)
        found = self.store.get_response(key)
        if found is not None:
            output, cost = found
            self.stats.cached += 1
            spend.add(output.usage, cost)
            return key, output
        self._check_budget()
        started = time.perf_counter()
        self.stats.in_flight += 1
        try:
            output = await generate_with_retries(
                backend,
                request,
                limiter=self.limiters[id(backend)],
                policy=entry.retry_policy,
                on_attempt=lambda: self.store.log_call(key),
                on_retry=self._count_retry,
            )
        except backend.failure_types as exc:
            raise CallFailed(exc) from exc
        finally:
            self.stats.in_flight -= 1
        cost = self.prices.cost(entry.model, output.usage)
        self.store.put_response(
            key,
            backend=backend.prefix,
            model=entry.model,
            resolved_model=backend.resolved_model,
            base_url=backend.base_url,
            request=request.as_dict(),
            output=output,
            cost_usd=cost,
            latency_s=time.perf_counter() - started,
        )  # committed (autocommit) before the response is used
        self.stats.calls += 1
        self.stats.tokens += output.usage.input_tokens + output.usage.output_tokens
        self.stats.spent_usd += cost or 0.0
        spend.add(output.usage, cost)
        return key, output

    def _count_retry(self, advice: RetryAdvice) -> None:
        self.stats.retries += 1

    def request(
        self,
        entry: ModelEntry,
        messages: list[ChatMessage],
        call: Call,
        schema: dict[str, Any] | None = None,
    ) -> ModelRequest:
        seed = derived_seed(self.plan.config.seed, call)
        return ModelRequest(messages=messages, params=entry.params, seed=seed, json_schema=schema)

    async def run(self) -> RunStats:
        config = self.plan.config
        tasks = [
            self.generation(student, backend, item, gen)
            for student, backend in zip(config.students, self.plan.student_backends, strict=True)
            for item in self.plan.items
            for gen in range(config.generations)
        ]
        self.stats.total = len(tasks)
        try:
            await asyncio.gather(*tasks)
        finally:
            for backend in {id(b): b for _, b in self.entries()}.values():
                await backend.aclose()
        return self.stats

    async def generation(
        self, student: ModelEntry, backend: ModelBackend, item: Item, gen: int
    ) -> None:
        plan = self.plan
        record = GenerationRecord(student=student.label, item_id=item.item_id, gen=gen, status="ok")
        try:
            messages = turn1_messages(item, plan.catalog, plan.prompts, student.system_prompt)
            call = Call(item, gen, "turn1")
            request = self.request(student, messages, call)
            record.turn1_key, reply1 = await self.call(student, backend, request, call, record)
            messages = turn2_messages(messages, reply1.text, item, plan.catalog, plan.prompts)
            call = Call(item, gen, "turn2")
            request = self.request(student, messages, call)
            record.turn2_key, reply2 = await self.call(student, backend, request, call, record)
        except BudgetReached:
            return  # left pending: a rerun with a larger budget carries on from here
        except CallFailed as exc:  # recorded against the item; the run goes on
            record.status, record.reason = "failed", str(exc)
            self.stats.failed += 1
        else:
            record.answer = extract_answer(reply2.text)
            record.status = "ok" if record.answer else "empty"
        self.store.put_generation(record)
        if record.status != "failed":
            answer = record.answer or ""
            gradings = range(plan.config.gradings)
            await asyncio.gather(
                *(self.grade(student.label, item, gen, answer, r) for r in gradings)
            )
        self.stats.done += 1

    async def grade(self, student: str, item: Item, gen: int, answer: str, r: int) -> None:
        grader = self.plan.config.grader
        rubric = build_rubric(item.skills, item.topic)
        record = GradingRecord(
            student=student,
            item_id=item.item_id,
            gen=gen,
            grader=grader.label,
            grading=r,
            status="scored",
        )
        if not answer:  # an empty answer is the student's failure: no point, no grader call
            record.points = {i.key: 0 for i in rubric}
            record.reason, record.attempts = "empty answer", 0
            self.store.put_grading(record)
            return
        messages = grader_messages(
            item,
            self.plan.catalog,
            answer,
            rubric,
            self.plan.prompts,
            system_prompt=grader.system_prompt,
            structured=self.structured,
        )
        schema = points_schema(rubric) if self.structured else None
        retries = self.plan.config.grader_retries
        for attempt in range(retries + 1):
            call = Call(item, gen, f"grade:{r}:{attempt}")
            record.attempts = attempt + 1
            request = self.request(grader, messages, call, schema)
            try:
                record.response_key, reply = await self.call(
                    grader, self.plan.grader_backend, request, call, record
                )
            except BudgetReached:
                return
            except CallFailed as exc:
                record.status, record.reason = "failed", str(exc)
                self.stats.failed += 1
                break
            record.reply = reply.text
            try:
                record.grader_points = parse_reply(reply.text, rubric)
            except UnparseableReply as exc:
                record.status, record.reason = "unscored", str(exc)
                self.stats.reasks += attempt < retries
                continue
            record.status, record.reason = "scored", None
            record.points = final_points(record.grader_points, rubric, answer, self.policy)
            break
        if record.status == "unscored":
            self.stats.unscored += 1
        self.store.put_grading(record)
