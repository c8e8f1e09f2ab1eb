"""Writing a run's items (items.generate): each item's seeded draw is bound, captioned, checked
and questioned by the writer model, every call through the store; a draw the writer turns
down is redrawn, up to max_attempts. An item is frozen once written: stored with how it was
written, and a rerun replays its stored calls to the same item."""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

from skillmix.errors import BudgetReached, CallFailed, Interrupted
from skillmix.models import ModelRequest
from skillmix.protocol.conceptmix.binding import BadBinding, initial_plan, read_binding
from skillmix.protocol.conceptmix.official_items import concept_item_id
from skillmix.protocol.conceptmix.writing import (
    binding_messages,
    caption_messages,
    draft,
    followed,
    questions_prompt,
    turned_down,
    writing_prompts,
    written_item,
)
from skillmix.records import ChatMessage, ConceptItem, WritingRecord, WritingStatus
from skillmix.run.calls import Call, StoredCalls, derived_seed
from skillmix.run.conceptmix.plan import ConceptPlan, WriterPlan
from skillmix.run.conceptmix.store import ConceptStore

QUOTED = 200  # characters of a turned-down reply kept as the reason


@dataclass(frozen=True)
class ItemSlot:
    """The item a writer call belongs to, before the item exists."""

    item_id: str


class ItemWriter:
    def __init__(self, plan: ConceptPlan, writer: WriterPlan, calls: StoredCalls):
        self.seed = plan.config.seed
        self.writer = writer
        self.calls = calls
        self.prompts = writing_prompts()

    async def write(self, k: int, index: int, concepts: ConceptStore) -> ConceptItem | None:
        """The item, written and stored; None when it could not be written (recorded as
        rejected or failed) or the run is stopping (nothing recorded)."""
        record = WritingRecord(
            item_id=concept_item_id(k, index), k=k, status=WritingStatus.REJECTED, attempts=0
        )
        item = None
        try:
            for attempt in range(self.writer.settings.max_attempts):
                record.attempts = attempt + 1
                outcome = await self.attempt(k, index, attempt, record)
                if isinstance(outcome, ConceptItem):
                    item, record.status, record.reason = outcome, WritingStatus.OK, None
                    break
                record.reason = outcome
        except (BudgetReached, Interrupted):
            return None
        except CallFailed as exc:
            record.status, record.reason = WritingStatus.FAILED, str(exc)
            self.calls.stats.failed += 1
        concepts.put_writing(record, item)
        return item

    async def attempt(
        self, k: int, index: int, attempt: int, record: WritingRecord
    ) -> ConceptItem | str:
        """A draw written into an item, or why it was turned down."""
        catalog, quirks = self.writer.catalog, self.writer.settings.quirks
        draw = self.writer.draw(self.seed, k, index, attempt)
        ask = partial(self.ask, ItemSlot(record.item_id), attempt, record)
        binding_turn = binding_messages(self.prompts, initial_plan(draw, catalog))
        first = await ask("binding", binding_turn)
        json_turn = followed(binding_turn, first, self.prompts.binding_json)
        completed = await ask("binding_json", json_turn)
        try:
            binding = read_binding(completed, draw, catalog)
        except BadBinding as exc:
            return f"binding: {exc}"
        bound = draft(draw, binding, catalog, grade_added=not quirks.added_objects_ungraded)
        caption_turn = caption_messages(self.prompts, bound)
        caption = await ask("caption", caption_turn)
        if turned_down(caption) or not caption.strip():
            return f"caption: {caption.strip()[:QUOTED] or 'empty'}"
        check_turn = followed(caption_turn, caption, self.prompts.verify)
        checked = await ask("verify", check_turn)
        if turned_down(checked) or not checked.strip():
            return f"verify: {checked.strip()[:QUOTED] or 'empty'}"
        asked = questions_prompt(self.prompts, bound)
        if quirks.questions_from_first_caption:
            questions_turn = followed(caption_turn, caption, asked)
        else:
            questions_turn = followed(check_turn, checked, asked)
        item = written_item(k, index, bound, checked, await ask("questions", questions_turn))
        return item if item.questions else "questions: none"

    async def ask(
        self,
        slot: ItemSlot,
        attempt: int,
        record: WritingRecord,
        step: str,
        messages: list[ChatMessage],
    ) -> str:
        entry = self.writer.entry
        if entry.system_prompt:
            messages = [{"role": "system", "content": entry.system_prompt}, *messages]
        call = Call(slot, 0, f"write:{attempt}:{step}")
        seed = derived_seed(self.seed, call)
        request = ModelRequest(messages=messages, params=entry.params, seed=seed)
        _, output = await self.calls.call(entry, self.writer.backend, request, call, record)
        return output.text
