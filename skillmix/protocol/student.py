"""The student's two-turn conversation and the extraction of its graded answer."""

from __future__ import annotations

from enum import StrEnum

from skillmix.catalog import Catalog
from skillmix.protocol.prompts import PromptSet, item_values
from skillmix.records import ChatMessage, Item


def turn1_messages(
    item: Item, catalog: Catalog, prompts: PromptSet, system_prompt: str | None
) -> list[ChatMessage]:
    messages: list[ChatMessage] = []
    if system_prompt:
        messages.append({"role": "system", "content": system_prompt})
    text = prompts.student_turn1.render(**item_values(item, catalog))
    messages.append({"role": "user", "content": text})
    return messages


def turn2_messages(
    turn1: list[ChatMessage], reply1: str, item: Item, catalog: Catalog, prompts: PromptSet
) -> list[ChatMessage]:
    text = prompts.student_turn2.render(**item_values(item, catalog))
    return [*turn1, {"role": "assistant", "content": reply1}, {"role": "user", "content": text}]


class AnswerExtraction(StrEnum):
    """How the graded answer is cut out of the turn-2 reply."""

    SKILLMIX = "skillmix"  # the official cut, then markdown emphasis left by it stripped
    OFFICIAL = "official"  # the official cut alone ('**Answer:** text' grades '** text')


def extract_answer(reply: str, how: AnswerExtraction = AnswerExtraction.SKILLMIX) -> str:
    """The text after the last 'Answer:', cut at the first 'Explanation' after it.

    Without an 'Answer:' marker the whole reply is the answer (as the official code does).
    """
    answer = reply.rsplit("Answer:", 1)[-1].split("Explanation", 1)[0].strip()
    return answer if how is AnswerExtraction.OFFICIAL else answer.strip("*").strip()
