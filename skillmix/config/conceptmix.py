"""The configuration of a ConceptMix run (`suite: conceptmix`): text-to-image models, the
items they draw, the vision-language grader and its question rule."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, ValidationInfo, field_validator, model_validator

from skillmix.config import (
    MAX_GENERATIONS,
    MAX_ITEMS_PER_K,
    MAX_K_VALUES,
    MAX_STUDENTS,
    SEED_RANGE,
    BatchSwitch,
    FilePath,
    ModelEntry,
    Number,
    RunConfig,
    Strict,
    check_k,
    parse_config,
    prices_not_bools,
    run_batch,
    stored_validated,
    unique_labels,
    validated,
    with_batch,
)
from skillmix.errors import SkillmixError
from skillmix.models.prices import Price
from skillmix.yamlfile import load_yaml

SUITE = "conceptmix"
# the official grader call: one token, greedy
GRADER_PARAMS = {"max_tokens": 1, "temperature": 0}
LOGPROBS = 5  # alternatives asked for the first token when grading with P(Yes)
MAX_ATTEMPTS = 100


class Quirks(Strict):
    """The official generator's quirks, each kept by default (faithful); false fixes one."""

    style_typo: bool = True  # its style cap is misspelt, so a draw may hold several styles
    added_objects_ungraded: bool = True  # objects the writer adds get no concept, no question
    questions_from_first_caption: bool = True  # asked of the caption before its verification


class WriteItems(Strict):
    """Fresh items: seeded draws that a text model binds, captions, verifies and questions."""

    writer: ModelEntry
    max_attempts: int = Field(default=10, gt=0, le=MAX_ATTEMPTS, strict=True)  # draws per item
    object_prob: Number = Field(default=0.25, ge=0, le=1)  # each further object's chance
    quirks: Quirks = Quirks()


class ItemSource(Strict):
    """Where the prompts come from: the released official items (a folder), or written."""

    official: FilePath | None = None  # the folder of 300_sentences_k={k}.json
    generate: WriteItems | None = None

    @model_validator(mode="after")
    def _one_source(self) -> ItemSource:
        if (self.official is None) == (self.generate is None):
            raise ValueError("give exactly one of official (a folder) or generate")
        return self


class GradingRule(Strict):
    # the question sent with each image; {question} is the item's question
    template: FilePath | None = None
    # official: yes when "Yes" is in the reply (case-sensitive); first_word: its first word
    # is yes in any case
    rule: Literal["official", "first_word"] = "official"
    logprobs: bool = False  # also score P(Yes) from the first token's logprobs
    # concurrent grading calls for one image are independent: none waits for another


class ConceptMixConfig(Strict):
    name: str
    suite: Literal["conceptmix"]
    output_dir: FilePath
    concepts: FilePath = Path("data/concepts.yaml")
    items: ItemSource
    k: list[Annotated[int, Field(strict=True)]] = Field(min_length=1, max_length=MAX_K_VALUES)
    items_per_k: int | None = Field(
        default=None, gt=0, le=MAX_ITEMS_PER_K, strict=True, validate_default=True
    )
    images_per_prompt: int = Field(default=1, gt=0, le=MAX_GENERATIONS, strict=True)
    seed: int = Field(default=0, ge=SEED_RANGE[0], le=SEED_RANGE[1], strict=True)
    models: list[ModelEntry] = Field(min_length=1, max_length=MAX_STUDENTS)
    grader: ModelEntry
    grading: GradingRule = GradingRule()
    prices: dict[str, Price] = Field(default_factory=dict)
    budget_usd: Number | None = Field(default=None, gt=0)
    # batch mode for the grader (and writer) where openai/ or anthropic/, unless set there
    batch: BatchSwitch = None

    @model_validator(mode="before")
    @classmethod
    def _run_batch(cls, data: Any) -> Any:
        data = run_batch(data, ("grader",))
        items = data.get("items") if isinstance(data, dict) else None
        generate = items.get("generate") if isinstance(items, dict) else None
        if isinstance(items, dict) and isinstance(generate, dict) and "writer" in generate:
            writer = with_batch(generate["writer"], data.get("batch"))
            data = {**data, "items": {**items, "generate": {**generate, "writer": writer}}}
        return data

    @model_validator(mode="before")
    @classmethod
    def _official_grader_params(cls, data: Any) -> Any:
        """The grader answers in one greedy token unless its entry says otherwise."""
        grader = data.get("grader") if isinstance(data, dict) else None
        if isinstance(grader, dict) and "params" not in grader:
            data = {**data, "grader": {**grader, "params": GRADER_PARAMS}}
        return data

    @field_validator("items_per_k")
    @classmethod
    def _written_count(cls, value: int | None, info: ValidationInfo) -> int | None:
        items = info.data.get("items")
        if value is None and isinstance(items, ItemSource) and items.generate is not None:
            raise ValueError("is needed to write items (items.generate)")
        return value

    @field_validator("k")
    @classmethod
    def _positive_unique(cls, value: list[int]) -> list[int]:
        return check_k(value)

    @field_validator("prices", mode="before")
    @classmethod
    def _prices_not_bools(cls, value: Any) -> Any:
        return prices_not_bools(value)

    @field_validator("models")
    @classmethod
    def _unique_labels(cls, value: list[ModelEntry]) -> list[ModelEntry]:
        return unique_labels(value, "models")


AnyConfig = RunConfig | ConceptMixConfig


def parse_any_config(data: Any, source: Path | str) -> AnyConfig:
    """A run config of either suite, told apart by its `suite` key (skillmix by default)."""
    if isinstance(data, dict) and data.get("suite") == SUITE:
        return validated(ConceptMixConfig, data, source)
    return parse_config(data, source)


def load_any_config(path: Path) -> AnyConfig:
    if not path.is_file():
        raise SkillmixError("config file not found", file=path)
    return parse_any_config(load_yaml(path), path)


def stored_conceptmix_config(text: str, store: Path) -> ConceptMixConfig:
    return stored_validated(ConceptMixConfig, text, store)
