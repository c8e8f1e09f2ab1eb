"""Run configuration: YAML validated by pydantic.

Relative paths resolve against the working directory. Every count has an upper bound (a few
characters of config must not be able to exhaust the machine), and true/false is never a number.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar
from urllib.parse import urlsplit

from pydantic import (
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from skillmix.catalog.splits import SplitConfig
from skillmix.config.batch import BATCH_PREFIXES
from skillmix.config.batch import BatchSettings as BatchSettings
from skillmix.config.batch import BatchSwitch as BatchSwitch
from skillmix.config.batch import run_batch as run_batch
from skillmix.config.batch import with_batch as with_batch
from skillmix.config.fields import FilePath as FilePath
from skillmix.config.fields import Number as Number
from skillmix.config.fields import Strict as Strict
from skillmix.config.fields import no_bool_values
from skillmix.errors import SkillmixError, describe_validation
from skillmix.models import BackendSettings, GenerationParams, defaults, split_model_string
from skillmix.models.prices import Price
from skillmix.models.retry import RetryPolicy
from skillmix.protocol.grading import JuryRule
from skillmix.protocol.rubric import RubricWording
from skillmix.protocol.sampler import CommonSkills
from skillmix.protocol.sentences import NamingPenalty, SentenceSplitter
from skillmix.protocol.student import AnswerExtraction
from skillmix.yamlfile import load_yaml

MAX_ITEMS_PER_K = 100_000
MAX_ITEMS = 1_000_000  # len(k) x items_per_k
MAX_K_VALUES = 50
MAX_K = 100
MAX_GENERATIONS = 100
MAX_GRADINGS = 100
MAX_GRADER_RETRIES = 20
MAX_STUDENTS = 100
MAX_CONCURRENCY = 10_000
MAX_RETRIES = 100
MAX_TIMEOUT_S = 86_400.0
MAX_BACKOFF_S = 3_600.0
SEED_RANGE = (-(2**63), 2**63 - 1)


def check_k(value: list[int]) -> list[int]:
    """k values: each between 1 and MAX_K, none twice."""
    if any(k < 1 for k in value):
        raise ValueError("every k must be at least 1")
    if any(k > MAX_K for k in value):
        raise ValueError(f"every k must be at most {MAX_K}")
    if len(set(value)) != len(value):
        raise ValueError("k values must be unique")
    return value


def prices_not_bools(value: Any) -> Any:
    if isinstance(value, dict):
        for price in value.values():
            no_bool_values(price)
    return value


def unique_labels(entries: list[ModelEntry], what: str) -> list[ModelEntry]:
    labels = [entry.label for entry in entries]
    if len(set(labels)) != len(labels):
        raise ValueError(f"two {what} share a label: give each a distinct `name`")
    return entries


ConfigT = TypeVar("ConfigT", bound=Strict)


class NoveltyAssumptions(Strict):
    """Upper-bound guesses about the training corpus; set them from what you know of it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    skill_frequency: Number = Field(default=0.01, ge=0, le=1)  # p_s: share of text pieces
    topic_frequency: Number = Field(default=0.001, ge=0, le=1)  # p_t: share about a topic
    corpus_pieces: Number = Field(default=1e9, ge=0)  # L: text pieces in the training corpus


class ModelEntry(Strict):
    model: str  # backend prefix / model, e.g. llamacpp/smollm2
    name: str | None = None  # label in reports; defaults to the model string
    params: GenerationParams = GenerationParams()
    system_prompt: str | None = None
    # calls in flight (ceiling)
    max_concurrency: int | None = Field(default=None, gt=0, le=MAX_CONCURRENCY, strict=True)
    # an OpenAI-compatible server, a proxy; a list: replicas of one deployment (any of them
    # may answer a call; models/replicas.py)
    base_url: str | list[str] | None = None
    deployment: str | None = None  # the replicas' name in cache keys (default: the model)
    api_key_env: str | None = None  # environment variable with the key (default per provider)
    timeout_s: Number = Field(default=defaults.TIMEOUT_S, gt=0, le=MAX_TIMEOUT_S)
    retries: int = Field(default=defaults.RETRIES, ge=0, le=MAX_RETRIES, strict=True)
    backoff_s: Number = Field(default=defaults.BACKOFF_S, ge=0, le=MAX_BACKOFF_S)
    backoff_max_s: Number = Field(default=defaults.BACKOFF_MAX_S, ge=0, le=MAX_BACKOFF_S)
    # backend-specific, typed by the backend (e.g. llama.cpp n_ctx, n_threads); kept raw here
    # so that entries with the same options share one backend (run/plan.py)
    options: dict[str, Any] = Field(default_factory=dict)
    batch: BatchSwitch = None  # `true`: the defaults

    @model_validator(mode="after")
    def _batch_backend(self) -> ModelEntry:
        if self.batch is None:
            return self
        if not self.model.startswith(BATCH_PREFIXES):
            raise ValueError("batch: is for openai/ and anthropic/ models (their batch APIs)")
        if isinstance(self.base_url, list):
            raise ValueError("batch: takes one base_url, not a list of replicas")
        if self.batch.stragglers == "flex" and not self.model.startswith("openai/"):
            raise ValueError("batch.stragglers: flex is OpenAI's tier; anthropic/ takes realtime")
        return self

    @field_validator("model")
    @classmethod
    def _known_backend(cls, value: str) -> str:
        split_model_string(value)
        return value

    @field_validator("params", mode="before")
    @classmethod
    def _params_not_bools(cls, value: Any) -> Any:
        return no_bool_values(value)

    @field_validator("base_url")
    @classmethod
    def _http_url(cls, value: str | list[str] | None) -> str | list[str] | None:
        urls = [value] if isinstance(value, str) else value or []
        if isinstance(value, list) and not value:
            raise ValueError("give at least one URL")
        for url in urls:
            if not _is_http_url(url):
                raise ValueError(f"expected an http:// or https:// URL with a host, not {url!r}")
        if len(set(urls)) != len(urls):
            raise ValueError("a replica URL is listed twice")
        return value

    @property
    def label(self) -> str:
        return self.name or self.model

    @property
    def settings(self) -> BackendSettings:
        if isinstance(self.base_url, list):
            return BackendSettings(
                self.options,
                None,
                self.api_key_env,
                self.timeout_s,
                self.max_concurrency,
                replicas=tuple(self.base_url),
                deployment=self.deployment,
            )
        return BackendSettings(
            self.options, self.base_url, self.api_key_env, self.timeout_s, self.max_concurrency
        )

    @property
    def retry_policy(self) -> RetryPolicy:
        return RetryPolicy(self.retries, self.backoff_s, self.backoff_max_s)


def _is_http_url(value: str) -> bool:
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 (an out-of-range or non-numeric port raises)
    except ValueError:
        return False
    no_space = not any(c.isspace() for c in value)
    return parts.scheme in ("http", "https") and bool(parts.hostname) and no_space


class CatalogPaths(Strict):
    skills: FilePath = Path("data/skills.yaml")
    topics: FilePath = Path("data/topics.yaml")
    split: SplitConfig | None = None  # e.g. {part: private} or {part: held_out, ...}


class PromptPaths(Strict):
    """Other template files. `student` may name the official two-turn JSON prompt list."""

    student: FilePath | None = None
    student_turn1: FilePath | None = None
    student_turn2: FilePath | None = None
    grader: FilePath | None = None
    reply_format: FilePath | None = None

    @model_validator(mode="after")
    def _one_student_source(self) -> PromptPaths:
        if self.student and (self.student_turn1 or self.student_turn2):
            raise ValueError("give either student or student_turn1/student_turn2, not both")
        return self


class RunConfig(Strict):
    name: str
    suite: Literal["skillmix"] = "skillmix"  # `conceptmix`: see config/conceptmix.py
    output_dir: FilePath
    catalog: CatalogPaths = CatalogPaths()
    prompts: PromptPaths = PromptPaths()
    seed: int = Field(default=0, ge=SEED_RANGE[0], le=SEED_RANGE[1], strict=True)
    # the items of a file (JSONL or CSV: skills in prompt order, topic), not sampled ones
    items: FilePath | None = None
    k: list[Annotated[int, Field(strict=True)]] = Field(min_length=1, max_length=MAX_K_VALUES)
    items_per_k: int = Field(gt=0, le=MAX_ITEMS_PER_K, strict=True)
    generations: int = Field(default=1, gt=0, le=MAX_GENERATIONS, strict=True)
    gradings: int = Field(default=1, gt=0, le=MAX_GRADINGS, strict=True)
    students: list[ModelEntry] = Field(min_length=1, max_length=MAX_STUDENTS)
    grader: ModelEntry
    # more graders, each grading every answer R times beside the grader (as `skillmix regrade`)
    graders: list[ModelEntry] = Field(default=[], max_length=MAX_STUDENTS)
    jury: JuryRule | None = None  # the report also scores the graders combined
    common_skills: CommonSkills = CommonSkills.SCORING
    sentence_splitter: SentenceSplitter = SentenceSplitter.OFFICIAL
    naming_penalty: NamingPenalty = NamingPenalty.SUBSTRING
    rubric_wording: RubricWording = RubricWording.AUTO
    answer_extraction: AnswerExtraction = AnswerExtraction.SKILLMIX
    # re-asks of an unparseable grader reply
    grader_retries: int = Field(default=2, ge=0, le=MAX_GRADER_RETRIES, strict=True)
    structured_grading: bool | None = None  # None: wherever the grader's backend supports it
    # USD per million tokens, over the shipped price table
    prices: dict[str, Price] = Field(default_factory=dict)
    novelty: NoveltyAssumptions = NoveltyAssumptions()  # for the novelty bound in reports
    budget_usd: Number | None = Field(default=None, gt=0)  # stop starting calls once spent
    # batch mode for every openai/ and anthropic/ entry that does not set its own `batch`
    batch: BatchSwitch = None

    @model_validator(mode="before")
    @classmethod
    def _run_batch(cls, data: Any) -> Any:
        return run_batch(data, ("students", "grader", "graders"))

    @field_validator("k")
    @classmethod
    def _positive_unique(cls, value: list[int]) -> list[int]:
        return check_k(value)

    @field_validator("prices", mode="before")
    @classmethod
    def _prices_not_bools(cls, value: Any) -> Any:
        return prices_not_bools(value)

    @field_validator("items_per_k")
    @classmethod
    def _bounded_items(cls, value: int, info: ValidationInfo) -> int:
        items = len(info.data.get("k", [])) * value
        if items > MAX_ITEMS:
            raise ValueError(
                f"{items:,} items in all (len(k) x items_per_k), more than {MAX_ITEMS:,}"
            )
        return value

    @model_validator(mode="after")
    def _distinct_graders(self) -> RunConfig:
        labels = [g.label for g in (self.grader, *self.graders)]
        if len(set(labels)) != len(labels):
            raise ValueError("two graders share a label: give each a distinct `name`")
        return self

    @field_validator("students")
    @classmethod
    def _unique_labels(cls, value: list[ModelEntry]) -> list[ModelEntry]:
        return unique_labels(value, "students")


class ExtraGrader(Strict):
    """A grader that `skillmix regrade` added to a run: its entry and its R gradings."""

    entry: ModelEntry
    gradings: int = Field(gt=0, le=MAX_GRADINGS, strict=True)


def stored_graders(text: str | None, store: Path) -> list[ExtraGrader]:
    """The graders a run store records beside the run's own (none before any re-grade)."""
    if text is None:
        return []
    try:
        return [ExtraGrader.model_validate(value) for value in json.loads(text)]
    except (ValueError, TypeError) as exc:  # pydantic's ValidationError is a ValueError
        raise SkillmixError(f"the stored graders are unreadable ({exc})", file=store) from None


def parse_config(data: Any, source: Path | str) -> RunConfig:
    if not isinstance(data, dict):
        raise SkillmixError("expected a mapping of config keys", file=source)
    return validated(RunConfig, data, source)


def validated(model: type[ConfigT], data: dict[str, Any], source: Path | str) -> ConfigT:
    """A config of this model, or a one-line error naming the file and the field."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        field, message = describe_validation(exc)
        raise SkillmixError(message, file=source, field=field or None) from None


def stored_config(text: str, store: Path) -> RunConfig:
    return stored_validated(RunConfig, text, store)


def stored_validated(model: type[ConfigT], text: str, store: Path) -> ConfigT:
    """The configuration a run store holds; one this version refuses (a bound that came later)
    is one line naming the store."""
    try:
        return model.model_validate_json(text)
    except ValidationError as exc:
        field, message = describe_validation(exc)
        raise SkillmixError(
            f"the stored configuration is refused by this version of skillmix: {message}",
            file=store,
            field=field or None,
        ) from None


def load_config(path: Path) -> RunConfig:
    if not path.is_file():
        raise SkillmixError("config file not found", file=path)
    return parse_config(load_yaml(path), path)
