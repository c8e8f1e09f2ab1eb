"""Writing a fresh item from a bound draw, as the official generator does: a caption that shows
every concept's statement, the caption checked once more, then one yes/no question per concept.

The writer may turn a draw down by starting its caption or its check with "WRONG"; the draw is
then redrawn. The prompts are ours (templates in protocol/prompts/), their steps the official
ones. Faithful by default, questions are asked of the first caption, not of the checked one
that becomes the image prompt; and objects the writer added to the plan get no question.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

from skillmix.catalog.concept_templates import english_plural, render_statement
from skillmix.catalog.concepts import ConceptCatalog
from skillmix.protocol.conceptmix.binding import Binding, plan_json
from skillmix.protocol.conceptmix.official_items import concept_item_id, paired_questions
from skillmix.protocol.conceptmix.sampler import OBJECT, SPATIAL, ConceptDraw
from skillmix.records import ChatMessage, Concept, ConceptItem

TURNED_DOWN = "WRONG"
NUMBERING = re.compile(r"^\s*(?:\d+\s*[.):]|[-*•])\s+")
STEPS = ("binding", "binding_json", "caption", "verify", "questions")


@dataclass(frozen=True)
class WritingPrompts:
    binding: str  # {plan_json}
    binding_json: str
    caption: str  # {statements}, {plan_json}
    verify: str
    questions: str  # {first_statement}, {first_object}, {count}


@cache
def writing_prompts() -> WritingPrompts:
    folder = resources.files("skillmix.protocol") / "prompts"
    texts = {
        step: (folder / f"conceptmix_{step}.txt").read_text(encoding="utf-8").rstrip("\n")
        for step in STEPS
    }
    return WritingPrompts(**texts)


@dataclass(frozen=True)
class Draft:
    """A bound draw: the item's concepts and the statement of each, in the official order."""

    concepts: tuple[Concept, ...]
    statements: tuple[str, ...]
    plan: dict[str, Any]


def draft(
    draw: ConceptDraw, binding: Binding, catalog: ConceptCatalog, *, grade_added: bool
) -> Draft:
    objects = binding.objects
    named = objects if grade_added else objects[: len(draw.objects)]
    pairs: list[tuple[Concept, tuple[str, ...]]] = [
        (Concept(category=OBJECT, value=name), ()) for name in named
    ]
    for concept, owner in zip(draw.drawn, draw.owners, strict=True):
        if concept.category != SPATIAL:
            pairs.append((concept, () if owner is None else (objects[owner],)))
    for relation in binding.relations:
        ends = (objects[relation.a], objects[relation.b])
        pairs.append((Concept(category=SPATIAL, value=relation.value), ends))
    return Draft(
        concepts=tuple(concept for concept, _ in pairs),
        statements=tuple(_statement(catalog, c, ends) for c, ends in pairs),
        plan=binding.plan,
    )


def _statement(catalog: ConceptCatalog, concept: Concept, objects: tuple[str, ...]) -> str:
    if concept.value in catalog.values(concept.category):
        return catalog.statement(concept, objects)
    # an object the writer added, graded (added_objects_ungraded off): the category's wording
    template = catalog.category(concept.category).statement
    return render_statement(template, concept, objects, english_plural)


def user(text: str) -> ChatMessage:
    return {"role": "user", "content": text}


def followed(messages: list[ChatMessage], reply: str, prompt: str) -> list[ChatMessage]:
    """A conversation carried on: the reply to its last turn, then the next prompt."""
    return [*messages, {"role": "assistant", "content": reply}, user(prompt)]


def binding_messages(prompts: WritingPrompts, plan: dict[str, Any]) -> list[ChatMessage]:
    return [user(prompts.binding.format(plan_json=plan_json(plan)))]


def caption_messages(prompts: WritingPrompts, draft: Draft) -> list[ChatMessage]:
    statements = "".join(f"* {statement}\n" for statement in draft.statements).rstrip("\n")
    text = prompts.caption.format(statements=statements, plan_json=plan_json(draft.plan))
    return [user(text)]


def questions_prompt(prompts: WritingPrompts, draft: Draft) -> str:
    return prompts.questions.format(
        first_statement=draft.statements[0],
        first_object=draft.concepts[0].value,
        count=len(draft.concepts),
    )


def turned_down(reply: str) -> bool:
    return reply.strip().startswith(TURNED_DOWN)


def read_questions(reply: str) -> list[str]:
    """One question per non-blank line, any list numbering taken off."""
    lines = (NUMBERING.sub("", line).strip() for line in reply.splitlines())
    return [line for line in lines if line]


def written_item(k: int, index: int, draft: Draft, caption: str, questions: str) -> ConceptItem:
    return ConceptItem(
        item_id=concept_item_id(k, index),
        k=k,
        index=index,
        prompt=caption.strip(),
        concepts=draft.concepts,
        questions=paired_questions(read_questions(questions), draft.concepts),
        source="generated",
        plan=plan_json(draft.plan),
    )
