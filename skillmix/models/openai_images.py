"""`openai-images/<model>`: the OpenAI Images API (gpt-image-*, dall-e-*) through the
official `openai` SDK, one image per call (its seed in the cache key; the API takes none).

A content-policy refusal is an answer, not a failure: the output has no image, finish_reason
"refused" and the provider's message as text, and is stored like any other response."""

from __future__ import annotations

import base64
import re
from typing import Any, Literal

import openai
from openai import AsyncOpenAI
from pydantic import Field, field_validator

from skillmix.errors import MalformedReply
from skillmix.models.base import (
    BackendOptions,
    BackendSettings,
    GeneratedImage,
    ModelOutput,
    ModelRequest,
)
from skillmix.models.images import image_size, media_type_of, parse_size
from skillmix.models.sdk import SdkBackend
from skillmix.records import Usage, message_text

REFUSAL_CODES = frozenset({"moderation_blocked", "content_policy_violation"})
SIZE = re.compile(r"auto|[1-9][0-9]{1,4}x[1-9][0-9]{1,4}")


# gpt-image-1's output tokens for a 1024x1024 image, by quality (OpenAI's pricing page);
# other sizes scale with the area, and auto or unset quality counts as high (a bound)
SQUARE_TOKENS = {"low": 272, "medium": 1056, "high": 4160}
LARGEST_SIZE = (1536, 1024)


def image_tokens(size: tuple[int, int] | None, quality: str | None) -> int:
    """The output tokens one gpt-image image bills, at most, for a size and quality."""
    width, height = size or LARGEST_SIZE
    square = SQUARE_TOKENS.get(quality or "high", SQUARE_TOKENS["high"])
    return max(1, round(square * width * height / 1024**2))


class ImagesOptions(BackendOptions):
    size: str = "1024x1024"
    quality: str | None = None  # low | medium | high | auto (gpt-image); standard | hd (dall-e)
    output_format: Literal["png", "jpeg", "webp"] = "png"
    background: Literal["transparent", "opaque", "auto"] | None = None
    moderation: Literal["low", "auto"] | None = None
    style: Literal["vivid", "natural"] | None = None  # dall-e-3 only
    output_compression: int | None = Field(default=None, ge=0, le=100)

    @field_validator("size")
    @classmethod
    def _size(cls, value: str) -> str:
        if not SIZE.fullmatch(value):
            raise ValueError(f"expected WIDTHxHEIGHT (e.g. 1024x1024) or auto, not {value!r}")
        return value


class OpenAIImagesBackend(SdkBackend):
    prefix = "openai-images"
    sdk = openai
    key_variable = "OPENAI_API_KEY"
    default_concurrency = 8
    makes_images = True
    options_model = ImagesOptions
    options: ImagesOptions

    def __init__(self, name: str, settings: BackendSettings):
        super().__init__(name, settings)
        local = settings.base_url is not None and settings.api_key_env is None
        self.connect(AsyncOpenAI, self.api_key(optional=local) or "no-key")

    @property
    def output_size(self) -> tuple[int, int] | None:
        return parse_size(self.options.size)

    def output_tokens_bound(self) -> int:
        return image_tokens(self.output_size, self.options.quality)

    def price_unit(self) -> str:
        return f"{self.options.quality or 'standard'} {self.options.size}"

    def key_settings(self) -> dict[str, Any]:
        return self.options.model_dump(exclude_none=True)

    def wire_body(self, request: ModelRequest) -> dict[str, Any]:
        arguments: dict[str, Any] = {
            "model": self.name,
            "prompt": message_text(request.messages[-1]),
            "n": 1,
            **self.options.model_dump(exclude_none=True),
        }
        if self.name.startswith("dall-e"):  # the retired models answer URLs unless asked
            arguments["response_format"] = "b64_json"
            arguments.pop("output_format")
        return arguments

    async def generate(self, request: ModelRequest) -> ModelOutput:
        try:
            reply = await self.client.images.generate(**self.wire_body(request))
        except openai.BadRequestError as exc:
            if exc.code in REFUSAL_CODES:
                return ModelOutput(text=exc.message, finish_reason="refused")
            raise
        if not reply.data or not reply.data[0].b64_json:
            raise MalformedReply("the Images API answered no image")
        data = base64.b64decode(reply.data[0].b64_json)
        media_type = media_type_of(data)
        if media_type is None:
            raise MalformedReply("the Images API answered bytes that are no image")
        image_size(data)  # readable, or the call failed
        usage = reply.usage
        tokens = Usage(usage.input_tokens, usage.output_tokens) if usage else Usage()
        image = GeneratedImage(data, media_type, reply.data[0].revised_prompt)
        return ModelOutput(text="", usage=tokens, images=(image,))
