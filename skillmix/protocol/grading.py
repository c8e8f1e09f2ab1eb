"""The grader's prompt, and the points kept from its reply (one scoring path for every caller).

The grader's own total is never used: points come from the rubric rows, the sentence
point is recomputed deterministically, a skill named in the answer earns nothing, and an
empty answer earns nothing without asking the grader.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from skillmix.catalog import Catalog
from skillmix.errors import UnparseableReply
from skillmix.protocol.prompts import PromptSet, item_values
from skillmix.protocol.replies import parse_reply
from skillmix.protocol.rubric import Criterion, RubricItem, sentence_limit
from skillmix.protocol.sentences import (
    NamingPenalty,
    SentenceSplitter,
    count_sentences,
    names_skill,
)
from skillmix.records import ChatMessage, GradingStatus, Item, Points


class JuryRule(StrEnum):
    """How a jury of graders combines their verdicts on a point."""

    MAJORITY = "majority"  # more than half of the graders award the point
    UNANIMOUS = "unanimous"  # every grader awards it


@dataclass(frozen=True)
class GradingPolicy:
    splitter: SentenceSplitter = SentenceSplitter.OFFICIAL
    naming: NamingPenalty = NamingPenalty.SUBSTRING


def answer_tag(answer: str) -> str:
    """A delimiter derived from the answer's own hash, so the answer cannot contain it."""
    return "answer-" + hashlib.sha256(answer.encode()).hexdigest()[:12]


def points_schema(rubric: list[RubricItem]) -> dict[str, Any]:
    point = {"type": "integer", "enum": [0, 1]}
    return {
        "type": "object",
        "properties": {item.text: point for item in rubric},
        "required": [item.text for item in rubric],
        "additionalProperties": False,
    }


def grader_messages(
    item: Item,
    catalog: Catalog,
    answer: str,
    rubric: list[RubricItem],
    prompts: PromptSet,
    *,
    system_prompt: str | None,
    structured: bool,
) -> list[ChatMessage]:
    reply_format = prompts.reply_json if structured else prompts.reply_table
    text = prompts.grader.render(
        **item_values(item, catalog),
        student_answer=answer,
        answer_tag=answer_tag(answer),
        rubric_items=", ".join(r.text for r in rubric),
        rubric_list="\n".join(f"- {r.text}" for r in rubric),
        reply_format=reply_format.text,
    )
    messages: list[ChatMessage] = []
    if system_prompt:
        messages.append({"role": "system", "content": system_prompt})
    messages.append({"role": "user", "content": text})
    return messages


def final_points(
    grader_points: dict[str, int], rubric: list[RubricItem], answer: str, policy: GradingPolicy
) -> dict[str, int]:
    limit = sentence_limit(sum(1 for r in rubric if r.kind is Criterion.SKILL))
    points = {r.key: grader_points.get(r.key, 0) for r in rubric}
    points["sentences"] = int(count_sentences(answer, policy.splitter) <= limit)
    for r in rubric:
        if r.skill and names_skill(answer, r.skill, policy.naming):
            points[r.key] = 0
    return points


def majority(gradings: list[dict[str, int]]) -> dict[str, int]:
    """Per rubric item, earned when more than half of the gradings award it."""
    keys = gradings[0].keys()
    return {key: int(2 * sum(g[key] for g in gradings) > len(gradings)) for key in keys}


@dataclass(frozen=True)
class ReplyScore:
    """What one grader reply (or an empty answer) scores."""

    status: GradingStatus  # scored or unscored
    points: Points | None = None  # final: after the sentence rule and naming penalty
    grader_points: Points | None = None  # as read from the reply
    reason: str | None = None
    from_fallback: bool = False  # the points came from the caller's fallback


def is_empty_answer(answer: str) -> bool:
    """Nothing to grade: blank once whitespace and markdown emphasis are stripped."""
    return not answer.strip().strip("*").strip()


def score_reply(
    reply: str | None,
    rubric: list[RubricItem],
    answer: str,
    policy: GradingPolicy,
    *,
    fallback: Points | None = None,
    fallback_source: str = "fallback points",
) -> ReplyScore:
    """The points of a grader reply on an answer.

    An empty answer scores 0 everywhere whatever the reply (none is needed). A reply that
    cannot be read is unscored, unless `fallback` gives the grader's points some other way
    (an imported run's own points column, named by `fallback_source` in the reason).
    """
    if is_empty_answer(answer):
        return ReplyScore(GradingStatus.SCORED, {r.key: 0 for r in rubric}, None, "empty answer")
    reason = None
    try:
        grader_points = parse_reply(reply or "", rubric, answer)
    except UnparseableReply as exc:
        if fallback is None:
            return ReplyScore(GradingStatus.UNSCORED, reason=str(exc))
        grader_points, reason = fallback, f"points from {fallback_source}; our parser: {exc}"
    points = final_points(grader_points, rubric, answer, policy)
    return ReplyScore(GradingStatus.SCORED, points, grader_points, reason, reason is not None)
