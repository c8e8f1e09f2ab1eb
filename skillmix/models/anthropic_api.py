"""`anthropic/<model>`: the Anthropic Messages API through the official `anthropic` SDK."""

from __future__ import annotations

import json
from typing import Any

import anthropic
from anthropic import AsyncAnthropic

from skillmix.models.base import BackendOptions, BackendSettings, ModelOutput, ModelRequest
from skillmix.models.sdk import SdkBackend
from skillmix.records import ChatMessage, ContentPart, Usage, message_text

DEFAULT_MAX_TOKENS = 1024  # the Messages API requires max_tokens
POINTS_TOOL = "record_rubric_points"
MAX_IMAGE_BYTES = 5 * 1024 * 1024  # per image (the API's limit)
MAX_IMAGE_SIDE = 8000  # pixels


def wire_part(part: ContentPart) -> dict[str, Any]:
    """A content part as the Messages API takes it: an image as a base64 block."""
    if part["type"] == "text":
        return {"type": "text", "text": part["text"]}
    source = {"type": "base64", "media_type": part["media_type"], "data": part["data"]}
    return {"type": "image", "source": source}


def wire_message(message: ChatMessage) -> dict[str, Any]:
    content = message["content"]
    if isinstance(content, str):
        return {"role": message["role"], "content": content}
    return {"role": message["role"], "content": [wire_part(part) for part in content]}


class AnthropicOptions(BackendOptions):
    # The current Messages API (SDK 2.x) has no temperature/top_p fields; older models and
    # compatible proxies still take them in the body when asked to.
    sampling_params: bool = False


class AnthropicBackend(SdkBackend):
    prefix = "anthropic"
    sdk = anthropic
    key_variable = "ANTHROPIC_API_KEY"
    default_concurrency = 16
    supports_json_schema = True  # through a forced tool call
    accepts_images = True
    max_image_bytes = MAX_IMAGE_BYTES
    max_image_side = MAX_IMAGE_SIDE
    options_model = AnthropicOptions
    options: AnthropicOptions

    def __init__(self, name: str, settings: BackendSettings):
        super().__init__(name, settings)
        self.connect(AsyncAnthropic, self.api_key() or "")

    def wire_body(self, request: ModelRequest) -> dict[str, Any]:
        params = request.params
        system = [message_text(m) for m in request.messages if m["role"] == "system"]
        arguments: dict[str, Any] = {
            "model": self.name,
            "max_tokens": params.max_tokens or DEFAULT_MAX_TOKENS,
            "messages": [wire_message(m) for m in request.messages if m["role"] != "system"],
        }  # the Messages API has no seed parameter
        if system:
            arguments["system"] = "\n\n".join(system)
        sampling = {"temperature": params.temperature, "top_p": params.top_p}
        sampling = {name: value for name, value in sampling.items() if value is not None}
        if sampling and self.options.sampling_params:
            arguments["extra_body"] = sampling
        if params.stop:
            arguments["stop_sequences"] = params.stop
        if request.json_schema is not None:
            tool = {
                "name": POINTS_TOOL,
                "description": "Record the points of each rubric criterion.",
                "input_schema": request.json_schema,
            }
            arguments["tools"] = [tool]
            arguments["tool_choice"] = {"type": "tool", "name": POINTS_TOOL}
        return arguments

    async def generate(self, request: ModelRequest) -> ModelOutput:
        return message_output(await self.client.messages.create(**self.wire_body(request)))


def message_output(reply: Any) -> ModelOutput:
    """A Message (realtime, or a batch's succeeded result) as the output of a call."""
    parts = []
    for block in reply.content:
        if block.type == "text":
            parts.append(block.text)
        elif block.type == "tool_use":
            parts.append(json.dumps(block.input))
    return ModelOutput(
        text="".join(parts),
        usage=Usage(reply.usage.input_tokens, reply.usage.output_tokens),
        finish_reason=reply.stop_reason,
        served_model=reply.model,
        service_tier=getattr(reply.usage, "service_tier", None),
    )
