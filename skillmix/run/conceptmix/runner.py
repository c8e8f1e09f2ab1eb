"""Runs a ConceptMix plan: each item is written (when the run writes its items), each model
draws its images, then the grader answers each question about each image, one call per
question, all through the store.

Rerunning walks the same steps and every stored call is answered from the store, so a killed
run resumes where it stopped and ends with the results of an uninterrupted one."""

from __future__ import annotations

import asyncio
import json
from functools import partial

from skillmix.config import ModelEntry
from skillmix.errors import BudgetReached, CallFailed, Interrupted, SkillmixError
from skillmix.models import ModelBackend, ModelRequest
from skillmix.models.images import image_part, image_size
from skillmix.models.prices import PriceTable
from skillmix.protocol.conceptmix.grading import p_yes, question_messages, verdict_of
from skillmix.protocol.conceptmix.official_items import write_official_items
from skillmix.records import (
    ChatMessage,
    ConceptItem,
    ImagePart,
    ImageRecord,
    ImageStatus,
    VerdictRecord,
    VerdictStatus,
)
from skillmix.run.calls import Call, RunStats, StoredCalls, derived_seed
from skillmix.run.conceptmix.plan import ConceptPlan
from skillmix.run.conceptmix.store import ConceptStore
from skillmix.run.conceptmix.writing import ItemWriter
from skillmix.run.feed import Job, run_bounded, worker_count

ITEMS_DIR = "items"  # the written items, in the official format: a run can replay them


class ConceptRunner:
    def __init__(self, plan: ConceptPlan, concepts: ConceptStore):
        self.plan = plan
        self.concepts = concepts
        prices = PriceTable.with_overrides(plan.config.prices)
        budget = plan.config.budget_usd
        batched = [(entry, backend) for entry, backend in self.entries() if entry.batch]
        self.calls = StoredCalls(concepts.store, prices, budget, plan.backends, batched)
        self.writer = None if plan.writer is None else ItemWriter(plan, plan.writer, self.calls)

    @property
    def stats(self) -> RunStats:
        return self.calls.stats

    def entries(self) -> list[tuple[ModelEntry, ModelBackend]]:
        config = self.plan.config
        models = list(zip(config.models, self.plan.model_backends, strict=True))
        writer = self.plan.writer
        written = [(writer.entry, writer.backend)] if writer else []
        return [*models, (config.grader, self.plan.grader_backend), *written]

    def concurrency(self) -> dict[str, int]:
        limiters = self.calls.limiters
        return {entry.label: limiters[id(backend)].current for entry, backend in self.entries()}

    async def run(self) -> RunStats:
        """Every image of every item (each written first, when the run writes its items)."""
        plan = self.plan
        per_item = len(plan.config.models) * plan.config.images_per_prompt
        jobs: list[Job]
        if self.writer is None:
            jobs = [partial(self.item_images, item) for item in plan.items]
        else:
            writer = self.writer
            jobs = [partial(self.written_images, writer, k, i) for k, i in plan.item_slots()]
        self.stats.total = len(jobs) * per_item
        slots = self.calls.slots()
        try:
            await run_bounded(jobs, worker_count(slots, len(jobs)))
        finally:
            await self.calls.aclose_batchers()
            for _, backend in self.entries():
                await backend.aclose()
            self.concepts.store.flush()  # the records written since the last response
        if self.writer is not None:
            write_official_items(self.concepts.items(), plan.config.output_dir / ITEMS_DIR)
        return self.stats

    async def written_images(self, writer: ItemWriter, k: int, index: int) -> None:
        item = await writer.write(k, index, self.concepts)
        if item is None:  # not written: its images are not part of the run
            self.stats.total -= len(self.plan.config.models) * self.plan.config.images_per_prompt
            return
        await self.item_images(item)

    async def item_images(self, item: ConceptItem) -> None:
        config = self.plan.config
        await asyncio.gather(
            *(
                self.image(entry, backend, item, index)
                for entry, backend in zip(config.models, self.plan.model_backends, strict=True)
                for index in range(config.images_per_prompt)
            )
        )

    async def image(
        self, entry: ModelEntry, backend: ModelBackend, item: ConceptItem, index: int
    ) -> None:
        """Image `index` of an item by one model, stored, then graded question by question."""
        record = ImageRecord(
            model=entry.label, item_id=item.item_id, image=index, status=ImageStatus.OK
        )
        call = Call(item, index, "image")
        messages: list[ChatMessage] = [{"role": "user", "content": item.prompt}]
        seed = derived_seed(self.plan.config.seed, call)
        request = ModelRequest(messages=messages, params=entry.params, seed=seed)
        try:
            record.response_key, output = await self.calls.call(
                entry, backend, request, call, record
            )
        except (BudgetReached, Interrupted):
            return  # left pending
        except CallFailed as exc:
            record.status, record.reason = ImageStatus.FAILED, str(exc)
            self.stats.failed += 1
        else:
            if output.finish_reason == "refused":
                record.status, record.reason = ImageStatus.REFUSED, output.text
            else:
                describe(record, json.loads(output.text)["images"][0])
        self.concepts.put_image(record)
        if record.status == ImageStatus.OK:
            await self.grade(record, item)
        self.stats.done += 1

    async def grade(self, record: ImageRecord, item: ConceptItem) -> None:
        assert record.sha256 is not None and record.media_type is not None
        data = self.concepts.files.read(record.sha256, record.media_type)
        part = image_part(data)
        too_large = self.over_limit(len(data), image_size(data))
        await asyncio.gather(
            *(
                self.verdict(record, item, number, part, too_large)
                for number in range(len(item.questions))
            )
        )

    def over_limit(self, size: int, dimensions: tuple[int, int]) -> str | None:
        """Why the grader cannot take an image, or None."""
        grader = self.plan.grader_backend
        if grader.max_image_bytes is not None and size > grader.max_image_bytes:
            return f"the image ({size:,} bytes) is over the grader's {grader.max_image_bytes:,}"
        side = grader.max_image_side
        if side is not None and max(dimensions) > side:
            width, height = dimensions
            return f"the image ({width}x{height}) is over the grader's {side} px a side"
        return None

    async def verdict(
        self,
        image: ImageRecord,
        item: ConceptItem,
        number: int,
        part: ImagePart,
        too_large: str | None,
    ) -> None:
        plan = self.plan
        grader = plan.config.grader
        record = VerdictRecord(
            model=image.model,
            item_id=item.item_id,
            image=image.image,
            grader=grader.label,
            question=number,
            status=VerdictStatus.UNGRADED,
            reason=too_large,
        )
        if too_large is None:
            messages = question_messages(plan.template, item.questions[number].text, part)
            call = Call(item, image.image, f"question:{number}")
            seed = derived_seed(plan.config.seed, call)
            request = ModelRequest(messages=messages, params=plan.grader_params, seed=seed)
            try:
                record.response_key, reply = await self.calls.call(
                    grader, plan.grader_backend, request, call, record
                )
            except (BudgetReached, Interrupted):
                return
            except CallFailed as exc:
                record.reason = str(exc)
                self.stats.failed += 1
            else:
                record.reply = reply.text
                record.status = verdict_of(reply.text, plan.config.grading.rule)
                record.p_yes = p_yes(reply.top_logprobs)
        self.concepts.put_verdict(record)


def describe(record: ImageRecord, stored: dict[str, object]) -> None:
    """An image record's file and size, from the stored response's manifest."""
    try:
        record.sha256 = str(stored["sha256"])
        record.media_type = str(stored["media_type"])
        record.width, record.height = int(str(stored["width"])), int(str(stored["height"]))
    except (KeyError, ValueError) as exc:
        raise SkillmixError(f"a stored image response is unreadable ({exc})") from None
    revised = stored.get("revised_prompt")
    record.revised_prompt = None if revised is None else str(revised)
