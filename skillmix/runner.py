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
from skillmix.grader import GradingPolicy, final_points, grader_messages, points_schema
from skillmix.models import ModelBackend, ModelOutput, ModelRequest
from skillmix.plan import RunPlan
from skillmix.rubric import UnparseableReply, build_rubric, parse_reply
from skillmix.sampler import Item
from skillmix.store import GenerationRecord, GradingRecord, RunStore
from skillmix.student import extract_answer, turn1_messages, turn2_messages


@dataclass
class RunStats:
    """Live counters for the progress display."""

    total: int = 0
    done: int = 0
    in_flight: int = 0
    calls: int = 0
    cached: int = 0
    retries: int = 0
    unscored: int = 0
    failed: int = 0
    tokens: int = 0


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


@dataclass
class Runner:
    plan: RunPlan
    store: RunStore
    stats: RunStats = field(default_factory=RunStats)
    limits: dict[int, asyncio.Semaphore] = field(default_factory=dict)

    def __post_init__(self) -> None:
        config = self.plan.config
        self.policy = GradingPolicy(config.sentence_splitter, config.naming_penalty)
        grader = self.plan.grader_backend
        self.structured = (
            grader.supports_json_schema
            if config.structured_grading is None
            else config.structured_grading
        )
        entries = [*config.students, config.grader]
        backends = [*self.plan.student_backends, grader]
        sizes: dict[int, int] = {}
        for entry, backend in zip(entries, backends, strict=True):
            limit = entry.max_concurrency or backend.default_concurrency
            sizes[id(backend)] = min(limit, sizes.get(id(backend), limit))
        self.limits = {key: asyncio.Semaphore(size) for key, size in sizes.items()}

    async def call(
        self, entry: ModelEntry, backend: ModelBackend, request: ModelRequest, call: Call
    ) -> tuple[str, ModelOutput]:
        key = content_key(entry, backend, request, call)
        stored = self.store.get_response(key)
        if stored is not None:
            self.stats.cached += 1
            return key, stored
        async with self.limits[id(backend)]:
            self.store.log_call(key)
            self.stats.in_flight += 1
            started = time.perf_counter()
            try:
                output = await backend.generate(request)
            finally:
                self.stats.in_flight -= 1
        self.store.put_response(
            key,
            backend=backend.prefix,
            model=entry.model,
            resolved_model=backend.resolved_model,
            base_url=backend.base_url,
            request=request.as_dict(),
            output=output,
            latency_s=time.perf_counter() - started,
        )
        self.stats.calls += 1
        self.stats.tokens += output.usage.input_tokens + output.usage.output_tokens
        return key, output

    def request(
        self, entry: ModelEntry, messages: Any, call: Call, schema: dict[str, Any] | None = None
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
        await asyncio.gather(*tasks)
        return self.stats

    async def generation(
        self, student: ModelEntry, backend: ModelBackend, item: Item, gen: int
    ) -> None:
        plan = self.plan
        record = GenerationRecord(student=student.label, item_id=item.item_id, gen=gen, status="ok")
        try:
            messages = turn1_messages(item, plan.catalog, plan.prompts, student.system_prompt)
            call1 = Call(item, gen, "turn1")
            record.turn1_key, reply1 = await self.call(
                student, backend, self.request(student, messages, call1), call1
            )
            messages = turn2_messages(messages, reply1.text, item, plan.catalog, plan.prompts)
            call2 = Call(item, gen, "turn2")
            record.turn2_key, reply2 = await self.call(
                student, backend, self.request(student, messages, call2), call2
            )
        except Exception as exc:  # a failed call is recorded against the item; the run goes on
            record.status, record.reason = "failed", f"{type(exc).__name__}: {exc}"
            self.stats.failed += 1
        else:
            record.answer = extract_answer(reply2.text)
            record.status = "ok" if record.answer else "empty"
        self.store.put_generation(record)
        if record.status != "failed":
            await asyncio.gather(
                *(
                    self.grade(student.label, item, gen, record.answer or "", r)
                    for r in range(plan.config.gradings)
                )
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
        for attempt in range(self.plan.config.grader_retries + 1):
            call = Call(item, gen, f"grade:{r}:{attempt}")
            record.attempts = attempt + 1
            try:
                record.response_key, reply = await self.call(
                    grader,
                    self.plan.grader_backend,
                    self.request(grader, messages, call, schema),
                    call,
                )
            except Exception as exc:
                record.status, record.reason = "failed", f"{type(exc).__name__}: {exc}"
                self.stats.failed += 1
                break
            record.reply = reply.text
            try:
                record.grader_points = parse_reply(reply.text, rubric)
            except UnparseableReply as exc:
                record.status, record.reason = "unscored", str(exc)
                self.stats.retries += attempt < self.plan.config.grader_retries
                continue
            record.status, record.reason = "scored", None
            record.points = final_points(record.grader_points, rubric, answer, self.policy)
            break
        if record.status == "unscored":
            self.stats.unscored += 1
        self.store.put_grading(record)
