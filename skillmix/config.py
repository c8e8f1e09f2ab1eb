"""Run configuration: YAML validated by pydantic.

Relative paths resolve against the working directory.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from skillmix.catalog.splits import SplitConfig
from skillmix.errors import SkillmixError, describe_validation, yaml_syntax_error
from skillmix.models import BackendSettings, GenerationParams, defaults, split_model_string
from skillmix.models.prices import Price
from skillmix.models.retry import RetryPolicy
from skillmix.protocol.sampler import CommonSkills
from skillmix.protocol.sentences import NamingPenalty, SentenceSplitter


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class NoveltyAssumptions(Strict):
    """Upper-bound guesses about the training corpus; set them from what you know of it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    skill_frequency: float = Field(default=0.01, ge=0, le=1)  # p_s: share of text pieces
    topic_frequency: float = Field(default=0.001, ge=0, le=1)  # p_t: share about a topic
    corpus_pieces: float = Field(default=1e9, ge=0)  # L: text pieces in the training corpus


class ModelEntry(Strict):
    model: str  # backend prefix / model, e.g. llamacpp/smollm2
    name: str | None = None  # label in reports; defaults to the model string
    params: GenerationParams = GenerationParams()
    system_prompt: str | None = None
    max_concurrency: int | None = Field(default=None, gt=0)  # calls in flight (ceiling)
    base_url: str | None = None  # an OpenAI-compatible server, a proxy
    api_key_env: str | None = None  # environment variable with the key (default per provider)
    timeout_s: float = Field(default=defaults.TIMEOUT_S, gt=0)
    retries: int = Field(default=defaults.RETRIES, ge=0)
    backoff_s: float = Field(default=defaults.BACKOFF_S, ge=0)
    backoff_max_s: float = Field(default=defaults.BACKOFF_MAX_S, ge=0)
    # backend-specific, typed by the backend (e.g. llama.cpp n_ctx, n_threads); kept raw here
    # so that entries with the same options share one backend (run/plan.py)
    options: dict[str, Any] = {}

    @field_validator("model")
    @classmethod
    def _known_backend(cls, value: str) -> str:
        split_model_string(value)
        return value

    @property
    def label(self) -> str:
        return self.name or self.model

    @property
    def settings(self) -> BackendSettings:
        return BackendSettings(
            self.options, self.base_url, self.api_key_env, self.timeout_s, self.max_concurrency
        )

    @property
    def retry_policy(self) -> RetryPolicy:
        return RetryPolicy(self.retries, self.backoff_s, self.backoff_max_s)


class CatalogPaths(Strict):
    skills: Path = Path("data/skills.yaml")
    topics: Path = Path("data/topics.yaml")
    split: SplitConfig | None = None  # e.g. {part: private} or {part: held_out, ...}


class PromptPaths(Strict):
    """Other template files. `student` may name the official two-turn JSON prompt list."""

    student: Path | None = None
    student_turn1: Path | None = None
    student_turn2: Path | None = None
    grader: Path | None = None
    reply_format: Path | None = None

    @model_validator(mode="after")
    def _one_student_source(self) -> PromptPaths:
        if self.student and (self.student_turn1 or self.student_turn2):
            raise ValueError("give either student or student_turn1/student_turn2, not both")
        return self


class RunConfig(Strict):
    name: str
    output_dir: Path
    catalog: CatalogPaths = CatalogPaths()
    prompts: PromptPaths = PromptPaths()
    seed: int = 0
    k: list[int] = Field(min_length=1)
    items_per_k: int = Field(gt=0)
    generations: int = Field(default=1, gt=0)
    gradings: int = Field(default=1, gt=0)
    students: list[ModelEntry] = Field(min_length=1)
    grader: ModelEntry
    common_skills: CommonSkills = CommonSkills.SCORING
    sentence_splitter: SentenceSplitter = SentenceSplitter.OFFICIAL
    naming_penalty: NamingPenalty = NamingPenalty.SUBSTRING
    grader_retries: int = Field(default=2, ge=0)  # re-asks of an unparseable grader reply
    structured_grading: bool | None = None  # None: wherever the grader's backend supports it
    prices: dict[str, Price] = {}  # USD per million tokens, over the shipped price table
    novelty: NoveltyAssumptions = NoveltyAssumptions()  # for the novelty bound in reports
    budget_usd: float | None = Field(default=None, gt=0)  # stop starting calls once spent

    @field_validator("k")
    @classmethod
    def _positive_unique(cls, value: list[int]) -> list[int]:
        if any(k < 1 for k in value):
            raise ValueError("every k must be at least 1")
        if len(set(value)) != len(value):
            raise ValueError("k values must be unique")
        return value

    @field_validator("students")
    @classmethod
    def _unique_labels(cls, value: list[ModelEntry]) -> list[ModelEntry]:
        labels = [s.label for s in value]
        if len(set(labels)) != len(labels):
            raise ValueError("two students share a label: give each a distinct `name`")
        return value


def parse_config(data: Any, source: Path | str) -> RunConfig:
    if not isinstance(data, dict):
        raise SkillmixError("expected a mapping of config keys", file=source)
    try:
        return RunConfig.model_validate(data)
    except ValidationError as exc:
        field, message = describe_validation(exc)
        raise SkillmixError(message, file=source, field=field or None) from None


def load_config(path: Path) -> RunConfig:
    if not path.is_file():
        raise SkillmixError("config file not found", file=path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise yaml_syntax_error(exc, path) from None
    return parse_config(data, path)
