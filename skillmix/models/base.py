"""The one interface every backend implements: messages and parameters in, text and usage out."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from skillmix.errors import BackendError, SkillmixError, describe_validation
from skillmix.models import defaults
from skillmix.records import ChatMessage, ContentPart, Usage


class GenerationParams(BaseModel):
    """Sampling parameters, mapped by each backend onto its API's own fields."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    temperature: float | None = Field(default=None, ge=0)
    max_tokens: int | None = Field(default=None, gt=0)
    top_p: float | None = Field(default=None, gt=0, le=1)
    stop: list[str] | None = None
    # the most likely first tokens to return with their logprobs (P("Yes") grading)
    top_logprobs: int | None = Field(default=None, ge=1, le=20)


def keyed_content(content: str | list[ContentPart]) -> object:
    """A message's content as the cache key and the stored request hold it: an image by its
    sha256 and media type, never its bytes."""
    if isinstance(content, str):
        return content
    return [
        {"type": "image", "media_type": part["media_type"], "sha256": part["sha256"]}
        if part["type"] == "image"
        else dict(part)
        for part in content
    ]


@dataclass(frozen=True)
class ModelRequest:
    messages: list[ChatMessage]
    params: GenerationParams
    seed: int
    json_schema: dict[str, Any] | None = None  # ask for a JSON object of this shape
    # the provider's processing tier (OpenAI's "flex"): its price, not its reply, so not keyed
    service_tier: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """Everything that determines the reply, as JSON-ready data (the cache key uses it)."""
        messages = [{**m, "content": keyed_content(m["content"])} for m in self.messages]
        return {
            "messages": messages,
            "params": self.params.model_dump(exclude_none=True),
            "seed": self.seed,
            "json_schema": self.json_schema,
        }


@dataclass(frozen=True)
class GeneratedImage:
    data: bytes
    media_type: str
    revised_prompt: str | None = None  # the prompt the provider says it drew from


@dataclass(frozen=True)
class ModelOutput:
    text: str
    usage: Usage = field(default_factory=Usage)
    finish_reason: str | None = None  # "refused": a content-policy refusal (text: why)
    served_model: str | None = None  # what the provider says answered (e.g. a dated snapshot)
    images: tuple[GeneratedImage, ...] = ()  # a text-to-image backend's pictures
    # the first token's most likely alternatives and their logprobs, where asked and given
    top_logprobs: tuple[tuple[str, float], ...] | None = None
    replica: str | None = None  # the endpoint that answered, for a deployment's replicas
    batched: bool = False  # answered through the provider's batch API (at its batch price)
    service_tier: str | None = None  # the tier the provider says served it ("flex", "batch")


@dataclass(frozen=True)
class BackendSettings:
    """How to reach a model: everything but the model name and the request."""

    options: dict[str, Any] = field(default_factory=dict)  # backend-specific
    base_url: str | None = None
    api_key_env: str | None = None  # the environment variable holding the key
    timeout_s: float = defaults.TIMEOUT_S
    max_concurrency: int | None = None  # calls in flight at most (sizes connection pools)
    replicas: tuple[str, ...] = ()  # endpoints of one deployment (models/replicas.py)
    deployment: str | None = None  # its name in cache keys (default: the model)


@dataclass(frozen=True)
class RetryAdvice:
    """What to do about a failed call: retry or not, and how long the provider asks us to wait."""

    retry: bool
    rate_limited: bool = False
    wait_s: float | None = None
    denied: bool = False  # the credentials were refused: every other call would fail too


class BackendOptions(BaseModel):
    """A backend's `options` (the model entry's mapping), typed: each backend declares its own
    subclass. Strict: a value of the wrong type is an error, not converted ("20" is no int)."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


OptionsT = TypeVar("OptionsT", bound=BackendOptions)


def parse_options(model: type[OptionsT], options: Mapping[str, Any]) -> OptionsT:
    """The typed options, or a one-line error whose field is `options.<key>`."""
    try:
        return model.model_validate(options)
    except ValidationError as exc:
        where, message = describe_validation(exc)
        raise SkillmixError(message, field=f"options.{where}" if where else "options") from None


class ModelBackend(ABC):
    """A model reachable through one API. Subclasses live one per file in this package.

    A subclass with options sets `options_model` and narrows `options` to the same class.
    """

    prefix: str = ""  # the model-string prefix this backend is registered under
    options_model: ClassVar[type[BackendOptions]] = BackendOptions  # none by default
    options: BackendOptions
    # Errors that mean "this call failed" (recorded against the item); anything else is a bug
    failure_types: tuple[type[Exception], ...] = (BackendError,)
    default_concurrency: int = 8
    supports_json_schema: bool = False
    makes_images = False  # a text-to-image model: its outputs are images
    accepts_images = False  # takes image parts in messages (a vision-language model)
    gives_logprobs = False  # answers top_logprobs
    max_image_bytes: int | None = None  # the largest input image the API takes
    max_image_side: int | None = None  # in pixels

    def __init__(self, name: str, settings: BackendSettings):
        self.name = name
        self.settings = settings
        self.options = parse_options(self.options_model, settings.options)

    @property
    def base_url(self) -> str | None:
        return self.settings.base_url

    @property
    def concurrency(self) -> int:
        """Calls in flight at most: the model entry's `max_concurrency`, else the backend's."""
        return self.settings.max_concurrency or self.default_concurrency

    @property
    @abstractmethod
    def resolved_model(self) -> str:
        """What exactly answers: a file name and size, a provider's model version."""

    @abstractmethod
    async def generate(self, request: ModelRequest) -> ModelOutput: ...

    @classmethod
    def create(cls, name: str, settings: BackendSettings) -> ModelBackend:
        """The backend for a model name; a prefix that serves several kinds of model (hf:
        text or vision-language) picks the class here."""
        return cls(name, settings)

    def advise(self, error: Exception) -> RetryAdvice:
        """Classify a failed call; by default nothing is retried."""
        return RetryAdvice(retry=False)

    def wire_body(self, request: ModelRequest) -> dict[str, Any]:
        """What goes to the model for a request, as the backend sends it (an API's JSON body;
        for in-process models, the request itself)."""
        return request.as_dict()

    @property
    def output_size(self) -> tuple[int, int] | None:
        """A text-to-image backend's (width, height), where its settings fix it."""
        return None

    def output_tokens_bound(self) -> int | None:
        """The most output tokens one call can bill where the request's max_tokens does not
        say (an image model's image tokens); None: max_tokens or the default."""
        return None

    def price_unit(self) -> str | None:
        """What one output image is billed as, for models priced per image (prices.yaml
        per_image keys); None for a model that makes no images."""
        return None

    def key_settings(self) -> dict[str, Any]:
        """Settings beyond the request that determine the output (an image model's size,
        quality, pipeline settings): part of every call's cache key when not empty."""
        return {}

    def secrets(self) -> tuple[str, ...]:
        """Values that must never be stored or printed (API keys), scrubbed from errors."""
        return ()

    async def aclose(self) -> None:  # noqa: B027 - optional hook
        """Release what the backend holds (clients, engines, servers)."""
