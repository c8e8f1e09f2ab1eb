"""Everything a ConceptMix run needs, loaded and checked before the run store is touched:
the items (or the writer that writes them), the question template, a text-to-image backend
per model and the grader's."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from skillmix.catalog.concepts import ConceptCatalog, load_concepts
from skillmix.config import ModelEntry
from skillmix.config.conceptmix import LOGPROBS, ConceptMixConfig, WriteItems
from skillmix.errors import SkillmixError
from skillmix.models import GenerationParams, ModelBackend, create_backend
from skillmix.protocol.conceptmix.grading import QuestionTemplate, load_question_template
from skillmix.protocol.conceptmix.official_items import read_official_items
from skillmix.protocol.conceptmix.sampler import ConceptDraw, check_draw, draw_concepts, draw_rng
from skillmix.records import ConceptItem
from skillmix.run.plan import entry_error


@dataclass(frozen=True)
class WriterPlan:
    """How the run writes its items (items.generate)."""

    settings: WriteItems
    backend: ModelBackend
    catalog: ConceptCatalog

    @property
    def entry(self) -> ModelEntry:
        return self.settings.writer

    def draw(self, seed: int, k: int, index: int, attempt: int = 0) -> ConceptDraw:
        """The concept set of an item's attempt (attempts after the first redraw it)."""
        return draw_concepts(
            self.catalog,
            k,
            draw_rng(seed, k, index, attempt),
            object_prob=self.settings.object_prob,
            style_cap=not self.settings.quirks.style_typo,
        )


@dataclass
class ConceptPlan:
    config: ConceptMixConfig
    source: Path
    items: list[ConceptItem]  # the official items; none when they are written
    template: QuestionTemplate
    model_backends: list[ModelBackend]  # aligned with config.models
    grader_backend: ModelBackend
    writer: WriterPlan | None = None

    @property
    def backends(self) -> list[ModelBackend]:
        writer = [self.writer.backend] if self.writer else []
        return [*self.model_backends, self.grader_backend, *writer]

    def item_slots(self) -> list[tuple[int, int]]:
        """(k, index) of each item to write, k by k."""
        count = self.config.items_per_k or 0
        return [(k, index) for k in self.config.k for index in range(1, count + 1)]

    @property
    def grader_params(self) -> GenerationParams:
        params = self.config.grader.params
        if self.config.grading.logprobs:
            return params.model_copy(update={"top_logprobs": LOGPROBS})
        return params


def conceptmix_plan(config: ConceptMixConfig, source: Path) -> ConceptPlan:
    catalog = load_concepts(config.concepts)
    official, generate = config.items.official, config.items.generate
    items = (
        []
        if official is None
        else read_official_items(official, config.k, config.items_per_k, catalog=catalog)
    )
    writer = None if generate is None else _writer(generate, catalog, config, source)
    template = load_question_template(config.grading.template)
    fields = [f"models[{i}]" for i in range(len(config.models))]
    models = [_backend(e, source, f) for e, f in zip(config.models, fields, strict=True)]
    grader = _backend(config.grader, source, "grader")
    _check_grader(config, source, grader)
    for index, backend in enumerate(models):
        _check_model(config, source, index, backend, grader)
    return ConceptPlan(config, source, items, template, models, grader, writer)


def _backend(entry: ModelEntry, source: Path, field: str) -> ModelBackend:
    try:
        return create_backend(entry.model, entry.settings)
    except SkillmixError as exc:
        raise entry_error(exc, source, field) from None


def _writer(
    settings: WriteItems, catalog: ConceptCatalog, config: ConceptMixConfig, source: Path
) -> WriterPlan:
    field = "items.generate.writer"
    for k in config.k:
        try:
            check_draw(catalog, k, settings.object_prob)
        except ValueError as exc:
            raise SkillmixError(str(exc), file=source, field="k") from None
    backend = _backend(settings.writer, source, field)
    if backend.makes_images:
        raise SkillmixError(
            f"{settings.writer.model} makes images: the writer is a text model",
            file=source,
            field=f"{field}.model",
        )
    return WriterPlan(settings, backend, catalog)


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
