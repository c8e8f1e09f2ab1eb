"""The one interface every backend implements: messages and parameters in, text and usage out."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, Literal, TypedDict

from pydantic import BaseModel, ConfigDict, Field


class ChatMessage(TypedDict):
    role: Literal["system", "user", "assistant"]
    content: str


class GenerationParams(BaseModel):
    """Sampling parameters, mapped by each backend onto its API's own fields."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    temperature: float | None = Field(default=None, ge=0)
    max_tokens: int | None = Field(default=None, gt=0)
    top_p: float | None = Field(default=None, gt=0, le=1)
    stop: list[str] | None = None


@dataclass(frozen=True)
class ModelRequest:
    messages: list[ChatMessage]
    params: GenerationParams
    seed: int
    json_schema: dict[str, Any] | None = None  # ask for a JSON object of this shape

    def as_dict(self) -> dict[str, Any]:
        """Everything that determines the reply, as JSON-ready data (the cache key uses it)."""
        return {
            "messages": self.messages,
            "params": self.params.model_dump(exclude_none=True),
            "seed": self.seed,
            "json_schema": self.json_schema,
        }


@dataclass(frozen=True)
class Usage:
    input_tokens: int = 0
    output_tokens: int = 0


@dataclass(frozen=True)
class ModelOutput:
    text: str
    usage: Usage = field(default_factory=Usage)
    finish_reason: str | None = None


class ModelBackend(ABC):
    """A model reachable through one API. Subclasses live one per file in this package."""

    prefix: str = ""  # the model-string prefix this backend is registered under
    default_concurrency: int = 8
    supports_json_schema: bool = False

    def __init__(self, name: str, options: dict[str, Any], base_url: str | None = None):
        self.name = name
        self.options = options
        self.base_url = base_url

    @property
    @abstractmethod
    def resolved_model(self) -> str:
        """What exactly answers: a file name and size, a provider's model version."""

    @abstractmethod
    async def generate(self, request: ModelRequest) -> ModelOutput: ...

    async def aclose(self) -> None:  # noqa: B027 - optional hook
        """Release what the backend holds (clients, engines, servers)."""
