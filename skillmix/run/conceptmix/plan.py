"""Everything a ConceptMix run needs, loaded and checked before the run store is touched:
the items, the question template, a text-to-image backend per model and the grader's."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from skillmix.catalog.concepts import load_concepts
from skillmix.config import ModelEntry
from skillmix.config.conceptmix import LOGPROBS, ConceptMixConfig
from skillmix.errors import SkillmixError
from skillmix.models import GenerationParams, ModelBackend, create_backend
from skillmix.protocol.conceptmix.grading import QuestionTemplate, load_question_template
from skillmix.protocol.conceptmix.official_items import read_official_items
from skillmix.records import ConceptItem
from skillmix.run.plan import entry_error


@dataclass
class ConceptPlan:
    config: ConceptMixConfig
    source: Path
    items: list[ConceptItem]
    template: QuestionTemplate
    model_backends: list[ModelBackend]  # aligned with config.models
    grader_backend: ModelBackend

    @property
    def grader_params(self) -> GenerationParams:
        params = self.config.grader.params
        if self.config.grading.logprobs:
            return params.model_copy(update={"top_logprobs": LOGPROBS})
        return params


def conceptmix_plan(config: ConceptMixConfig, source: Path) -> ConceptPlan:
    catalog = load_concepts(config.concepts)
    items = read_official_items(
        config.items.official, config.k, config.items_per_k, catalog=catalog
    )
    template = load_question_template(config.grading.template)
    backends = _backends(config, source)
    *models, grader = backends
    _check_grader(config, source, grader)
    for index, backend in enumerate(models):
        _check_model(config, source, index, backend, grader)
    return ConceptPlan(config, source, items, template, models, grader)


def _backends(config: ConceptMixConfig, source: Path) -> list[ModelBackend]:
    fields = [f"models[{i}]" for i in range(len(config.models))] + ["grader"]
    entries: list[ModelEntry] = [*config.models, config.grader]
    backends = []
    for field, entry in zip(fields, entries, strict=True):
        try:
            backends.append(create_backend(entry.model, entry.settings))
        except SkillmixError as exc:
            raise entry_error(exc, source, field) from None
    return backends


def _check_grader(config: ConceptMixConfig, source: Path, grader: ModelBackend) -> None:
    if not grader.accepts_images:
        raise SkillmixError(
            f"{config.grader.model} takes no image inputs: a ConceptMix grader is a "
            "vision-language model (openai/..., anthropic/...)",
            file=source,
            field="grader.model",
        )
    if config.grading.logprobs and not grader.gives_logprobs:
        raise SkillmixError(
            f"{config.grader.model} gives no logprobs to score P(Yes) from",
            file=source,
            field="grading.logprobs",
        )


def _check_model(
    config: ConceptMixConfig,
    source: Path,
    index: int,
    backend: ModelBackend,
    grader: ModelBackend,
) -> None:
    entry = config.models[index]
    if not backend.makes_images:
        raise SkillmixError(
            f"{entry.model} is not a text-to-image model (openai-images/...)",
            file=source,
            field=f"models[{index}].model",
        )
    size = backend.output_size
    side = grader.max_image_side
    if size is not None and side is not None and max(size) > side:
        raise SkillmixError(
            f"{size[0]}x{size[1]} images are larger than the {side} px a side that "
            f"{config.grader.model} takes",
            file=source,
            field=f"models[{index}].options.size",
        )
