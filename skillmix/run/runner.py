"""Runs a plan: student turns, gradings, all through the store, a bounded number in flight.

Rerunning the same plan walks the same steps; every call whose response is stored is
answered from the store, so a killed run resumes where it stopped.
"""

from __future__ import annotations

import asyncio
from functools import partial
from typing import Any

from skillmix.config import ModelEntry
from skillmix.errors import BudgetReached, CallFailed, Interrupted
from skillmix.models import ChatMessage, ModelBackend, ModelRequest
from skillmix.models.prices import PriceTable
from skillmix.protocol.grading import (
    GradingPolicy,
    ReplyScore,
    is_empty_answer,
    points_schema,
    score_reply,
)
from skillmix.protocol.student import turn1_messages, turn2_messages
from skillmix.records import (
    GenerationRecord,
    GenerationStatus,
    GradingRecord,
    GradingStatus,
    Item,
)
from skillmix.run.calls import Call, RunStats, StoredCalls, derived_seed
from skillmix.run.feed import run_bounded, worker_count
from skillmix.run.plan import RunPlan
from skillmix.run.store import RunStore


class Runner:
    def __init__(self, plan: RunPlan, store: RunStore):
        self.plan = plan
        self.store = store
        config = plan.config
        self.policy = GradingPolicy(config.sentence_splitter, config.naming_penalty)
        self.structured = plan.structured_grading
        backends = [backend for _, backend in self.entries()]
        unique = list({id(b): b for b in backends}.values())
        batched = [(entry, backend) for entry, backend in self.entries() if entry.batch]
        prices = PriceTable.with_overrides(config.prices)
        self.calls = StoredCalls(store, prices, config.budget_usd, unique, batched)

    @property
    def stats(self) -> RunStats:
        return self.calls.stats

    def entries(self) -> list[tuple[ModelEntry, ModelBackend]]:
        config = self.plan.config
        students = list(zip(config.students, self.plan.student_backends, strict=True))
        return [*students, (config.grader, self.plan.grader_backend)]

    def concurrency(self) -> dict[str, int]:
        limiters = self.calls.limiters
        return {entry.label: limiters[id(backend)].current for entry, backend in self.entries()}

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
        students = list(zip(config.students, self.plan.student_backends, strict=True))
        jobs = (
            partial(self.generation, student, backend, item, gen)
            for student, backend in students
            for item in self.plan.items
            for gen in range(config.generations)
        )
        self.stats.total = len(students) * len(self.plan.items) * config.generations
        slots = self.calls.slots()
        try:
            await run_bounded(jobs, worker_count(slots, self.stats.total))
        finally:
            await self.calls.aclose_batchers()
            for backend in {id(b): b for _, b in self.entries()}.values():
                await backend.aclose()
            self.store.flush()  # the records written since the last response
        return self.stats

    async def generation(
        self, student: ModelEntry, backend: ModelBackend, item: Item, gen: int
    ) -> None:
        plan = self.plan
        record = GenerationRecord(
            student=student.label, item_id=item.item_id, gen=gen, status=GenerationStatus.OK
        )
        try:
            messages = turn1_messages(item, plan.catalog, plan.prompts, student.system_prompt)
            call = Call(item, gen, "turn1")
            request = self.request(student, messages, call)
            record.turn1_key, reply1 = await self.calls.call(
                student, backend, request, call, record
            )
            messages = turn2_messages(messages, reply1.text, item, plan.catalog, plan.prompts)
            call = Call(item, gen, "turn2")
            request = self.request(student, messages, call)
            record.turn2_key, reply2 = await self.calls.call(
                student, backend, request, call, record
            )
        except (BudgetReached, Interrupted):
            return  # left pending: a rerun (with a larger budget) carries on from here
        except CallFailed as exc:  # recorded against the item; the run goes on
            record.status, record.reason = GenerationStatus.FAILED, str(exc)
            self.stats.failed += 1
        else:
            record.answer = self.plan.extract_answer(reply2.text)
            empty = is_empty_answer(record.answer)
            record.status = GenerationStatus.EMPTY if empty else GenerationStatus.OK
        self.store.put_generation(record)
        if record.status != GenerationStatus.FAILED:
            answer = record.answer or ""
            gradings = range(plan.config.gradings)
            await asyncio.gather(
                *(self.grade(student.label, item, gen, answer, r) for r in gradings)
            )
        self.stats.done += 1

    async def grade(self, student: str, item: Item, gen: int, answer: str, r: int) -> None:
        """Grading r of an answer: asked again while the reply cannot be read, then stored."""
        grader = self.plan.config.grader
        rubric = self.plan.rubric(item)
        record = GradingRecord(
            student=student,
            item_id=item.item_id,
            gen=gen,
            grader=grader.label,
            grading=r,
            status=GradingStatus.SCORED,
        )
        if is_empty_answer(answer):  # the student's failure: no point, no grader call
            apply_score(record, score_reply(None, rubric, answer, self.policy))
            record.attempts = 0
            self.store.put_grading(record)
            return
        messages = self.plan.grader_messages(item, answer, rubric, self.structured)
        schema = points_schema(rubric) if self.structured else None
        retries = self.plan.config.grader_retries
        for attempt in range(retries + 1):
            call = Call(item, gen, f"grade:{r}:{attempt}")
            record.attempts = attempt + 1
            request = self.request(grader, messages, call, schema)
            try:
                record.response_key, reply = await self.calls.call(
                    grader, self.plan.grader_backend, request, call, record
                )
            except (BudgetReached, Interrupted):
                return
            except CallFailed as exc:
                record.status, record.reason = GradingStatus.FAILED, str(exc)
                self.stats.failed += 1
                break
            record.reply = reply.text
            apply_score(record, score_reply(reply.text, rubric, answer, self.policy))
            if record.status == GradingStatus.SCORED:
                break
            self.stats.reasks += attempt < retries
        if record.status == GradingStatus.UNSCORED:
            self.stats.unscored += 1
        self.store.put_grading(record)


def apply_score(record: GradingRecord, score: ReplyScore) -> None:
    record.status, record.reason = score.status, score.reason
    record.points, record.grader_points = score.points, score.grader_points
