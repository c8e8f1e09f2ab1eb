"""What a ConceptMix run will cost before it starts (for --dry-run): image calls per model and
grading calls, and the writer's calls when the run writes its items, with tokens and dollars
counted as the budget counts them.

Written items are not known before the run: they are counted at their first draw, every
reply (a caption, the prompt an image is drawn from) at the writer's max_tokens and every
question at a fixed length; each redraw of a turned-down draw adds five writer calls."""

from __future__ import annotations

from skillmix.config import ModelEntry
from skillmix.models import ChatMessage, GenerationParams, ModelRequest, Usage
from skillmix.models.prices import PriceTable
from skillmix.protocol.conceptmix.binding import Binding, BoundRelation, initial_plan
from skillmix.protocol.conceptmix.grading import question_messages
from skillmix.protocol.conceptmix.writing import (
    binding_messages,
    caption_messages,
    draft,
    followed,
    questions_prompt,
    user,
    writing_prompts,
)
from skillmix.records import ImagePart
from skillmix.run.conceptmix.plan import ConceptPlan, WriterPlan
from skillmix.run.estimate import (
    CHARS_PER_TOKEN,
    DEFAULT_OUTPUT_TOKENS,
    Estimate,
    priced,
    usage_bound,
)

# stands in for an image in a grading request: the estimate counts each image at a fixed bound
PLACEHOLDER: ImagePart = {"type": "image", "media_type": "image/png", "sha256": "", "data": ""}
QUESTION_CHARS = 80  # a written question, as the estimate counts it


def estimate_conceptmix(plan: ConceptPlan) -> list[Estimate]:
    config, prices = plan.config, PriceTable.with_overrides(plan.config.prices)
    rows: list[Estimate] = []
    if plan.writer is None:
        prompts = [item.prompt for item in plan.items]
        questions = [q.text for item in plan.items for q in item.questions]
    else:
        writer_row, prompts, questions = _writing(plan, plan.writer)
        rows.append(_row(plan.writer.entry, "writer", writer_row, 1, prices))
    images = config.images_per_prompt
    for entry, backend in zip(config.models, plan.model_backends, strict=True):
        bound = backend.output_tokens_bound()
        bounds = [usage_bound(_request(entry.params, [user(p)]), bound) for p in prompts]
        unit = backend.price_unit()
        rows.append(_row(entry, "images", bounds, images, prices, unit))
    graded = [
        usage_bound(_request(plan.grader_params, question_messages(plan.template, q, PLACEHOLDER)))
        for q in questions
    ]
    rows.append(_row(config.grader, "grader", graded, images * len(config.models), prices))
    return rows


def _writing(plan: ConceptPlan, writer: WriterPlan) -> tuple[list[Usage], list[str], list[str]]:
    """The writer's calls for each item's first draw; stand-ins for its prompts and questions."""
    catalog, texts = writer.catalog, writing_prompts()
    reply = "x" * ((writer.entry.params.max_tokens or DEFAULT_OUTPUT_TOKENS) * CHARS_PER_TOKEN)
    calls: list[Usage] = []
    prompts: list[str] = []
    questions: list[str] = []
    for k, index in plan.item_slots():
        draw = writer.draw(plan.config.seed, k, index)
        start = initial_plan(draw, catalog)
        relations = tuple(BoundRelation(r.value, 0, 0) for r in draw.relations)
        bound = draft(draw, Binding(draw.objects, relations, start), catalog, grade_added=False)
        binding = binding_messages(texts, start)
        caption = caption_messages(texts, bound)
        turns = [
            binding,
            followed(binding, reply, texts.binding_json),
            caption,
            followed(caption, reply, texts.verify),
            followed(caption, reply, questions_prompt(texts, bound)),
        ]
        calls += [usage_bound(_request(writer.entry.params, turn)) for turn in turns]
        prompts.append(reply)
        questions += ["x" * QUESTION_CHARS] * len(bound.concepts)
    return calls, prompts, questions


def _request(params: GenerationParams, messages: list[ChatMessage]) -> ModelRequest:
    return ModelRequest(messages=messages, params=params, seed=0)


def _row(
    entry: ModelEntry,
    role: str,
    bounds: list[Usage],
    repeats: int,
    prices: PriceTable,
    image_unit: str | None = None,
) -> Estimate:
    """One model's calls: each bound made `repeats` times (an image each, for `image_unit`)."""
    usage = Usage(
        sum(u.input_tokens for u in bounds) * repeats,
        sum(u.output_tokens for u in bounds) * repeats,
    )
    if image_unit is None:  # a text model's calls, at batch prices in batch mode
        return priced(entry, role, len(bounds) * repeats, usage, prices)
    return Estimate(
        entry.label,
        role,
        len(bounds) * repeats,
        usage.input_tokens,
        usage.output_tokens,
        prices.cost(entry.model, usage, len(bounds) * repeats, image_unit),
    )
