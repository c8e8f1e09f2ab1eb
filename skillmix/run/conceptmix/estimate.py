"""What a ConceptMix run will cost before it starts (for --dry-run): image calls per model and
grading calls, with tokens and dollars counted as the budget counts them."""

from __future__ import annotations

from skillmix.config import ModelEntry
from skillmix.models import ChatMessage, ModelRequest, Usage
from skillmix.models.prices import PriceTable
from skillmix.protocol.conceptmix.grading import question_messages
from skillmix.records import ImagePart
from skillmix.run.conceptmix.plan import ConceptPlan
from skillmix.run.estimate import Estimate, usage_bound

# stands in for an image in a grading request: the estimate counts each image at a fixed bound
PLACEHOLDER: ImagePart = {"type": "image", "media_type": "image/png", "sha256": "", "data": ""}


def estimate_conceptmix(plan: ConceptPlan) -> list[Estimate]:
    config, prices = plan.config, PriceTable.with_overrides(plan.config.prices)
    images = config.images_per_prompt
    rows = []
    for entry, backend in zip(config.models, plan.model_backends, strict=True):
        bounds = []
        for item in plan.items:
            prompt: list[ChatMessage] = [{"role": "user", "content": item.prompt}]
            request = ModelRequest(messages=prompt, params=entry.params, seed=0)
            bounds.append(usage_bound(request, backend.output_tokens_bound()))
        rows.append(_row(entry, "images", bounds, images, prices))
    questions = []
    for item in plan.items:
        for question in item.questions:
            messages = question_messages(plan.template, question.text, PLACEHOLDER)
            request = ModelRequest(messages=messages, params=plan.grader_params, seed=0)
            questions.append(usage_bound(request))
    repeats = images * len(config.models)
    rows.append(_row(config.grader, "grader", questions, repeats, prices))
    return rows


def _row(
    entry: ModelEntry, role: str, bounds: list[Usage], repeats: int, prices: PriceTable
) -> Estimate:
    """One model's calls: each bound made `repeats` times."""
    usage = Usage(
        sum(u.input_tokens for u in bounds) * repeats,
        sum(u.output_tokens for u in bounds) * repeats,
    )
    return Estimate(
        entry.label,
        role,
        len(bounds) * repeats,
        usage.input_tokens,
        usage.output_tokens,
        prices.cost(entry.model, usage),
    )
